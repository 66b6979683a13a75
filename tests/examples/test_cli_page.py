"""docs/cli.md: every command its console blocks name exists and takes the arguments given, every
command's section lists its options, and the sessions print what the page shows.

A console block is a session: ``$ `` lines are commands (``webhook-kit …``, ``export NAME=VALUE``,
``echo $?``), the lines under each are what it printed, stdout and stderr as a terminal shows
them. The sessions that need no network (``status``, ``dlq``, ``endpoints``, ``send``, ``verify``
of docs/examples/captured_request.http, ``--help``) run again here, in process through click's
`CliRunner`, each in a directory of its own with a copy of one queue file, ``webhooks.sqlite3``.
``demo``, ``worker`` and ``listen`` need sockets and run for seconds to minutes: their sessions
are real runs, pasted; the demo's is checked against the batch it sends.

The queue is built as tests/cli/queue_files.py builds its (a real `SQLiteQueue`, a real `Worker`,
`MockReceiver`s scripted to fail, one dispatch at a time), but on a virtual clock and through an
in-process transport instead of a socket on 127.0.0.1: the page shows an operator's queue, with
customers' hosts, a retry schedule of minutes, endpoint health on, and times that are the same in
every run. What still varies is normalised before comparing: delivery ids (the page's ids are
mapped to this run's by the event in the page's ``dlq list`` rows; new ones are ``<new id>``),
latencies, the age of the captured request, and the directory (``/var/lib/shop`` on the page).
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import shlex
import shutil
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import anyio
import click
import httpx
import pytest
from click.testing import CliRunner, Result

from webhook_kit import RetryPolicy, SQLiteQueue, VirtualClock, WebhookSubscription, Worker
from webhook_kit.cli import app
from webhook_kit.fix_hints import use_command_line_hints
from webhook_kit.testing import MockReceiver, Reply
from webhook_kit.testing.scripts import Step

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "cli.md"
CAPTURED = ROOT / "docs" / "examples" / "captured_request.http"

PAGE_DIR = "/var/lib/shop"
"""The directory the page's sessions run in."""
QUEUE_FILE = "webhooks.sqlite3"
COLUMNS = "140"
"""The terminal width the page's outputs were printed at."""
HELP_WIDTH = max(min(int(COLUMNS), 80) - 2, 50)
"""The width click wraps help at in that terminal (`CliRunner` would make it 80)."""

# Variables that would change what the commands print, or give them a secret the page does not.
_UNSET = (
    "WEBHOOK_KIT_SECRET",
    "FORCE_COLOR",
    "CLICOLOR_FORCE",
    "TTY_COMPATIBLE",
    "TTY_INTERACTIVE",
    "LINES",
)

RUN_HERE = {
    ("send",),
    ("verify",),
    ("status",),
    ("dlq", "list"),
    ("dlq", "show"),
    ("dlq", "redrive"),
    ("dlq", "purge"),
    ("show",),
    ("endpoints", "list"),
    ("endpoints", "enable"),
}
"""The commands whose sessions run here. The others need a network, or run until stopped:
``demo``, ``worker`` and ``listen`` (their ``--help`` runs here)."""

NOT_RUN_HERE = {("demo",), ("worker",), ("listen",)}


# -- the page's sessions -----------------------------------------------------------------------


@dataclass(frozen=True)
class Prompt:
    """One ``$`` line of a session and the lines printed under it."""

    command: str
    output: list[str]


@dataclass(frozen=True)
class Session:
    """A console block of the page."""

    line: int
    steps: list[Prompt]

    @property
    def name(self) -> str:
        return f"line {self.line}: {self.steps[0].command}"

    def argvs(self) -> Iterator[list[str]]:
        """The arguments of each ``webhook-kit`` command, a redirection left out."""
        for step in self.steps:
            words = shlex.split(step.command)
            if words[:1] == ["webhook-kit"]:
                yield _without_redirection(words)[0][1:]


def page() -> str:
    return PAGE.read_text(encoding="utf-8")


def sessions() -> list[Session]:
    """The page's ``console`` blocks."""
    found = []
    for match in re.finditer(r"^```console\n(.*?)^```$", page(), re.MULTILINE | re.DOTALL):
        steps: list[Prompt] = []
        for line in match.group(1).splitlines():
            if line.startswith("$ "):
                steps.append(Prompt(line[2:], []))
            else:
                assert steps, f"output before the first command in the block at {match.start()}"
                steps[-1].output.append(line)
        line = page().count("\n", 0, match.start()) + 1
        assert steps, f"an empty console block at line {line}"
        found.append(Session(line, steps))
    return found


def _without_redirection(words: list[str]) -> tuple[list[str], str | None]:
    """The words of a command, and the file after ``<`` if it has one."""
    if "<" in words:
        at = words.index("<")
        assert len(words) == at + 2, f"``< FILE`` must end the command: {words}"
        return words[:at], words[at + 1]
    return words, None


# -- the command as the console script has it --------------------------------------------------


def command_group() -> click.Group:
    """``webhook-kit`` with the commands `app.main` registers, imported as it imports them."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(app.main)))
    modules = [
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module is None
        for alias in node.names
    ]
    assert modules, "main() no longer imports the command modules as `from . import (...)`"
    for module in modules:
        importlib.import_module(f"webhook_kit.cli.{module}")
    return app.cli


def command_path(argv: list[str]) -> tuple[str, ...]:
    """The (sub)command names at the start of ``argv``: ``("dlq", "show")``.

    Raises:
        AssertionError: a word where a command name must be is not one.
    """
    command: click.Command = command_group()
    path: list[str] = []
    for word in argv:
        if not isinstance(command, click.Group) or word.startswith("-"):
            break
        sub = command.commands.get(word)
        assert sub is not None, f"webhook-kit {' '.join([*path, word])}: no such command"
        command, path = sub, [*path, word]
    return tuple(path)


def command_at(path: tuple[str, ...]) -> click.Command:
    command: click.Command = command_group()
    for name in path:
        assert isinstance(command, click.Group)
        command = command.commands[name]
    return command


def invoke(argv: list[str], *, env: dict[str, str], stdin: bytes | None = None) -> Result:
    """Run ``webhook-kit ARGV`` in this process, as in a terminal ``COLUMNS`` wide."""
    environment: dict[str, str | None] = dict.fromkeys(_UNSET)
    environment.update(COLUMNS=COLUMNS, NO_COLOR="1")
    environment.update(env)
    result = CliRunner().invoke(
        command_group(),
        argv,
        input=stdin,
        env=environment,
        prog_name="webhook-kit",
        terminal_width=HELP_WIDTH,
    )
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


# -- the queue the sessions run on -------------------------------------------------------------

START = datetime(2026, 11, 28, 9, 41, 7, tzinfo=timezone.utc).timestamp()
SECRET = "whsec_c2hvcC13ZWJob29rLXNlY3JldC0yMDI2"
POLICY = RetryPolicy(max_attempts=5, jitter=0)  # 5, 10, 20 and 40 minutes between attempts

ACME = "https://hooks.acme.example/webhooks"
INITECH = "https://old.initech.example/webhooks"
UMBRELLA = "https://api.umbrella.example/hooks"
GLOBEX = "https://erp.globex.example/webhooks/orders"

RECEIVERS: dict[str, tuple[list[Step], float]] = {
    "hooks.acme.example": ([200], 0.08),
    "old.initech.example": ([410], 0.05),
    "api.umbrella.example": (
        [
            Reply(
                400,
                headers={"Content-Type": "application/json"},
                body='{"error": "unknown event type: order.refunded"}',
            )
        ],
        0.12,
    ),
    "erp.globex.example": ([503], 0.03),
}
"""Each host's answers, and how long (really) it takes to give one."""

DISPATCHES: list[tuple[float, str, str, dict[str, object], bool]] = [
    # seconds after the previous one, URL, event, data, whether a worker then runs until idle
    (0, ACME, "order.created", {"order_id": 1042}, True),
    (47, INITECH, "customer.updated", {"customer_id": 311}, True),  # 410: the endpoint is disabled
    (95, UMBRELLA, "order.refunded", {"order_id": 1017}, True),
    (101, INITECH, "customer.deleted", {"customer_id": 298}, True),  # dead without a request
    (139, GLOBEX, "invoice.paid", {"invoice_id": "INV-2291"}, True),  # 503 five times: paused
    (5400, ACME, "order.shipped", {"order_id": 1042}, False),  # no worker: pending
    (20, ACME, "order.paid", {"order_id": 1043}, False),
]


class _Hosts(httpx.AsyncBaseTransport):
    """Each request to its host's receiver, in process, after the host's latency."""

    def __init__(self, receivers: dict[str, tuple[MockReceiver, float]]) -> None:
        self.receivers = receivers

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        receiver, latency = self.receivers[request.url.host]
        await anyio.sleep(latency)
        return await receiver.transport.handle_async_request(request)


def build_queue(path: Path) -> dict[str, str]:
    """Put `DISPATCHES` through a new queue at ``path``; return each event's delivery id."""
    clock = VirtualClock(START)
    receivers = {
        host: (MockReceiver(clock=clock, name=host.split(".")[1]).script(steps), latency)
        for host, (steps, latency) in RECEIVERS.items()
    }

    async def build(queue: SQLiteQueue) -> dict[str, str]:
        ids: dict[str, str] = {}
        async with httpx.AsyncClient(transport=_Hosts(receivers)) as client:
            await WebhookSubscription.register(queue, client=client)
            for after, url, event, data, work in DISPATCHES:
                clock.advance(after)
                subscription = WebhookSubscription(url, SECRET).retry_policy(POLICY)
                ids[event] = await subscription.dispatch(queue, event, data)
                if work:
                    await Worker(queue).run_until_idle()
        counts = await queue.counts()
        assert (counts.delivered, counts.dead, counts.pending) == (1, 4, 2), counts
        return ids

    queue = SQLiteQueue(path, clock=clock)
    # The page shows an operator's queue, worked by `webhook-kit worker`: its reasons name the
    # command-line fixes, as that worker's do.
    use_command_line_hints(True)
    try:
        ids = anyio.run(build, queue)
    finally:
        use_command_line_hints(False)
        queue.close()
    assert not Path(f"{path}-wal").exists()  # everything is in the one file
    return ids


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """The queue file, built once; each session runs on a copy."""
    path = tmp_path_factory.mktemp("cli-page") / QUEUE_FILE
    return path, build_queue(path)


# -- comparing ---------------------------------------------------------------------------------

_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")


def page_ids(real: dict[str, str]) -> dict[str, str]:
    """The page's delivery ids (whole and shortened) -> this run's, by event.

    The page's ``dlq list`` rows say which event each shortened id is; a whole id on the page
    is the one it starts.
    """
    prefixes: dict[str, str] = {}
    for session in sessions():
        for step in session.steps:
            if shlex.split(step.command)[1:3] == ["dlq", "list"]:
                for line in step.output:
                    row = re.match(r"([0-9a-f]{8})  +(\S+)", line)
                    if row is not None and row.group(2) in real:
                        prefixes[row.group(1)] = row.group(2)
    assert prefixes, "no dlq list rows on the page"
    mapping = {prefix: real[event][: len(prefix)] for prefix, event in prefixes.items()}
    for whole in set(_UUID.findall(page())):
        if whole[:8] in prefixes:
            mapping[whole] = real[prefixes[whole[:8]]]
    return mapping


def to_this_run(text: str, mapping: dict[str, str]) -> str:
    """``text`` with the page's ids replaced by this run's, in one pass (whole ids first)."""
    if not mapping:
        return text
    ids = "|".join(map(re.escape, sorted(mapping, key=len, reverse=True)))
    return re.sub(rf"\b(?:{ids})\b", lambda match: mapping[match.group()], text)


def normalised(text: str, known_ids: set[str]) -> str:
    """What varies from run to run, made the same: new ids, latencies, ages; trailing blanks."""
    text = _UUID.sub(lambda m: m.group() if m.group() in known_ids else "<new id>", text)
    text = re.sub(r" +\d+ ms\b", " N ms", text)  # right-aligned in its column
    text = re.sub(r"\btimestamp is \d+s old\b", "timestamp is Ns old", text)
    lines = [line.rstrip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines)


def run_session(session: Session, cwd: Path, mapping: dict[str, str]) -> list[tuple[str, str]]:
    """Run ``session`` in ``cwd``; return (what the page shows, what ran) for each command."""
    env: dict[str, str] = {}
    exit_code: int | None = None
    shown: list[tuple[str, str]] = []
    for step in session.steps:
        words = shlex.split(to_this_run(step.command, mapping))
        expected = to_this_run("\n".join(step.output), mapping)
        if words[0] == "export":
            assert len(words) == 2, step.command
            name, _, value = words[1].partition("=")
            env[name] = value
            printed = ""
        elif words == ["echo", "$?"]:
            assert exit_code is not None, f"{step.command} before a command"
            printed = str(exit_code)
        elif words[0] == "webhook-kit":
            argv, source = _without_redirection(words)
            stdin = (cwd / source).read_bytes() if source is not None else None
            result = invoke(argv[1:], env=env, stdin=stdin)
            exit_code = result.exit_code
            printed = result.output.replace(str(cwd.resolve()), PAGE_DIR)
        else:
            raise AssertionError(f"the page's sessions run only webhook-kit here: {step.command}")
        shown.append((f"$ {step.command}\n{expected}", f"$ {step.command}\n{printed}"))
    return shown


def runs_here(session: Session) -> bool:
    try:
        paths = {command_path(argv) for argv in session.argvs()}
    except AssertionError:
        return True  # a command that does not exist fails where it runs, not at collection
    helps = all({"-h", "--help", "--version"} & set(argv) for argv in session.argvs())
    return helps or paths <= RUN_HERE


# -- tests -------------------------------------------------------------------------------------


def test_every_command_on_the_page_exists_and_its_arguments_parse(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    group = command_group()
    named = set()
    for session in sessions():
        env = dict.fromkeys(_UNSET, "")
        for step in session.steps:
            words = shlex.split(step.command)
            if words[0] == "export":
                name, _, value = words[1].partition("=")
                env[name] = value
            if words[0] != "webhook-kit":
                continue
            argv = _without_redirection(words)[0][1:]
            path = command_path(argv)
            named.add(path)
            if {"-h", "--help", "--version"} & set(argv):
                continue  # --help runs below
            # The options and arguments as the command would take them; nothing runs.
            with monkeypatch.context() as patch:
                for name, value in env.items():
                    if value:
                        patch.setenv(name, value)
                    else:
                        patch.delenv(name, raising=False)
                context = group.make_context("webhook-kit", list(argv))
                command: click.Command = group
                for depth, command_name in enumerate(path, 1):
                    assert isinstance(command, click.Group)
                    command = command.commands[command_name]
                    context = command.make_context(command_name, argv[depth:], parent=context)
    for path in sorted(named):
        result = invoke([*path, "--help"], env={})
        assert result.exit_code == 0, result.output
        assert result.stdout.startswith(f"Usage: webhook-kit {' '.join(path)}".rstrip())


def options_tables() -> dict[tuple[str, ...], set[str]]:
    """The options each command's section lists, by command: the first column of the table
    headed ``| option |`` under the command's heading (## `webhook-kit dlq show ID`)."""
    text = page()
    heading = r"^#{2,3} `webhook-kit ([a-z ]+?)(?: [A-Z\[].*)?`$"
    headings = list(re.finditer(heading, text, re.MULTILINE))
    tables = {}
    for number, found in enumerate(headings):
        end = headings[number + 1].start() if number + 1 < len(headings) else len(text)
        table = re.search(r"^\| option \|.*\n((?:\|.*\n)*)", text[found.end() : end], re.M)
        cells = re.findall(r"^\| `([^|]*)` \|", table.group(1) if table else "", re.MULTILINE)
        options = {
            name for cell in cells for name in re.findall(r"(?<![\w-])--?[a-z][\w-]*", cell)
        }
        tables[tuple(found.group(1).split())] = options
    return tables


def leaf_commands(command: click.Command, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from leaf_commands(sub, (*path, name))
    else:
        yield path


def test_every_command_has_a_section_listing_its_options() -> None:
    tables = options_tables()
    for path in tables:
        command_path(list(path))  # a section of a command that exists
    for path in leaf_commands(command_group()):
        assert path in tables, f"no section for webhook-kit {' '.join(path)}"
        options = {
            name
            for param in command_at(path).params
            if isinstance(param, click.Option)
            for name in (*param.opts, *param.secondary_opts)
        } - {"-h", "--help"}
        assert tables[path] == options, f"the options of webhook-kit {' '.join(path)}"


def test_the_sessions_that_run_here_cover_every_command_that_needs_no_network() -> None:
    ran = {command_path(argv) for s in sessions() if runs_here(s) for argv in s.argvs()}
    assert ran >= RUN_HERE
    not_run = {command_path(argv) for s in sessions() if not runs_here(s) for argv in s.argvs()}
    assert not_run - RUN_HERE <= NOT_RUN_HERE  # nothing else is left out by mistake


@pytest.mark.parametrize("session", [s for s in sessions() if runs_here(s)], ids=lambda s: s.name)
def test_the_session_prints_what_the_page_shows(
    session: Session,
    built: tuple[Path, dict[str, str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path, ids = built
    shutil.copyfile(path, tmp_path / QUEUE_FILE)
    shutil.copyfile(CAPTURED, tmp_path / CAPTURED.name)
    monkeypatch.chdir(tmp_path)
    mapping = page_ids(ids)
    known = set(ids.values())
    for expected, printed in run_session(session, tmp_path, mapping):
        assert normalised(printed, known) == normalised(expected, known)


def test_the_demo_output_shown_is_the_demos_batch() -> None:
    """The demo needs a socket and takes seconds (tests/cli runs it): its output on the page is
    a real run's, checked here against the batch and the answers the demo scripts."""
    from webhook_kit.cli.demo import BATCH, SCRIPTS

    [demo] = [s for s in sessions() if [*s.argvs()] == [["demo"]]]
    lines = demo.steps[0].output

    def rows(title: str) -> list[list[str]]:
        start = lines.index(title)
        table = []
        for line in lines[start + 4 :]:
            if not line.startswith("│"):
                break
            table.append([cell.strip() for cell in line.strip("│").split("│")])
        return table

    deliveries = rows("Deliveries")
    assert [row[0] for row in deliveries] == BATCH

    def final(event: str) -> int:
        last = SCRIPTS[event][-1]
        assert isinstance(last, (int, Reply)), last
        return last if isinstance(last, int) else last.status

    dead = {event for event in BATCH if not 200 <= final(event) < 300}
    assert {row[0] for row in deliveries if row[3] == "dead"} == dead
    assert {row[0] for row in rows("Dead letters")} == dead
    assert lines[-1].startswith(f"{len(BATCH) - len(dead)} delivered, {len(dead)} dead-lettered")
