"""``webhook-kit send``: one webhook into the SQLite queue file, its delivery id printed."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

from webhook_kit import SignatureFormat, __version__, verify
from webhook_kit.queues import QueueCounts, SQLiteQueue
from webhook_kit.queues.protocol import Claim

from . import cli_group, invoke, on_queue

URL = "https://customer.example/hooks"
SECRET = "send-command-secret-of-32-bytes!"
WHSEC = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
FORMATS = [
    "hex_sha256_with_prefix",
    "hex_sha256",
    "base64_sha256",
    "standard_webhooks",
    "stripe",
]


def send(db: Path | None, *args: str, env: dict[str, str | None] | None = None) -> str:
    """Run ``webhook-kit send`` and return the id it printed."""
    db_args = [] if db is None else ["--db", str(db)]
    result = invoke(["send", URL, *args, *db_args], env=env)
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def counts(db: Path) -> QueueCounts:
    async def call(queue: SQLiteQueue) -> QueueCounts:
        return await queue.counts()

    return on_queue(db, call)


def claim_all(db: Path) -> list[Claim]:
    async def call(queue: SQLiteQueue) -> list[Claim]:
        return list(await queue.claim(100, lease_grace=0))

    return on_queue(db, call)


def stored_bytes(db: Path) -> bytes:
    """Everything on disk for the queue file (and its WAL, if one is left)."""
    return b"".join(
        path.read_bytes() for path in db.parent.iterdir() if path.name.startswith(db.name)
    )


@pytest.mark.parametrize("signature_format", FORMATS)
def test_send_prints_the_id_and_stores_the_job(tmp_path: Path, signature_format: str) -> None:
    db = tmp_path / "queue.sqlite3"
    secret = WHSEC if signature_format == "standard_webhooks" else SECRET
    printed = send(
        db,
        "--event",
        "order.created",
        "--data",
        '{"order_id": 42, "total": "19.99"}',
        "--secret",
        secret,
        "--format",
        signature_format,
    )
    assert str(uuid.UUID(printed)) == printed
    assert counts(db) == QueueCounts(pending=1, due=1, in_flight=0, delivered=0, dead=0)
    # The secret is never stored: body-only formats keep a signature made at dispatch,
    # timestamped formats are signed by the worker.
    assert secret.encode() not in stored_bytes(db)

    [claim] = claim_all(db)
    event = claim.event
    assert (event.id, event.event, event.target_url) == (printed, "order.created", URL)
    assert event.body == '{"order_id":42,"total":"19.99"}'
    assert event.signature_format is SignatureFormat(signature_format)
    if event.signature_format.timestamped:
        assert event.signature is None
    else:
        assert event.signature is not None
        headers = {
            "X-Webhook-Id": event.id,
            "X-Webhook-Event": event.event,
            "X-Webhook-Signature": event.signature,
        }
        verify(event.body_bytes, headers, secret, scheme=event.signature_format)


def test_each_send_adds_a_job(tmp_path: Path) -> None:
    db = tmp_path / "queue.sqlite3"
    ids = [
        send(db, "--event", "order.created", "--data", str(n), "--secret", SECRET)
        for n in range(3)
    ]
    assert len(set(ids)) == 3
    assert counts(db).pending == 3
    assert sorted(claim.event.id for claim in claim_all(db)) == sorted(ids)


def test_send_uses_the_queue_file_in_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    send(None, "--event", "order.created", "--data", "{}", "--secret", SECRET)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["webhook-kit.sqlite3"]
    assert counts(tmp_path / "webhook-kit.sqlite3").pending == 1


def test_send_reads_the_secret_from_the_environment(tmp_path: Path) -> None:
    db = tmp_path / "queue.sqlite3"
    send(db, "--event", "order.created", "--data", "{}", env={"WEBHOOK_KIT_SECRET": SECRET})
    [claim] = claim_all(db)
    assert claim.event.signature is not None
    headers = {
        "X-Webhook-Id": claim.event.id,
        "X-Webhook-Event": claim.event.event,
        "X-Webhook-Signature": claim.event.signature,
    }
    verify(claim.event.body_bytes, headers, SECRET)


def test_send_help_names_the_default_queue_file() -> None:
    result = invoke(["send", "--help"])
    assert result.exit_code == 0
    text = "".join(result.stdout.split())  # click wraps the help, at hyphens too
    assert "[default:webhook-kit.sqlite3]" in text
    for choice in FORMATS:
        assert choice in text


def payload_of(db: Path) -> bytes:
    [claim] = claim_all(db)
    return claim.event.body_bytes


def test_data_at_file_reads_the_json_from_the_file(tmp_path: Path) -> None:
    db = tmp_path / "queue.sqlite3"
    order = tmp_path / "order.json"
    order.write_text('{\n  "order_id": 42,\n  "total": "24.50"\n}\n', encoding="utf-8")
    send(db, "--event", "order.created", "--data", f"@{order}", "--secret", SECRET)
    assert payload_of(db) == b'{"order_id":42,"total":"24.50"}'


def test_data_dash_reads_the_json_from_stdin(tmp_path: Path) -> None:
    db = tmp_path / "queue.sqlite3"
    args = ["send", URL, "--event", "order.created", "--data", "-", "--secret", SECRET]
    result = CliRunner().invoke(
        cli_group(), [*args, "--db", str(db)], input='[1, "two"]\n', prog_name="webhook-kit"
    )
    assert result.exit_code == 0, result.output
    assert payload_of(db) == b'[1,"two"]'


@pytest.mark.parametrize(
    ("data", "stdin", "expected"),
    [
        pytest.param(
            "@{dir}/bad.json",
            None,
            "Error: Invalid value for --data: {dir}/bad.json is not JSON: Expecting ',' "
            "delimiter: line 2 column 7 (char 16)",
            id="bad-json-file",
        ),
        pytest.param(
            "@{dir}/missing.json",
            None,
            "Error: Invalid value for --data: cannot read {dir}/missing.json: "
            "No such file or directory",
            id="missing-file",
        ),
        pytest.param(
            "-",
            "{oops",
            "Error: Invalid value for --data: stdin is not JSON: Expecting property name "
            "enclosed in double quotes: line 1 column 2 (char 1)",
            id="bad-json-on-stdin",
        ),
    ],
)
def test_unreadable_data_is_one_line_naming_its_source(
    tmp_path: Path, data: str, stdin: str | None, expected: str
) -> None:
    (tmp_path / "bad.json").write_text('{"order":\n  "id": 42}\n', encoding="utf-8")
    db = tmp_path / "queue.sqlite3"
    args = ["send", URL, "--event", "a.b", "--secret", SECRET, "--db", str(db)]
    data = data.format(dir=tmp_path)
    result = CliRunner().invoke(
        cli_group(), [*args, "--data", data], input=stdin, prog_name="webhook-kit"
    )
    assert result.exit_code == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error")]
    assert errors == [expected.format(dir=tmp_path)]
    assert not db.exists()


def test_max_attempts_and_timeout_are_the_deliverys_own(tmp_path: Path) -> None:
    db = tmp_path / "queue.sqlite3"
    common = ("--event", "a.b", "--data", "{}", "--secret", SECRET)
    send(db, *common, "--max-attempts", "3", "--timeout", "7.5")
    send(db, *common)
    given, default = sorted(claim_all(db), key=lambda claim: claim.event.timeout)
    assert (given.event.retry_policy.max_attempts, given.event.timeout) == (3, 7.5)
    assert (default.event.retry_policy.max_attempts, default.event.timeout) == (8, 30.0)


@pytest.mark.parametrize(
    "option",
    [("--max-attempts", "0"), ("--timeout", "0"), ("--timeout", "nan"), ("--timeout", "inf")],
)
def test_max_attempts_and_timeout_out_of_range_are_refused(
    tmp_path: Path, option: tuple[str, str]
) -> None:
    db = tmp_path / "queue.sqlite3"
    args = ["send", URL, "--event", "a.b", "--data", "{}", "--secret", SECRET, "--db", str(db)]
    result = invoke([*args, *option])
    assert result.exit_code == 2
    assert f"Invalid value for '{option[0]}'" in result.stderr
    assert not db.exists()


@pytest.mark.parametrize("flag", ["-V", "--version"])
def test_version_short_and_long(flag: str) -> None:
    result = invoke([flag])
    assert (result.exit_code, result.stdout) == (0, f"webhook-kit, version {__version__}\n")
