"""Secret hygiene: no secret or signature in a log record, an exception message or a repr, and
URLs there are masked (credentials and query dropped) while stored jobs keep the full URL."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest

from webhook_kit import (
    MemoryQueue,
    RetryPolicy,
    SignatureFormat,
    VerificationError,
    VirtualClock,
    WebhookSubscription,
    Worker,
    verify,
)
from webhook_kit.queues import SQLiteQueue
from webhook_kit.testing import MockReceiver

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
PASSWORD = "pa55-w0rd-in-url"
TOKEN = "query-token-0123"

pytestmark = pytest.mark.anyio


def leaks(text: str, signatures: set[str]) -> list[str]:
    found = [name for name, value in (("secret", SECRET), ("password", PASSWORD)) if value in text]
    found += ["query token"] if TOKEN in text else []
    found += [f"signature {s[:12]}…" for s in signatures if s and s in text]
    # The secret's key material without its prefix is a secret too.
    found += ["secret key"] if SECRET.removeprefix("whsec_") in text else []
    return found


def everything_in(record: logging.LogRecord) -> str:
    """A record as any handler could render it: message, arguments and structured fields."""
    return " ".join([record.getMessage(), *(repr(value) for value in vars(record).values())])


@pytest.mark.parametrize("fmt", list(SignatureFormat))
@pytest.mark.parametrize("queue_kind", ["memory", "sqlite"])
async def test_a_whole_delivery_leaks_nothing(
    fmt: SignatureFormat, queue_kind: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    clock = VirtualClock()
    queue = (
        MemoryQueue(clock=clock)
        if queue_kind == "memory"
        else SQLiteQueue(tmp_path / "q.sqlite3", clock=clock)
    )
    receiver = MockReceiver(clock=clock)
    receiver.script([503, 400])
    url = receiver.url.replace("http://", f"http://user:{PASSWORD}@") + f"?token={TOKEN}"
    async with httpx.AsyncClient(transport=receiver.transport) as client:
        handler = await WebhookSubscription.register(queue, client=client)
        sub = (
            WebhookSubscription(url, SECRET)
            .signature_format(fmt)
            .retry_policy(RetryPolicy(max_attempts=2, base_delay=1, jitter=0))
        )
        delivery_id = await sub.dispatch(queue, "order.created", {"n": 1})
        worker = Worker(queue)
        await worker.run_until_idle()

    signatures = {
        value
        for delivery in receiver.deliveries
        for name, value in delivery.headers.items()
        if "signature" in name.lower()
    }
    assert signatures, "the deliveries were signed"
    (dead,) = await queue.list_dead_letters()
    assert dead.event.target_url == url  # stored whole: the next attempt needs it
    history = await queue.history(delivery_id)
    # Every record: webhook-kit's own, and httpx's "HTTP Request" line for each attempt.
    ours = list(caplog.records)
    assert any(record.name == "httpx" for record in ours), "httpx logged the requests"
    shown = [
        repr(sub),
        repr(dead.event),
        repr(dead),
        repr(queue),
        repr(handler),
        repr(worker),
        *map(repr, history),
        *(everything_in(record) for record in ours),
    ]
    assert ours, "attempts are logged"
    for text in shown:
        assert leaks(text, signatures) == [], text
    if isinstance(queue, SQLiteQueue):
        queue.close()


@pytest.mark.parametrize("fmt", list(SignatureFormat))
def test_a_failed_verification_names_no_secret_or_expected_signature(fmt: SignatureFormat) -> None:
    from webhook_kit import sign

    body = b'{"n":1}'
    genuine = sign(body, SECRET, scheme=fmt, webhook_id="msg_1", timestamp=1_700_000_000)
    headers = {
        "webhook-signature": "v1,AAAA",
        "webhook-id": "msg_1",
        "webhook-timestamp": "1700000000",
        "X-Webhook-Signature": "sha256=" + "0" * 64,
        "Stripe-Signature": "t=1700000000,v1=" + "0" * 64,
    }
    with pytest.raises(VerificationError) as caught:
        verify(body, headers, SECRET, scheme=fmt, now=1_700_000_000)
    message = f"{caught.value} {caught.value!r}"
    assert leaks(message, {genuine, genuine.split(",")[-1].split("=")[-1]}) == [], message


async def test_other_httpx_clients_log_lines_are_left_alone(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import webhook_kit.http_stacks.httpx_stack  # noqa: F401  (installs the filter)

    caplog.set_level(logging.INFO, logger="httpx")
    transport = httpx.MockTransport(lambda request: httpx.Response(200))
    async with httpx.AsyncClient(transport=transport) as client:
        await client.get(f"http://example.test/path?token={TOKEN}")
    (line,) = [r.getMessage() for r in caplog.records if r.name == "httpx"]
    assert TOKEN in line  # not webhook-kit's request: not webhook-kit's to mask
