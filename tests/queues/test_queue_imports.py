"""Data flows one way: no queue module imports the sending side, not even for type checking.

A queue persists, schedules and redelivers what it is told; the delivery handler, the secrets
held in memory, endpoint health and telemetry belong to the sender and the worker. Every module
under ``src/webhook_kit/queues/`` is parsed (not imported: an import inside a function or under
``TYPE_CHECKING`` counts too) and each import is resolved to the module it names.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import webhook_kit.queues

# The package as imported: the source tree in a checkout, site-packages in the wheel session.
QUEUES = Path(webhook_kit.queues.__file__).resolve().parent

SENDING_SIDE = frozenset(
    {
        "delivery",
        "subscription",
        "observability",
        "worker",
        "health",
        "http_stacks",
        "testing",
        "registrations",
        "cli",
    }
)
"""Modules of ``webhook_kit`` (and their submodules) no queue module may import."""


def imported_modules(source: str, module: str) -> set[str]:
    """Every module ``source`` (the text of the module named ``module``) imports, absolute."""
    package = module.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                parent = ".".join([*base, node.module] if node.module else base)
            else:
                parent = node.module or ""
            found.add(parent)
            # `from .. import delivery` imports the module webhook_kit.delivery.
            found.update(f"{parent}.{alias.name}" for alias in node.names)
    return found


def sending_side_imports(source: str, module: str) -> set[str]:
    """The modules of the sending side among those ``source`` imports."""
    wrong = set()
    for name in imported_modules(source, module):
        parts = name.split(".")
        if parts[0] == "webhook_kit" and len(parts) > 1 and parts[1] in SENDING_SIDE:
            wrong.add(parts[1])
    return wrong


def queue_modules() -> list[Path]:
    found = sorted(QUEUES.rglob("*.py"))
    assert len(found) >= 5, f"no queue modules found under {QUEUES}"
    return found


@pytest.mark.parametrize("path", queue_modules(), ids=lambda path: path.name)
def test_no_queue_module_imports_the_sending_side(path: Path) -> None:
    # webhook_kit.queues.sqlite, webhook_kit.queues.__init__: relative imports start there.
    module = ".".join(path.relative_to(QUEUES.parent.parent).with_suffix("").parts)
    wrong = sending_side_imports(path.read_text(encoding="utf-8"), module)
    assert wrong == set(), (
        f"{path.name} imports {sorted(wrong)}: queue modules import nothing from the sending side"
    )


@pytest.mark.parametrize(
    "source",
    [
        "from ..delivery import DeliveryHandler",
        "if TYPE_CHECKING:\n    from ..delivery import DeliveryHandler",
        "from .. import worker",
        "import webhook_kit.observability",
        "from webhook_kit.http_stacks.httpx_stack import HttpxStack",
        "def f():\n    from ..testing import FakeQueue",
        "from ..health import endpoint_of",
        "from webhook_kit import subscription",
    ],
)
def test_the_check_finds_each_way_of_importing(source: str) -> None:
    assert sending_side_imports(source, "webhook_kit.queues.mine") != set()


@pytest.mark.parametrize(
    "source",
    [
        "from ..events import WebhookEvent",
        "from .protocol import Claim",
        "from . import sqlite_identity",
        "from ..outcomes import Delivered",
        "import sqlite3",
    ],
)
def test_the_check_lets_the_queues_own_imports_through(source: str) -> None:
    assert sending_side_imports(source, "webhook_kit.queues.mine") == set()
