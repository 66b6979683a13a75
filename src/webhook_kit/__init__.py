"""webhook-kit: outbound webhooks for Python — signed, durable, retried, verifiable, testable.

Receiving side::

    from webhook_kit import verify, verify_signature, WebhookVerifier, providers

    webhook = verify(body, headers, SECRET)                           # any framework
    webhook = await verify_signature(request)                         # Starlette / FastAPI
    webhook = verify(body, headers, SECRET, scheme=providers.GITHUB)  # a provider's webhooks
"""

from . import providers
from ._version import __version__
from .errors import (
    InvalidInputError,
    InvalidPayloadError,
    InvalidSecretError,
    MissingDependencyError,
    MissingSecretError,
    VerificationError,
    VerificationFailure,
    WebhookKitError,
)
from .keys import Secret, SecretOrSecrets
from .receiving import (
    SECRET_ENV_VAR,
    WebhookVerifier,
    verification_error_response,
    verify_signature,
)
from .schemes import SignatureScheme
from .signing import SignatureFormat, sign
from .verification import DEFAULT_MAX_BODY_BYTES, DEFAULT_TOLERANCE, verify
from .verified import VerifiedWebhook
from .wire import HEADER_EVENT, HEADER_ID, HEADER_SIGNATURE, USER_AGENT

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_TOLERANCE",
    "HEADER_EVENT",
    "HEADER_ID",
    "HEADER_SIGNATURE",
    "SECRET_ENV_VAR",
    "USER_AGENT",
    "InvalidInputError",
    "InvalidPayloadError",
    "InvalidSecretError",
    "MissingDependencyError",
    "MissingSecretError",
    "Secret",
    "SecretOrSecrets",
    "SignatureFormat",
    "SignatureScheme",
    "VerificationError",
    "VerificationFailure",
    "VerifiedWebhook",
    "WebhookKitError",
    "WebhookVerifier",
    "__version__",
    "providers",
    "sign",
    "verification_error_response",
    "verify",
    "verify_signature",
]
