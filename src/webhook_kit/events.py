"""`WebhookEvent`: the job a queue stores — everything needed to deliver, never the secret."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from json.encoder import encode_basestring as _string
from typing import Any

from .errors import InvalidInputError
from .netguard import NetworkPolicy
from .retry import RetryPolicy
from .signing import SignatureFormat
from .url_masking import masked_parts, masked_url

__all__ = ["DEFAULT_RETRY_STATUS_CODES", "WebhookEvent", "endpoint_of", "masked_url"]

DEFAULT_RETRY_STATUS_CODES = frozenset({408, 429, *range(500, 600)})
"""Statuses retried with backoff: 408, 429 and every 5xx."""

_FORMAT_VERSION = 1


@functools.lru_cache(maxsize=4096)
def endpoint_of(url: str) -> str:
    """The endpoint a URL belongs to: scheme, host, port and path, without the query (and
    without credentials): what endpoint health and fair claims count by."""
    parts = masked_parts(url)  # a key shown in tables: never the credentials
    where = f"{parts.host.lower()}{parts.path or '/'}"
    return f"{parts.scheme}://{where}" if parts.scheme is not None else where


def _number(value: float) -> str:
    return repr(float(value))  # what json.dumps writes for a finite float


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """One delivery, as the queue stores it. Round-trips through JSON exactly.

    Attributes:
        id: the delivery id (a UUID string), sent as ``X-Webhook-Id`` on every attempt.
        event: the event name, sent as ``X-Webhook-Event``.
        target_url: where it is POSTed.
        subscription_id: the subscription it came from, if it has an id.
        body: the JSON text, serialised once at dispatch; every attempt sends these bytes.
        signature_format: how it is signed.
        signature: the signature header value, for body-only formats (computed at dispatch);
            ``None`` for timestamped formats, which are signed at each attempt.
        headers: extra headers, in order.
        timeout: seconds allowed for a whole attempt.
        connect_timeout: seconds allowed to connect.
        retry_status_codes: statuses retried besides 408, 429 and 5xx.
        retry_policy: attempts and backoff.
        network: which non-public addresses it may reach.
        created_at: dispatch time, epoch seconds on the queue's clock.
    """

    id: str
    event: str
    target_url: str
    body: str
    signature_format: SignatureFormat
    signature: str | None
    created_at: float
    subscription_id: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    timeout: float = 30.0
    connect_timeout: float = 10.0
    retry_status_codes: frozenset[int] = frozenset()
    retry_policy: RetryPolicy = field(default_factory=RetryPolicy)
    network: NetworkPolicy = field(default_factory=NetworkPolicy)

    @property
    def body_bytes(self) -> bytes:
        """The body as sent: UTF-8."""
        return self.body.encode("utf-8")

    def is_retryable_status(self, status: int) -> bool:
        """Whether a response with ``status`` is retried."""
        return status in DEFAULT_RETRY_STATUS_CODES or status in self.retry_status_codes

    def to_json(self, *, with_body: bool = True) -> str:
        """Serialise for storage; `from_json` gives back an equal event.

        Args:
            with_body: ``False`` leaves the body out (``""``), for stores that keep it in a
                column of its own; give it back with ``from_json(text, body=...)``.
        """
        # Built from C string encoders rather than a dict through json.dumps: this runs once
        # per dispatch, and the per-event fields are few and of known types.
        subscription_id = self.subscription_id
        signature = self.signature
        own = (
            f'{{"v":{_FORMAT_VERSION},"id":{_string(self.id)},"event":{_string(self.event)},'
            f'"target_url":{_string(self.target_url)},'
            f'"subscription_id":{"null" if subscription_id is None else _string(subscription_id)},'
            f'"body":{_string(self.body) if with_body else chr(34) * 2},'
            f'"signature":{"null" if signature is None else _string(signature)},'
            f'"created_at":{_number(self.created_at)}}}'
        )
        # The delivery settings repeat for every event of a subscription: serialised once.
        settings = _settings_json(
            self.signature_format,
            self.headers,
            self.timeout,
            self.connect_timeout,
            self.retry_status_codes,
            self.retry_policy,
            self.network,
        )
        return f"{own[:-1]},{settings[1:]}"

    @classmethod
    def from_json(cls, text: str | bytes, *, body: str | None = None) -> WebhookEvent:
        """Load an event stored by `to_json` (``body`` replaces a body stored apart).

        Raises:
            InvalidInputError: the text is not a stored event (or of an unknown version).
        """
        try:
            data: dict[str, Any] = json.loads(text)
            if not isinstance(data, dict):
                raise InvalidInputError("a stored webhook event is a JSON object")
            if data.get("v") != _FORMAT_VERSION:
                raise InvalidInputError(f"unknown stored event version {data.get('v')!r}")
            return cls(
                id=data["id"],
                event=data["event"],
                target_url=data["target_url"],
                subscription_id=data["subscription_id"],
                body=data["body"] if body is None else body,
                signature_format=SignatureFormat(data["signature_format"]),
                signature=data["signature"],
                headers=tuple((name, value) for name, value in data["headers"]),
                timeout=float(data["timeout"]),
                connect_timeout=float(data["connect_timeout"]),
                retry_status_codes=frozenset(int(code) for code in data["retry_status_codes"]),
                retry_policy=RetryPolicy.from_json(data["retry_policy"]),
                network=NetworkPolicy.from_json(data["network"]),
                created_at=float(data["created_at"]),
            )
        except InvalidInputError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInputError(f"not a stored webhook event: {exc!r}") from None

    def __repr__(self) -> str:
        return (
            f"WebhookEvent(id={self.id!r}, event={self.event!r}, "
            f"target_url={masked_url(self.target_url)!r}, body=<{len(self.body)} chars>)"
        )


@functools.lru_cache(maxsize=256)
def _settings_json(
    signature_format: SignatureFormat,
    headers: tuple[tuple[str, str], ...],
    timeout: float,
    connect_timeout: float,
    retry_status_codes: frozenset[int],
    retry_policy: RetryPolicy,
    network: NetworkPolicy,
) -> str:
    return json.dumps(
        {
            "signature_format": signature_format.value,
            "headers": [list(pair) for pair in headers],
            "timeout": timeout,
            "connect_timeout": connect_timeout,
            "retry_status_codes": sorted(retry_status_codes),
            "retry_policy": retry_policy.to_json(),
            "network": network.to_json(),
        },
        separators=(",", ":"),
        ensure_ascii=False,
    )
