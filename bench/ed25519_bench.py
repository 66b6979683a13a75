"""What a forged ``v1a`` header costs a receiver, against one honest Ed25519 verification.

The figure: the worst header an attacker can send (the most entries a header may carry, each a
well-formed 64-byte signature, against a verifier holding the most Ed25519 keys it may hold)
divided by one honest delivery signed with the verifier's first key. Printed by ``nox -s bench``.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import datetime, timezone

from timing import compare

from webhook_kit import VerificationError, WebhookVerifier, ed25519, providers
from webhook_kit.header_parsing import MAX_SIGNATURES
from webhook_kit.schemes import MAX_ED25519_CHECKS, MAX_ED25519_KEYS

SCHEME = providers.STANDARD_WEBHOOKS
SEEDS = [bytes([n]) * 32 for n in range(1, MAX_ED25519_KEYS + 1)]


def _whpk(seed: bytes) -> str:
    return "whpk_" + base64.b64encode(ed25519.public_key_of(seed)).decode()


def _body(size: int) -> bytes:
    return (b'{"type":"invoice.paid","data":{"pad":"' + b"x" * size)[: size - 3] + b'"}}'


def _contenders(body: bytes, timestamp: int) -> dict[str, Callable[[], object]]:
    verifier = WebhookVerifier([_whpk(seed) for seed in SEEDS], scheme=SCHEME)
    honest = SCHEME.signature_headers(
        body,
        SCHEME.keys("whsk_" + base64.b64encode(SEEDS[0]).decode()),
        webhook_id="msg_1",
        timestamp=timestamp,
    )
    forged = dict(honest)
    forged["webhook-signature"] = " ".join(
        "v1a," + base64.b64encode(n.to_bytes(2, "big") * 32).decode()
        for n in range(MAX_SIGNATURES)
    )

    def honest_verify() -> object:
        return verifier.verify(body, honest)

    def forged_verify() -> object:
        try:
            verifier.verify(body, forged)
        except VerificationError:
            return None
        raise AssertionError("a forged header verified")

    return {"honest v1a verify": honest_verify, "worst forged v1a header": forged_verify}


def main() -> None:
    timestamp = int(datetime.now(timezone.utc).timestamp())
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    print(
        f"\n== ed25519: {MAX_SIGNATURES} forged v1a entries vs one honest verify, "
        f"{MAX_ED25519_KEYS} keys, budget {MAX_ED25519_CHECKS} checks ({started}) =="
    )
    print(f"{'body':>10} {'honest µs':>10} {'forged µs':>10} {'forged / honest':>16}")
    for size in (1024, 1024 * 1024):
        body = _body(size)
        contenders = _contenders(body, timestamp)
        results = compare(contenders, calls=20 if size > 4096 else 300, rounds=9)
        honest = results["honest v1a verify"].seconds_per_call
        forged = results["worst forged v1a header"].seconds_per_call
        print(f"{size:>10} {honest * 1e6:>10.1f} {forged * 1e6:>10.1f} {forged / honest:>15.2f}x")
    print(f"target: worst forged header <= {MAX_ED25519_CHECKS}x one honest verify (+ parsing)")


if __name__ == "__main__":
    main()
