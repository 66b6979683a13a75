"""Every Python block in README.md runs and prints what the README shows; the demo's output
shown is the output of the current demo (its ids, port and timing aside: tests/cli runs it)."""

from __future__ import annotations

import re
import runpy
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"
_FENCE = re.compile(r"```(\w+)\n(.*?)```", re.DOTALL)


def _blocks(language: str) -> list[str]:
    return [code for lang, code in _FENCE.findall(README.read_text()) if lang == language]


def test_first_example_prints_what_the_readme_says(tmp_path: Path) -> None:
    script = tmp_path / "first_example.py"
    script.write_text(_blocks("python")[0])
    completed = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    assert completed.stdout == _blocks("text")[1]


def test_fastapi_example_verifies_a_github_delivery(tmp_path: Path) -> None:
    import anyio
    import httpx

    from webhook_kit import providers, sign

    script = tmp_path / "fastapi_example.py"
    script.write_text(_blocks("python")[1])
    app = runpy.run_path(str(script))["app"]
    body = b'{"zen": "Keep it logically awesome."}'
    good = {
        "X-Hub-Signature-256": sign(body, "github-webhook-secret", scheme=providers.GITHUB),
        "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        "X-GitHub-Event": "ping",
    }

    async def post(headers: dict[str, str]) -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.post("/hooks/github", content=body, headers=headers)

    accepted = anyio.run(post, good)
    assert accepted.status_code == 200
    assert accepted.json() == {"delivery": good["X-GitHub-Delivery"], "event": "ping"}
    refused = anyio.run(post, {**good, "X-Hub-Signature-256": "sha256=" + "0" * 64})
    assert refused.status_code == 400
    assert refused.json() == {"error": "no_matching_signature"}


def test_sending_example_prints_what_the_readme_says(tmp_path: Path) -> None:
    script = tmp_path / "sending_example.py"
    script.write_text(_blocks("python")[2])
    completed = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    assert completed.stdout == _blocks("text")[2]


def _table(text: str, title: str) -> list[list[str]]:
    """The body rows of the rich table titled ``title`` in a text block."""
    lines = text.splitlines()
    start = lines.index(title)
    rows = []
    for line in lines[start + 1 :]:
        if line.startswith("└"):
            break
        if line.startswith("│"):
            rows.append([cell.strip() for cell in line.strip("│").split("│")])
    return rows


def test_the_demo_output_shown_is_the_demos() -> None:
    from webhook_kit.cli.demo import BATCH

    commands = [code for lang, code in _FENCE.findall(README.read_text()) if lang == "console"]
    assert commands[0].splitlines() == ['python3 -m pip install ".[cli,fast]"', "webhook-kit demo"]
    shown = _blocks("text")[0]
    assert shown.startswith("webhook-kit demo: receiver at http://127.0.0.1:")
    deliveries = _table(shown, "Deliveries")
    assert [row[0] for row in deliveries] == BATCH
    dead = {row[0]: row[3] for row in _table(shown, "Dead letters")}
    assert {row[0] for row in deliveries if row[3] == "dead"} == set(dead)
    assert "410 Gone" in dead["customer.deleted"]
    assert "400, a client error" in dead["order.refunded"]
    assert "gave up after 4 attempts" in dead["payment.failed"]
    summary = shown.splitlines()[-1]
    assert summary.startswith(f"{len(BATCH) - len(dead)} delivered, {len(dead)} dead-lettered, ")
    assert " signatures verified, 0 failed, in " in summary
