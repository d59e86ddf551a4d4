"""The dump becomes clean articles; bad files fail clearly (the Beam pipeline: test_wikipedia_beam.py)."""


import pytest

from utils import wikipedia as wiki

MARKUP = ["{{", "}}", "[[", "]]", "<ref", "{|", "|}", "File:", "Image:", "Category:"]



@pytest.fixture(scope="module")
def articles():
    return wiki.sample_articles()


def test_sample_has_the_106_articles(articles):
    assert len(articles) == 106
    titles = set(articles["title"])
    assert {"Abraham Lincoln", "Alkali metal"} <= titles
    assert set(articles.column_names) == {"id", "url", "title", "text"}


def test_lincoln_is_clean_prose(articles):
    lincoln = articles[articles["title"].index("Abraham Lincoln")]
    assert lincoln["text"].startswith("Abraham Lincoln (")
    assert "February 12, 1809" in lincoln["text"][:100]
    assert lincoln["url"].endswith("/wiki/Abraham_Lincoln")
    assert not any(m in lincoln["text"] for m in MARKUP)


def test_no_markup_residue_in_any_article(articles):
    for art in articles:
        found = [m for m in MARKUP if m in art["text"]]
        assert not found, f"{art['title']}: {found}"


def test_corpus_size(articles, gpt2_tokenizer):
    stats = wiki.corpus_stats(articles["text"], gpt2_tokenizer)
    assert stats["articles"] == 106
    assert 2.5e6 < stats["characters"] < 3.2e6
    assert 5.5e5 < stats["tokens"] < 7.5e5


def test_subset_is_a_seeded_disjoint_split(capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    subset = wiki.load_wikipedia_subset(50, 50, seed=42)
    line = capsys.readouterr().out.strip()
    assert "\n" not in line and "offline sample" in line
    assert len(subset["train"]) == len(subset["valid"]) == 50
    assert not set(subset["train"]["id"]) & set(subset["valid"]["id"])
    again = wiki.load_wikipedia_subset(50, 50, seed=42, source="sample")
    assert again["train"]["id"] == subset["train"]["id"]
    other = wiki.load_wikipedia_subset(50, 50, seed=7, source="sample")
    assert other["train"]["id"] != subset["train"]["id"]


def test_asking_for_too_many_articles_is_an_error():
    with pytest.raises(ValueError, match="holds only 106"):
        wiki.load_wikipedia_subset(100, 50, source="sample")


def test_every_article_for_training_and_none_for_validation():
    subset = wiki.load_wikipedia_subset(106, 0, source="sample")  # an empty validation split is allowed
    assert (len(subset["train"]), len(subset["valid"])) == (106, 0)


def test_a_dump_in_the_home_folder_is_found_by_its_tilde_path(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "d.xml").write_text("<mediawiki><page><title>A</title><ns>0</ns><id>1</id><revision><id>2</id>"
                                    "<text>Some words here.</text></revision></page></mediawiki>")
    subset = wiki.load_wikipedia_subset(1, 0, source="~/d.xml")
    assert subset["train"]["title"] == ["A"]
