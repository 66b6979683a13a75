"""Instruction counts with ``valgrind --tool=callgrind``: repeatable on a loaded machine.

A benchmark script is run twice under callgrind, once making ``calls`` calls and once making
none, with everything else the same; the difference divided by ``calls`` is the cost of one
call, start-up and imports cancelled out.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

_COLLECTED = re.compile(r"Collected\s*:\s*(\d+)")


def valgrind_missing() -> str | None:
    """Why instruction counts cannot be taken here, or ``None`` when they can."""
    if shutil.which("valgrind") is None:
        return "valgrind is not installed (apt-get install valgrind)"
    return None


def _total_instructions(argv: list[str]) -> int:
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise RuntimeError(valgrind_missing())
    with tempfile.TemporaryDirectory(prefix="webhook-kit-callgrind-") as directory:
        done = subprocess.run(
            [
                valgrind,
                "--tool=callgrind",
                f"--callgrind-out-file={Path(directory) / 'callgrind.out'}",
                sys.executable,
                *argv,
            ],
            capture_output=True,
            text=True,
            check=False,
            # One hash seed, so that both runs take the same paths through dicts and sets.
            env={**os.environ, "PYTHONHASHSEED": "0"},
        )
    if done.returncode != 0:
        raise RuntimeError(f"callgrind run failed ({done.returncode}):\n{done.stderr[-2000:]}")
    found = _COLLECTED.findall(done.stderr)
    if not found:
        raise RuntimeError(f"no 'Collected :' line in callgrind's output:\n{done.stderr[-2000:]}")
    return int(found[-1])


def instructions_per_call(script: str, name: str, calls: int) -> float:
    """Instructions of one call of ``name``: ``script --count NAME N`` for N=calls minus N=0."""
    with_calls = _total_instructions([script, "--count", name, str(calls)])
    without = _total_instructions([script, "--count", name, "0"])
    return (with_calls - without) / calls
