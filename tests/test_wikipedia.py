"""The dump becomes clean articles; bad files fail clearly; Beam and plain Python agree."""

import glob

import pytest
from datasets import load_dataset

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


def test_beam_direct_runner_matches_plain_python(tmp_path, articles):
    from utils.wikipedia_beam import main

    assert main(["--input", str(wiki.sample_dump()), "--output", str(tmp_path), "--runner", "DirectRunner"]) == 0
    shards = glob.glob(str(tmp_path / "*.parquet"))
    assert shards
    beam_out = load_dataset("parquet", data_files=shards, split="train", cache_dir=str(tmp_path / "hf"))
    by_id = lambda rows: sorted(rows, key=lambda r: int(r["id"]))  # noqa: E731
    assert by_id(beam_out.to_list()) == by_id(articles.to_list())


def test_beam_multi_processing_with_two_workers_matches_plain_python(tmp_path, articles):
    """The DirectRunner's multi-processing mode: 2 worker processes, the same records as the plain path."""
    from utils.wikipedia_beam import main

    assert main(["--input", str(wiki.sample_dump()), "--output", str(tmp_path / "out"), "--runner", "DirectRunner",
                 "--direct_running_mode", "multi_processing", "--direct_num_workers", "2"]) == 0
    beam_out = load_dataset("parquet", data_files=glob.glob(str(tmp_path / "out" / "*.parquet")), split="train",
                            cache_dir=str(tmp_path / "hf"))
    by_id = lambda rows: sorted(rows, key=lambda r: int(r["id"]))  # noqa: E731
    assert by_id(beam_out.to_list()) == by_id(articles.to_list())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hf", "out"]  # no staging or beam-temp folder left


@pytest.mark.parametrize("make_input,message", [
    (lambda tmp: str(tmp / "nothing-*.xml.bz2"), "matches no file"),
    (lambda tmp: str(tmp / "missing.xml.bz2"), "matches no file"),
    (lambda tmp: (tmp / "bad.xml").write_text("<mediawiki>broken") and str(tmp / "bad.xml"), "not a valid MediaWiki"),
    (lambda tmp: (tmp / "empty.xml").write_text("<mediawiki></mediawiki>") and str(tmp / "empty.xml"),
     "hold no main-namespace articles"),
])
def test_beam_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, make_input, message):
    from utils.wikipedia_beam import main

    source = make_input(tmp_path)
    try:
        code = main(["--input", source, "--output", str(tmp_path / "out")])
    except SystemExit as exit_:
        code = exit_.code
    assert code != 0
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if ".part-" in p.name or "beam-temp" in p.name]


def test_every_article_for_training_and_none_for_validation():
    subset = wiki.load_wikipedia_subset(106, 0, source="sample")  # used to raise IndexError from datasets
    assert (len(subset["train"]), len(subset["valid"])) == (106, 0)
