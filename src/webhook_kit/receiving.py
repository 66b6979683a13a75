"""Verifying inside Starlette and FastAPI: `verify_signature` and `WebhookVerifier`.

Starlette is imported only when it is needed (a response is built, or FastAPI asks for
``WebhookVerifier``'s call signature), so that ``WebhookVerifier(...).verify`` in Flask, Django
or a serverless function does not import it.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import TYPE_CHECKING

from .errors import MissingSecretError, VerificationError, VerificationFailure
from .keys import SecretOrSecrets
from .schemes import BoundVerify, SignatureScheme
from .signing import SignatureFormat
from .verification import DEFAULT_MAX_BODY_BYTES, DEFAULT_TOLERANCE, VerificationSettings
from .verified import VerifiedWebhook

if TYPE_CHECKING:
    import inspect

    from starlette.requests import Request
    from starlette.responses import Response

__all__ = [
    "SECRET_ENV_VAR",
    "WebhookVerifier",
    "read_body",
    "verification_error_response",
    "verify_signature",
]

SECRET_ENV_VAR = "WEBHOOK_KIT_SECRET"  # noqa: S105 (a variable name, not a secret)
"""The environment variable `verify_signature` reads when no secret is passed."""


async def read_body(request: Request, max_body_bytes: int) -> bytes:
    """Read the request body, refusing more than ``max_body_bytes``; the handler can read it again.

    A ``Content-Length`` above the cap is refused before anything is read; a chunked body is
    read until it passes the cap.

    Raises:
        VerificationError: ``BODY_TOO_LARGE``.
    """
    declared = request.headers.get("content-length")
    if (
        declared is not None
        and declared.isascii()
        and declared.isdigit()
        and int(declared) > max_body_bytes
    ):
        raise _too_large(max_body_bytes)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_body_bytes:
            raise _too_large(max_body_bytes)
        chunks.append(chunk)
    body = b"".join(chunks)
    # Starlette's Request.body() returns this cached value, so the handler reads the same bytes.
    request._body = body
    return body


def _too_large(max_body_bytes: int) -> VerificationError:
    return VerificationError(
        VerificationFailure.BODY_TOO_LARGE, f"the body is larger than {max_body_bytes} bytes"
    )


def _secret_from_environment() -> str:
    secret = os.environ.get(SECRET_ENV_VAR)
    if not secret:
        raise MissingSecretError(
            f"no secret: pass secret= to verify_signature() or set {SECRET_ENV_VAR}"
        )
    return secret


async def verify_signature(
    request: Request,
    secret: SecretOrSecrets | None = None,
    *,
    scheme: SignatureFormat | SignatureScheme = SignatureFormat.HEX_SHA256_WITH_PREFIX,
    tolerance: float = DEFAULT_TOLERANCE,
    now: float | datetime | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> VerifiedWebhook:
    """Verify the webhook in a Starlette/FastAPI ``request``; the body stays readable after.

    Usage:

        async def receive(request: Request) -> Response:
            webhook = await verify_signature(request)  # secret from WEBHOOK_KIT_SECRET
            order = webhook.json()
            ...

    Args:
        request: the incoming request.
        secret: the secret (or a list, during rotation); ``None`` reads ``WEBHOOK_KIT_SECRET``.
        scheme: a `SignatureFormat` or a provider preset from `webhook_kit.providers`.
        tolerance: seconds a signed timestamp may be from ``now``, either way.
        now: epoch seconds or an aware ``datetime``; ``None`` is the current time.
        max_body_bytes: larger bodies are refused without being read to the end.

    Raises:
        VerificationError: the webhook did not verify (``.reason`` says why).
        MissingSecretError: no ``secret`` and ``WEBHOOK_KIT_SECRET`` is unset or empty.
        InvalidSecretError: the secret is empty or does not decode.
    """
    settings = VerificationSettings(
        _secret_from_environment() if secret is None else secret,
        scheme,
        tolerance,
        max_body_bytes,
    )
    body = await read_body(request, settings.max_body_bytes)
    return settings.verify(body, request.headers, now)


class _CallSignature:
    """``WebhookVerifier.__signature__``: what FastAPI reads to inject the ``Request``.

    FastAPI cannot resolve a string annotation on a callable instance, and a real one would import
    Starlette with this module; so the signature, with the real ``Request`` class, is built on
    first use. Read on the class itself it is ``None``, and `inspect` describes the constructor.
    """

    _signature: inspect.Signature | None = None

    def __get__(self, instance: object, owner: type | None = None) -> inspect.Signature | None:
        if instance is None:
            return None
        if _CallSignature._signature is None:
            import inspect

            from starlette.requests import Request

            request = inspect.Parameter(
                "request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request
            )
            _CallSignature._signature = inspect.Signature(
                [request], return_annotation=VerifiedWebhook
            )
        return _CallSignature._signature


class WebhookVerifier:
    """A verifier bound to a secret and scheme, decoded once; a FastAPI dependency as it is.

    Usage:

        verifier = WebhookVerifier(SECRET, scheme=providers.GITHUB)

        @app.post("/hooks/github")
        async def github(webhook: VerifiedWebhook = Depends(verifier)) -> dict[str, str]:
            return {"delivery": webhook.id}

        # anywhere else:
        webhook = verifier.verify(body, headers)

    Args:
        secret: the secret, or a list of secrets during a rotation.
        scheme: a `SignatureFormat` or a provider preset from `webhook_kit.providers`.
        tolerance: seconds a signed timestamp may be from now, either way.
        max_body_bytes: larger bodies fail with ``BODY_TOO_LARGE``.

    Raises:
        InvalidSecretError: at construction, for an empty secret or one that does not decode.
    """

    __slots__ = ("_settings", "verify")

    __signature__ = _CallSignature()

    verify: BoundVerify
    """``verify(body, headers, now=None)``: verify a body and its headers (see
    `webhook_kit.verify`); ``now`` is epoch seconds or an aware datetime."""

    def __init__(
        self,
        secret: SecretOrSecrets,
        *,
        scheme: SignatureFormat | SignatureScheme = SignatureFormat.HEX_SHA256_WITH_PREFIX,
        tolerance: float = DEFAULT_TOLERANCE,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        self._settings = VerificationSettings(secret, scheme, tolerance, max_body_bytes)
        # Bound once: `verify` is the settings' own method, with no wrapper call on the hot path.
        self.verify = self._settings.verify

    @property
    def scheme(self) -> SignatureScheme:
        """The scheme this verifier checks."""
        return self._settings.scheme

    async def __call__(self, request: Request) -> VerifiedWebhook:
        """Verify a Starlette/FastAPI request; the body stays readable by the handler."""
        body = await read_body(request, self._settings.max_body_bytes)
        return self._settings.verify(body, request.headers)

    def __repr__(self) -> str:
        return f"WebhookVerifier(scheme={self._settings.scheme.name!r})"


async def verification_error_response(request: Request, exc: Exception) -> Response:
    """A Starlette/FastAPI exception handler that answers a `VerificationError` with a 4xx.

    400 for every reason but ``body_too_large``, which gets 413 Content Too Large.

    Usage:

        app.add_exception_handler(VerificationError, verification_error_response)

    The body is ``{"error": "<reason>"}``: enough for the sender's logs, nothing for an attacker.
    """
    from starlette.responses import JSONResponse

    if not isinstance(exc, VerificationError):
        return JSONResponse({"error": "invalid_webhook"}, status_code=400)
    status = 413 if exc.reason is VerificationFailure.BODY_TOO_LARGE else 400
    return JSONResponse({"error": exc.reason.value}, status_code=status)
