"""Import cost: what a receiver pays at every cold start, against ``import standardwebhooks``.

Each contender is a fresh interpreter (``python -c ...``), run many times, interleaved, so that
machine noise hits all alike; the figure is the median wall time above a bare interpreter's.
Then ``python -X importtime`` names the modules that still cost the most.

Target (issue 12): ``from webhook_kit import verify`` within 2x of ``import standardwebhooks``.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone

RUNS = 41
TARGET = 2.0

BARE = "bare interpreter (pass)"
OURS = "from webhook_kit import verify"
CONTENDERS: dict[str, str] = {
    BARE: "pass",
    OURS: "from webhook_kit import verify",
    "from webhook_kit import verify_signature": "from webhook_kit import verify_signature",
    "import standardwebhooks": "import standardwebhooks",
    "import svix.webhooks": "import svix.webhooks",
    "import webhook_kit, WebhookSubscription (sending)": (
        "from webhook_kit import WebhookSubscription, Worker, SQLiteQueue"
    ),
}
PEER = "import standardwebhooks"


def _run_once(code: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - started


def _medians(runs: int) -> dict[str, float]:
    for code in CONTENDERS.values():  # warm the OS file cache and the .pyc files
        _run_once(code)
    samples: dict[str, list[float]] = {name: [] for name in CONTENDERS}
    for _ in range(runs):
        for name, code in CONTENDERS.items():
            samples[name].append(_run_once(code))
    return {name: statistics.median(values) for name, values in samples.items()}


def _heaviest_imports(code: str, count: int = 10) -> list[tuple[int, int, str]]:
    """``(cumulative µs, self µs, module)`` of the costliest imports, from ``-X importtime``.

    Module names keep their indentation: it shows which import pulled which.
    """
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        check=True,
    )
    rows: list[tuple[int, int, str]] = []
    for line in done.stderr.splitlines():
        fields = line.removeprefix("import time:").split("|")
        if len(fields) != 3 or not fields[0].strip().isdigit():
            continue  # the header line, or not importtime's
        rows.append((int(fields[1]), int(fields[0]), fields[2].rstrip()))
    return sorted(rows, reverse=True)[:count]


def main() -> None:
    medians = _medians(RUNS)
    bare = medians[BARE]
    peer = medians[PEER] - bare
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    print(f"\n== import: fresh interpreter, median of {RUNS} interleaved runs ({started}) ==")
    print(f"{'contender':<52} {'ms':>8} {'ms above bare':>14} {'x ' + PEER:>26}")
    for name, seconds in medians.items():
        above = seconds - bare
        ratio = f"{above / peer:.2f}x" if name != BARE else ""
        print(f"{name:<52} {seconds * 1e3:>8.1f} {above * 1e3:>14.1f} {ratio:>26}")
    ratio = (medians[OURS] - bare) / peer
    verdict = "meets" if ratio <= TARGET else "MISSES"
    print(f"target: {OURS} <= {TARGET}x {PEER}: {ratio:.2f}x, {verdict}")
    print(f"heaviest top-level imports of '{OURS}' (python -X importtime, one run):")
    for cumulative, own, module in _heaviest_imports(CONTENDERS[OURS]):
        print(f"  {module:<44} {cumulative / 1e3:>7.1f} ms (own {own / 1e3:.1f} ms)")


if __name__ == "__main__":
    main()
