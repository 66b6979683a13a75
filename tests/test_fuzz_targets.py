"""The fuzz harness (fuzz/): its targets report defects, and pass what is not one."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fuzz"))

import run as fuzz_run
import targets


def test_genuine_deliveries_verify_in_the_harness() -> None:
    targets.self_check()


@pytest.mark.parametrize("name", [name for name in targets.TARGETS if name.startswith("verify")])
def test_a_tampered_body_and_made_up_headers_are_rejected(name: str) -> None:
    target = targets.TARGETS[name]
    target(b"\x01\x05hello" + b"hellp")  # signed "hello", presented "hellp"
    target(b"\x00\x03\x00\x05v1,ab" + b"body")  # made-up headers


@pytest.mark.parametrize("name", [name for name in targets.TARGETS if name.startswith("verify")])
def test_an_accepted_forgery_is_a_finding(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def accepts_anything(body: bytes, *args: object, **kwargs: object) -> object:
        return object()  # what verify returns on success does not matter to the harness

    monkeypatch.setattr(targets, "verify", accepts_anything)
    with pytest.raises(targets.Finding, match="accepted a forgery"):
        targets.TARGETS[name](b"\x00\x00forged")


def test_an_undocumented_exception_is_a_finding(monkeypatch: pytest.MonkeyPatch) -> None:
    def breaks(*args: object, **kwargs: object) -> None:
        raise IndexError("out of range")

    monkeypatch.setattr(targets, "parse_retry_after", breaks)
    with pytest.raises(targets.Finding, match="IndexError"):
        targets.retry_after(b"120")


def test_the_hypothesis_engine_runs_a_target_for_its_time() -> None:
    count, finding = fuzz_run.fuzz_with_hypothesis("retry_after", 1)
    assert finding is None
    assert count > 100
