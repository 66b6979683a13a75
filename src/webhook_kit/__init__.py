"""webhook-kit: outbound webhooks for Python — signed, durable, retried, verifiable, testable.

Sending side:

    queue = MemoryQueue()
    await WebhookSubscription.register(queue)
    delivery_id = await WebhookSubscription(url, secret).dispatch(queue, "order.created", data)
    await Worker(queue).run_until_idle()

Receiving side:

    from webhook_kit import verify, verify_signature, WebhookVerifier, providers

    webhook = verify(body, headers, SECRET)                           # any framework
    webhook = await verify_signature(request)                         # Starlette / FastAPI
    webhook = verify(body, headers, SECRET, scheme=providers.GITHUB)  # a provider's webhooks
"""

import sys as _sys

from . import providers
from ._version import __version__
from .clock import Clock, SystemClock, VirtualClock
from .delivery import DeliveryHandler, SecretResolver
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
from .events import DEFAULT_RETRY_STATUS_CODES, WebhookEvent
from .health import EndpointState, EndpointStatus, HealthPolicy, endpoint_of
from .http_stacks import NetworkStack, TransportError, TransportErrorKind
from .http_stacks.aiohttp_stack import AiohttpStack
from .http_stacks.httpx_stack import HttpxStack
from .keys import Secret, SecretOrSecrets
from .netguard import NetworkPolicy, TargetRefusedError
from .outcomes import AttemptRecord, DeadLetter, DeadLetterRecord, Delivered, Outcome, RetryAt
from .queues import (
    Claim,
    EndpointRecord,
    MemoryQueue,
    QueueCounts,
    QueueStorageError,
    SchemaError,
    SQLiteQueue,
    UnknownDeliveryError,
    WebhookQueue,
)
from .receiving import (
    SECRET_ENV_VAR,
    WebhookVerifier,
    verification_error_response,
    verify_signature,
)
from .retry import MAX_ATTEMPTS, RetryPolicy
from .schemes import SignatureScheme
from .signing import SignatureFormat, sign
from .subscription import WebhookSubscription
from .validation import InvalidHeaderError, InvalidTargetError
from .verification import DEFAULT_MAX_BODY_BYTES, DEFAULT_TOLERANCE, verify
from .verified import VerifiedWebhook
from .wire import HEADER_EVENT, HEADER_ID, HEADER_SIGNATURE, USER_AGENT
from .worker import NotRegisteredError, Worker, enable_endpoint

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_RETRY_STATUS_CODES",
    "DEFAULT_TOLERANCE",
    "HEADER_EVENT",
    "HEADER_ID",
    "HEADER_SIGNATURE",
    "MAX_ATTEMPTS",
    "SECRET_ENV_VAR",
    "USER_AGENT",
    "AiohttpStack",
    "AttemptRecord",
    "Claim",
    "Clock",
    "DeadLetter",
    "DeadLetterRecord",
    "Delivered",
    "DeliveryHandler",
    "EndpointRecord",
    "EndpointState",
    "EndpointStatus",
    "HealthPolicy",
    "HttpxStack",
    "InvalidHeaderError",
    "InvalidInputError",
    "InvalidPayloadError",
    "InvalidSecretError",
    "InvalidTargetError",
    "MemoryQueue",
    "MissingDependencyError",
    "MissingSecretError",
    "NetworkPolicy",
    "NetworkStack",
    "NotRegisteredError",
    "Outcome",
    "QueueCounts",
    "QueueStorageError",
    "RetryAt",
    "RetryPolicy",
    "SQLiteQueue",
    "SchemaError",
    "Secret",
    "SecretOrSecrets",
    "SecretResolver",
    "SignatureFormat",
    "SignatureScheme",
    "SystemClock",
    "TargetRefusedError",
    "TransportError",
    "TransportErrorKind",
    "UnknownDeliveryError",
    "VerificationError",
    "VerificationFailure",
    "VerifiedWebhook",
    "VirtualClock",
    "WebhookEvent",
    "WebhookKitError",
    "WebhookQueue",
    "WebhookSubscription",
    "WebhookVerifier",
    "Worker",
    "__version__",
    "enable_endpoint",
    "endpoint_of",
    "providers",
    "sign",
    "verification_error_response",
    "verify",
    "verify_signature",
]

if "hypothesis" in _sys.modules:  # imported after Hypothesis: its entry point skipped us
    from ._hypothesis_hook import register as _register_strategies

    _register_strategies()
