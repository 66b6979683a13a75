"""The public API is exactly what ``webhook_kit.__all__`` says."""

from __future__ import annotations

import inspect
import types

import webhook_kit

EXPECTED_PUBLIC_NAMES = {
    "AiohttpStack",
    "AttemptRecord",
    "Claim",
    "Clock",
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_RETRY_STATUS_CODES",
    "DEFAULT_TOLERANCE",
    "DeadLetter",
    "DeadLetterRecord",
    "Delivered",
    "DeliveryHandler",
    "DeliveryStore",
    "EndpointRecord",
    "EndpointState",
    "EndpointStatus",
    "HEADER_EVENT",
    "HEADER_ID",
    "HEADER_SIGNATURE",
    "HealthPolicy",
    "HttpxStack",
    "InvalidHeaderError",
    "InvalidInputError",
    "InvalidPayloadError",
    "InvalidSecretError",
    "InvalidTargetError",
    "LeaseQueue",
    "MAX_ATTEMPTS",
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
    "SECRET_ENV_VAR",
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
    "USER_AGENT",
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
}


def test_all_lists_exactly_the_public_names() -> None:
    assert set(webhook_kit.__all__) == EXPECTED_PUBLIC_NAMES
    assert len(webhook_kit.__all__) == len(set(webhook_kit.__all__))


def test_every_public_name_exists() -> None:
    missing = [name for name in webhook_kit.__all__ if not hasattr(webhook_kit, name)]
    assert missing == []


def test_no_public_module_attribute_is_left_out_of_all() -> None:
    public = {
        name
        for name, value in vars(webhook_kit).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public <= set(webhook_kit.__all__)


def test_public_classes_and_functions_have_docstrings() -> None:
    undocumented = [
        name
        for name in webhook_kit.__all__
        if (inspect.isclass(value := getattr(webhook_kit, name)) or inspect.isfunction(value))
        and not inspect.getdoc(value)
    ]
    assert undocumented == []
