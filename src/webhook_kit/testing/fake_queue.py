"""`FakeQueue`: a `MemoryQueue` on a virtual clock that replays hours of retries instantly."""

from __future__ import annotations

from starlette.types import ASGIApp

from ..clock import VirtualClock
from ..health import HealthPolicy
from ..http_stacks import NetworkStack
from ..outcomes import AttemptRecord, DeadLetterRecord, Outcome
from ..queues.memory import DEFAULT_KEEP_DELIVERED, MemoryQueue
from ..queues.protocol import DEFAULT_RETENTION, Claim
from ..worker import DEFAULT_CONCURRENCY, Worker
from .in_process_stack import InProcessStack
from .receiver import MockReceiver
from .routing import MountedApp, ReceiverRouter

__all__ = ["FakeQueue"]

FAKE_CLOCK_START = 1_700_000_000.0


class FakeQueue(MemoryQueue):
    """The queue for tests: virtual time, in-process receivers, every attempt recorded.

    ``await WebhookSubscription.register(fake_queue)`` with no client delivers to this queue's
    receivers and mounted apps (`mount`) in-process (no socket, no network guard) and refuses
    any other URL.
    `run_until_idle` jumps the clock to each next due job, so a 27-hour retry schedule runs in
    milliseconds; the clock never moves during an attempt.

    Usage:

        queue = FakeQueue()
        receiver = queue.receiver()              # a MockReceiver on the queue's clock
        await WebhookSubscription.register(queue)
        await WebhookSubscription(receiver.url, "s3cret").dispatch(queue, "ping", {})
        await queue.run_until_idle()

    Args:
        start: the virtual clock's starting epoch seconds (a whole number).
        retention: seconds of virtual time delivered deliveries are kept before pruning
            (default a week), as in `MemoryQueue`; their attempts go with them.
        keep_delivered: delivered deliveries kept, with their attempts, for `history` and
            `attempts`; older ones are forgotten, so a long Hypothesis run stays bounded.
    """

    def __init__(
        self,
        *,
        start: float = FAKE_CLOCK_START,
        retention: float = DEFAULT_RETENTION,
        keep_delivered: int = DEFAULT_KEEP_DELIVERED,
    ) -> None:
        self.clock: VirtualClock = VirtualClock(start)
        super().__init__(clock=self.clock, retention=retention, keep_delivered=keep_delivered)
        self.router = ReceiverRouter()
        # Insertion-ordered: attempt number -> record; a forgotten delivery's attempts go too.
        self._attempts: dict[int, AttemptRecord] = {}
        self._attempt_keys: dict[str, list[int]] = {}
        self._attempt_count = 0

    def receiver(self, *, name: str | None = None) -> MockReceiver:
        """A new `MockReceiver` on this queue's clock, routed in-process."""
        return self.router.add(MockReceiver(clock=self.clock, name=name))

    def add_receiver(self, receiver: MockReceiver) -> MockReceiver:
        """Route deliveries for ``receiver.url`` to ``receiver`` (in-process), on this queue's
        virtual clock (a receiver on real time would see retries hours apart as instant)."""
        if not receiver.clock.is_virtual:
            receiver.clock = self.clock
        return self.router.add(receiver)

    def mount(self, url_prefix: str, app: ASGIApp) -> MountedApp:
        """Deliver every URL under ``url_prefix`` to ``app``, your own ASGI app, in-process.

        The app gets the request a server would hand it: the whole path (the prefix is not
        stripped, unlike Starlette's ``Mount``), the headers and the signed body, so its own
        signature check and its dedup run as in production, through every retry on the virtual
        clock. Its lifespan is not run. An exception it raises is a 500 to the sender (and fails
        the test at teardown under the plugin); an answer slower than the subscription's
        timeout is a timeout, in real time. The longest matching prefix wins; mounted apps come
        before receivers.

        Usage:

            fake_queue.mount("https://shop.example/webhooks", app)
            await WebhookSubscription.register(fake_queue)
            await WebhookSubscription("https://shop.example/webhooks/orders", SECRET).dispatch(
                fake_queue, "order.created", {"id": 1}
            )
            await fake_queue.run_until_idle()

        Args:
            url_prefix: ``http(s)://host[:port][/path]``, without credentials, query or
                fragment; ``https://shop.example`` serves the whole host.
            app: any ASGI 3 app (Starlette and FastAPI apps are tested).

        Raises:
            InvalidInputError: the prefix is not such a URL, or an app is mounted there already.
        """
        return self.router.mount(url_prefix, app)

    def default_stack(self) -> NetworkStack:
        """A hook for `WebhookSubscription.register`, which calls it when given no client: the
        in-process stack that delivers to this queue's receivers."""
        return InProcessStack(self.router)

    @property
    def attempts(self) -> list[AttemptRecord]:
        """Every attempt recorded, in order: number, time, status or error, outcome (a copy).

        A list, as `dead_letters` and ``MockReceiver.deliveries`` are: ``== []`` works.
        Attempts of deliveries forgotten past ``keep_delivered``, pruned past ``retention``
        or purged from the dead letters are left out.
        """
        return list(self._attempts.values())

    @property
    def dead_letters(self) -> list[DeadLetterRecord]:
        """The dead letters, oldest first (a copy).

        A list, as `attempts` and ``MockReceiver.deliveries`` are: ``== []`` works.
        """
        return list(super().dead_letters)

    def advance(self, seconds: float) -> None:
        """Move the virtual clock forward by ``seconds``."""
        self.clock.advance(seconds)

    async def record(self, claim: Claim, outcome: Outcome, attempt: AttemptRecord) -> bool:
        """The queue protocol's hook (called by the worker): records like `MemoryQueue`, and
        keeps the attempt in `attempts`."""
        recorded = await super().record(claim, outcome, attempt)
        if recorded:
            self._attempt_count += 1
            self._attempts[self._attempt_count] = attempt
            self._attempt_keys.setdefault(attempt.delivery_id, []).append(self._attempt_count)
        return recorded

    def _forget(self, delivery_id: str) -> None:
        super()._forget(delivery_id)
        for key in self._attempt_keys.pop(delivery_id, ()):
            self._attempts.pop(key, None)

    async def run_until_idle(
        self, *, concurrency: int = DEFAULT_CONCURRENCY, health: HealthPolicy | bool = False
    ) -> None:
        """Deliver until nothing is pending or in flight, jumping the clock between attempts.

        Endpoint health (limits, pauses) is off, so a retry schedule is exactly the policy's;
        pass ``health=True`` or a `HealthPolicy` to test it.
        """
        await Worker(self, concurrency=concurrency, health=health).run_until_idle()

    def __repr__(self) -> str:
        return f"FakeQueue(now={self.clock.now()!r}, receivers={len(self.router.receivers)})"
