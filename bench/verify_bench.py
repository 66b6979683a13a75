"""Verification cost: webhook-kit against the raw primitives and the peer libraries, one run.

Two figures side by side, each as a ratio to the raw ``hmac`` (+ ``base64``) +
``compare_digest`` a verifier wraps: the time per call (best of interleaved rounds) and the
instructions per call (``valgrind --tool=callgrind``, N calls minus 0 calls: repeatable on a
loaded machine; skipped, with a line saying so, where valgrind is missing).

Targets: one-shot ``verify`` within 1.5x of raw HMAC in time, ``WebhookVerifier`` within 1.3x
(issue 2); a Standard Webhooks verify within 1.4x of its raw primitives in instructions
(issue 12).

``python bench/verify_bench.py --count NAME N`` makes N calls of one contender and nothing
else: what the instruction counts run under callgrind.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # a Standard Webhooks secret, used as-is by HMAC
WEBHOOK_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
INSTRUCTION_CALLS = 4000

Call = Callable[[], object]

RAW_HEX = "raw hmac (sha256=hex)"
RAW_STANDARD = "raw hmac+base64 (Standard Webhooks)"


def _body(size: int = 1024) -> bytes:
    payload = {"type": "order.created", "data": {"order_id": 42, "note": ""}}
    filler = size - len(json.dumps(payload, separators=(",", ":")))
    payload["data"]["note"] = "x" * filler  # type: ignore[index]
    body = json.dumps(payload, separators=(",", ":")).encode()
    assert len(body) == size, len(body)
    return body


class _Setup:
    """The body, the headers each format sends, and the time they were signed at."""

    def __init__(self, body: bytes) -> None:
        import webhook_kit
        from webhook_kit import providers

        self.body = body
        self.now = int(time.time())
        self.own_headers = {
            "X-Webhook-Signature": webhook_kit.sign(body, SECRET),
            "X-Webhook-Id": WEBHOOK_ID,
            "X-Webhook-Event": "order.created",
        }
        standard = providers.STANDARD_WEBHOOKS
        self.standard_headers = standard.signature_headers(
            body, standard.keys(SECRET), webhook_id=WEBHOOK_ID, timestamp=self.now
        )
        svix_headers = providers.SVIX.signature_headers(
            body, providers.SVIX.keys(SECRET), webhook_id=WEBHOOK_ID, timestamp=self.now
        )
        self.svix_headers = {
            name: value for name, value in svix_headers.items() if name.startswith("svix")
        }


# Each contender is built by a factory, so that a callgrind run imports only its own library.


def _raw_hex(setup: _Setup) -> Call:
    key, body, headers = SECRET.encode(), setup.body, setup.own_headers

    def raw_hmac() -> bool:
        expected = "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, headers["X-Webhook-Signature"])

    return raw_hmac


def _raw_standard(setup: _Setup) -> Call:
    # What every Standard Webhooks verifier must do at the least: the signed content from the
    # id and timestamp headers, one HMAC, base64, one constant-time compare.
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    body, headers = setup.body, setup.standard_headers

    def raw_standard() -> bool:
        content = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
        digest = hmac.new(key, content, hashlib.sha256).digest()
        expected = "v1," + base64.b64encode(digest).decode()
        return hmac.compare_digest(expected, headers["webhook-signature"])

    return raw_standard


def _own_verify(setup: _Setup) -> Call:
    import webhook_kit

    body, headers = setup.body, setup.own_headers
    return lambda: webhook_kit.verify(body, headers, SECRET)


def _own_verifier(setup: _Setup) -> Call:
    from webhook_kit import WebhookVerifier

    verifier, body, headers = WebhookVerifier(SECRET), setup.body, setup.own_headers
    return lambda: verifier.verify(body, headers)


def _own_standard_verify(setup: _Setup) -> Call:
    import webhook_kit
    from webhook_kit import providers

    body, headers, scheme = setup.body, setup.standard_headers, providers.STANDARD_WEBHOOKS
    return lambda: webhook_kit.verify(body, headers, SECRET, scheme=scheme)


def _own_standard_verifier(setup: _Setup) -> Call:
    from webhook_kit import WebhookVerifier, providers

    verifier = WebhookVerifier(SECRET, scheme=providers.STANDARD_WEBHOOKS)
    body, headers = setup.body, setup.standard_headers
    return lambda: verifier.verify(body, headers)


def _svix(setup: _Setup) -> Call:
    import svix.webhooks

    webhook, body, headers = svix.webhooks.Webhook(SECRET), setup.body, setup.svix_headers
    return lambda: webhook.verify(body, headers)


def _standardwebhooks(setup: _Setup) -> Call:
    import standardwebhooks.webhooks

    webhook = standardwebhooks.webhooks.Webhook(SECRET)
    body_text, headers = setup.body.decode(), setup.standard_headers
    return lambda: webhook.verify(body_text, headers)


def _webhookkit(setup: _Setup) -> Call:
    import webhookkit

    verifier = webhookkit.HMACVerifier(SECRET)
    digest = hmac.new(SECRET.encode(), setup.body, hashlib.sha256).hexdigest()
    body, headers = setup.body, {"X-Webhook-Signature": digest}
    return lambda: verifier.verify(body, headers)


# name -> (factory, the raw baseline it is compared with)
CONTENDERS: dict[str, tuple[Callable[[_Setup], Call], str]] = {
    RAW_HEX: (_raw_hex, RAW_HEX),
    "webhook-kit verify()": (_own_verify, RAW_HEX),
    "webhook-kit WebhookVerifier": (_own_verifier, RAW_HEX),
    "webhookkit HMACVerifier.verify": (_webhookkit, RAW_HEX),
    RAW_STANDARD: (_raw_standard, RAW_STANDARD),
    "webhook-kit verify(STANDARD_WEBHOOKS)": (_own_standard_verify, RAW_STANDARD),
    "webhook-kit WebhookVerifier(STANDARD_WEBHOOKS)": (_own_standard_verifier, RAW_STANDARD),
    "standardwebhooks Webhook.verify": (_standardwebhooks, RAW_STANDARD),
    "svix Webhook.verify": (_svix, RAW_STANDARD),
}

TIME_TARGETS = {"webhook-kit verify()": 1.5, "webhook-kit WebhookVerifier": 1.3}
INSTRUCTION_TARGETS = {
    "webhook-kit verify(STANDARD_WEBHOOKS)": 1.4,
    "webhook-kit WebhookVerifier(STANDARD_WEBHOOKS)": 1.4,
}


def _built(setup: _Setup, names: list[str]) -> dict[str, Call]:
    calls = {name: CONTENDERS[name][0](setup) for name in names}
    for name, call in calls.items():  # each must really verify, or the figure is void
        result = call()
        assert result is not False, f"{name} did not verify"
    return calls


def _count(name: str, calls: int) -> None:
    """Make ``calls`` calls of one contender: the body of a callgrind run."""
    call = _built(_Setup(_body()), [name])[name]
    for _ in range(200):  # warm, identically in the N-call and the 0-call run
        call()
    for _ in range(calls):
        call()


def _instruction_counts() -> dict[str, float] | str:
    from instructions import instructions_per_call, valgrind_missing

    missing = valgrind_missing()
    if missing is not None:
        return missing
    script = str(Path(__file__).resolve())
    return {name: instructions_per_call(script, name, INSTRUCTION_CALLS) for name in CONTENDERS}


def _ratio(figures: dict[str, float], name: str) -> float:
    return figures[name] / figures[CONTENDERS[name][1]]


def main() -> None:
    from timing import compare

    body = _body()
    results = compare(_built(_Setup(body), list(CONTENDERS)))
    seconds = {name: result.seconds_per_call for name, result in results.items()}
    counts = _instruction_counts()
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    print(f"\n== verify: {len(body)}-byte JSON body ({started}) ==")
    print(
        "time: best of 15 interleaved rounds; instructions: callgrind, "
        f"{INSTRUCTION_CALLS} calls minus 0 calls; each ratio is to the raw line above it"
    )
    print(f"{'contender':<48} {'µs/verify':>10} {'x raw':>7} {'instr/verify':>13} {'x raw':>7}")
    for name in CONTENDERS:
        line = f"{name:<48} {seconds[name] * 1e6:>10.2f} {_ratio(seconds, name):>6.2f}x"
        if isinstance(counts, dict):
            line += f" {counts[name]:>13,.0f} {_ratio(counts, name):>6.2f}x"
        print(line)
    if not isinstance(counts, dict):
        print(f"instruction counts skipped: {counts}")
    for name, target in TIME_TARGETS.items():
        ratio = _ratio(seconds, name)
        verdict = "meets" if ratio <= target else "MISSES"
        print(f"target: {name} <= {target}x raw hmac in time: {ratio:.2f}x, {verdict}")
    for name, target in INSTRUCTION_TARGETS.items():
        if not isinstance(counts, dict):
            print(f"target: {name} <= {target}x raw in instructions: not measured")
            continue
        ratio = _ratio(counts, name)
        verdict = "meets" if ratio <= target else "MISSES"
        print(f"target: {name} <= {target}x raw in instructions: {ratio:.2f}x, {verdict}")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    if sys.argv[1:2] == ["--count"]:
        _count(sys.argv[2], int(sys.argv[3]))
    else:
        main()
