"""`WebhookSubscription`: where to send, how to sign — and `dispatch`, the one call that sends."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from .delivery import DeliveryHandler, SecretResolver
from .errors import InvalidInputError
from .events import WebhookEvent, masked_url
from .ids import new_delivery_id
from .keys import SecretOrSecrets
from .netguard import NetworkPolicy
from .registrations import registration_of, secret_memory_of
from .retry import RetryPolicy
from .signing import FORMAT_SCHEMES, SignatureFormat
from .transactional import async_enqueue_on, sync_enqueue_on
from .validation import (
    check_event_name,
    check_header,
    check_status_codes,
    check_target_url,
    check_timeout,
    serialise_payload,
)
from .verification import DEFAULT_MAX_BODY_BYTES

if TYPE_CHECKING:
    import httpx

    from .http_stacks import NetworkStack
    from .queues.protocol import DeliveryStore

__all__ = ["WebhookSubscription"]

_DEFAULT_TIMEOUT = 30.0
_DEFAULT_CONNECT_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class _Settings:
    signature_format: SignatureFormat = SignatureFormat.HEX_SHA256_WITH_PREFIX
    headers: tuple[tuple[str, str], ...] = ()
    retry_status_codes: frozenset[int] = frozenset()
    retry_policy: RetryPolicy = field(default_factory=RetryPolicy)
    timeout: float = _DEFAULT_TIMEOUT
    connect_timeout: float = _DEFAULT_CONNECT_TIMEOUT
    network: NetworkPolicy = field(default_factory=NetworkPolicy)
    max_payload_bytes: int = DEFAULT_MAX_BODY_BYTES


def _check_can_sign(signature_format: SignatureFormat, secret: SecretOrSecrets) -> None:
    """Sign once with ``secret`` now, so a secret that cannot sign fails here, not later."""
    scheme = FORMAT_SCHEMES[signature_format]
    scheme.signature(b"", scheme.keys(secret), webhook_id="probe", timestamp=0)


class WebhookSubscription:
    """A receiver's endpoint and secret, and how to deliver to it.

    Every builder method returns a new subscription (the original is unchanged), so one can be
    kept as a template:

        sub = (
            WebhookSubscription("https://customer.example.com/hooks", secret)
            .signature_format(SignatureFormat.STANDARD_WEBHOOKS)
            .header("X-Tenant-Id", "acme")
        )
        delivery_id = await sub.dispatch(queue, "order.created", {"order_id": 42})

    Args:
        target_url: an absolute ``http``/``https`` URL.
        secret: the signing secret, or a list of secrets during a rotation (formats that carry
            several signatures sign with each; the others with the first).
        subscription_id: your id for this subscription, stored with each delivery.

    Raises:
        InvalidTargetError: the URL is not http(s) or has no host.
        InvalidSecretError: the secret is empty or does not decode for the format.
    """

    __slots__ = ("_secret", "_settings", "subscription_id", "target_url")

    def __init__(
        self,
        target_url: str,
        secret: SecretOrSecrets,
        *,
        subscription_id: str | None = None,
    ) -> None:
        self.target_url = check_target_url(target_url)
        if subscription_id is not None and (
            not isinstance(subscription_id, str) or not subscription_id
        ):
            raise InvalidInputError("subscription_id must be a non-empty string or None")
        self.subscription_id = subscription_id
        self._settings = _Settings()
        _check_can_sign(self._settings.signature_format, secret)
        self._secret = secret

    def _with(self, **changes: Any) -> WebhookSubscription:
        copy = object.__new__(WebhookSubscription)
        copy.target_url = self.target_url
        copy.subscription_id = self.subscription_id
        copy._secret = self._secret
        copy._settings = replace(self._settings, **changes)
        return copy

    def signature_format(self, signature_format: SignatureFormat) -> WebhookSubscription:
        """Sign with ``signature_format`` (default `SignatureFormat.HEX_SHA256_WITH_PREFIX`).

        Raises:
            InvalidInputError: not a `SignatureFormat`.
            InvalidSecretError: the secret does not decode for this format (e.g. a bad
                ``whsec_`` secret for Standard Webhooks).
        """
        if not isinstance(signature_format, SignatureFormat):
            raise InvalidInputError(f"not a SignatureFormat: {signature_format!r}")
        _check_can_sign(signature_format, self._secret)
        return self._with(signature_format=signature_format)

    def header(self, name: str, value: str) -> WebhookSubscription:
        """Add a header to every delivery (``User-Agent`` replaces webhook-kit's own).

        Raises:
            InvalidHeaderError: an invalid name, a name webhook-kit sets itself, or a value with
                CR, LF or other control characters.
        """
        checked = check_header(name, value)
        kept = tuple(pair for pair in self._settings.headers if pair[0].lower() != name.lower())
        return self._with(headers=(*kept, checked))

    def retry_status_codes(self, codes: Iterable[int]) -> WebhookSubscription:
        """Also retry these statuses (400-599), besides 408, 429 and every 5xx.

        Raises:
            InvalidInputError: a code outside 400-599.
        """
        return self._with(retry_status_codes=check_status_codes(codes))

    def retry_policy(self, policy: RetryPolicy) -> WebhookSubscription:
        """Use ``policy`` for attempts and backoff.

        Raises:
            InvalidInputError: not a `RetryPolicy`.
        """
        if not isinstance(policy, RetryPolicy):
            raise InvalidInputError(f"not a RetryPolicy: {policy!r}")
        return self._with(retry_policy=policy)

    def timeout(self, seconds: float, *, connect: float | None = None) -> WebhookSubscription:
        """Allow ``seconds`` for a whole attempt, ``connect`` of them to connect (default 10).

        Raises:
            InvalidInputError: a non-positive or non-finite number.
        """
        total = check_timeout(seconds)
        connect_timeout = (
            _DEFAULT_CONNECT_TIMEOUT if connect is None else check_timeout(connect, "connect")
        )
        return self._with(timeout=total, connect_timeout=min(connect_timeout, total))

    def allow_private_targets(
        self, allowed: bool | Iterable[str | ipaddress.IPv4Network | ipaddress.IPv6Network]
    ) -> WebhookSubscription:
        """Let deliveries reach non-public addresses: all (``True``) or these networks.

        By default the network guard refuses loopback, private, link-local, CGNAT and other
        non-public addresses, after DNS resolution. Opt in only for targets you trust:

            sub.allow_private_targets(True)                   # e.g. a test receiver
            sub.allow_private_targets(["10.20.0.0/16"])       # an internal service

        Raises:
            InvalidInputError: an entry that is not an IP network.
        """
        if isinstance(allowed, bool):
            return self._with(network=NetworkPolicy(allow_private=allowed))
        if isinstance(allowed, str):
            allowed = [allowed]
        if isinstance(allowed, (bytes, bytearray)) or not isinstance(allowed, Iterable):
            raise InvalidInputError(
                "allow_private_targets takes True, False or a list of networks such as "
                f"['10.0.0.0/8'], not {type(allowed).__name__}"
            )
        return self._with(network=NetworkPolicy.from_networks(allowed))

    def max_payload_bytes(self, limit: int) -> WebhookSubscription:
        """Refuse at dispatch a payload whose JSON body is over ``limit`` bytes.

        The default is `DEFAULT_MAX_BODY_BYTES` (5 MiB), the body limit of `verify` and
        `verify_signature`, so a receiver on their defaults can verify whatever is sent. Raise
        it only together with your receivers' limit.

        Raises:
            InvalidInputError: not a positive int.
        """
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise InvalidInputError(f"max_payload_bytes must be a positive int, not {limit!r}")
        return self._with(max_payload_bytes=limit)

    def build_event(self, event: str, payload: Any, *, now: float) -> WebhookEvent:
        """Validate and serialise one delivery; body-only formats are signed here, once.

        Raises:
            InvalidInputError: an empty or unprintable event name.
            InvalidPayloadError: a payload that is not JSON-serialisable, has a key that is
                not a string, or is over `max_payload_bytes`.
        """
        settings = self._settings
        check_event_name(event)
        body = serialise_payload(payload, max_bytes=settings.max_payload_bytes)
        delivery_id = new_delivery_id()
        scheme = FORMAT_SCHEMES[settings.signature_format]
        signature = None
        if not scheme.timestamped:
            signature = scheme.signature(
                body.encode("utf-8"),
                scheme.keys(self._secret),
                webhook_id=delivery_id,
                timestamp=0,
            )
        return WebhookEvent(
            id=delivery_id,
            event=event,
            target_url=self.target_url,
            body=body,
            signature_format=settings.signature_format,
            signature=signature,
            created_at=now,
            subscription_id=self.subscription_id,
            headers=settings.headers,
            timeout=settings.timeout,
            connect_timeout=settings.connect_timeout,
            retry_status_codes=settings.retry_status_codes,
            retry_policy=settings.retry_policy,
            network=settings.network,
        )

    async def dispatch(
        self, queue: DeliveryStore, event: str, payload: Any, *, connection: object = None
    ) -> str:
        """Queue one delivery of ``payload`` as ``event``; return its id once it is stored.

        The payload is serialised to JSON once, here; every attempt sends the same bytes. A
        dispatch that raises has stored nothing.

        Args:
            queue: the queue to store the delivery in.
            event: the event name, e.g. ``"order.created"``.
            payload: anything JSON-serialisable, with string keys, at most
                `max_payload_bytes` as JSON (default 5 MiB).
            connection: your open psycopg ``AsyncConnection`` (from Django or SQLAlchemy:
                the driver's connection under theirs) whose transaction the delivery joins:
                stored if and only if that transaction commits (`PostgresQueue`; other queues
                raise ``TypeError``). A rollback stores and sends nothing.

        Returns:
            The delivery id (a UUID string), sent as ``X-Webhook-Id`` on every attempt.

        Raises:
            InvalidInputError: an empty, overlong or unprintable event name.
            InvalidPayloadError: a payload that is not JSON-serialisable, has a key that is
                not a string (at any depth), or is over `max_payload_bytes`; nothing is stored.
            TypeError: ``connection=`` given to a queue that cannot enqueue in a transaction,
                or a connection that is not an async driver connection (the message says
                what to pass).
        """
        enqueue = queue.enqueue if connection is None else async_enqueue_on(queue, connection)
        job = self.build_event(event, payload, now=queue.clock.now())
        self._remember_secret(queue, job)
        try:
            await enqueue(job)
        except BaseException:
            secret_memory_of(queue).forget(job.id)
            raise
        return job.id

    def dispatch_sync(
        self, queue: DeliveryStore, event: str, payload: Any, *, connection: object = None
    ) -> str:
        """`dispatch` for synchronous code (a Django or Flask view); same contract.

        Args:
            queue: as `dispatch`.
            event: as `dispatch`.
            payload: as `dispatch`.
            connection: your open sync psycopg ``Connection`` whose transaction the delivery
                joins, e.g. ``django.db.connection.connection`` inside
                ``transaction.atomic()``: stored if and only if that transaction commits.

        Raises:
            InvalidInputError: as `dispatch`.
            InvalidPayloadError: as `dispatch`.
            TypeError: as `dispatch`, for a sync connection.
        """
        enqueue = queue.enqueue_sync if connection is None else sync_enqueue_on(queue, connection)
        job = self.build_event(event, payload, now=queue.clock.now())
        self._remember_secret(queue, job)
        try:
            enqueue(job)
        except BaseException:
            secret_memory_of(queue).forget(job.id)
            raise
        return job.id

    def _remember_secret(self, queue: DeliveryStore, job: WebhookEvent) -> None:
        if job.signature is None:  # timestamped: the worker signs at each attempt
            secret_memory_of(queue).remember(job.id, self._secret)

    @staticmethod
    async def register(
        queue: DeliveryStore,
        *,
        client: httpx.AsyncClient | None = None,
        secrets: SecretResolver | None = None,
        stack: NetworkStack | None = None,
    ) -> DeliveryHandler:
        """Install the delivery handler for ``queue`` (once per process that runs a worker).

        The handler is this process's, kept for the queue object (see
        `webhook_kit.registrations`), not stored in the queue. Registering again replaces it
        and closes the one it replaces.

        Args:
            queue: the queue whose deliveries this process will make.
            client: an ``httpx.AsyncClient`` to deliver with (respx, ASGI tests, your own
                proxies); the network guard does not apply to a client you bring.
            secrets: ``(event) -> secret`` (sync or async), for deliveries dispatched by another
                process with a timestamped format; secrets are never stored in the queue.
            stack: a network stack (advanced; default: aiohttp if installed, else httpx).

        Returns:
            The installed handler.
        """
        if client is not None:
            from .http_stacks.httpx_stack import HttpxStack

            stack = HttpxStack(client)
        elif stack is None:
            # A test queue (FakeQueue) routes deliveries to its receivers in-process.
            default_stack = getattr(queue, "default_stack", None)
            if callable(default_stack):
                stack = default_stack()
        handler = DeliveryHandler(stack=stack, secrets=secrets)
        registration = registration_of(queue)
        previous, registration.handler = registration.handler, handler
        if previous is not None:
            await previous.aclose()
        return handler

    def __repr__(self) -> str:
        return (
            f"WebhookSubscription({masked_url(self.target_url)!r}, secret=<hidden>, "
            f"format={self._settings.signature_format.value})"
        )
