"""The dump becomes clean articles; bad files fail clearly; Beam and plain Python agree."""

import bz2
import glob

import pytest
from datasets import load_dataset

from utils import wikipedia as wiki

MARKUP = ["{{", "}}", "[[", "]]", "<ref", "{|", "|}", "File:", "Image:", "Category:"]

SMALL_DUMP = """<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/">
  <siteinfo><base>https://xx.wikipedia.org/wiki/Main_Page</base></siteinfo>
  <page><title>Redirected</title><ns>0</ns><id>1</id><redirect title="Real page" />
    <revision><id>11</id><text>#REDIRECT [[Real page]]</text></revision></page>
  <page><title>Talk:Real page</title><ns>1</ns><id>2</id>
    <revision><id>12</id><text>Discussion.</text></revision></page>
  <page><title>Real page</title><ns>0</ns><id>3</id>
    <revision><id>13</id><text>{{Infobox|name=x}}'''Real page''' is [[Target|a test]] of [[links]].&lt;ref&gt;A source.&lt;/ref&gt;
[[File:Photo.jpg|thumb|A caption with [[nested]] link]]
&lt;!-- hidden --&gt;
== History ==
It was {{convert|3|km}} long.
{| class="wikitable"
| cell
|}
Last line.
[[Category:Tests]]
[[de:Echte Seite]]</text></revision></page>
</mediawiki>"""


@pytest.fixture(scope="module")
def articles():
    return wiki.parsed_articles()


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


def test_pages_redirects_and_namespaces(tmp_path):
    dump = tmp_path / "small.xml"
    dump.write_text(SMALL_DUMP)
    records = wiki.parse_dump(dump)
    assert [r["title"] for r in records] == ["Real page"]
    assert records[0]["id"] == "3" and records[0]["url"] == "https://xx.wikipedia.org/wiki/Real_page"
    assert records[0]["text"] == "Real page is a test of links.\nHistory\nIt was long.\nLast line."


def test_bz2_and_plain_xml_give_the_same_records(tmp_path):
    (tmp_path / "d.xml").write_text(SMALL_DUMP)
    with bz2.open(tmp_path / "d.xml.bz2", "wt") as f:
        f.write(SMALL_DUMP)
    assert wiki.parse_dump(tmp_path / "d.xml") == wiki.parse_dump(tmp_path / "d.xml.bz2")


@pytest.mark.parametrize("make, message", [
    (lambda p: None, "No dump at"),
    (lambda p: p.write_text("this is not xml"), "not a valid MediaWiki XML dump"),
    (lambda p: p.write_bytes(wiki.sample_dump().read_bytes()[:200_000]), "truncated"),
], ids=["missing", "not-xml", "truncated-bz2"])
def test_bad_dumps_fail_clearly_and_cache_nothing(tmp_path, make, message):
    dump = tmp_path / ("dump.xml.bz2" if message == "truncated" else "dump.xml")
    make(dump)
    cache = tmp_path / "cache"
    with pytest.raises(wiki.WikipediaError, match=message):
        wiki.parsed_articles(dump, cache=cache)
    assert not cache.exists() or not any(cache.rglob("*"))


def test_parse_is_cached_by_content(tmp_path, monkeypatch):
    dump = tmp_path / "small.xml"
    dump.write_text(SMALL_DUMP)
    first = wiki.parsed_articles(dump, cache=tmp_path / "cache")
    monkeypatch.setattr(wiki, "parse_dump", lambda p: pytest.fail("parsed twice"))
    assert wiki.parsed_articles(dump, cache=tmp_path / "cache").to_list() == first.to_list()


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
