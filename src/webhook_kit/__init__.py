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

# Every public name is imported on first use (PEP 562), so that a receiver that only verifies
# does not pay for the sending side's stacks (httpx, aiohttp, the queues, sqlite3, rich, click)
# at every cold start. Type checkers and IDEs read the imports below instead.

import importlib as _importlib
import sys as _sys
from typing import TYPE_CHECKING as _TYPE_CHECKING

if _TYPE_CHECKING:
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
        DeliveryStore,
        EndpointRecord,
        LeaseQueue,
        MemoryQueue,
        PostgresQueue,
        QueueCounts,
        QueueError,
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
    "DeliveryStore",
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
    "LeaseQueue",
    "MemoryQueue",
    "MissingDependencyError",
    "MissingSecretError",
    "NetworkPolicy",
    "NetworkStack",
    "NotRegisteredError",
    "Outcome",
    "PostgresQueue",
    "QueueCounts",
    "QueueError",
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

# Where each public name lives: the module is imported when the name is first read.
_LAZY: dict[str, str] = {
    "__version__": "._version",
    "Clock": ".clock",
    "SystemClock": ".clock",
    "VirtualClock": ".clock",
    "DeliveryHandler": ".delivery",
    "SecretResolver": ".delivery",
    "InvalidInputError": ".errors",
    "InvalidPayloadError": ".errors",
    "InvalidSecretError": ".errors",
    "MissingDependencyError": ".errors",
    "MissingSecretError": ".errors",
    "VerificationError": ".errors",
    "VerificationFailure": ".errors",
    "WebhookKitError": ".errors",
    "DEFAULT_RETRY_STATUS_CODES": ".events",
    "WebhookEvent": ".events",
    "EndpointState": ".health",
    "EndpointStatus": ".health",
    "HealthPolicy": ".health",
    "endpoint_of": ".health",
    "NetworkStack": ".http_stacks",
    "TransportError": ".http_stacks",
    "TransportErrorKind": ".http_stacks",
    "AiohttpStack": ".http_stacks.aiohttp_stack",
    "HttpxStack": ".http_stacks.httpx_stack",
    "Secret": ".keys",
    "SecretOrSecrets": ".keys",
    "NetworkPolicy": ".netguard",
    "TargetRefusedError": ".netguard",
    "AttemptRecord": ".outcomes",
    "DeadLetter": ".outcomes",
    "DeadLetterRecord": ".outcomes",
    "Delivered": ".outcomes",
    "Outcome": ".outcomes",
    "RetryAt": ".outcomes",
    "Claim": ".queues",
    "DeliveryStore": ".queues",
    "EndpointRecord": ".queues",
    "LeaseQueue": ".queues",
    "MemoryQueue": ".queues",
    "QueueCounts": ".queues",
    "QueueError": ".queues",
    "QueueStorageError": ".queues",
    "SQLiteQueue": ".queues",
    "PostgresQueue": ".queues",
    "SchemaError": ".queues",
    "UnknownDeliveryError": ".queues",
    "WebhookQueue": ".queues",
    "SECRET_ENV_VAR": ".receiving",
    "WebhookVerifier": ".receiving",
    "verification_error_response": ".receiving",
    "verify_signature": ".receiving",
    "MAX_ATTEMPTS": ".retry",
    "RetryPolicy": ".retry",
    "SignatureScheme": ".schemes",
    "SignatureFormat": ".signing",
    "sign": ".signing",
    "WebhookSubscription": ".subscription",
    "InvalidHeaderError": ".validation",
    "InvalidTargetError": ".validation",
    "DEFAULT_MAX_BODY_BYTES": ".verification",
    "DEFAULT_TOLERANCE": ".verification",
    "verify": ".verification",
    "VerifiedWebhook": ".verified",
    "HEADER_EVENT": ".wire",
    "HEADER_ID": ".wire",
    "HEADER_SIGNATURE": ".wire",
    "USER_AGENT": ".wire",
    "NotRegisteredError": ".worker",
    "Worker": ".worker",
    "enable_endpoint": ".worker",
}


def _load(name: str) -> object:
    """Import a public name (or a public submodule) on first use, then keep it here."""
    module_name = _LAZY.get(name)
    if module_name is not None:
        value: object = getattr(_importlib.import_module(module_name, __name__), name)
    elif name.isidentifier() and not name.startswith("_") and _is_submodule(name):
        value = _importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def _is_submodule(name: str) -> bool:
    """Whether ``webhook_kit.<name>`` is a module of this package, ``webhook_kit.queues`` say."""
    from importlib.util import find_spec

    return find_spec(f"{__name__}.{name}") is not None


def _listing() -> list[str]:
    return sorted(set(globals()) | set(__all__))


# Not seen by type checkers, so that they still report a misspelt name.
if not _TYPE_CHECKING:
    __getattr__ = _load
    __dir__ = _listing


if "hypothesis" in _sys.modules:  # imported after Hypothesis: its entry point skipped us
    from ._hypothesis_hook import register as _register_strategies

    _register_strategies()
