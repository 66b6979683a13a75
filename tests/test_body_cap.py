"""A body over the cap is refused before it is copied, whatever buffer type it comes in."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from typing import Any

import pytest

from webhook_kit import (
    InvalidInputError,
    SignatureFormat,
    SignatureScheme,
    VerificationError,
    VerificationFailure,
    WebhookVerifier,
    providers,
    sign,
    verify,
)

SECRET = "bodyCapSecret0"  # valid base64, for Standard Webhooks too
CAP = 1024 * 1024
OVERSIZED = 16 * CAP  # 16 MiB: a copy would show as at least this much traced memory
SCHEMES: list[SignatureFormat | SignatureScheme] = [
    SignatureFormat.HEX_SHA256_WITH_PREFIX,
    providers.GITHUB,
    providers.STANDARD_WEBHOOKS,
    providers.STRIPE,
]


def buffers() -> dict[str, Callable[[bytes], object]]:
    return {
        "bytearray": bytearray,
        "memoryview": lambda data: memoryview(bytearray(data)),
        "memoryview-of-bytes": memoryview,
    }


def peak_while(call: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        with pytest.raises(VerificationError) as caught:
            call()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert caught.value.reason is VerificationFailure.BODY_TOO_LARGE
    return peak


@pytest.mark.parametrize("scheme", SCHEMES, ids=repr)
@pytest.mark.parametrize("make", buffers().values(), ids=buffers().keys())
def test_an_oversized_buffer_is_refused_without_a_copy(
    make: Callable[[bytes], Any], scheme: SignatureFormat | SignatureScheme
) -> None:
    body = make(bytes(OVERSIZED))
    headers = {"X-Webhook-Signature": "sha256=" + "0" * 64}
    verifier = WebhookVerifier(SECRET, scheme=scheme, max_body_bytes=CAP)
    assert peak_while(lambda: verifier.verify(body, headers)) < CAP // 4
    assert peak_while(lambda: verify(body, headers, SECRET, scheme=scheme, max_body_bytes=CAP)) < (
        CAP // 4
    )


def test_a_typed_memoryview_is_measured_in_bytes_not_items() -> None:
    # 300 four-byte items: 1200 bytes, over a 1000-byte cap although len() is 300.
    view = memoryview(bytearray(1200)).cast("I")
    assert len(view) == 300
    with pytest.raises(VerificationError) as caught:
        verify(view, {}, SECRET, max_body_bytes=1000)  # type: ignore[arg-type]
    assert caught.value.reason is VerificationFailure.BODY_TOO_LARGE
    assert "1200 bytes" in str(caught.value)


@pytest.mark.parametrize("make", buffers().values(), ids=buffers().keys())
def test_a_buffer_within_the_cap_still_verifies(make: Callable[[bytes], Any]) -> None:
    raw = b'{"ok": true}'
    body = make(raw)
    headers = {"X-Webhook-Signature": sign(raw, SECRET)}
    webhook = verify(body, headers, SECRET)
    assert webhook.body == raw
    assert type(webhook.body) is bytes


def test_a_str_body_is_still_a_type_error() -> None:
    with pytest.raises(InvalidInputError, match="not str"):
        verify("{}", {}, SECRET)  # type: ignore[arg-type]
