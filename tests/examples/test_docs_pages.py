"""The pages in docs/ show every example and document every public name."""

from __future__ import annotations

import re
from pathlib import Path

import webhook_kit
from webhook_kit import providers

DOCS = Path(__file__).resolve().parents[2] / "docs"
REFERENCE = DOCS / "reference.md"


def test_every_example_is_shown_on_a_page() -> None:
    pages = "".join(path.read_text() for path in DOCS.glob("**/*.md"))
    included = set(re.findall(r'^--8<-- "docs/examples/(\w+\.py)(?::[\w-]+)?"$', pages, re.M))
    assert {path.name for path in (DOCS / "examples").glob("*.py")} - included == set()


def documented_names() -> set[str]:
    # "::: webhook_kit.providers.GITHUB" documents `GITHUB`: the last part is the public name.
    identifiers = re.findall(r"^::: (webhook_kit[\w.]*)\s*$", REFERENCE.read_text(), re.MULTILINE)
    return {identifier.rsplit(".", 1)[-1] for identifier in identifiers}


def test_every_public_name_is_on_the_reference_page() -> None:
    assert set(webhook_kit.__all__) - documented_names() == set()


def test_every_provider_preset_is_on_the_reference_page() -> None:
    text = REFERENCE.read_text()
    presets = {name for name in providers.__all__ if name.isupper()}
    missing = {name for name in presets if not re.search(rf"^\s+- {name}$", text, re.MULTILINE)}
    assert missing == set()
