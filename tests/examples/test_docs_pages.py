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


def test_every_included_example_is_linked_under_its_code() -> None:
    # On a code host a page shows the include line, not the code: the file is linked below it.
    snippet = re.compile(r'^--8<-- "docs/examples/([\w.]+?)(?::[\w-]+)?"$')
    unlinked: list[str] = []
    for page in sorted(DOCS.glob("*.md")):
        lines = page.read_text().splitlines()
        for number, line in enumerate(lines):
            match = snippet.match(line)
            if match is None:
                continue
            end = next(n for n in range(number, len(lines)) if lines[n] == "```")
            after = "\n".join(lines[end + 1 : end + 3])
            name = match.group(1)
            if f"[`docs/examples/{name}`](examples/{name})" not in after:
                unlinked.append(f"{page.name}:{number + 1} {name}")
    assert unlinked == []


def test_the_home_page_says_how_to_install_and_lists_every_extra() -> None:
    from importlib.metadata import metadata

    text = (DOCS / "index.md").read_text()
    extras = set(metadata("webhook-kit").get_all("Provides-Extra") or [])
    listed = set(re.findall(r"^\| `(\w+)` \| `python3 -m pip install '\.\[\1\]'` \|", text, re.M))
    assert listed == extras
    assert "not on PyPI yet" in text
    assert "mkdocs serve" in text
    # The release note names every command of `webhook-kit`.
    import importlib
    import pkgutil

    import webhook_kit.cli
    from webhook_kit.cli import app

    for module in pkgutil.iter_modules(webhook_kit.cli.__path__):
        importlib.import_module(f"webhook_kit.cli.{module.name}")
    note = text[text.index('!!! note "What this release contains"') : text.index("## Install")]
    named = set(re.findall(r"`(?:webhook-kit )?([a-z]+)`", note))
    assert set(app.cli.commands) - named == set()
