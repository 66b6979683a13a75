"""Verifying is light to import: a receiver's cold start does not load the sending side.

Each check runs in a fresh interpreter (this test process has imported everything already) and
looks at ``sys.modules`` once the interpreter has imported and used what it needs.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import webhook_kit

# What a receiver that only verifies must not pay for at import.
HEAVY_MODULES = (
    "httpx",
    "httpcore",
    "starlette",
    "aiohttp",
    "anyio",
    "sqlite3",
    "rich",
    "click",
    "webhook_kit.queues",
    "webhook_kit.http_stacks",
    "webhook_kit.worker",
    "webhook_kit.delivery",
    "webhook_kit.subscription",
    "webhook_kit.cli",
)

_PRINT_MODULES = "import json, sys; print(json.dumps(sorted(sys.modules)))"

_VERIFY = """
from webhook_kit import WebhookVerifier, providers, sign, verify, verify_signature
body = b'{"order_id": 42}'
headers = {"X-Webhook-Signature": sign(body, "s3cret")}
assert verify(body, headers, "s3cret").body == body
secret = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
scheme = providers.STANDARD_WEBHOOKS
headers = {
    "webhook-id": "msg_1",
    "webhook-timestamp": "1700000000",
    "webhook-signature": sign(
        body, secret, scheme=scheme, webhook_id="msg_1", timestamp=1700000000
    ),
}
verifier = WebhookVerifier(secret, scheme=scheme)
assert verifier.verify(body, headers, now=1700000000).id == "msg_1"
assert callable(verify_signature)
"""


def _modules_after(code: str) -> set[str]:
    """The module names loaded once a fresh interpreter has run ``code``."""
    done = subprocess.run(
        [sys.executable, "-c", code + "\n" + _PRINT_MODULES],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.splitlines()[-1]))


def _heavy(modules: set[str]) -> list[str]:
    return sorted(
        name
        for name in modules
        if any(name == heavy or name.startswith(heavy + ".") for heavy in HEAVY_MODULES)
    )


def test_verifying_imports_none_of_the_sending_side() -> None:
    modules = _modules_after(_VERIFY)
    assert "webhook_kit.verification" in modules  # the check ran where it should
    assert _heavy(modules) == []
    # Not heavy in themselves, but a cost the verifying modules need not pay (inspect is ~6 ms).
    assert sorted(modules & {"dataclasses", "inspect"}) == []


@pytest.mark.parametrize(
    "order",
    ["import hypothesis\n" + _VERIFY, _VERIFY + "\nimport hypothesis"],
    ids=["hypothesis-first", "hypothesis-second"],
)
def test_the_hypothesis_entry_point_pulls_in_nothing_heavy(order: str) -> None:
    modules = _modules_after(order)
    assert "webhook_kit.strategies" in modules  # the entry point did register the strategies
    assert _heavy(modules) == []


def test_the_pytest_plugin_imports_no_webhook_kit_module() -> None:
    modules = _modules_after("import pytest_webhook_kit.plugin")
    assert [name for name in modules if name.startswith("webhook_kit")] == []
    assert _heavy(modules) == []


def test_every_public_name_resolves_in_a_fresh_interpreter() -> None:
    code = (
        "import webhook_kit\n"
        "listed = set(dir(webhook_kit))\n"
        "missing = [n for n in webhook_kit.__all__ if n not in listed]\n"
        "assert missing == [], missing\n"
        "for name in webhook_kit.__all__:\n"
        "    getattr(webhook_kit, name)\n"
    )
    modules = _modules_after(code)
    assert "webhook_kit.queues" in modules  # resolving the sending-side names loads them


def test_a_public_submodule_is_reachable_as_an_attribute() -> None:
    modules = _modules_after("import webhook_kit\nwebhook_kit.observability.instrument")
    assert "webhook_kit.observability" in modules


def test_an_unknown_name_is_an_attribute_error() -> None:
    unknown, private = "no_such_name", "_private_name"
    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        getattr(webhook_kit, unknown)
    with pytest.raises(AttributeError):
        getattr(webhook_kit, private)
    assert not hasattr(webhook_kit, unknown)
