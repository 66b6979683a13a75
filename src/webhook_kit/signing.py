"""`SignatureFormat` — how webhook-kit signs what it sends — and `sign`."""

from __future__ import annotations

import enum

from .errors import InvalidInputError
from .header_parsing import MAX_TIMESTAMP
from .keys import SecretOrSecrets
from .schemes import HmacHeaderScheme, SignatureScheme, StandardWebhooksScheme, StripeScheme
from .wire import HEADER_EVENT, HEADER_ID, HEADER_SIGNATURE

__all__ = ["SignatureFormat", "sign"]


class SignatureFormat(str, enum.Enum):
    """The formats a subscription can sign with; the value goes in ``X-Webhook-Signature``.

    | member | signed bytes | header value |
    |---|---|---|
    | `HEX_SHA256_WITH_PREFIX` | body | `sha256=<lowercase hex>` |
    | `HEX_SHA256` | body | `<lowercase hex>` |
    | `BASE64_SHA256` | body | `<base64>` |
    | `STANDARD_WEBHOOKS` | `{id}.{timestamp}.{body}` | `v1,<base64>` |
    | `STRIPE` | `{timestamp}.{body}` | `t=<timestamp>,v1=<hex>` |

    ``STANDARD_WEBHOOKS`` also sends ``webhook-id``, ``webhook-timestamp`` and
    ``webhook-signature`` as the Standard Webhooks spec says.
    """

    HEX_SHA256_WITH_PREFIX = "hex_sha256_with_prefix"
    HEX_SHA256 = "hex_sha256"
    BASE64_SHA256 = "base64_sha256"
    STANDARD_WEBHOOKS = "standard_webhooks"
    STRIPE = "stripe"

    def __str__(self) -> str:
        return self.value

    @property
    def scheme(self) -> SignatureScheme:
        """The `SignatureScheme` that signs and verifies this format on webhook-kit's headers."""
        return FORMAT_SCHEMES[self]

    @property
    def timestamped(self) -> bool:
        """Whether the format signs a timestamp (and so is signed anew at each attempt)."""
        return FORMAT_SCHEMES[self].timestamped


def _own(name: str) -> str:
    return f"webhook-kit/{name}"


FORMAT_SCHEMES: dict[SignatureFormat, SignatureScheme] = {
    SignatureFormat.HEX_SHA256_WITH_PREFIX: HmacHeaderScheme(
        _own("hex_sha256_with_prefix"),
        HEADER_SIGNATURE,
        prefix="sha256=",
        id_header=HEADER_ID,
        event_header=HEADER_EVENT,
    ),
    SignatureFormat.HEX_SHA256: HmacHeaderScheme(
        _own("hex_sha256"), HEADER_SIGNATURE, id_header=HEADER_ID, event_header=HEADER_EVENT
    ),
    SignatureFormat.BASE64_SHA256: HmacHeaderScheme(
        _own("base64_sha256"),
        HEADER_SIGNATURE,
        encoding="base64",
        id_header=HEADER_ID,
        event_header=HEADER_EVENT,
    ),
    SignatureFormat.STANDARD_WEBHOOKS: StandardWebhooksScheme(
        _own("standard_webhooks"),
        id_headers=(HEADER_ID, "webhook-id"),
        timestamp_headers=("webhook-timestamp",),
        signature_headers=(HEADER_SIGNATURE, "webhook-signature"),
        event_header=HEADER_EVENT,
    ),
    SignatureFormat.STRIPE: StripeScheme(
        _own("stripe"), HEADER_SIGNATURE, id_header=HEADER_ID, event_header=HEADER_EVENT
    ),
}
"""The scheme behind each format (webhook-kit's own header names)."""


def scheme_of(scheme: SignatureFormat | SignatureScheme) -> SignatureScheme:
    """Return the `SignatureScheme` for a format or a scheme.

    Raises:
        InvalidInputError: ``scheme`` is neither.
    """
    if isinstance(scheme, SignatureScheme):
        return scheme
    try:
        return FORMAT_SCHEMES[scheme]
    except (KeyError, TypeError):
        raise InvalidInputError(
            f"scheme must be a SignatureFormat or a provider preset, not {scheme!r}"
        ) from None


def sign(
    body: bytes,
    secret: SecretOrSecrets,
    *,
    scheme: SignatureFormat | SignatureScheme = SignatureFormat.HEX_SHA256_WITH_PREFIX,
    webhook_id: str | None = None,
    timestamp: int | None = None,
) -> str:
    """Return the signature header value for ``body``.

    Usage:

        header_value = sign(b'{"order_id": 42}', "s3cret")  # 'sha256=…'

    Args:
        body: the exact bytes that will be sent.
        secret: a secret, or a list for rotation (list-carrying formats sign with each; the
            others with the first).
        scheme: a `SignatureFormat` or a provider preset from `webhook_kit.providers`.
        webhook_id: the delivery id; required by formats that sign it (Standard Webhooks).
        timestamp: epoch seconds; required by formats that sign a timestamp.

    Raises:
        InvalidSecretError: the secret is empty or does not decode.
        InvalidInputError: ``body`` is not bytes, or a required id or timestamp is missing.
    """
    resolved = scheme_of(scheme)
    if not isinstance(body, (bytes, bytearray, memoryview)):
        raise InvalidInputError(f"body must be bytes, not {type(body).__name__}")
    if isinstance(resolved, StandardWebhooksScheme) and not webhook_id:
        raise InvalidInputError(f"{resolved.name} signs the webhook id: pass webhook_id=")
    if resolved.timestamped and timestamp is None:
        raise InvalidInputError(f"{resolved.name} signs a timestamp: pass timestamp=")
    if timestamp is not None and (
        isinstance(timestamp, bool)
        or not isinstance(timestamp, int)
        or not 0 <= timestamp < MAX_TIMESTAMP
    ):
        raise InvalidInputError(
            f"timestamp must be whole epoch seconds (an int from 0 to {MAX_TIMESTAMP - 1})"
        )
    return resolved.signature(
        bytes(body), resolved.keys(secret), webhook_id=webhook_id or "", timestamp=timestamp or 0
    )
