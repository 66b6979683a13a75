"""The URL masker: whatever a URL's spelling, the masked form shows no credentials and no query.

Secrets are generated with an upper-case letter and a digit that hosts and paths here never
contain, so a secret found in the masked text was leaked, not met by chance.
"""

from __future__ import annotations

import string

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from webhook_kit.events import masked_url
from webhook_kit.url_masking import scrubbed

# RFC 3986 userinfo characters besides ":" (and "@", which parsers accept raw: the last wins).
_USERINFO = string.ascii_letters + string.digits + "-._~!$&'()*+,;=@"
_QUERY = string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@/?%"
_LOWER = string.ascii_lowercase + string.digits


def _secret(alphabet: str) -> st.SearchStrategy[str]:
    """A secret: an upper-case marker, a digit marker, then any of ``alphabet`` and escapes."""
    piece = st.one_of(
        st.sampled_from(alphabet),
        st.sampled_from(["%40", "%3A", "%2F", "%3F", "%23", "%25", "%20", "%C3%A9"]),
    )
    return st.builds(
        lambda upper, digit, rest: f"{upper}{digit}{''.join(rest)}",
        st.sampled_from("QXZ"),
        st.sampled_from("789"),
        st.lists(piece, min_size=4, max_size=12),
    )


_hosts = st.one_of(
    st.from_regex(r"[a-z][a-z0-9-]{0,10}(\.[a-z]{2,5}){0,2}", fullmatch=True),
    st.sampled_from(["[::1]", "[2001:db8::1]", "[fe80::1%25eth0]", "127.0.0.1", "2130706433"]),
    st.just("xn--bcher-kva.example"),
)
_ports = st.one_of(st.just(""), st.integers(1, 65535).map(lambda port: f":{port}"))
_paths = st.lists(st.text(_LOWER, min_size=0, max_size=6), max_size=3).map(
    lambda segments: "".join(f"/{segment}" for segment in segments)
)
# How people, and lenient parsers, spell what comes between the scheme and the authority.
_schemes = st.sampled_from(["http", "https", "HTTP", "Https", "postgresql"])
_separators = st.sampled_from(["//", "//", "\\\\", "/\\", "///", "/", ""])


@st.composite
def _urls(draw: st.DrawFn) -> tuple[str, list[str]]:
    """A URL with credentials and a query, and the secrets it carries."""
    user = draw(_secret(_USERINFO))
    password = draw(_secret(_USERINFO + ":"))
    query = draw(_secret(_QUERY))
    fragment = draw(st.one_of(st.just(""), _secret(_QUERY).map(lambda f: f"#{f}")))
    userinfo = draw(
        st.sampled_from([f"{user}:{password}@", f"{user}@", f":{password}@", f"{user}:@"])
    )
    scheme = draw(_schemes)
    separator = draw(_separators) if scheme.lower() != "postgresql" else "//"
    url = (
        f"{draw(st.sampled_from(['', ' ', chr(9)]))}{scheme}:{separator}{userinfo}"
        f"{draw(_hosts)}{draw(_ports)}{draw(_paths)}?token={query}{fragment}"
    )
    secrets = [query, fragment.removeprefix("#")]
    secrets += [part for part in (user, password) if part in userinfo]
    return url, [secret for secret in secrets if secret]


def _shown(secret: str) -> list[str]:
    """The forms of ``secret`` that must not appear: as written, and percent-decoded."""
    from urllib.parse import unquote

    return [secret, unquote(secret)]


@given(_urls())
@example(("http:\\\\Q7user:Q7password@host/x?token=Z9query", ["Q7user", "Q7password", "Z9query"]))
@example(("HTTP:Q7user:Q7password@host?token=Z9query", ["Q7user", "Q7password", "Z9query"]))
@example(("http:///Q7user:Q7pass@host/?token=Z9query", ["Q7user", "Q7pass", "Z9query"]))
def test_masked_urls_show_no_credentials_query_or_fragment(case: tuple[str, list[str]]) -> None:
    url, secrets = case
    masked = masked_url(url)
    for secret in secrets:
        for form in _shown(secret):
            assert form not in masked, (url, masked, form)


@given(_urls())
def test_the_host_and_path_stay_readable(case: tuple[str, list[str]]) -> None:
    url, _ = case
    masked = masked_url(url)
    assert masked.endswith("?…")
    assert "@" not in masked


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("https://user:pw@example.com/hooks?token=t", "https://example.com/hooks?…"),
        ("https://example.com/hooks", "https://example.com/hooks"),
        ("http://u:p@[::1]:8080/x?q=1#frag", "http://[::1]:8080/x?…"),
        ("http://a@b:c@host/p", "http://host/p"),
        ("http:\\\\user:pw@host/x", "http://host/x"),
        ("HTTP:user:pw@host", "http://host"),
        ("user:pw@host/x", "host/x"),  # "user" may be a user name, not a scheme
        ("postgresql://u:p@db.internal/app", "postgresql://db.internal/app"),
        ("http://host/p#user:pw", "http://host/p"),
        ("//user:pw@host/x", "host/x"),  # scheme-relative
        ("postgresql:///user:pw@db/app", "postgresql://db/app"),
        ("http://host\\@evil/x", "http://evil/x"),  # userinfo to urllib, not to WHATWG
        ("http://host/a/user:pw@b/x", "http://host/…@b/x"),  # '@' in a path: hidden before it
    ],
)
def test_masked_url_examples(url: str, masked: str) -> None:
    assert masked_url(url) == masked


@given(st.text())
@example("http://[")
@example("http://u:p@[::1/?token=x")
def test_masked_url_never_raises(text: str) -> None:
    assert isinstance(masked_url(text), str)


@given(_urls(), st.sampled_from(["Invalid port: {p!r}", "cannot reach {u}", "{q} rejected"]))
def test_scrubbed_text_carries_none_of_the_urls_secrets(
    case: tuple[str, list[str]], template: str
) -> None:
    url, secrets = case
    query = url.partition("?token=")[2].partition("#")[0]
    # A value as parsers read it: "a&b" is two fields, and each is scrubbed on its own.
    assume("&" not in query and "=" not in query)
    text = template.format(u=url, p=secrets[-1], q=query)
    cleaned = scrubbed(text, url)
    for secret in secrets:
        for form in _shown(secret):
            assert form not in cleaned, (text, cleaned, form)


def test_scrubbed_leaves_other_text_alone() -> None:
    url = "https://user:Q7pw@example.com/hooks?token=Z9tok"
    assert scrubbed("connection refused", url) == "connection refused"
    assert scrubbed(f"POST {url}: 500", url) == "POST https://example.com/hooks?…: 500"


@st.composite
def _broken_userinfo_urls(draw: st.DrawFn) -> tuple[str, list[str]]:
    """A URL whose password holds a raw ``#``, ``/`` or ``?``: every parser ends the
    authority there, so what follows is no longer read as a password at all."""
    letters = string.ascii_lowercase + string.digits
    before = "Q7" + draw(st.text(letters, min_size=4, max_size=10))
    after = "Z9" + draw(st.text(letters, min_size=4, max_size=10))
    cut = draw(st.sampled_from("#/?"))
    url = f"http://user:{before}{cut}{after}@example.com/hook"
    return url, [before, after]


@given(_broken_userinfo_urls())
@example(("http://user:Q7pass#Z9word@example.com/hook", ["Q7pass", "Z9word"]))
def test_an_unreadable_password_is_not_quoted_by_the_builder(case: tuple[str, list[str]]) -> None:
    from webhook_kit import WebhookSubscription
    from webhook_kit.errors import InvalidInputError

    url, pieces = case
    try:
        sub = WebhookSubscription(url, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    except InvalidInputError as exc:
        shown = f"{exc} {exc!r}"
    else:
        shown = repr(sub)
    for piece in pieces:
        assert piece not in shown, shown


@given(_broken_userinfo_urls(), st.sampled_from(["httpx", "aiohttp"]))
def test_an_unreadable_password_is_not_quoted_by_the_stacks(
    case: tuple[str, list[str]], stack_name: str
) -> None:
    from webhook_kit.http_stacks._shared import not_a_url

    url, pieces = case
    # What each stack's parser says of such a URL, handed to the stacks' shared error.
    import httpx

    try:
        httpx.URL(url)
        reason = ""
    except httpx.InvalidURL as exc:
        reason = str(exc)
    shown = str(not_a_url(url, reason))
    for piece in pieces[:1]:  # the part before the cut: after it, the URL's path or fragment
        assert piece not in shown, (stack_name, shown)


@given(_urls())
def test_endpoint_keys_carry_no_credentials_or_query(case: tuple[str, list[str]]) -> None:
    from webhook_kit.health import endpoint_of

    url, secrets = case
    key = endpoint_of(url)  # a row of the endpoints table, and a line of `webhook-kit endpoints`
    for secret in secrets:
        for form in _shown(secret):
            assert form not in key, (url, key, form)


def test_endpoint_keys_of_ordinary_urls_are_unchanged() -> None:
    from webhook_kit.health import endpoint_of

    assert (
        endpoint_of("https://u:p@Example.COM:8443/hooks?x=1") == "https://example.com:8443/hooks"
    )
    assert endpoint_of("http://example.com") == "http://example.com/"


@pytest.mark.parametrize(
    "url", ["Q7user:Z9pass@example.com/hook", "Q7user:Z9pass@example.com", "Q7user:8080"]
)
def test_a_user_name_taken_for_a_scheme_is_not_quoted(url: str) -> None:
    from webhook_kit import WebhookSubscription
    from webhook_kit.errors import InvalidInputError

    with pytest.raises(InvalidInputError) as caught:
        WebhookSubscription(url, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    message = str(caught.value).lower()  # the scheme is quoted lower-cased
    assert "q7user" not in message
    assert "z9pass" not in message


def test_a_plain_wrong_scheme_is_still_named() -> None:
    from webhook_kit import WebhookSubscription
    from webhook_kit.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="not 'ftp'"):
        WebhookSubscription("ftp://example.com/hook", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
