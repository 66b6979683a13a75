"""Target URLs the two stacks must read alike: what the subscription accepts is parsed to the same
host and port by httpx and by aiohttp (yarl); what it refuses raises `InvalidTargetError`; and
numeric IPv4 spellings that reach a stack anyway are refused by both, whatever the policy."""

from __future__ import annotations

import ipaddress
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yarl
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from loopback import PRIVATE_OK, LiveServer, post

from webhook_kit import InvalidTargetError, WebhookSubscription
from webhook_kit.http_stacks import NetworkStack
from webhook_kit.http_stacks._aiohttp_sessions import _checked_target
from webhook_kit.netguard import TargetRefusedError
from webhook_kit.url_hosts import looks_like_an_address, numeric_ipv4
from webhook_kit.validation import check_target_url

SECRET = "target-spellings-secret"
DEFAULT_PORTS = {"http": 80, "https": 443}
LOOPBACK_SPELLINGS = ["2130706433", "127.1", "0x7f.1", "017700000001", "0x7f000001", "127.0.1"]


# --- what the subscription refuses, and says why ------------------------------------------------


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://xn--zz/", "xn--zz is not valid IDNA"),
        ("https://xn--zz.example.com/hooks", "not valid IDNA"),
        ("http://xn--a.com/", "not valid IDNA"),
        # Punycode for an emoji: httpx decodes the host for its Host header and refuses it.
        ("http://xn--ls8h.la/", "not valid IDNA"),
        ("http://exa\\mple.com/", "backslash"),
        ("http://example.com\\@169.254.169.254/", "backslash"),  # httpx: host 169.254.169.254
        ("http://example.com/a\\b", "backslash"),
        ("http://2130706433/", "write 127.0.0.1"),
        ("http://127.1:8000/", "write 127.0.0.1"),
        ("http://0x7f.1/", "write 127.0.0.1"),
        ("http://017700000001/", "write 127.0.0.1"),
        ("http://127.0.0.1./", "write 127.0.0.1"),
        ("http://0/", "write 0.0.0.0"),
        ("http://1.2.3.4.5/", "not an IPv4 address"),
        ("http://4294967296/", "not an IPv4 address"),
        ("http://example.123/", "not an IPv4 address"),
        ("http://%31%32%37.0.0.1/", "percent-escapes"),
        ("http://ex%41mple.com/", "percent-escapes"),
        ("http://example..com/", "empty label"),
        ("http://.example.com/", "empty label"),
        ("http://a!b.example/", "not letters, digits"),
        ("http://" + "a" * 64 + ".com/", "longer than 63"),
        ("http://[fe80::1%25eth0]/", "IPv6 zone"),
    ],
)
def test_a_url_the_stacks_would_read_apart_is_refused(url: str, says: str) -> None:
    with pytest.raises(InvalidTargetError, match="the target URL") as caught:
        WebhookSubscription(url, SECRET)
    assert says in str(caught.value)


@pytest.mark.parametrize(
    "url",
    [
        "http://xn--exmple-cua.com/",  # exämple.com, as an A-label
        "http://exämple.com/",
        "http://faß.de/",
        "http://example.com./hooks",
        "http://ex_ample.internal/",
        "http://127.0.0.1:8000/",
        "http://[::ffff:127.0.0.1]/",
        "http://example.com/hooks?path=a\\b",  # the query is sent as written by both
        "http://user:pw@example.com/",
    ],
)
def test_plain_names_and_addresses_are_accepted(url: str) -> None:
    assert check_target_url(url) == url


def test_the_command_reports_an_undecodable_label_in_one_line(tmp_path: Path) -> None:
    # Was a traceback: idna.IDNAError escaped from the URL check.
    completed = subprocess.run(
        [
            sys.executable,
            "-c",
            "from webhook_kit.cli import main; main()",
            "send",
            "http://xn--zz/",
            "--event",
            "ping",
            "--data",
            "{}",
            "--secret",
            SECRET,
            "--db",
            str(tmp_path / "q.sqlite3"),
        ],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode != 0
    assert "Traceback" not in completed.stderr
    lines = [line for line in completed.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, completed.stderr
    assert lines[0].startswith("Error: ")
    assert "xn--zz" in lines[0]
    assert list(tmp_path.iterdir()) == []


# --- numeric IPv4 spellings, on both stacks -----------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("host", LOOPBACK_SPELLINGS)
async def test_a_numeric_spelling_is_refused_alike_with_private_targets_allowed(
    stack: NetworkStack, live_server: LiveServer, host: str
) -> None:
    # Was: the httpx stack resolved "127.1" to 127.0.0.1 and sent; aiohttp refused it (and
    # "0x7f.1" slipped past aiohttp's digits-only test to the resolver).
    assert numeric_ipv4(host) == ipaddress.IPv4Address("127.0.0.1")
    before = len(live_server.recorder.requests)
    with pytest.raises(TargetRefusedError, match="not an IP address"):
        await post(stack, live_server.url("/echo", host=host), policy=PRIVATE_OK)
    assert len(live_server.recorder.requests) == before
    # Written as the address, the same target is reached.
    assert (await post(stack, live_server.url("/echo"), policy=PRIVATE_OK)).status == 200


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("2130706433", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0X7F.0.0.1", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),
        ("10.1.2", "10.1.0.2"),
        ("0x", "0.0.0.0"),  # noqa: S104  (a spelling, not a bind address)
        ("192.168.257", "192.168.1.1"),
        ("1.2.3.4.", "1.2.3.4"),
        ("256.1", None),
        ("08.1", None),
        ("1.2.3.4.5", None),
        ("0x1g", None),
        ("", None),
    ],
)
def test_numeric_ipv4_reads_the_url_standards_forms(host: str, address: str | None) -> None:
    expected = None if address is None else ipaddress.IPv4Address(address)
    assert numeric_ipv4(host) == expected


# --- the property: both stacks read an accepted URL alike ---------------------------------------

_TRICKY_HOSTS = [
    "example.com",
    "EXAMPLE.com",
    "exämple.com",
    "faß.de",
    "xn--zz",
    "xn--ls8h.la",
    "xn--a",
    "127.0.0.1",
    "127.1",
    "2130706433",
    "0x7f.1",
    "0177.0.0.1",
    "[::1]",
    "[::FFFF:127.0.0.1]",
    "[0:0::1]",
    "[fe80::1%25eth0]",
    "a\\b",
    "example.com\\@evil.com",
    "ex%41mple.com",
    "example..com",
    "example.com.",
    "localhost",
    "a_b",
    "-a",
    "١٢٣.com",
]
_label = st.text(alphabet="abcxyz019-_äßﬀ.%\\@", min_size=1, max_size=8)
_hosts = st.sampled_from(_TRICKY_HOSTS) | st.builds(".".join, st.lists(_label, max_size=3))
_numbers = st.builds(
    lambda parts, form: ".".join(form.format(part) for part in parts),
    st.lists(st.integers(0, 2**32), min_size=1, max_size=5),
    st.sampled_from(["{}", "0{:o}", "0x{:x}", "0X{:X}"]),
)
_urls = st.builds(
    "{}://{}{}{}{}".format,
    st.sampled_from(["http", "https", "HTTP"]),
    st.sampled_from(["", "user@", "user:pw@", "a%40b@", "@"]),
    _hosts | _numbers,
    st.sampled_from(["", ":", ":80", ":443", ":8080", ":080", ":65535", ":0", ":70000"]),
    st.sampled_from(["", "/", "/hooks", "/a\\b", "/%2F", "?q=\\", "#f", "/x?y=1#z"]),
)


def _same_host(host: str) -> str:
    return str(ipaddress.ip_address(host)) if ":" in host else host


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(url=_urls)
@example(url="http://xn--zz/")
@example(url="http://example.com\\@evil.com/")
@example(url="http://127.1/")
def test_an_accepted_url_is_read_alike_by_both_stacks(url: str) -> None:
    try:
        check_target_url(url)
    except InvalidTargetError:
        return
    # The httpx stack: the request's URL, whose raw host httpcore connects to.
    sent = httpx.Request("POST", url).url
    httpx_target = (
        _same_host(sent.raw_host.decode("ascii")),
        sent.port or DEFAULT_PORTS[sent.scheme],
    )
    # The aiohttp stack: what it hands aiohttp (private targets allowed: nothing refused).
    aiohttp_url = _checked_target(url, PRIVATE_OK)
    assert aiohttp_url.raw_host is not None
    assert (_same_host(aiohttp_url.raw_host), aiohttp_url.port) == httpx_target
    # And neither stack will refuse its host as an unreadable address.
    host = httpx_target[0]
    if looks_like_an_address(host):
        ipaddress.ip_address(host)
    # yarl reading the URL as given agrees too, wherever it reads it at all (it refuses some
    # userinfo that httpx escapes): no parser differential is left in the host or port.
    try:
        own = yarl.URL(url)
    except ValueError:
        return
    assert own.raw_host is not None
    assert (_same_host(own.raw_host), own.port) == httpx_target
