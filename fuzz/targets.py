"""Fuzz targets: each takes raw bytes, drives one parser, and raises `Finding` on a defect.

A defect is any exception other than the documented ones, or an accepted forgery:
`verify` succeeding on headers the fuzzer made up (it never sees the secret) or on a body
other than the one that was signed. `run.py` feeds these from atheris or Hypothesis.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import time
from collections.abc import Callable

import httpx

from webhook_kit import (
    InvalidSecretError,
    InvalidTargetError,
    SignatureFormat,
    VerificationError,
    ed25519,
    verify,
)
from webhook_kit.header_parsing import find_header
from webhook_kit.keys import resolve_keys
from webhook_kit.netguard import NetworkPolicy
from webhook_kit.providers import GITHUB, SHOPIFY, SLACK, STANDARD_WEBHOOKS, STRIPE, SVIX
from webhook_kit.retry import parse_retry_after
from webhook_kit.schemes import MAX_ED25519_CHECKS, SignatureScheme
from webhook_kit.signing import FORMAT_SCHEMES
from webhook_kit.url_masking import masked_url, scrubbed
from webhook_kit.validation import check_target_url

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
NOW = 1_700_000_000
WEBHOOK_ID = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"

SCHEMES: dict[str, SignatureScheme] = {
    **{fmt.value: FORMAT_SCHEMES[fmt] for fmt in SignatureFormat},
    "github": GITHUB,
    "stripe": STRIPE,
    "shopify": SHOPIFY,
    "slack": SLACK,
    "svix": SVIX,
    "standard-webhooks": STANDARD_WEBHOOKS,
}

# Every header any scheme reads, so made-up headers reach the parsers behind them.
HEADER_NAMES = sorted(
    {
        name
        for scheme in SCHEMES.values()
        for name in scheme.signature_headers(
            b"", scheme.keys(SECRET), webhook_id=WEBHOOK_ID, timestamp=NOW
        )
    }
)


class Finding(Exception):
    """A defect the fuzzer found: an undocumented exception or an accepted forgery."""


class Cursor:
    """Reads structured values off the fuzzer's bytes (a small FuzzedDataProvider)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def byte(self) -> int:
        if self.at >= len(self.data):
            return 0
        self.at += 1
        return self.data[self.at - 1]

    def chunk(self) -> bytes:
        length = self.byte()
        piece = self.data[self.at : self.at + length]
        self.at += length
        return piece

    def text(self) -> str:
        return self.chunk().decode("utf-8", "surrogateescape")

    def rest(self) -> bytes:
        piece = self.data[self.at :]
        self.at = len(self.data)
        return piece


def _header_value(cursor: Cursor) -> str:
    """A made-up value; often shaped like the real thing so parsing goes deep."""
    shape = cursor.byte() % 6
    raw = cursor.text()
    if shape == 0:
        return f"t={NOW},v1={raw}"
    if shape == 1:
        return f"v1,{raw}"
    if shape == 2:
        return f"sha256={raw}"
    if shape == 3:
        return str(NOW)
    return raw


def _made_up_headers(cursor: Cursor) -> dict[str, str]:
    headers: dict[str, str] = {}
    for _ in range(cursor.byte() % 6):
        pick = cursor.byte()
        name = HEADER_NAMES[pick % len(HEADER_NAMES)] if pick < 240 else cursor.text()
        headers[name] = _header_value(cursor)
    return headers


def _verify_target(scheme_name: str) -> Callable[[bytes], None]:
    scheme = SCHEMES[scheme_name]
    keys = scheme.keys(SECRET)

    def target(data: bytes) -> None:
        cursor = Cursor(data)
        mode = cursor.byte() % 2
        if mode == 0:  # headers the fuzzer made up: nothing may verify
            headers = _made_up_headers(cursor)
            body = cursor.rest()
        else:  # a genuine signature over one body, presented with another
            signed = cursor.chunk()
            body = cursor.rest()
            if body == signed:
                return
            headers = scheme.signature_headers(signed, keys, webhook_id=WEBHOOK_ID, timestamp=NOW)
        try:
            verify(body, headers, SECRET, scheme=scheme, now=NOW)
        except VerificationError:
            return
        except Exception as exc:
            raise Finding(f"{scheme_name}: {type(exc).__name__}: {exc!r}") from exc
        raise Finding(f"{scheme_name}: accepted a forgery: headers={headers!r} body={body!r}")

    return target


def retry_after(data: bytes) -> None:
    """`parse_retry_after` answers a number of seconds or None, never raises."""
    value = data.decode("latin-1")
    try:
        seconds = parse_retry_after(value, float(NOW))
    except Exception as exc:
        raise Finding(f"Retry-After {value!r}: {type(exc).__name__}: {exc}") from exc
    if seconds is not None and not 0 <= seconds < float("inf"):
        raise Finding(f"Retry-After {value!r} gave {seconds!r}")


_URL_STARTS = ("http://", "https://", "http://a", "http://user:pw@", "http://[", "")


def target_url(data: bytes) -> None:
    """`check_target_url` accepts a URL or raises `InvalidTargetError`, never anything else;
    and a URL it accepts is read to the same host and port by both HTTP stacks."""
    start = _URL_STARTS[data[0] % len(_URL_STARTS)] if data else ""
    url = start + data[1:].decode("utf-8", "replace")
    try:
        check_target_url(url)
    except InvalidTargetError:
        return
    except Exception as exc:
        raise Finding(f"target URL {url!r}: {type(exc).__name__}: {exc}") from exc
    try:
        sent = httpx.Request("POST", url).url
        host, port = (
            sent.raw_host.decode("ascii"),
            sent.port or {"http": 80, "https": 443}[sent.scheme],
        )
        read_by_aiohttp = _aiohttp_target(url)
    except Exception as exc:
        raise Finding(f"accepted target URL {url!r} fails to send: {exc!r}") from exc
    if read_by_aiohttp is not None and read_by_aiohttp != (_address_or_name(host), port):
        raise Finding(
            f"accepted target URL {url!r}: httpx reads {host}:{port}, aiohttp {read_by_aiohttp}"
        )


def _address_or_name(host: str) -> str:
    return str(ipaddress.ip_address(host)) if ":" in host else host


def _aiohttp_target(url: str) -> tuple[str, int | None] | None:
    """The host and port the aiohttp stack connects to (``None`` without aiohttp)."""
    try:
        from webhook_kit.http_stacks._aiohttp_sessions import _checked_target
    except ImportError:
        return None
    target = _checked_target(url, NetworkPolicy(allow_private=True))
    return _address_or_name(target.raw_host or ""), target.port


# Markers no fuzzed byte produces (the fuzzer's pieces are stripped of them).
_URL_USER, _URL_PASSWORD, _URL_QUERY = "U\u2460ser", "P\u2461ass", "Q\u2462uery"


def _url_piece(cursor: Cursor) -> str:
    return "".join(ch for ch in cursor.text() if ch not in "\u2460\u2461\u2462@?#")


def url_masking(data: bytes) -> None:
    """`masked_url` and `scrubbed` never raise, and show none of a URL's credentials or
    query, however the URL around them is spelled."""
    cursor = Cursor(data)
    prefix, host, path = _url_piece(cursor), _url_piece(cursor), _url_piece(cursor)
    url = f"{prefix}{_URL_USER}:{_URL_PASSWORD}@{host}{path}?t={_URL_QUERY}"
    text = cursor.rest().decode("utf-8", "surrogateescape")
    try:
        masked = masked_url(url)
        cleaned = scrubbed(f"{text} {url} {_URL_PASSWORD}", url)
        masked_url(text)
    except Exception as exc:
        raise Finding(f"masking {url!r}: {type(exc).__name__}: {exc}") from exc
    for secret in (_URL_USER, _URL_PASSWORD, _URL_QUERY):
        if secret in masked or secret in cleaned:
            raise Finding(f"{url!r} masked as {masked!r} / scrubbed as {cleaned!r}")


def _reference_key(text: str) -> bytes | None:
    """The key the official libraries' strict decoders (Go, Rust, Java, C#) agree on, padding
    optional as in the Python reference; ``None`` where they raise."""
    encoded = text.removeprefix("whsec_")
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None
    return key or None


def secret_decoding(data: bytes) -> None:
    """A Standard Webhooks secret decodes to the reference key, or raises `InvalidSecretError`."""
    text = data.decode("utf-8", "surrogateescape")
    if text.startswith(("whsk_", "whpk_")):
        return  # Ed25519 keys: decoded by their own rule
    expected = _reference_key(text) if text else None
    try:
        keys = resolve_keys(text, True)
    except InvalidSecretError:
        if expected is not None:
            raise Finding(f"secret {text!r} was refused; it decodes to {expected!r}") from None
        return
    except Exception as exc:
        raise Finding(f"secret {text!r}: {type(exc).__name__}: {exc}") from exc
    if keys.hmac != (expected,):
        raise Finding(f"secret {text!r} decoded to {keys.hmac!r}, not {expected!r}")


# Letters whose str.lower/str.upper is an ASCII letter, or close to one.
_LOOKALIKES = ("\u212a", "\u017f", "\u0130", "\u0131", "\u212b", "k", "S")


def header_lookup(data: bytes) -> None:
    """`find_header` answers only for a name equal up to ASCII case, and finds one if present."""
    cursor = Cursor(data)
    wanted = HEADER_NAMES[cursor.byte() % len(HEADER_NAMES)]
    headers: dict[str, str] = {}
    for _ in range(cursor.byte() % 6):
        name = cursor.text()
        shape = cursor.byte() % 3
        if shape == 1:  # the wanted name's start, then made-up text
            name = wanted[: cursor.byte() % (len(wanted) + 1)] + name
        elif shape == 2:  # the wanted name, in any ASCII case, one letter swapped for a lookalike
            at = cursor.byte() % len(wanted)
            lookalike = _LOOKALIKES[cursor.byte() % len(_LOOKALIKES)]
            cased = wanted.upper() if cursor.byte() % 2 else wanted
            name = cased[:at] + lookalike + cased[at + 1 :]
        headers[name] = f"value-{len(headers)}"
    matching = [
        value for key, value in headers.items() if key.isascii() and key.lower() == wanted.lower()
    ]
    try:
        found = find_header(headers, wanted)
    except Exception as exc:
        raise Finding(f"find_header({headers!r}, {wanted!r}): {exc!r}") from exc
    if (found is None) != (not matching) or (found is not None and found not in matching):
        raise Finding(f"find_header({headers!r}, {wanted!r}) gave {found!r}; want {matching!r}")


_V1A_SEEDS = (bytes(range(32)), bytes(range(32, 64)))


def v1a_entries(data: bytes) -> None:
    """Made-up ``v1a`` entries never verify and never cost more than the budget of checks."""
    public = [
        "whpk_" + base64.b64encode(ed25519.public_key_of(seed)).decode() for seed in _V1A_SEEDS
    ]
    cursor = Cursor(data)
    entries = []
    for _ in range(cursor.byte() % 40):
        raw = cursor.chunk()
        shape = cursor.byte() % 3
        encoded = base64.b64encode(raw.ljust(64, b"\0")[:64] if shape == 0 else raw).decode()
        entries.append(("v1a," if shape < 2 else "v1,") + encoded)
    headers = {
        "webhook-id": WEBHOOK_ID,
        "webhook-timestamp": str(NOW),
        "webhook-signature": " ".join(entries),
    }
    body = cursor.rest()
    calls = 0
    real = ed25519.verify

    def counting(key: bytes, signature: bytes, message: bytes) -> bool:
        nonlocal calls
        calls += 1
        return real(key, signature, message)

    ed25519.verify = counting
    try:
        verify(body, headers, public, scheme=STANDARD_WEBHOOKS, now=NOW)
    except VerificationError:
        pass
    except Exception as exc:
        raise Finding(f"v1a: {type(exc).__name__}: {exc!r}") from exc
    else:
        raise Finding(f"v1a: accepted a forgery: headers={headers!r}")
    finally:
        ed25519.verify = real
    if calls > MAX_ED25519_CHECKS:
        raise Finding(f"v1a: {calls} Ed25519 checks for one request: {headers!r}")


TARGETS: dict[str, Callable[[bytes], None]] = {
    "url_masking": url_masking,
    **{f"verify[{name}]": _verify_target(name) for name in SCHEMES},
    "retry_after": retry_after,
    "target_url": target_url,
    "secret_decoding": secret_decoding,
    "header_lookup": header_lookup,
    "v1a_entries": v1a_entries,
}


def self_check() -> None:
    """Every scheme's genuine delivery verifies here, so a rejection by a target means the
    input was bad, not that the harness is misconfigured."""
    for scheme in SCHEMES.values():
        headers = scheme.signature_headers(
            b"{}", scheme.keys(SECRET), webhook_id=WEBHOOK_ID, timestamp=int(time.time())
        )
        verify(b"{}", headers, SECRET, scheme=scheme)
