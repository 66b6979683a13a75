"""`MockReceiver`: a scriptable webhook receiver (a Starlette app) that records every delivery."""

from __future__ import annotations

import contextlib
import difflib
import itertools
import json
import socket
import threading
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any

import anyio
import httpx
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from ..clock import Clock, SystemClock, current_attempt_budget
from ..errors import VerificationError
from ..keys import SecretOrSecrets
from ..schemes import SignatureScheme
from ..signing import SignatureFormat
from ..verification import DEFAULT_TOLERANCE, VerificationSettings
from .deliveries import Delivery
from .scripts import Delay, Reply, Script, Step, Then

__all__ = ["TEST_DOMAIN", "MockReceiver"]

TEST_DOMAIN = "webhook-kit.test"
"""Receivers' in-process URLs live under this reserved domain (RFC 6761 ``.test``)."""

_ID_HEADERS = ("x-webhook-id", "webhook-id", "svix-id")
_names = itertools.count(1)


class MockReceiver:
    """A webhook receiver for tests: scripted answers, recorded deliveries, helpful assertions.

    It is an ASGI app built on Starlette (``receiver.app``) that runs in-process —
    ``receiver.url`` is a plain ``http://`` URL on a reserved test host that ``fake_queue``
    routes without a socket — or on a real socket with ``async with receiver.serve() as url``.

    Usage:

        receiver = MockReceiver()
        receiver.script([503, 503, 200])
        receiver.expect_signature("s3cret")
        ...                                   # deliver to receiver.url
        receiver.assert_delivered(event="order.created", times=1)
        assert receiver.gaps() == [1.0, 2.0]

    Args:
        clock: stamps ``received_at`` (``fake_queue``'s virtual clock under the plugin).
        name: the test host's first label (default ``receiver-<n>``).
        on_delivery: called with each `Delivery` as soon as it is recorded (before the
            response is sent), on the server's event loop: keep it quick and let it not raise.

    Attributes:
        url: where to send deliveries: the in-process URL, or the socket's once served by the
            ``webhook_receiver_server`` fixture.
        name: the test host's first label.
        clock: the clock ``received_at`` is read from.
        on_delivery: the callback given to the constructor, or ``None``; may be set later.
        problems: what went wrong that a test should fail for (failed expected signatures,
            scripts that ran out with ``then="fail"``); the plugin checks it at teardown.
        transport: an ``httpx.ASGITransport`` for the receiver, for your own httpx clients.
    """

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        name: str | None = None,
        on_delivery: Callable[[Delivery], None] | None = None,
    ) -> None:
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.name = name or f"receiver-{next(_names)}"
        self.on_delivery = on_delivery
        self.url = f"http://{self.name}.{TEST_DOMAIN}/hooks"
        self._deliveries: list[Delivery] = []
        self._scripts: dict[tuple[str | None, str | None], Script] = {}
        self._verification: VerificationSettings | None = None
        self.problems: list[str] = []
        self.transport = httpx.ASGITransport(app=self.app)

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The receiver as an ASGI app: every path and method is a delivery.

        Built from Starlette's ``Request`` and ``Response`` without a router or middleware in
        between: a receiver in a test answers thousands of requests a second.
        """
        if scope["type"] != "http":
            return  # lifespan and websockets: nothing to do
        response = await self._handle(Request(scope, receive))
        await response(scope, receive, send)

    @property
    def host(self) -> str:
        """The in-process host name, e.g. ``receiver-1.webhook-kit.test``."""
        return f"{self.name}.{TEST_DOMAIN}"

    # -- scripting ---------------------------------------------------------------------------

    def script(
        self,
        steps: Iterable[Step],
        *,
        then: Then = "repeat_last",
        path: str | None = None,
        event: str | None = None,
    ) -> MockReceiver:
        """Answer the next requests with ``steps`` in order, then ``then``.

        Args:
            steps: statuses (``503``), `Reply` objects (status, headers such as
                ``Retry-After``, body) or `Delay` objects.
            then: after the last step: ``"repeat_last"`` (default), ``"fail"`` (the request
                gets a 500 and the test fails at teardown), or a status or `Reply` to repeat.
            path: only for requests to this path (e.g. ``"/hooks"``).
            event: only for deliveries of this event name.

        Returns:
            The receiver, for chaining.
        """
        self._scripts[(path, event)] = Script(steps, then)
        return self

    def expect_signature(
        self,
        secret: SecretOrSecrets,
        *,
        scheme: SignatureFormat | SignatureScheme = SignatureFormat.HEX_SHA256_WITH_PREFIX,
        tolerance: float = DEFAULT_TOLERANCE,
    ) -> MockReceiver:
        """Verify every delivery's signature; a failure is recorded and fails the test.

        Deliveries are verified at their ``received_at`` time on the receiver's clock.
        Without this, deliveries are recorded as unverified (``verified is None``), never as
        failures.
        """
        self._verification = VerificationSettings(secret, scheme, tolerance, 2**63 - 1)
        return self

    def reset(self) -> None:
        """Forget deliveries, scripts, problems and expectations (e.g. between Hypothesis
        examples)."""
        self._deliveries.clear()
        self._scripts.clear()
        self.problems.clear()
        self._verification = None

    # -- the app ------------------------------------------------------------------------------

    def _script_for(self, path: str, event: str | None) -> Script | None:
        scripts = self._scripts
        for key in ((path, event), (None, event), (path, None), (None, None)):
            script = scripts.get(key)
            if script is not None:
                return script
        return None

    def _verify(self, body: bytes, request: Request, now: float) -> tuple[bool | None, str | None]:
        settings = self._verification
        if settings is None:
            return None, None
        try:
            settings.verify(body, request.headers, now)
        except VerificationError as exc:
            message = f"signature check failed ({exc.reason.value}): {exc}"
            return False, message
        return True, None

    async def _handle(self, request: Request) -> Response:
        body = await request.body()
        received_at = self.clock.now()
        headers = request.headers
        delivery_id = next((headers[name] for name in _ID_HEADERS if name in headers), None)
        event = headers.get("x-webhook-event")
        path = request.url.path
        verified, verification_error = self._verify(body, request, received_at)
        if verified is False:
            self.problems.append(f"delivery {delivery_id!r} to {path}: {verification_error}")
        script = self._script_for(path, event)
        step: Step | None = 200 if script is None else script.next_step()
        if step is None:
            self.problems.append(
                f"delivery {delivery_id!r} to {path} came after the script ran out "
                f"(then='fail'); script was {script!r}"
            )
            step = Reply(500, body=b"webhook-kit MockReceiver: the script ran out")
        if isinstance(step, Delay):
            budget = current_attempt_budget()
            if budget is not None and not budget.charge(step.seconds):
                self._record(
                    request,
                    body,
                    received_at,
                    delivery_id,
                    event,
                    None,
                    {},
                    verified,
                    verification_error,
                )
                raise httpx.ReadTimeout(
                    f"the scripted delay of {step.seconds:g}s passed the sender's "
                    f"{budget.timeout:g}s timeout"
                )
            if budget is None:
                await anyio.sleep(step.seconds)
                if await request.is_disconnected():  # the sender gave up while we slept
                    self._record(
                        request,
                        body,
                        received_at,
                        delivery_id,
                        event,
                        None,
                        {},
                        verified,
                        verification_error,
                    )
                    return Response(status_code=499)
            step = step.then
        reply = step if isinstance(step, Reply) else Reply(step)
        body_out = reply.body.encode() if isinstance(reply.body, str) else reply.body
        response = Response(
            content=body_out, status_code=reply.status, headers=dict(reply.headers)
        )
        self._record(
            request,
            body,
            received_at,
            delivery_id,
            event,
            reply.status,
            dict(reply.headers),
            verified,
            verification_error,
        )
        return response

    def _record(
        self,
        request: Request,
        body: bytes,
        received_at: float,
        delivery_id: str | None,
        event: str | None,
        status: int | None,
        response_headers: dict[str, str],
        verified: bool | None,
        verification_error: str | None,
    ) -> None:
        delivery = Delivery(
            id=delivery_id,
            event=event,
            method=request.method,
            path=request.url.path,
            headers=request.headers,
            body=body,
            received_at=received_at,
            status=status,
            response_headers=response_headers,
            verified=verified,
            verification_error=verification_error,
        )
        self._deliveries.append(delivery)
        if self.on_delivery is not None:
            self.on_delivery(delivery)

    # -- queries ------------------------------------------------------------------------------

    @property
    def deliveries(self) -> list[Delivery]:
        """Every request received, in order (a copy)."""
        return list(self._deliveries)

    def unique_ids(self) -> list[str]:
        """Delivery ids in first-seen order, each once."""
        return list(dict.fromkeys(d.id for d in self._deliveries if d.id is not None))

    def duplicates(self) -> dict[str, list[Delivery]]:
        """Ids received more than once, with every delivery of each (retries included)."""
        counts = Counter(d.id for d in self._deliveries if d.id is not None)
        return {
            delivery_id: [d for d in self._deliveries if d.id == delivery_id]
            for delivery_id, count in counts.items()
            if count > 1
        }

    def gaps(self) -> list[float]:
        """Seconds between consecutive deliveries, on the receiver's clock."""
        times = [d.received_at for d in self._deliveries]
        return [later - earlier for earlier, later in itertools.pairwise(times)]

    # -- assertions ---------------------------------------------------------------------------

    def assert_delivered(
        self,
        *,
        event: str | None = None,
        payload: Any = None,
        times: int | None = None,
        id: str | None = None,
    ) -> list[Delivery]:
        """Assert that matching deliveries were received and answered 2xx.

        Args:
            event: the event name to match.
            payload: the decoded JSON body to match.
            times: how many matching 2xx deliveries there must be (default: at least one).
            id: the delivery id to match.

        Returns:
            The matching delivered deliveries.

        On failure the message lists the nearest deliveries, not just "not found".
        """
        __tracebackhide__ = True  # pytest: point at the test's line, not this one
        matching = [
            d
            for d in self._deliveries
            if d.delivered
            and (event is None or d.event == event)
            and (id is None or d.id == id)
            and (payload is None or _json_or_none(d.body) == payload)
        ]
        wanted = "at least once" if times is None else f"{times} time(s)"
        if (times is None and matching) or (times is not None and len(matching) == times):
            return matching
        criteria = ", ".join(
            f"{name}={value!r}"
            for name, value in (("event", event), ("payload", payload), ("id", id))
            if value is not None
        )
        report = [
            f"expected a 2xx delivery matching {criteria or 'anything'} {wanted}; "
            f"found {len(matching)} among {len(self._deliveries)} received."
        ]
        report.extend(self._nearest(event=event, payload=payload, delivery_id=id))
        raise AssertionError("\n".join(report))

    def assert_no_deliveries(self) -> None:
        """Assert that nothing was received."""
        __tracebackhide__ = True
        if self._deliveries:
            lines = [f"expected no deliveries; received {len(self._deliveries)}:"]
            lines.extend(f"  {d.summary()}" for d in self._deliveries[:10])
            raise AssertionError("\n".join(lines))

    def _nearest(self, *, event: str | None, payload: Any, delivery_id: str | None) -> list[str]:
        if not self._deliveries:
            return ["nothing was received at all."]

        def distance(delivery: Delivery) -> float:
            score = 0.0
            if event is not None:
                score += 1 - difflib.SequenceMatcher(None, delivery.event or "", event).ratio()
            if payload is not None:
                expected = json.dumps(payload, sort_keys=True)
                actual = delivery.body.decode("utf-8", "replace")
                score += 1 - difflib.SequenceMatcher(None, actual, expected).ratio()
            if delivery_id is not None and delivery.id != delivery_id:
                score += 1
            return score + (0 if delivery.delivered else 0.5)

        nearest = sorted(self._deliveries, key=distance)[:3]
        lines = ["nearest deliveries:"]
        for delivery in nearest:
            lines.append(f"  {delivery.summary()}")
            if payload is not None:
                lines.extend(f"    {line}" for line in _payload_diff(payload, delivery.body))
        return lines

    # -- a real socket ------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def serve(self, host: str = "127.0.0.1") -> AsyncIterator[str]:
        """Serve the receiver with uvicorn on ``host`` and a free port; yield its URL.

        Subscriptions aimed at it need ``allow_private_targets`` (it is on loopback).
        Needs uvicorn (the ``test`` extra).
        """
        import uvicorn

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, 0))
        port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app, log_level="warning", access_log=False, lifespan="off", interface="asgi3"
        )
        server = uvicorn.Server(config)
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(server.serve, [sock])
            while not server.started:  # noqa: ASYNC110 (uvicorn has no "started" event)
                await anyio.sleep(0.01)
            try:
                yield f"http://{host}:{port}/hooks"
            finally:
                server.should_exit = True
        sock.close()

    @contextlib.contextmanager
    def serve_in_thread(self, host: str = "127.0.0.1") -> Iterator[str]:
        """Serve the receiver with uvicorn in a background thread; yield its URL.

        Works from synchronous code and under any event loop or test plugin (the server has
        its own loop). Deliveries are recorded as they arrive.
        """
        ready = threading.Event()
        url: list[str] = []
        stop = threading.Event()

        async def serve() -> None:
            async with self.serve(host) as served:
                url.append(served)
                ready.set()
                while not stop.is_set():  # noqa: ASYNC110 (a thread's event, not the loop's)
                    await anyio.sleep(0.02)

        thread = threading.Thread(target=anyio.run, args=(serve,), daemon=True)
        thread.start()
        if not ready.wait(15) or not url:
            stop.set()
            raise RuntimeError("the webhook receiver's server did not start")
        try:
            yield url[0]
        finally:
            stop.set()
            thread.join(15)

    def __repr__(self) -> str:
        return f"<MockReceiver {self.url} deliveries={len(self._deliveries)}>"


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def _payload_diff(expected: Any, body: bytes) -> list[str]:
    actual = _json_or_none(body)
    expected_lines = json.dumps(expected, indent=2, sort_keys=True).splitlines()
    if actual is None:
        actual_lines = [body.decode("utf-8", "replace")]
    else:
        actual_lines = json.dumps(actual, indent=2, sort_keys=True).splitlines()
    diff = difflib.unified_diff(expected_lines, actual_lines, "expected", "received", lineterm="")
    return list(diff)[:30]
