"""Header names match case-insensitively in ASCII only, whatever mapping the framework hands in.

``str.lower`` folds some non-ASCII letters onto ASCII ones: U+212A KELVIN SIGN to ``k``, U+0130
(capital I with dot) to ``i`` plus a combining dot. A header name is an ASCII token, so such a
spelling names another header, never the signature header.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
from starlette.datastructures import Headers as StarletteHeaders
from werkzeug.datastructures import EnvironHeaders
from werkzeug.datastructures import Headers as WerkzeugHeaders

from webhook_kit import (
    SignatureFormat,
    VerificationError,
    VerificationFailure,
    WebhookVerifier,
    providers,
    sign,
    verify,
)
from webhook_kit.header_parsing import find_header

SECRET = "header-lookup-secret"
BODY = b'{"n": 1}'
NOW = 1_700_000_000
SIGNATURE = sign(BODY, SECRET)

# Each spelling folds onto an ASCII header name under str.lower/str.upper, but is not it.
LOOKALIKES = {
    "kelvin": "X-Webhoo\u212a-Signature",  # KELVIN SIGN: .lower() is "k"
    "long-s": "X-Webhook-\u017fignature",  # LATIN SMALL LETTER LONG S: .upper() is "S"
}


def dict_headers(pairs: list[tuple[str, str]]) -> Any:
    return dict(pairs)


def werkzeug_headers(pairs: list[tuple[str, str]]) -> Any:
    return WerkzeugHeaders(pairs)


def _environ_name(name: str) -> str:
    # Upper-case the ASCII letters only, so the lookalike letter reaches the environ as it is.
    return "HTTP_" + "".join(c.upper() if c.isascii() else c for c in name).replace("-", "_")


def flask_request_headers(pairs: list[tuple[str, str]]) -> Any:
    """What Flask's ``request.headers`` is: Werkzeug's view of the WSGI environ."""
    from flask import Request

    environ = {_environ_name(name): value for name, value in pairs}
    environ.update({"REQUEST_METHOD": "POST", "wsgi.input": io.BytesIO(BODY)})
    headers = Request(environ).headers
    assert isinstance(headers, EnvironHeaders)
    return headers


MAPPINGS: dict[str, Callable[[list[tuple[str, str]]], Any]] = {
    "dict": dict_headers,
    "werkzeug-Headers": werkzeug_headers,
    "flask-request": flask_request_headers,
}


@pytest.mark.parametrize("make", MAPPINGS.values(), ids=MAPPINGS.keys())
@pytest.mark.parametrize("name", LOOKALIKES.values(), ids=LOOKALIKES.keys())
def test_a_lookalike_signature_header_name_does_not_match(
    make: Callable[[list[tuple[str, str]]], Any], name: str
) -> None:
    headers = make([(name, SIGNATURE)])
    with pytest.raises(VerificationError) as caught:
        verify(BODY, headers, SECRET)
    assert caught.value.reason is VerificationFailure.MISSING_HEADER
    with pytest.raises(VerificationError) as caught:
        WebhookVerifier(SECRET).verify(BODY, headers)
    assert caught.value.reason is VerificationFailure.MISSING_HEADER


@pytest.mark.parametrize("make", MAPPINGS.values(), ids=MAPPINGS.keys())
@pytest.mark.parametrize(
    "spelling", ["X-Webhook-Signature", "x-webhook-signature", "X-WEBHOOK-SIGNATURE"]
)
def test_ascii_case_variants_still_match(
    make: Callable[[list[tuple[str, str]]], Any], spelling: str
) -> None:
    headers = make([(spelling, SIGNATURE)])
    assert verify(BODY, headers, SECRET).body == BODY
    assert WebhookVerifier(SECRET).verify(BODY, headers).body == BODY


@pytest.mark.parametrize("make", MAPPINGS.values(), ids=MAPPINGS.keys())
def test_the_real_header_wins_over_a_lookalike_beside_it(
    make: Callable[[list[tuple[str, str]]], Any],
) -> None:
    headers = make(
        [(LOOKALIKES["kelvin"], "sha256=" + "0" * 64), ("X-Webhook-Signature", SIGNATURE)]
    )
    assert verify(BODY, headers, SECRET).body == BODY


@pytest.mark.parametrize("make", MAPPINGS.values(), ids=MAPPINGS.keys())
def test_standard_webhooks_headers_with_a_dotted_capital_i_do_not_match(
    make: Callable[[list[tuple[str, str]]], Any],
) -> None:
    whsec = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    signed = providers.STANDARD_WEBHOOKS.signature_headers(
        BODY, providers.STANDARD_WEBHOOKS.keys(whsec), webhook_id="msg_1", timestamp=NOW
    )
    pairs = [("WEBHOOK-\u0130D" if k == "webhook-id" else k, v) for k, v in signed.items()]
    with pytest.raises(VerificationError) as caught:
        verify(BODY, make(pairs), whsec, scheme=providers.STANDARD_WEBHOOKS, now=NOW)
    assert caught.value.reason is VerificationFailure.MISSING_HEADER


@pytest.mark.parametrize("name", LOOKALIKES.values(), ids=LOOKALIKES.keys())
def test_find_header_folds_ascii_only_in_a_plain_dict(name: str) -> None:
    assert find_header({name: "x"}, "X-Webhook-Signature") is None
    assert find_header({"x-WEBHOOK-signature": "x"}, "X-Webhook-Signature") == "x"


def test_an_optional_id_header_under_a_lookalike_name_is_not_read() -> None:
    headers = WerkzeugHeaders(
        [("X-Webhook-Signature", SIGNATURE), ("X-Webhoo\u212a-Id", "forged-id")]
    )
    webhook = verify(BODY, headers, SECRET)
    assert webhook.id is None


def test_starlette_request_headers_from_the_wire_do_not_match_a_lookalike() -> None:
    # On the wire a name is bytes; the Kelvin sign arrives as its UTF-8 bytes, never as "k".
    raw = [("x-webhoo\u212a-signature".encode(), SIGNATURE.encode())]
    with pytest.raises(VerificationError) as caught:
        verify(BODY, StarletteHeaders(raw=raw), SECRET)
    assert caught.value.reason is VerificationFailure.MISSING_HEADER


@pytest.mark.anyio
async def test_verify_signature_on_a_starlette_request_does_not_match_a_lookalike() -> None:
    from starlette.requests import Request

    from webhook_kit import verify_signature

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": BODY, "more_body": False}

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/",
        "headers": [("x-webhoo\u212a-signature".encode(), SIGNATURE.encode())],
    }
    with pytest.raises(VerificationError) as caught:
        await verify_signature(Request(scope, receive), SECRET)
    assert caught.value.reason is VerificationFailure.MISSING_HEADER


def test_django_request_headers_from_a_wsgi_environ_do_not_match_a_lookalike() -> None:
    # A WSGI server decodes names as latin-1: the Kelvin sign's UTF-8 bytes are three
    # latin-1 letters, none of which folds onto ASCII.
    from django.conf import settings

    if not settings.configured:
        settings.configure()
    from django.core.handlers.wsgi import WSGIRequest

    name = "HTTP_X_WEBHOO" + "\u212a".encode().decode("latin-1").upper() + "_SIGNATURE"
    environ = {
        "REQUEST_METHOD": "POST",
        "wsgi.input": io.BytesIO(BODY),
        "CONTENT_LENGTH": str(len(BODY)),
        name: SIGNATURE,
    }
    request = WSGIRequest(environ)
    with pytest.raises(VerificationError) as caught:
        verify(
            request.body, request.headers, SECRET, scheme=SignatureFormat.HEX_SHA256_WITH_PREFIX
        )
    assert caught.value.reason is VerificationFailure.MISSING_HEADER


@pytest.mark.parametrize("scheme", [providers.STANDARD_WEBHOOKS, providers.SVIX], ids=repr)
@pytest.mark.parametrize("make", MAPPINGS.values(), ids=MAPPINGS.keys())
def test_a_kelvin_sign_in_a_standard_webhooks_header_name_does_not_match(
    make: Callable[[list[tuple[str, str]]], Any], scheme: providers.SignatureScheme
) -> None:
    whsec = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    signed = scheme.signature_headers(BODY, scheme.keys(whsec), webhook_id="msg_1", timestamp=NOW)
    # Every name the scheme reads has the k of "webhook" (or is replaced by one that does).
    pairs = [(f"webhoo\u212a-{k.partition('-')[2]}", v) for k, v in signed.items()]
    for verifier in (
        lambda headers: verify(BODY, headers, whsec, scheme=scheme, now=NOW),
        lambda headers: WebhookVerifier(whsec, scheme=scheme).verify(BODY, headers, NOW),
    ):
        with pytest.raises(VerificationError) as caught:
            verifier(make(pairs))
        assert caught.value.reason is VerificationFailure.MISSING_HEADER
