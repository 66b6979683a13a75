"""Verifying a webhook without a framework: `verify` and the settings behind `WebhookVerifier`."""

from __future__ import annotations

import math
from datetime import datetime

from .errors import InvalidInputError, VerificationError, VerificationFailure
from .header_parsing import HeaderMapping, epoch_seconds
from .keys import KeySet, SecretOrSecrets
from .schemes import BoundVerify, SignatureScheme
from .signing import SignatureFormat, scheme_of
from .verified import VerifiedWebhook

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_TOLERANCE",
    "VerificationSettings",
    "verify",
]

DEFAULT_TOLERANCE = 300.0
"""Seconds a signed timestamp may be from now, either way (Stripe's and Svix's five minutes)."""

DEFAULT_MAX_BODY_BYTES = 5 * 1024 * 1024
"""The largest body verified by default (5 MiB); GitHub's up-to-25 MB pushes need more."""


def _check_tolerance(tolerance: float) -> float:
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)):
        raise InvalidInputError("tolerance must be a number of seconds")
    if not (tolerance >= 0 and math.isfinite(tolerance)):
        raise InvalidInputError("tolerance must be a finite, non-negative number of seconds")
    return float(tolerance)


def _check_max_body(max_body_bytes: int) -> int:
    if isinstance(max_body_bytes, bool) or not isinstance(max_body_bytes, int):
        raise InvalidInputError("max_body_bytes must be an int")
    if max_body_bytes < 0:
        raise InvalidInputError("max_body_bytes must not be negative")
    return max_body_bytes


def _checked_body(body: bytes, max_body_bytes: int) -> bytes:
    if isinstance(body, (bytes, bytearray)):
        size = len(body)
    elif isinstance(body, memoryview):
        size = body.nbytes  # len() counts items, not bytes, for a typed view
    else:
        raise InvalidInputError(
            f"body must be the raw request body as bytes, not {type(body).__name__}"
        )
    # Measured before any copy: an oversized bytearray or memoryview is never duplicated.
    if size > max_body_bytes:
        raise VerificationError(
            VerificationFailure.BODY_TOO_LARGE,
            f"the body has {size} bytes; at most {max_body_bytes} are verified",
        )
    return body if type(body) is bytes else bytes(body)


def _not_a_mapping(headers: object) -> InvalidInputError | None:
    if callable(getattr(headers, "get", None)) and callable(getattr(headers, "items", None)):
        return None
    return InvalidInputError(f"headers must be a mapping, not {type(headers).__name__}")


def verify(
    body: bytes,
    headers: HeaderMapping,
    secret: SecretOrSecrets,
    *,
    scheme: SignatureFormat | SignatureScheme = SignatureFormat.HEX_SHA256_WITH_PREFIX,
    tolerance: float = DEFAULT_TOLERANCE,
    now: float | datetime | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> VerifiedWebhook:
    """Verify a received webhook's signature, framework-free (Django, Flask, a queue consumer).

    Usage:

        from webhook_kit import verify, VerificationError

        try:
            webhook = verify(request.body, request.headers, SECRET)
        except VerificationError as exc:
            return HttpResponse(status=400, content=exc.reason)
        order = webhook.json()

    Args:
        body: the raw request body, exactly as received (never re-serialised JSON).
        headers: the request headers; looked up case-insensitively.
        secret: the secret, or a list of secrets during a rotation (any one may match).
        scheme: a `SignatureFormat` (webhook-kit's own headers) or a provider preset from
            `webhook_kit.providers`.
        tolerance: seconds a signed timestamp may be from ``now``, either way.
        now: epoch seconds or an aware ``datetime``; ``None`` is the current time.
        max_body_bytes: larger bodies fail with ``BODY_TOO_LARGE`` before any hashing.

    Returns:
        The `VerifiedWebhook`: id, event and timestamp where the scheme has them, and the body.

    Raises:
        VerificationError: the webhook did not verify; ``.reason`` says why. Hostile headers and
            bodies raise nothing else.
        InvalidSecretError: the secret is empty or a prefixed key that does not decode.
        InvalidInputError: an argument of the wrong type (``body`` as ``str``, a naive ``now``).
    """
    if tolerance == DEFAULT_TOLERANCE and max_body_bytes == DEFAULT_MAX_BODY_BYTES:
        # The common call: settings for (scheme, secret) are built once and cached.
        try:
            settings = _default_settings[scheme, secret]
        except (KeyError, TypeError):  # not cached yet, or a list of secrets
            settings = _cached_default_settings(secret, scheme)
    else:
        settings = VerificationSettings(secret, scheme, tolerance, max_body_bytes)
    return settings.verify(body, headers, now)


_CACHE_LIMIT = 256
_default_settings: dict[tuple[object, object], VerificationSettings] = {}


def _cached_default_settings(
    secret: SecretOrSecrets, scheme: SignatureFormat | SignatureScheme
) -> VerificationSettings:
    settings = VerificationSettings(secret, scheme, DEFAULT_TOLERANCE, DEFAULT_MAX_BODY_BYTES)
    if len(_default_settings) >= _CACHE_LIMIT:
        _default_settings.clear()
    hashable_secret = tuple(secret) if isinstance(secret, list) else secret
    _default_settings[scheme, hashable_secret] = settings
    return settings


class VerificationSettings:
    """A scheme, its decoded keys, a tolerance and a body cap, checked once.

    `webhook_kit.WebhookVerifier`, `webhook_kit.verify_signature` and `verify` build one.
    ``settings.verify(body, headers, now)`` is specialised for the scheme and keys.
    """

    __slots__ = ("keys", "max_body_bytes", "scheme", "tolerance", "verify")

    keys: KeySet
    scheme: SignatureScheme
    verify: BoundVerify

    def __init__(
        self,
        secret: SecretOrSecrets,
        scheme: SignatureFormat | SignatureScheme,
        tolerance: float,
        max_body_bytes: int,
    ) -> None:
        self.scheme = scheme_of(scheme)
        self.keys = self.scheme.keys(secret)
        self.tolerance = _check_tolerance(tolerance)
        self.max_body_bytes = _check_max_body(max_body_bytes)
        self.verify = self.scheme.bind(
            self.keys, self.max_body_bytes, self.tolerance, self._verify
        )

    def _verify(
        self, body: bytes, headers: HeaderMapping, now: float | datetime | None = None
    ) -> VerifiedWebhook:
        body = _checked_body(body, self.max_body_bytes)
        try:
            return self.scheme.verify_keys(
                body,
                headers,
                self.keys,
                None if now is None else epoch_seconds(now),
                self.tolerance,
            )
        except AttributeError:
            error = _not_a_mapping(headers)
            if error is None:
                raise
            raise error from None

    def __repr__(self) -> str:
        return f"VerificationSettings(scheme={self.scheme.name!r}, tolerance={self.tolerance:g})"
