"""The exception hierarchy: every error webhook-kit raises on purpose is a `WebhookKitError`."""

from __future__ import annotations

import enum

__all__ = [
    "InvalidInputError",
    "InvalidPayloadError",
    "InvalidSecretError",
    "MissingDependencyError",
    "MissingSecretError",
    "VerificationError",
    "VerificationFailure",
    "WebhookKitError",
]


class WebhookKitError(Exception):
    """Base class of every error webhook-kit raises deliberately."""


class InvalidInputError(WebhookKitError, ValueError):
    """An argument is not acceptable: raised at the call that received it, before any effect."""


class InvalidSecretError(InvalidInputError):
    """A secret is empty, of the wrong type, or a ``whsec_``/``whpk_`` key that does not decode."""


class MissingSecretError(InvalidSecretError):
    """No secret was passed and none is configured (``WEBHOOK_KIT_SECRET`` is unset)."""


class InvalidPayloadError(InvalidInputError):
    """A payload is not JSON (or not JSON-serialisable)."""


class MissingDependencyError(WebhookKitError, ImportError):
    """An optional feature was used without the extra that provides it."""


class VerificationFailure(str, enum.Enum):
    """Why a webhook failed verification: the machine-readable ``VerificationError.reason``."""

    MISSING_HEADER = "missing_header"
    MALFORMED_HEADER = "malformed_header"
    TOO_MANY_SIGNATURES = "too_many_signatures"
    NO_MATCHING_SIGNATURE = "no_matching_signature"
    TIMESTAMP_TOO_OLD = "timestamp_too_old"
    TIMESTAMP_IN_FUTURE = "timestamp_in_future"
    BODY_TOO_LARGE = "body_too_large"

    def __str__(self) -> str:
        return self.value


class VerificationError(WebhookKitError):
    """A webhook's signature, headers, timestamp or body did not pass verification.

    Attributes:
        reason: what failed, as a `VerificationFailure` (a ``str`` enum, so it can be logged
            or returned to the sender as-is).
        header: the header concerned, when one is.

    The message never contains a secret or the expected signature.
    """

    reason: VerificationFailure
    header: str | None

    def __init__(
        self, reason: VerificationFailure, message: str, *, header: str | None = None
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.header = header

    def __repr__(self) -> str:
        return f"VerificationError(reason={self.reason.value!r}, message={str(self)!r})"
