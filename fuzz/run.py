"""Fuzz every target for a fixed time each and print what ran and what was found (``nox -s fuzz``).

Usage: ``python fuzz/run.py [--seconds S] [--engine atheris|hypothesis] [TARGET ...]``

atheris (coverage-guided libFuzzer) is used where it is installed, each target in a process of
its own; otherwise Hypothesis generates inputs for the same time. Exits 1 on any finding.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def _have_atheris() -> bool:
    try:
        import atheris  # noqa: F401
    except ImportError:
        return False
    return True


def run_atheris_child(target_name: str, seconds: int) -> None:
    """In a child process: fuzz one target with coverage from webhook-kit's own code."""
    import atheris

    with atheris.instrument_imports(include=["webhook_kit"]):
        import targets

    target = targets.TARGETS[target_name]
    atheris.Setup(
        [sys.argv[0], f"-max_total_time={seconds}", "-print_final_stats=1", "-rss_limit_mb=2048"],
        target,
    )
    atheris.Fuzz()


def fuzz_with_atheris(name: str, seconds: int) -> tuple[int, str | None]:
    completed = subprocess.run(
        [sys.executable, __file__, "--atheris-child", name, "--seconds", str(seconds)],
        capture_output=True,
        text=True,
        check=False,
        timeout=seconds + 120,
    )
    output = completed.stdout + completed.stderr
    runs = re.search(r"stat::number_of_executed_units:\s*(\d+)", output)
    count = int(runs.group(1)) if runs else 0
    if completed.returncode != 0:
        finding = re.search(r"(Finding: .*|=== Uncaught Python exception: ===\n.*)", output)
        return count, finding.group(0) if finding else output[-2000:]
    return count, None


def fuzz_with_hypothesis(name: str, seconds: int) -> tuple[int, str | None]:
    import targets
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    target = targets.TARGETS[name]
    count = 0

    @settings(
        max_examples=5_000,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.binary(max_size=1024))
    def check(data: bytes) -> None:
        nonlocal count
        count += 1
        target(data)

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            check()
        except targets.Finding as finding:
            return count, f"Finding: {finding}"
    return count, None


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("targets", nargs="*")
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--engine", choices=["atheris", "hypothesis"])
    parser.add_argument("--atheris-child", help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.atheris_child:
        run_atheris_child(options.atheris_child, options.seconds)
        return 0

    import targets

    targets.self_check()
    names = options.targets or list(targets.TARGETS)
    unknown = sorted(set(names) - set(targets.TARGETS))
    if unknown:
        parser.error(f"unknown target(s) {unknown}; known: {list(targets.TARGETS)}")
    engine = options.engine or ("atheris" if _have_atheris() else "hypothesis")
    fuzz = fuzz_with_atheris if engine == "atheris" else fuzz_with_hypothesis
    print(f"== fuzzing with {engine}, {options.seconds} s per target ==")
    findings = 0
    total = 0
    for name in names:
        count, finding = fuzz(name, options.seconds)
        total += count
        verdict = "no findings" if finding is None else f"FINDING: {finding}"
        print(f"{name:32} {count:>12,} inputs  {verdict}")
        findings += finding is not None
    print(f"{len(names)} targets, {total:,} inputs, {findings} with findings")
    return 1 if findings else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
