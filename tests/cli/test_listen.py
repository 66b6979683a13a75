"""``webhook-kit listen``: a receiver on a real port printing each delivery as it arrives.

The command runs as a real process (its output, signals and exit code are what matter); the
test POSTs to it with httpx on 127.0.0.1 only. Bad input fails before anything is served, so
those cases run in process.
"""

from __future__ import annotations

import contextlib
import queue
import re
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest
from click.testing import Result
from starlette.datastructures import Headers

from webhook_kit import SignatureFormat, providers, sign
from webhook_kit.cli import listen as listen_module
from webhook_kit.testing import MockReceiver
from webhook_kit.testing.deliveries import Delivery

from . import CLI, TIMEOUT, clean_env, invoke

SECRET = "listen-command-secret-of-32-byte"
WHSEC = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
BODY = b'{"order_id": 42}'
LINE_WAIT = 20.0
"""Seconds to wait for one line of output."""


class Listening:
    """A ``webhook-kit listen`` process, its output read line by line as it comes."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            [*CLI, "listen", *args],
            cwd=cwd,
            env=env if env is not None else clean_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.banner = [self.line(), self.line()]
        match = re.fullmatch(r"listening on (http://\S+)", self.banner[0])
        assert match is not None, self.banner
        self.url = match.group(1)

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def line(self) -> str:
        """The next line it prints (fails the test if none comes in time)."""
        try:
            line = self._lines.get(timeout=LINE_WAIT)
        except queue.Empty:
            pytest.fail(f"webhook-kit listen printed nothing in {LINE_WAIT}s")
        if line is None:
            pytest.fail(f"webhook-kit listen ended early: {self.stop()}")
        return line

    def stop(self, signum: int = signal.SIGTERM) -> tuple[int, list[str], str]:
        """Send ``signum``; return the exit code, the lines printed after, and stderr."""
        if self.process.poll() is None:
            self.process.send_signal(signum)
        try:
            code = self.process.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail(f"webhook-kit listen did not stop on {signal.Signals(signum).name}")
        self._reader.join(TIMEOUT)
        rest: list[str] = []
        with contextlib.suppress(queue.Empty):
            while (line := self._lines.get_nowait()) is not None:
                rest.append(line)
        assert self.process.stderr is not None
        return code, rest, self.process.stderr.read()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


@contextlib.contextmanager
def listening(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> Iterator[Listening]:
    process = Listening(list(args), tmp_path, env)
    try:
        yield process
    finally:
        process.kill()


def post(url: str, headers: dict[str, str], body: bytes = BODY) -> int:
    assert url.startswith("http://127.0.0.1:")
    return httpx.post(url, content=body, headers=headers, timeout=LINE_WAIT).status_code


def own_headers(event: str, delivery_id: str, *, secret: str = SECRET) -> dict[str, str]:
    """Headers as webhook-kit sends them, signed with the default format."""
    return {
        "Content-Type": "application/json",
        "X-Webhook-Id": delivery_id,
        "X-Webhook-Event": event,
        "X-Webhook-Signature": sign(BODY, secret),
    }


TIME = r"\d\d:\d\d:\d\d\.\d{3}Z"


def test_deliveries_are_printed_as_they_arrive_and_answered_as_scripted(tmp_path: Path) -> None:
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    with listening(tmp_path, "--secret", SECRET, "--script", "503,200") as listen:
        assert listen.banner[1] == (
            "checking hex_sha256_with_prefix (X-Webhook-Signature) signatures; "
            "answering 503, then 200 to every later request"
        )
        assert post(listen.url, own_headers("order.created", first)) == 503
        line = listen.line()  # printed before the next request is made
        assert re.fullmatch(rf"{TIME}  POST /hooks  order\.created  id={first}  ✓  → 503", line), (
            line
        )
        assert post(listen.url, own_headers("order.created", first)) == 200
        assert listen.line().endswith(f"  id={first}  ✓  → 200")
        assert post(listen.url, own_headers("invoice.paid", second, secret="other")) == 200
        line = listen.line()
        assert f"  invoice.paid  id={second}  ✗  → 200  " in line
        assert "(no_matching_signature)" in line
        unsigned = {"Content-Type": "application/json"}
        assert post(listen.url.replace("/hooks", "/elsewhere"), unsigned) == 200
        line = listen.line()
        assert "  POST /elsewhere  -  id=-  ✗  → 200  " in line
        assert "(missing_header)" in line
        code, rest, stderr = listen.stop(signal.SIGTERM)
    assert code == 0
    assert rest == ["stopped after 4 deliveries"]
    assert "Traceback" not in stderr
    assert stderr == ""


def test_without_a_secret_deliveries_are_unverified_and_ctrl_c_stops_it(tmp_path: Path) -> None:
    with listening(tmp_path) as listen:
        assert listen.banner[1] == (
            "not checking signatures (no --secret); answering 200 to every request"
        )
        assert post(listen.url, own_headers("order.created", "id-1")) == 200
        assert listen.line().endswith("  order.created  id=id-1  unverified  → 200")
        code, rest, stderr = listen.stop(signal.SIGINT)
    assert (code, rest, stderr) == (0, ["stopped after 1 delivery"], "")


def test_stopping_before_any_delivery(tmp_path: Path) -> None:
    with listening(tmp_path, "--script", "200") as listen:
        code, rest, stderr = listen.stop(signal.SIGTERM)
    assert (code, rest, stderr) == (0, ["stopped after 0 deliveries"], "")


def signed_now(scheme: str) -> tuple[str, dict[str, str]]:
    """A secret for ``scheme`` and the headers of ``BODY`` signed with it at this moment."""
    if scheme == "github":
        headers = providers.GITHUB.signature_headers(
            BODY, providers.GITHUB.keys(SECRET), webhook_id="gh-1", timestamp=0
        )
        return SECRET, {**headers, "X-GitHub-Event": "push", "X-GitHub-Delivery": "gh-1"}
    resolved = SignatureFormat(scheme).scheme
    headers = resolved.signature_headers(
        BODY, resolved.keys(WHSEC), webhook_id="msg_1", timestamp=int(time.time())
    )
    return WHSEC, {**headers, "X-Webhook-Id": "msg_1", "X-Webhook-Event": "order.created"}


@pytest.mark.parametrize("scheme", ["github", "standard_webhooks", "stripe"])
def test_a_scheme_checks_its_own_headers(tmp_path: Path, scheme: str) -> None:
    secret, headers = signed_now(scheme)
    with listening(tmp_path, "--secret", secret, "--scheme", scheme) as listen:
        assert listen.banner[1].startswith(f"checking {scheme} (")
        assert post(listen.url, headers) == 200
        line = listen.line()
        assert "  ✓  → 200" in line, line
        assert listen.stop()[0] == 0


def test_the_secret_may_come_from_the_environment(tmp_path: Path) -> None:
    with listening(tmp_path, env=clean_env(WEBHOOK_KIT_SECRET=SECRET)) as listen:
        assert listen.banner[1].startswith(
            "checking hex_sha256_with_prefix (X-Webhook-Signature) signatures from "
            "$WEBHOOK_KIT_SECRET; "
        )
        assert post(listen.url, own_headers("order.created", "id-2")) == 200
        assert "  ✓  → 200" in listen.line()
        assert listen.stop()[0] == 0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_a_given_port(tmp_path: Path) -> None:
    port = free_port()
    with listening(tmp_path, "--port", str(port)) as listen:
        assert listen.url == f"http://127.0.0.1:{port}/hooks"
        assert post(listen.url, {}) == 200
        listen.line()
        assert listen.stop()[0] == 0


def test_an_output_that_cannot_show_marks_gets_plain_ones(tmp_path: Path) -> None:
    env = clean_env(PYTHONIOENCODING="ascii")
    with listening(tmp_path, "--secret", SECRET, env=env) as listen:
        assert post(listen.url, own_headers("order.created", "id-3")) == 200
        assert listen.line().endswith("  order.created  id=id-3  ok  -> 200")
        assert post(listen.url, {}) == 200
        assert "  FAILED  -> 200  " in listen.line()
        code, _, stderr = listen.stop()
    assert (code, stderr) == (0, "")


def test_when_its_reader_goes_away_it_stops_without_a_traceback(tmp_path: Path) -> None:
    # webhook-kit listen | head -3: once head has exited, printing fails with a broken pipe.
    process = subprocess.Popen(
        [*CLI, "listen"],
        cwd=tmp_path,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
    )
    try:
        assert process.stdout is not None
        assert process.stderr is not None
        match = re.search(r"http://\S+", process.stdout.readline())
        assert match is not None
        process.stdout.readline()
        process.stdout.close()  # the reader goes away
        assert post(match.group(), {}) == 200  # answered; printing it breaks the pipe
        code = process.wait(timeout=TIMEOUT)
        assert (code, process.stderr.read()) == (1, "")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()


# -- bad input: refused before anything is served (in process) ------------------------------


def error_line(result: Result) -> str:
    """The one ``Error:`` line of a refused command; a traceback fails the test."""
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code != 0
    assert result.stdout == ""
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, result.stderr
    return errors[0]


@pytest.mark.parametrize(
    ("args", "code", "expected"),
    [
        (["--script", "abc"], 2, "'abc' is not an HTTP status"),
        (["--script", "503,"], 2, "separated by commas"),
        (["--script", ""], 2, "separated by commas"),
        (["--script", "503,99"], 2, "'99' is not an HTTP status"),
        (["--script", "600"], 2, "'600' is not an HTTP status"),
        (["--script", "-200"], 2, "'-200' is not an HTTP status"),
        (["--scheme", "github"], 2, "--scheme needs --secret"),
        (["--secret", SECRET, "--scheme", "sha1"], 2, "'sha1' is not a scheme"),
        (["--port", "65536"], 2, "--port"),
        (["--port", "-1"], 2, "--port"),
        (["--host", "no-such-host.invalid"], 2, "does not resolve"),
        (["--secret", ""], 1, "empty"),
        (["--secret", "whsec_!!", "--scheme", "standard_webhooks"], 1, "whsec_"),
    ],
)
def test_bad_input(args: list[str], code: int, expected: str) -> None:
    result = invoke(["listen", *args])
    assert expected in error_line(result)
    assert result.exit_code == code


def test_a_port_in_use() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = invoke(["listen", "--port", str(port)])
    assert error_line(result).startswith(f"Error: cannot listen on 127.0.0.1 port {port}: ")
    assert result.exit_code == 1


def test_listen_is_in_the_help() -> None:
    result = invoke(["listen", "--help"])
    assert result.exit_code == 0
    for name in ("provider:stripe", "github", "standard_webhooks", "standard-webhooks"):
        assert name in result.stdout


# -- the pieces --------------------------------------------------------------------------


def delivery(**changes: object) -> Delivery:
    fields: dict[str, object] = {
        "id": "d-1",
        "event": "order.created",
        "method": "POST",
        "path": "/hooks",
        "headers": Headers({}),
        "body": b"{}",
        "received_at": 1_764_324_000.25,
        "status": 200,
        "response_headers": {},
        "verified": None,
        "verification_error": None,
    }
    fields.update(changes)
    return Delivery(**fields)  # type: ignore[arg-type]


def test_a_delivery_line() -> None:
    line = listen_module.delivery_line(delivery()).plain
    assert line == "10:00:00.250Z  POST /hooks  order.created  id=d-1  unverified  → 200"
    gave_up = listen_module.delivery_line(delivery(status=None, verified=True)).plain
    assert gave_up.endswith("  ✓  → no answer (the sender gave up)")


def test_hostile_text_in_a_delivery_line_is_escaped() -> None:
    hostile = delivery(
        event="order\x1b[2J",
        id="\x1b]0;title\x07",
        path="/a\nb",
        verified=False,
        verification_error="signature check failed (missing_header): \x1b[31m",
    )
    line = listen_module.delivery_line(hostile).plain
    assert "\x1b" not in line
    assert "\n" not in line
    assert "order\\x1b[2J" in line
    assert "/a\\nb" in line


def test_parse_script() -> None:
    assert listen_module.parse_script("503, 503 ,200") == [503, 503, 200]
    assert listen_module.parse_script("200") == [200]


def test_the_receiver_calls_on_delivery_once_recorded() -> None:
    seen: list[tuple[Delivery, int]] = []
    receiver = MockReceiver()
    receiver.on_delivery = lambda d: seen.append((d, len(receiver.deliveries)))
    receiver.script([503, 200])

    async def deliver() -> list[int]:
        async with httpx.AsyncClient(transport=receiver.transport) as client:
            statuses = []
            for _ in range(2):
                response = await client.post(receiver.url, content=b"{}")
                statuses.append(response.status_code)
            return statuses

    assert anyio.run(deliver) == [503, 200]
    assert [(d.status, count) for d, count in seen] == [(503, 1), (200, 2)]
    assert [d for d, _ in seen] == receiver.deliveries
    assert MockReceiver(on_delivery=print).on_delivery is print
    assert MockReceiver().on_delivery is None
