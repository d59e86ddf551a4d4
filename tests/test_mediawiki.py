"""A dump becomes clean articles; bad files fail clearly and leave nothing in the parse cache."""

import bz2

import pytest

from utils.data import mediawiki
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
    records = mediawiki.parse_dump(dump)
    assert [r["title"] for r in records] == ["Real page"]
    assert records[0]["id"] == "3" and records[0]["url"] == "https://xx.wikipedia.org/wiki/Real_page"
    assert records[0]["text"] == "Real page is a test of links.\nHistory\nIt was long.\nLast line."


def test_bz2_and_plain_xml_give_the_same_records(tmp_path):
    (tmp_path / "d.xml").write_text(SMALL_DUMP)
    with bz2.open(tmp_path / "d.xml.bz2", "wt") as f:
        f.write(SMALL_DUMP)
    assert mediawiki.parse_dump(tmp_path / "d.xml") == mediawiki.parse_dump(tmp_path / "d.xml.bz2")


@pytest.mark.parametrize("make, message", [
    (lambda p: None, "No dump at"),
    (lambda p: p.write_text("this is not xml"), "not a valid MediaWiki XML dump"),
    (lambda p: p.write_bytes(sample_dump().read_bytes()[:200_000]), "truncated"),
], ids=["missing", "not-xml", "truncated-bz2"])
def test_bad_dumps_fail_clearly_and_cache_nothing(tmp_path, make, message):
    dump = tmp_path / ("dump.xml.bz2" if message == "truncated" else "dump.xml")
    make(dump)
    cache = tmp_path / "cache"
    with pytest.raises(mediawiki.WikipediaError, match=message):
        mediawiki.parsed_articles(dump, cache=cache)
    assert not cache.exists() or not any(cache.rglob("*"))


def test_parse_is_cached_by_content(tmp_path, monkeypatch):
    dump = tmp_path / "small.xml"
    dump.write_text(SMALL_DUMP)
    first = mediawiki.parsed_articles(dump, cache=tmp_path / "cache")
    monkeypatch.setattr(mediawiki, "parse_dump", lambda p: pytest.fail("parsed twice"))
    assert mediawiki.parsed_articles(dump, cache=tmp_path / "cache").to_list() == first.to_list()


@pytest.mark.parametrize("wikitext_in,expected", [
    ("Intro.<ref>unclosed\n== History ==\nText.", "Intro.\nHistory\nText."),  # not "Intro." alone
    ("{{Infobox person | name = X\nText here.", "Text here."),  # no "Infobox person | name = X" left
    ("{{Infobox person\n| name = X\n| born = 1900\nThe person was born.", "The person was born."),
    ("A<ref name=x>one</ref> b.<ref>two</ref> c.<ref name=y/>\nNext.", "A b. c.\nNext."),
])
def test_unclosed_footnotes_and_templates_end_at_their_line(wikitext_in, expected):
    assert mediawiki.clean_wikitext(wikitext_in) == expected


@pytest.mark.parametrize("wikitext_in,expected", [
    ("The arithmetic mean ({{IPAc-en|ˈ|m|iː|n}}), or simply the mean, is a sum.",
     "The arithmetic mean, or simply the mean, is a sum."),  # the sample's own article: no "mean (), or"
    ("Paris ({{lang-fr|Paris}}; {{IPA-fr|paʁi}}) is a city.", "Paris is a city."),
    ("A function (mathematics) maps (x) to f(x).", "A function (mathematics) maps (x) to f(x)."),  # kept
])
def test_brackets_emptied_by_removed_markup_go_too(wikitext_in, expected):
    assert mediawiki.clean_wikitext(wikitext_in) == expected


def test_a_damaged_cached_parse_is_parsed_again(tmp_path, capsys):
    dump = tmp_path / "small.xml"
    dump.write_text(SMALL_DUMP)
    first = mediawiki.parsed_articles(dump, cache=tmp_path / "cache").to_list()
    (cached,) = (tmp_path / "cache").glob("*.parquet")
    cached.write_bytes(b"PAR1 not really parquet")  # what a full disk or a killed copy leaves
    assert mediawiki.parsed_articles(dump, cache=tmp_path / "cache").to_list() == first
    out = capsys.readouterr().out
    assert "is damaged (" in out and "parsing small.xml again" in out
    assert [p.name for p in (tmp_path / "cache").glob("*.parquet")] == [cached.name]


def test_a_new_parser_version_parses_again_and_drops_the_old_parse(tmp_path, monkeypatch):
    dump = tmp_path / "small.xml"
    dump.write_text(SMALL_DUMP)
    mediawiki.parsed_articles(dump, cache=tmp_path / "cache")
    monkeypatch.setattr(mediawiki, "PARSER_VERSION", mediawiki.PARSER_VERSION + 1)
    mediawiki.parsed_articles(dump, cache=tmp_path / "cache")
    assert [p.name.rsplit(".", 2)[1] for p in (tmp_path / "cache").glob("*.parquet")] == \
        [f"v{mediawiki.PARSER_VERSION}"]


@pytest.mark.parametrize("markup", ["<ref>x ", "{{x|", "[http://a x ", "<div>x ", "<!-- x "])
def test_a_page_of_thousands_of_unclosed_openings_is_cleaned_in_bounded_time(markup):
    """The parser backtracks over the rest of the page for each opening it cannot close: 20,000 unclosed <ref> tags
    took 70 s, enough to stall a Beam worker. Such a page is cleaned piece by piece."""
    import time

    started = time.perf_counter()
    text = mediawiki.clean_wikitext(markup * 20_000 + "\nThe end.")
    assert time.perf_counter() - started < 20  # (about 1-4 s on a 2-core laptop; minutes before)
    assert "<ref" not in text and "{{" not in text


def test_the_sample_takes_the_ordinary_path():
    """Real articles leave only a few openings unclosed, so each is cleaned whole, as before."""
    with bz2.open(sample_dump()) as stream:
        worst = max(mediawiki.unclosed(page["wikitext"]) for page in mediawiki.iter_pages(stream))
    assert worst <= mediawiki.UNCLOSED_LIMIT // 5


@pytest.mark.parametrize("page_id", ["", "<id></id>"])
def test_a_page_without_an_id_is_one_clear_error(tmp_path, page_id):
    dump = tmp_path / "noid.xml"
    dump.write_text(f"<mediawiki><page><title>A</title><ns>0</ns>{page_id}<revision><id>2</id><text>Words."
                    "</text></revision></page></mediawiki>")
    with pytest.raises(mediawiki.WikipediaError, match="the page 'A' has no <id>"):
        mediawiki.parse_dump(dump)
