"""Hypothesis strategies for webhook-kit's types: payloads, event names, secrets, signed
deliveries and hostile headers.

Usage:

    from hypothesis import given
    from webhook_kit import strategies as wks

    @given(wks.signed_deliveries(providers.GITHUB))
    def test_my_receiver_accepts_signed_deliveries(delivery):
        assert my_verify(delivery.body, delivery.headers, delivery.secret)

    # Timestamped schemes sign at a drawn time: verify with now=delivery.timestamp.

Needs Hypothesis (the ``test`` extra). ``st.from_type(SignatureFormat)``, ``RetryPolicy`` and
``WebhookEvent`` resolve through Hypothesis's entry point once webhook-kit is installed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from . import providers
from .events import WebhookEvent
from .keys import SecretOrSecrets
from .netguard import NetworkPolicy
from .retry import RetryPolicy
from .schemes import SignatureScheme
from .signing import FORMAT_SCHEMES, SignatureFormat
from .wire import HEADER_EVENT, HEADER_ID

__all__ = [
    "SignedDelivery",
    "event_names",
    "hostile_headers",
    "json_payloads",
    "retry_policies",
    "schemes",
    "secrets",
    "signature_formats",
    "signed_deliveries",
    "webhook_events",
]

_PROVIDERS = providers.PRESETS


def json_payloads(*, max_leaves: int = 20) -> st.SearchStrategy[Any]:
    """JSON values webhook-kit can send: objects, arrays, strings (no lone surrogates),
    finite numbers, booleans and null."""
    text = st.text(st.characters(codec="utf-8"), max_size=40)
    scalars = (
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | text
    )
    return st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=5) | st.dictionaries(text, children, max_size=5)
        ),
        max_leaves=max_leaves,
    )


def event_names() -> st.SearchStrategy[str]:
    """Event names like ``order.created``: dotted printable ASCII words."""
    word = st.text("abcdefghijklmnopqrstuvwxyz0123456789_-", min_size=1, max_size=12)
    return st.lists(word, min_size=1, max_size=4).map(".".join)


def signature_formats() -> st.SearchStrategy[SignatureFormat]:
    """Any `SignatureFormat`."""
    return st.sampled_from(list(SignatureFormat))


def schemes() -> st.SearchStrategy[SignatureScheme]:
    """Any scheme: each `SignatureFormat`'s and each provider preset."""
    return st.sampled_from([*FORMAT_SCHEMES.values(), *_PROVIDERS])


def secrets(scheme: SignatureScheme | None = None) -> st.SearchStrategy[str | bytes]:
    """Secrets that ``scheme`` accepts: raw text or bytes; for Standard Webhooks and Svix, raw
    bytes and base64 text (with or without ``whsec_``), as their official libraries take."""
    raw_bytes = st.binary(min_size=1, max_size=64)
    if scheme is not None and scheme.decodes_prefixed_keys:
        import base64

        encoded = st.binary(min_size=24, max_size=64).map(
            lambda key: base64.b64encode(key).decode()
        )
        return raw_bytes | encoded.map(lambda text: "whsec_" + text) | encoded
    return st.text(st.characters(codec="utf-8"), min_size=1, max_size=64) | raw_bytes


@dataclass(frozen=True)
class SignedDelivery:
    """A body and the headers a sender of ``scheme`` would send with it, signed with ``secret``.

    Attributes:
        scheme: the scheme it is signed in.
        secret: the secret it is signed with.
        body: the raw body.
        headers: every header a sender of ``scheme`` sends (ids, timestamps, signatures).
        webhook_id: the delivery id in the headers.
        timestamp: the signing time (verify timestamped schemes with ``now=timestamp``).
    """

    scheme: SignatureScheme
    secret: SecretOrSecrets
    body: bytes
    headers: dict[str, str]
    webhook_id: str
    timestamp: int


def signed_deliveries(
    scheme: SignatureScheme | None = None, *, timestamp: int | None = None
) -> st.SearchStrategy[SignedDelivery]:
    """Correctly signed deliveries for ``scheme`` (default: any scheme).

    Args:
        scheme: the scheme to sign with.
        timestamp: the signing time for timestamped schemes (default: drawn between 2020 and
            2030; verify with ``now=delivery.timestamp``).
    """
    return _signed_delivery(scheme, timestamp)


@st.composite
def _signed_delivery(
    draw: st.DrawFn, scheme: SignatureScheme | None, timestamp: int | None
) -> SignedDelivery:
    chosen = scheme if scheme is not None else draw(schemes())
    secret = draw(secrets(chosen))
    body = draw(st.binary(max_size=512) | json_payloads().map(lambda v: _json_bytes(v)))
    webhook_id = str(uuid.UUID(int=draw(st.integers(0, 2**128 - 1))))
    when = timestamp if timestamp is not None else draw(st.integers(1_600_000_000, 1_900_000_000))
    headers = {HEADER_ID: webhook_id, HEADER_EVENT: draw(event_names())}
    headers.update(
        chosen.signature_headers(body, chosen.keys(secret), webhook_id=webhook_id, timestamp=when)
    )
    return SignedDelivery(chosen, secret, body, headers, webhook_id, when)


def hostile_headers() -> st.SearchStrategy[dict[str, str]]:
    """Header sets a hostile sender might send: every signature header name webhook-kit knows,
    with garbage, huge, non-ASCII, numeric-looking and list-shaped values."""
    names = sorted(
        {
            name
            for scheme in (*FORMAT_SCHEMES.values(), *_PROVIDERS)
            for name in (
                *scheme.signature_header_names,
                scheme.id_header,
                scheme.event_header,
                getattr(scheme, "timestamp_header", None),
                "webhook-timestamp",
                "svix-timestamp",
            )
            if name
        }
    )
    tricky = st.sampled_from(
        [
            "",
            " ",
            "nan",
            "inf",
            "-1",
            "1e400",
            "9" * 400,
            "٣",
            "v1,",
            "v1,!!!",
            "t=,v1=",
            "sha256=",
            "sha256=" + "g" * 64,
            "v1a," + "A" * 88,
            "\x00",
            "é" * 10,
        ]
    )
    lists = st.lists(
        st.sampled_from(["v1,AAAA", "v1a,BBBB", "v0=00", "t=1", "v1=00"]), max_size=80
    )
    value = tricky | st.text(max_size=200) | lists.map(" ".join) | lists.map(",".join)
    return st.dictionaries(
        st.sampled_from(names) | st.text(min_size=1, max_size=20), value, max_size=8
    )


def retry_policies() -> st.SearchStrategy[RetryPolicy]:
    """Valid retry policies."""
    return st.builds(
        lambda attempts, base, factor, extra, jitter: RetryPolicy(
            attempts, base, factor, base + extra, jitter
        ),
        st.integers(1, 12),
        st.floats(0, 3600),
        st.floats(1, 5),
        st.floats(0, 86_400),
        st.floats(0, 0.5),
    )


def webhook_events() -> st.SearchStrategy[WebhookEvent]:
    """Stored jobs as a queue holds them (round-trip through ``to_json``)."""
    return st.builds(
        WebhookEvent,
        id=st.uuids().map(str),
        event=event_names(),
        target_url=st.sampled_from(
            ["https://example.com/hooks", "http://receiver.webhook-kit.test/x"]
        ),
        body=json_payloads().map(lambda v: _json_bytes(v).decode()),
        signature_format=signature_formats(),
        signature=st.none() | st.text("0123456789abcdef", min_size=64, max_size=64),
        created_at=st.floats(1_600_000_000, 1_900_000_000),
        subscription_id=st.none() | st.text("abc123", min_size=1, max_size=8),
        retry_policy=retry_policies(),
        network=st.sampled_from([NetworkPolicy(), NetworkPolicy(allow_private=True)]),
    )


def _json_bytes(value: Any) -> bytes:
    import json

    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _register_type_strategies() -> None:
    """Hypothesis entry point: ``st.from_type`` for webhook-kit's own types."""
    st.register_type_strategy(SignatureFormat, signature_formats())
    st.register_type_strategy(RetryPolicy, retry_policies())
    st.register_type_strategy(WebhookEvent, webhook_events())
