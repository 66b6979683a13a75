"""Run every benchmark and print its figures as ratios (``nox -s bench``).

Usage: ``python bench/run.py [NAME ...]`` where NAME is one of the benchmark modules' names.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import delivery_bench
import ed25519_bench
import fairness_bench
import health_bench
import import_bench
import memory_bench
import postgres_bench
import sqlite_bench
import testing_bench
import verify_bench

BENCHMARKS: dict[str, Callable[[], None]] = {
    "import": import_bench.main,
    "verify": verify_bench.main,
    "ed25519": ed25519_bench.main,
    "delivery": delivery_bench.main,
    "testing": testing_bench.main,
    "sqlite": sqlite_bench.main,
    "health": health_bench.main,
    "fairness": fairness_bench.main,
    "memory": memory_bench.main,
    "postgres": postgres_bench.main,
}


def main(argv: list[str]) -> int:
    names = argv or list(BENCHMARKS)
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
        return 2
    for name in names:
        BENCHMARKS[name]()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
