"""Every Python block in README.md runs and prints what the README shows; the demo's output
shown is the output of the current demo (its ids, port and timing aside: tests/cli runs it)."""

from __future__ import annotations

import os
import re
import runpy
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"
BASH = shutil.which("bash") or "/bin/bash"
"""The README's console blocks are bash."""
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


def _console_block(first_word: str) -> list[str]:
    """The lines of the README's console block whose first command starts with ``first_word``."""
    blocks = [code for lang, code in _FENCE.findall(README.read_text()) if lang == "console"]
    [block] = [code for code in blocks if code.split()[0] == first_word]
    return block.splitlines()


def _shell_env(**extra: str) -> dict[str, str]:
    """This environment, with the installed ``webhook-kit`` first on PATH and no secret set."""
    env = {name: value for name, value in os.environ.items() if name != "WEBHOOK_KIT_SECRET"}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.update(COLUMNS="200", NO_COLOR="1", **extra)
    return env


def test_the_send_and_worker_commands_run_as_written(tmp_path: Path) -> None:
    export, send_line, worker_line = _console_block("export")
    assert send_line.startswith("webhook-kit send ")
    assert worker_line == "webhook-kit worker"
    # The first line makes up the secret both commands read from the environment.
    made = subprocess.run(
        [BASH, "-c", f'{export}\nprintf %s "$WEBHOOK_KIT_SECRET"'],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env=_shell_env(),
    )
    secret = made.stdout
    assert len(secret) >= 32
    env = _shell_env(WEBHOOK_KIT_SECRET=secret)

    sent = subprocess.run(
        [BASH, "-c", send_line],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
        env=env,
    )
    assert sent.returncode == 0, sent.stderr
    assert re.fullmatch(r"[0-9a-f-]{36}\n", sent.stdout), sent.stdout
    assert (tmp_path / "webhook-kit.sqlite3").is_file()

    stderr_path = tmp_path / "worker.stderr"
    with stderr_path.open("wb") as stderr:
        worker = subprocess.Popen(
            [BASH, "-c", f"exec {worker_line}"],
            cwd=tmp_path,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        for _ in range(600):  # up to 60 s for the worker to start
            if "worker started on" in stderr_path.read_text() or worker.poll() is not None:
                break
            time.sleep(0.1)
        assert worker.poll() is None, stderr_path.read_text()
        assert "worker started on webhook-kit.sqlite3" in stderr_path.read_text()
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(60) == 0, stderr_path.read_text()
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(60)
    assert "Traceback" not in stderr_path.read_text()


def test_every_file_the_readme_links_is_in_the_repository() -> None:
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", README.read_text())
    local = [link for link in links if "://" not in link]
    assert {"LICENSE", "CHANGELOG.md", "CONTRIBUTING.md", "docs/index.md"} <= set(local)
    missing = [link for link in local if not (README.parent / link).exists()]
    assert missing == []


def test_the_readme_says_how_to_install_what_is_not_published() -> None:
    text = " ".join(README.read_text().split())
    assert "not on PyPI yet" in text
    assert "comes next" not in text  # PostgreSQL ships
    # The FastAPI snippet says FastAPI is installed separately.
    before_fastapi = text[: text.index("from fastapi import")]
    assert "python3 -m pip install fastapi" in before_fastapi[-400:]
