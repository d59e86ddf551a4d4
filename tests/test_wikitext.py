"""A dump becomes clean articles; bad files fail clearly and leave nothing in the parse cache."""

import bz2

import pytest

from utils import wikitext
from utils.wikipedia import sample_dump

# ruff: noqa: E501  (a dump's lines are as long as they are)
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


def test_pages_redirects_and_namespaces(tmp_path):
    dump = tmp_path / "small.xml"
    dump.write_text(SMALL_DUMP)
    records = wikitext.parse_dump(dump)
    assert [r["title"] for r in records] == ["Real page"]
    assert records[0]["id"] == "3" and records[0]["url"] == "https://xx.wikipedia.org/wiki/Real_page"
    assert records[0]["text"] == "Real page is a test of links.\nHistory\nIt was long.\nLast line."


def test_bz2_and_plain_xml_give_the_same_records(tmp_path):
    (tmp_path / "d.xml").write_text(SMALL_DUMP)
    with bz2.open(tmp_path / "d.xml.bz2", "wt") as f:
        f.write(SMALL_DUMP)
    assert wikitext.parse_dump(tmp_path / "d.xml") == wikitext.parse_dump(tmp_path / "d.xml.bz2")


@pytest.mark.parametrize("make, message", [
    (lambda p: None, "No dump at"),
    (lambda p: p.write_text("this is not xml"), "not a valid MediaWiki XML dump"),
    (lambda p: p.write_bytes(sample_dump().read_bytes()[:200_000]), "truncated"),
], ids=["missing", "not-xml", "truncated-bz2"])
def test_bad_dumps_fail_clearly_and_cache_nothing(tmp_path, make, message):
    dump = tmp_path / ("dump.xml.bz2" if message == "truncated" else "dump.xml")
    make(dump)
    cache = tmp_path / "cache"
    with pytest.raises(wikitext.WikipediaError, match=message):
        wikitext.parsed_articles(dump, cache=cache)
    assert not cache.exists() or not any(cache.rglob("*"))


def test_parse_is_cached_by_content(tmp_path, monkeypatch):
    dump = tmp_path / "small.xml"
    dump.write_text(SMALL_DUMP)
    first = wikitext.parsed_articles(dump, cache=tmp_path / "cache")
    monkeypatch.setattr(wikitext, "parse_dump", lambda p: pytest.fail("parsed twice"))
    assert wikitext.parsed_articles(dump, cache=tmp_path / "cache").to_list() == first.to_list()
