"""Entries -> posts: canonical URLs, stable ids, categories, plain text, times. Unit tests, then
hypothesis properties of the pure transforms."""

from __future__ import annotations

import datetime as dt
import html
import re
import string
from urllib.parse import parse_qsl, urlsplit

import pytest
from conftest import item, rss
from hypothesis import example, given
from hypothesis import strategies as st

from aggregator.normalize import (
    TRACKING_PARAMS,
    _canonical_url,
    _simple_tokens,
    _soup_strings_and_hrefs,
    _strings_and_hrefs,
    _TextAndLinks,
    _url_key,
    canonical_url,
    html_to_text_and_links,
    normalize_feed,
    post_id_for,
    split_categories,
    url_key,
)
from aggregator.parse import parse_bytes

UTC = dt.UTC
NOW = dt.datetime(2022, 3, 24, 12, 0, tzinfo=UTC)
TOKEN_LIST = re.compile(r"^[\w.-]+:[\w./:-]+(\s*,\s*[\w.-]+:[\w./:-]+)+$")


def normalize(
    body: bytes, *, url: str = "https://aws.amazon.com/about-aws/whats-new/recent/feed/", now: dt.datetime = NOW
):
    return normalize_feed(parse_bytes(body, url=url), url=url, now=now)


# --- canonical_url ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://aws.amazon.com/lex/", "https://aws.amazon.com/lex/"),
        ("  https://aws.amazon.com/lex/\n ", "https://aws.amazon.com/lex/"),
        ("HTTPS://AWS.Amazon.COM/EC2/Pricing/", "https://aws.amazon.com/EC2/Pricing/"),
        ("https://aws.amazon.com", "https://aws.amazon.com/"),
        ("https://aws.amazon.com:443/s3/", "https://aws.amazon.com/s3/"),
        ("http://example.com:80/a", "http://example.com/a"),
        ("http://example.com:8080/a", "http://example.com:8080/a"),
        ("https://example.com./a", "https://example.com/a"),
        ("https://user:secret@example.com/a", "https://example.com/a"),
        ("http://[::1]:8080/x", "http://[::1]:8080/x"),
        ("https://aws.amazon.com/ec2/faqs/#run_command", "https://aws.amazon.com/ec2/faqs/"),
        ("https://example.com/a?utm_source=rss&utm_medium=feed", "https://example.com/a"),
        ("https://example.com/a?UTM_Campaign=x&id=3", "https://example.com/a?id=3"),
        ("https://example.com/a?sc_channel=sm&sc_campaign=launch&trk=x&fbclid=1&gclid=2", "https://example.com/a"),
        ("https://example.com/search?q=aws&utm_source=x&page=2", "https://example.com/search?q=aws&page=2"),
        ("https://example.com/a?b=2&a=1", "https://example.com/a?b=2&a=1"),
    ],
)
def test_canonical_url(url: str, expected: str) -> None:
    assert canonical_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        None,
        "",
        "   ",
        "/ec2/run-command/",
        "mailto:aws@amazon.com",
        "javascript:void(0)",
        "ftp://example.com/f",
        "file:///etc/passwd",
        "data:text/html,hi",
        "https://example.com:99999/",
        "http://../",
        "https://",
    ],
)
def test_canonical_url_rejects_what_is_not_a_web_address(url: str | None) -> None:
    assert canonical_url(url) is None


@pytest.mark.parametrize(
    ("url", "base", "expected"),
    [
        (
            "/ec2/run-command/",
            "https://aws.amazon.com/about-aws/whats-new/2016/07/x/",
            "https://aws.amazon.com/ec2/run-command/",
        ),
        ("images/a.png", "https://example.org/blog/post/", "https://example.org/blog/post/images/a.png"),
        ("../about/", "https://example.org/blog/post/", "https://example.org/blog/about/"),
        ("//cdn.example.net/x.js", "https://example.org/", "https://cdn.example.net/x.js"),
        ("#top", "https://example.org/post?id=3#c", "https://example.org/post?id=3"),
        ("https://other.example/", "https://example.org/", "https://other.example/"),
    ],
)
def test_canonical_url_resolves_against_a_base(url: str, base: str, expected: str) -> None:
    assert canonical_url(url, base=base) == expected


# --- url_key and post_id_for ------------------------------------------------------------------


def test_url_key_ignores_scheme_www_trailing_slash_and_parameter_order() -> None:
    variants = [
        "https://aws.amazon.com/lex/?a=1&b=2",
        "http://aws.amazon.com/lex?b=2&a=1",
        "https://www.aws.amazon.com/lex//?a=1&b=2",
    ]
    assert {url_key(v) for v in variants} == {"aws.amazon.com/lex?a=1&b=2"}


def test_url_key_keeps_what_selects_content() -> None:
    keys = {
        url_key("https://example.com/a"),
        url_key("https://example.com/A"),
        url_key("https://example.com/a?id=1"),
        url_key("https://example.com/a?id=2"),
        url_key("https://example.com:8443/a"),
        url_key("https://blog.example.com/a"),
    }
    assert len(keys) == 6
    assert url_key("https://example.com/") == "example.com/"


def test_post_id_comes_from_the_url_first() -> None:
    a = post_id_for(url="https://aws.amazon.com/lex/", guid="g1", title="A", summary="a")
    b = post_id_for(url="http://www.aws.amazon.com/lex", guid="g2", title="B", summary="b")
    assert a == b
    assert re.fullmatch(r"[0-9a-f]{16}", a)


def test_post_id_falls_back_to_the_guid_then_the_content() -> None:
    by_guid = post_id_for(url=None, guid="urn:x:1", title="A", summary="a")
    assert by_guid == post_id_for(url=None, guid="urn:x:1", title="B", summary="b")
    by_content = post_id_for(url=None, guid=None, title="A", summary="a")
    assert by_content == post_id_for(url=None, guid=None, title="A", summary="a")
    assert by_content != post_id_for(url=None, guid=None, title="A", summary="b")
    assert len({by_guid, by_content}) == 2


def test_post_ids_of_different_kinds_do_not_collide() -> None:
    same = "https://example.com/x"
    assert post_id_for(url=same, guid=None, title="", summary="") != post_id_for(
        url=None, guid=same, title="", summary=""
    )


# --- split_categories ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("terms", "expected"),
    [
        (
            ["general:products/amazon-s3,marketing:marchitecture/storage"],
            ("general:products/amazon-s3", "marketing:marchitecture/storage"),
        ),
        (
            ["\n  general:products/amazon-ec2, general:products/aws-govcloud-us ,marketing:marchitecture/compute,\n"],
            ("general:products/amazon-ec2", "general:products/aws-govcloud-us", "marketing:marchitecture/compute"),
        ),
        (["general:products/amazon-lex"], ("general:products/amazon-lex",)),
        (["Security, Identity, & Compliance"], ("Security, Identity, & Compliance",)),
        (["aws", "serverless", "aws", "  ", ""], ("aws", "serverless")),
        (["a:b,c:d", "c:d,e:f", "a:b"], ("a:b", "c:d", "e:f")),
        (["Amazon   EC2"], ("Amazon EC2",)),
        ([], ()),
    ],
)
def test_split_categories(terms: list[str], expected: tuple[str, ...]) -> None:
    assert split_categories(terms) == expected


# --- html_to_text_and_links ---------------------------------------------------------------------


def test_html_to_text_strips_tags_and_decodes_entities() -> None:
    markup = "<p>Amazon S3 &amp; Amazon EFS:\n  <b>faster</b>&nbsp;and <em>cheaper</em>.</p><p>Really&#8230;</p>"
    assert html_to_text_and_links(markup, base=None) == ("Amazon S3 & Amazon EFS: faster and cheaper. Really…", ())


def test_html_to_text_of_plain_text() -> None:
    assert html_to_text_and_links("Fish &amp; chips,\n served ", base=None) == ("Fish & chips, served", ())


def test_html_to_text_separates_blocks_and_drops_scripts() -> None:
    markup = "one<br>two<br/>three<script>alert(1)</script><style>p{}</style><ul><li>four</li><li>five</li></ul>"
    assert html_to_text_and_links(markup, base=None)[0] == "one two three four five"


def test_html_links_are_absolute_canonical_and_unique() -> None:
    markup = (
        '<a href="/lex/">Lex</a> <a href="https://aws.amazon.com/lex/#faq">again</a>'
        ' <a href="mailto:x@example.com">mail</a> <a href="javascript:void(0)">js</a> <a>no href</a>'
        ' <a href="https://docs.aws.amazon.com/x.html?utm_source=rss&amp;sc_channel=el&amp;v=2">docs</a>'
    )
    text, links = html_to_text_and_links(markup, base="https://aws.amazon.com/about-aws/whats-new/2022/03/x/")
    assert links == ("https://aws.amazon.com/lex/", "https://docs.aws.amazon.com/x.html?v=2")
    assert text == "Lex again mail js no href docs"


def test_relative_links_without_a_base_are_dropped() -> None:
    assert html_to_text_and_links('<a href="/lex/">Lex</a>', base=None) == ("Lex", ())


def html_parser_strings_and_hrefs(markup: str) -> tuple[list[str], list[str]]:
    """``_strings_and_hrefs`` with ``html.parser``'s own tokenizer, always."""
    parser = _TextAndLinks()
    try:
        parser.feed(markup)
        parser.close()
    except Exception:
        return _soup_strings_and_hrefs(markup)
    parser._end_data()
    return parser.strings, parser.hrefs


_markup_pieces = st.sampled_from(
    [
        "Amazon S3 ",
        "  spaced\n text ",
        "a > b",
        "(see below).",
        "&amp;",
        "&nbsp;",
        "&#8230;",
        "&#x2026;",
        "&#X41;",
        "&bogus;",
        "&#0;",
        "&#150;",
        "<p>",
        "</p>",
        "<P>",
        "<br>",
        "<br/>",
        "<br />",
        "</br>",
        '<img src="x.png" alt="">',
        "<hr/>",
        '<a href="/lex/">',
        '<a HREF="https://aws.amazon.com/s3/" title="S3" target="_blank">',
        '<a href="a" href="b">',
        "<a href>",
        "<a>",
        "</a>",
        '<span class="x" hidden>',
        "</span >",
        "<b>",
        "</b>",
        "<li>",
        "</ul>",
        # not simple: html.parser's own tokenizer (or BeautifulSoup) reads these
        "<!-- comment -->",
        "<",
        "& ",
        "&amp",
        "<a href='single'>",
        '<a href="x&amp;y">',
        "<script>x<y</script>",
        "<pre> keep  </pre>",
        "<![CDATA[x]]>",
        "<p/ >",
    ]
)


@given(st.lists(_markup_pieces, max_size=12).map("".join))
@example('<p>See <a href="/ec2/">EC2</a>&nbsp;&amp; more&#8230;</p>')
def test_simple_markup_reads_as_html_parser_reads_it(markup: str) -> None:
    assert _strings_and_hrefs(markup) == html_parser_strings_and_hrefs(markup)


def test_common_announcement_markup_is_simple() -> None:
    markup = '<p>Amazon S3 now supports <a href="https://aws.amazon.com/s3/" target="_blank">x</a>&nbsp;&amp; y.</p>'
    assert _simple_tokens(markup) is not None
    assert _simple_tokens("<p>one<!-- two --></p>") is None
    assert _simple_tokens("<p>AT&T</p>") is None


# --- normalize_feed -----------------------------------------------------------------------------


def test_relative_links_resolve_against_the_entry_link() -> None:
    description = html.escape('<p>See <a href="/ec2/run-command/">Run Command</a> and <a href="faq/">the FAQ</a>.</p>')
    parsed = normalize(rss(item("run-command", description=description)))
    (post,) = parsed.posts
    assert post.url == "https://aws.amazon.com/about-aws/whats-new/2022/03/run-command/"
    assert post.links == (
        "https://aws.amazon.com/ec2/run-command/",
        "https://aws.amazon.com/about-aws/whats-new/2022/03/run-command/faq/",
    )
    assert post.summary == "See Run Command and the FAQ."


def test_relative_entry_links_resolve_against_the_feed_link() -> None:
    body = rss(item("x", link="/blogs/aws/new-thing/"), link="https://aws.amazon.com/blogs/aws/")
    (post,) = normalize(body, url="file:///srv/feeds/aws-blog.xml").posts
    assert post.url == "https://aws.amazon.com/blogs/aws/new-thing/"


def test_relative_entry_links_resolve_against_the_feed_url_without_a_feed_link() -> None:
    body = rss(item("x", link="posts/new-thing/"), link="")
    parsed = normalize(body, url="https://blog.example.com/feed/index.xml")
    assert parsed.link is None
    assert parsed.posts[0].url == "https://blog.example.com/feed/posts/new-thing/"


def test_a_local_file_url_is_never_a_base() -> None:
    body = rss(item("x", link="posts/new-thing/", guid="g-1"), link="")
    (post,) = normalize(body, url="file:///srv/feeds/blog.xml").posts
    assert post.url is None
    assert post.id == post_id_for(url=None, guid="g-1", title=post.title, summary=post.summary)


def test_titles_and_summaries_are_plain_text() -> None:
    title = html.escape("<b>New:</b> Amazon S3 &amp; Amazon EFS &#8211; what&#8217;s new")
    description = html.escape("<p>Line one,<br>line&nbsp;two &amp; <i>three</i> .</p>")
    (post,) = normalize(rss(item("s3-efs", title=title, description=description))).posts
    assert post.title == "New: Amazon S3 & Amazon EFS – what’s new"
    assert post.summary == "Line one, line two & three."
    assert post.summary_html == "<p>Line one,<br>line&nbsp;two &amp; <i>three</i> .</p>"


def test_a_plain_text_title_is_not_read_as_html() -> None:
    (post,) = normalize(rss(item("latency", title="Latency &lt; 1 ms at AT&amp;T"))).posts
    assert post.title == "Latency < 1 ms at AT&T"


def test_untitled_entries_borrow_from_the_summary() -> None:
    long_text = "Amazon Bedrock adds " + "many " * 30 + "features."
    short, long_ = normalize(
        rss(
            item("short", title=" ", description="Short summary."),
            item("long", title=" ", description=long_text),
            link="https://aws.amazon.com/",
        )
    ).posts
    assert short.title == "Short summary."
    assert long_.title == long_text[:80] + "…"


def test_times_are_aware_utc() -> None:
    (post,) = normalize(rss(item("t", date="Wed, 23 Mar 2022 09:30:00 -0700"))).posts
    assert post.published == dt.datetime(2022, 3, 23, 16, 30, tzinfo=UTC)
    assert post.published.utcoffset() == dt.timedelta(0)
    assert post.updated is None


@pytest.mark.parametrize(
    ("date", "kept"),
    [
        ("Wed, 23 Mar 2022 15:36:48 +0000", True),
        ("Sat, 26 Mar 2022 11:00:00 +0000", True),  # within two days of the clock: skew
        ("Mon, 28 Mar 2022 12:00:00 +0000", False),  # four days ahead
        ("Fri, 01 Jan 2100 00:00:00 +0000", False),
        ("Thu, 01 Jan 1970 00:00:00 +0000", False),
        ("not a date", False),
        ("", False),
    ],
)
def test_far_future_and_absurd_dates_are_missing(date: str, kept: bool) -> None:
    (post,) = normalize(rss(item("d", date=date))).posts
    assert (post.published is not None) is kept


def test_the_future_is_measured_from_now() -> None:
    body = rss(item("d", date="Mon, 28 Mar 2022 12:00:00 +0000"))
    assert normalize(body, now=NOW).posts[0].published is None
    later = normalize(body, now=NOW + dt.timedelta(days=3)).posts[0].published
    assert later == dt.datetime(2022, 3, 28, 12, 0, tzinfo=UTC)


def test_categories_are_split_per_entry() -> None:
    (post,) = normalize(
        rss(item("c", categories="general:products/amazon-lex,marketing:marchitecture/artificial-intelligence"))
    ).posts
    assert post.categories == ("general:products/amazon-lex", "marketing:marchitecture/artificial-intelligence")


def test_ids_do_not_depend_on_tracking_parameters_or_fragments() -> None:
    plain = normalize(rss(item("same"))).posts[0]
    tracked = normalize(
        rss(
            item(
                "same", link="https://aws.amazon.com/about-aws/whats-new/2022/03/same?utm_source=rss&sc_channel=sm#top"
            )
        )
    ).posts[0]
    assert plain.id == tracked.id
    assert tracked.url == "https://aws.amazon.com/about-aws/whats-new/2022/03/same"


def test_the_content_hash_follows_the_content() -> None:
    first = normalize(rss(item("h", description="One."))).posts[0]
    again = normalize(rss(item("h", description="One."))).posts[0]
    edited = normalize(rss(item("h", description="Two."))).posts[0]
    assert first.content_hash == again.content_hash != edited.content_hash
    assert first.id == edited.id


def test_repeated_entries_are_kept_once_with_a_warning() -> None:
    parsed = normalize(rss(item("a", guid="g"), item("a", guid="g"), item("b", guid="g")))
    assert [p.title for p in parsed.posts] == ["A", "B"]
    assert [p.guid for p in parsed.posts] == ["g", None]
    assert len(parsed.warnings) == 2


# --- properties ---------------------------------------------------------------------------------

_label = st.text(alphabet=string.ascii_lowercase + string.digits + "-", min_size=1, max_size=10).filter(
    lambda s: not s.startswith("-") and not s.endswith("-")
)
_host = (
    st.lists(_label, min_size=1, max_size=3)
    .map(".".join)
    .map(lambda h: h + ".example")
    .filter(lambda h: not h.startswith("www."))
)
_segment = st.text(alphabet=string.ascii_letters + string.digits + "-._~%", max_size=12)
_path = st.lists(_segment, max_size=4).map(lambda parts: "/" + "/".join(parts))
_param_name = st.one_of(
    st.text(alphabet=string.ascii_lowercase + "_", min_size=1, max_size=8),
    st.sampled_from(sorted(TRACKING_PARAMS)),
    st.sampled_from(["utm_source", "utm_medium", "UTM_Campaign", "utm_"]),
)
_param_value = st.text(alphabet=string.ascii_letters + string.digits + "-_.~+%/=?", max_size=8)
_params = st.lists(st.tuples(_param_name, _param_value), max_size=4)


def _is_tracking(name: str) -> bool:
    return name.lower().startswith("utm_") or name.lower() in TRACKING_PARAMS


@st.composite
def web_urls(draw: st.DrawFn) -> str:
    """Messy but real-looking web addresses: any case, ports, www., tracking parameters, fragments."""
    scheme = draw(st.sampled_from(["http", "https", "HTTP", "Https"]))
    host = draw(st.sampled_from(["", "www.", "WWW."])) + draw(_host)
    host = draw(st.sampled_from([host, host.upper(), host + "."]))
    port = draw(st.sampled_from(["", ":80", ":443", ":8080"]))
    query = "&".join(f"{k}={v}" for k, v in draw(_params))
    fragment = draw(st.sampled_from(["", "#", "#top", "#a/b?c"]))
    return f"{scheme}://{host}{port}{draw(_path)}" + (f"?{query}" if query else "") + fragment


@given(web_urls())
@example("https://example.com/a?x")
def test_canonical_url_is_idempotent(url: str) -> None:
    once = canonical_url(url)
    assert once is not None
    assert canonical_url(once) == once


@given(st.text(max_size=60) | st.text(max_size=30).map("http://{}".format))
@example("http://../")
@example("https://./a")
def test_canonical_url_never_raises_and_returns_web_addresses(text: str) -> None:
    url = canonical_url(text)
    if url is not None:
        parts = urlsplit(url)
        assert parts.scheme in ("http", "https") and parts.hostname
        assert not parts.fragment
        assert canonical_url(url) == url


def _long_way(url: str, base: str | None) -> str | None:
    try:
        return _canonical_url(url.strip(), base)
    except ValueError:
        return "ValueError"


def _short_way(url: str, base: str | None) -> str | None:
    try:
        return canonical_url(url, base=base)
    except ValueError:
        return "ValueError"


_BASES = [None, "https://aws.amazon.com/feed/", "http://x/", "[bad", "feeds/relative"]


def test_canonical_url_takes_its_shortcut_only_where_the_long_way_agrees() -> None:
    """Addresses at the edge of the shortcut (``_PLAIN_URL``), every combination."""
    schemes = ["http", "https", "HTTPS", " https"]
    hosts = ["aws.amazon.com", "www.example.com", "a-b.example", "x.y.z", "Ex.com", "ex.com.", "[::1]", "-a.com"]
    hosts += ["a..b", "a_b.com", "user@host", "host:443", "host:8080", "xn--bcher-kva.example", "bücher.example"]
    paths = ["", "/", "/a/b/", "/a;b", "/a;", "/a?", "/a#", "/a%20b", "/a:b@c", "//x", "/a b", "/é", "/a?x=1"]
    paths += ["/a/../b", "/a\tb", "/(x)!$*+,=~'", "/a&b", "/a[b]"]
    for scheme in schemes:
        for host in hosts:
            for path in paths:
                url = f"{scheme}://{host}{path}"
                for base in _BASES:
                    got = _short_way(url, base)
                    assert got == _long_way(url, base), (url, base)
                    if got and got != "ValueError":
                        assert url_key(got) == _url_key(got), got


@given(url=web_urls(), base=st.sampled_from(_BASES))
def test_canonical_url_agrees_with_the_long_way_on_messy_addresses(url: str, base: str | None) -> None:
    got = _short_way(url, base)
    assert got == _long_way(url, base)
    if got and got != "ValueError":
        assert url_key(got) == _url_key(got)


@given(web_urls())
def test_canonical_urls_are_clean(url: str) -> None:
    canonical = canonical_url(url)
    assert canonical is not None
    parts = urlsplit(canonical)
    assert parts.scheme in ("http", "https")
    assert parts.netloc == parts.netloc.lower()
    assert "#" not in canonical
    assert not [k for k, _ in parse_qsl(parts.query, keep_blank_values=True) if _is_tracking(k)]


@given(
    host=_host,
    path=_path,
    params=st.lists(st.tuples(st.text(alphabet="abcdefgh", min_size=1, max_size=4), _param_value), max_size=3),
    tracking=st.lists(st.tuples(_param_name.filter(_is_tracking), _param_value), max_size=3),
    scheme=st.sampled_from(["http", "https"]),
    www=st.booleans(),
    slash=st.booleans(),
    fragment=st.sampled_from(["", "#top"]),
)
def test_url_key_ignores_scheme_www_slash_and_tracking(
    host: str,
    path: str,
    params: list[tuple[str, str]],
    tracking: list[tuple[str, str]],
    scheme: str,
    www: bool,
    slash: bool,
    fragment: str,
) -> None:
    def build(scheme: str, www: bool, slash: bool, pairs: list[tuple[str, str]]) -> str:
        query = "&".join(f"{k}={v}" for k, v in pairs)
        return f"{scheme}://{'www.' if www else ''}{host}{path}{'/' if slash else ''}" + (f"?{query}" if query else "")

    plain = canonical_url(build("https", False, False, params))
    messy = canonical_url(build(scheme, www, slash, tracking + params[::-1] + tracking) + fragment)
    assert plain is not None and messy is not None
    assert url_key(plain) == url_key(messy)
    assert post_id_for(url=plain, guid="a", title="", summary="") == post_id_for(
        url=messy, guid="b", title="x", summary="y"
    )


_token = st.builds(
    "{}:{}/{}".format,
    st.sampled_from(["general", "marketing", "resource"]),
    st.sampled_from(["products", "marchitecture", "use-case", "development-language"]),
    st.text(alphabet=string.ascii_lowercase + string.digits + "-.", min_size=1, max_size=20),
)
_display = st.text(alphabet=string.ascii_letters + " ,&-", min_size=1, max_size=30)
_spaces = st.sampled_from(["", " ", "\n    "])


@st.composite
def category_terms(draw: st.DrawFn) -> tuple[list[str], list[str]]:
    """Category elements as feeds write them, and the categories each one stands for."""
    terms, meant = [], []
    for _ in range(draw(st.integers(0, 5))):
        if draw(st.booleans()):
            tokens = draw(st.lists(_token, min_size=1, max_size=5))
            sep = draw(_spaces) + "," + draw(_spaces)
            trailing = draw(st.sampled_from(["", ","]))
            terms.append(draw(_spaces) + sep.join(tokens) + trailing + draw(_spaces))
            meant.extend(tokens)
        else:
            label = draw(_display)
            terms.append(label)
            if label.strip(" ,"):  # a term of commas and spaces says nothing
                meant.append(" ".join(label.split()))
    return terms, meant


@given(category_terms())
@example(
    (
        ["general:products/amazon-s3,marketing:marchitecture/storage"],
        ["general:products/amazon-s3", "marketing:marchitecture/storage"],
    )
)
def test_split_categories_splits_token_lists_and_loses_nothing(case: tuple[list[str], list[str]]) -> None:
    terms, meant = case
    categories = split_categories(terms)
    for category in categories:
        assert not TOKEN_LIST.match(category), category
    assert categories == tuple(dict.fromkeys(meant)), "every token once, in order, nothing else"
    assert split_categories(categories) == categories


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["/a/", "b", "https://x.example/c?utm_source=1#f", "mailto:m@x", "#t", ""]),
            st.text(alphabet=string.ascii_letters + " &<>", max_size=10),
        ),
        max_size=6,
    )
)
def test_html_links_are_always_absolute_web_addresses(anchors: list[tuple[str, str]]) -> None:
    markup = "".join(f'<p><a href="{html.escape(href)}">{html.escape(label)}</a></p>' for href, label in anchors)
    text, links = html_to_text_and_links(markup, base="https://blog.example.com/post/")
    assert len(set(links)) == len(links) <= len(anchors)
    for link in links:
        assert canonical_url(link) == link
    assert text == " ".join(" ".join(label for _, label in anchors).split())


def test_links_in_the_full_content_are_kept_beside_the_excerpt() -> None:
    """A blog sends an excerpt in <description> and the article in <content:encoded>: the links to
    the announcements it is about are often only in the article."""
    from aggregator.normalize import normalize_feed
    from aggregator.parse import parse_bytes

    body = b"""<?xml version="1.0"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>
<title>AWS News Blog</title><link>https://aws.amazon.com/blogs/aws/</link>
<item><title>New: queues that are fair</title>
<link>https://aws.amazon.com/blogs/aws/new-fair-queues/</link>
<description>&lt;p&gt;An excerpt with no links.&lt;/p&gt;</description>
<content:encoded>&lt;p&gt;Today we &lt;a href="https://aws.amazon.com/about-aws/whats-new/2025/02/amazon-sqs-fair-queues/"&gt;announced&lt;/a&gt;
fair queues. &lt;a href="#how"&gt;How it works&lt;/a&gt;, &lt;a href="/sqs/pricing/"&gt;pricing&lt;/a&gt;.&lt;/p&gt;</content:encoded>
<pubDate>Tue, 18 Feb 2025 10:00:00 +0000</pubDate></item></channel></rss>"""
    post = normalize_feed(parse_bytes(body), url="https://aws.amazon.com/blogs/aws/feed/", now=NOW).posts[0]
    assert post.summary == "An excerpt with no links."
    assert post.links == (
        "https://aws.amazon.com/about-aws/whats-new/2025/02/amazon-sqs-fair-queues/",
        "https://aws.amazon.com/sqs/pricing/",
    )
