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


@pytest.mark.parametrize(
    "url", [b"\x00xn--zz/", b"\x00127.1/", b"\x00a\\@b/", b"\x01example.com/hooks", b"", b"\xff"]
)
def test_the_target_url_target_passes_refusals_and_plain_urls(url: bytes) -> None:
    targets.target_url(url)


def test_an_error_other_than_invalid_target_is_a_finding(monkeypatch: pytest.MonkeyPatch) -> None:
    # What check_target_url raised for http://xn--zz/ before: idna's own error.
    def idna_fails(url: str) -> str:
        raise UnicodeError("Invalid A-label")

    monkeypatch.setattr(targets, "check_target_url", idna_fails)
    with pytest.raises(targets.Finding, match="UnicodeError"):
        targets.target_url(b"\x00xn--zz/")


def test_stacks_that_read_an_accepted_url_apart_are_a_finding(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(targets, "_aiohttp_target", lambda url: ("elsewhere.example", 80))
    with pytest.raises(targets.Finding, match="aiohttp"):
        targets.target_url(b"\x01example.com/")


def test_the_hypothesis_engine_runs_the_target_url_target() -> None:
    count, finding = fuzz_run.fuzz_with_hypothesis("target_url", 1)
    assert finding is None
    assert count > 10


def test_the_url_masking_target_passes_urls_and_reports_a_leak(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    targets.url_masking(b"\x07http://\x0bexample.com\x05/hook trailing text")
    targets.url_masking(b"\x06HTTP:\\\x04host\x00")
    monkeypatch.setattr(targets, "masked_url", lambda url: url)
    with pytest.raises(targets.Finding, match="masked as"):
        targets.url_masking(b"\x07http://\x0bexample.com\x05/hook")


def test_the_new_targets_pass_ordinary_input() -> None:
    targets.secret_decoding(b"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    targets.secret_decoding(b"not base64!")
    targets.header_lookup(b"\x00\x03\x01\x02\x00\x00")
    targets.v1a_entries(b"\x05" + b"\x40" + b"\x00" * 64 + b"\x00" * 8 + b"body")


def test_a_secret_decoded_unlike_the_official_libraries_is_a_finding(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from webhook_kit.keys import KeySet

    monkeypatch.setattr(targets, "resolve_keys", lambda secret, decode: KeySet((b"as text",)))
    with pytest.raises(targets.Finding, match="decoded to"):
        targets.secret_decoding(b"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")


def test_a_unicode_folding_header_lookup_is_a_finding(monkeypatch: pytest.MonkeyPatch) -> None:
    def folds(headers: dict[str, str], name: str) -> str | None:
        return next((v for k, v in headers.items() if k.lower() == name.lower()), None)

    monkeypatch.setattr(targets, "find_header", folds)
    pick, wanted = next((i, n) for i, n in enumerate(targets.HEADER_NAMES) if "k" in n.lower())
    at = wanted.lower().index("k")  # where the Kelvin sign goes
    # the wanted name; one header: no text, shape 2 (lookalike) at `at`, lookalike 0, as given
    data = bytes([pick, 1, 0, 2, at, 0, 0])
    with pytest.raises(targets.Finding, match="find_header"):
        targets.header_lookup(data)


def test_v1a_entries_over_the_budget_are_a_finding(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(targets, "MAX_ED25519_CHECKS", 0)
    entry = b"\x40" + bytes(64) + b"\x00"  # a 64-byte chunk, shape 0 (v1a, 64 bytes)
    with pytest.raises(targets.Finding, match="Ed25519 checks"):
        targets.v1a_entries(b"\x01" + entry + b"body")
