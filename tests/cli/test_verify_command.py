"""``webhook-kit verify``: a captured request on stdin, one verdict line, exit 0 / 1 / 2."""

from __future__ import annotations

import subprocess
import uuid

import pytest
from click.testing import CliRunner, Result
from hypothesis import given
from hypothesis import strategies as st

from webhook_kit import SignatureFormat, SignatureScheme
from webhook_kit.cli import verify_command  # noqa: F401  (registers the command)
from webhook_kit.cli.scheme_names import FORMAT_NAMES, PROVIDER_NAMES
from webhook_kit.cli.verify_command import MalformedRequestError, parse_request

from . import CLI, TIMEOUT, clean_env, cli_group

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # decodes for Standard Webhooks and Svix
BODY = b'{"order_id": 42, "note": "caf\xc3\xa9"}'
SENT_AT = 1_764_324_000  # 2025-11-28T10:00:00Z
DELIVERY_ID = "5f0e2a8c-3c39-4c55-9a8f-1a2b3c4d5e6f"


def verify_cli(
    args: list[str], stdin: bytes, *, env: dict[str, str | None] | None = None
) -> Result:
    """``webhook-kit verify ARGS < stdin``, in process."""
    environment: dict[str, str | None] = {"WEBHOOK_KIT_SECRET": None, "NO_COLOR": "1"}
    environment.update(env or {})
    return CliRunner().invoke(
        cli_group(), ["verify", *args], input=stdin, env=environment, prog_name="webhook-kit"
    )


def exit_line(result: Result, code: int) -> str:
    """The one line a failed ``verify`` printed (stdout for "invalid", an ``Error:`` line
    on stderr for bad input); anything else fails the test."""
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    if code == 1:
        lines = result.stdout.splitlines()
        assert len(lines) == 1, result.stdout
        return lines[0]
    assert result.stdout == ""
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def captured(
    headers: dict[str, str],
    body: bytes = BODY,
    *,
    newline: bytes = b"\r\n",
    request_line: bool = True,
    content_length: bool = True,
    trailing: bytes = b"",
) -> bytes:
    """A request as it went over the wire (what a capture file holds)."""
    lines = [b"POST /hooks HTTP/1.1"] if request_line else []
    lines.append(b"Host: receiver.example")
    lines.append(b"Content-Type: application/json")
    if content_length:
        lines.append(b"Content-Length: " + str(len(body)).encode())
    lines.extend(f"{name}: {value}".encode("latin-1") for name, value in headers.items())
    return newline.join(lines) + newline + newline + body + trailing


def signed_by(scheme: SignatureFormat | SignatureScheme, body: bytes = BODY) -> dict[str, str]:
    """The headers a sender of ``scheme`` puts on ``body``."""
    resolved = scheme.scheme if isinstance(scheme, SignatureFormat) else scheme
    headers = resolved.signature_headers(
        body, resolved.keys(SECRET), webhook_id=DELIVERY_ID, timestamp=SENT_AT
    )
    if isinstance(scheme, SignatureFormat):
        headers.setdefault("X-Webhook-Id", DELIVERY_ID)
        headers["X-Webhook-Event"] = "order.created"
    return headers


NOW = ["--now", str(SENT_AT + 5)]


@pytest.mark.parametrize("name", list(FORMAT_NAMES))
def test_each_own_format_verifies(name: str) -> None:
    result = verify_cli(
        ["--secret", SECRET, "--scheme", name, *NOW], captured(signed_by(FORMAT_NAMES[name]))
    )
    assert result.exit_code == 0, result.output
    timestamp = SENT_AT if FORMAT_NAMES[name].timestamped else "-"
    assert result.stdout == (
        f"valid: id={DELIVERY_ID} event=order.created timestamp={timestamp} "
        f"scheme=webhook-kit/{name}\n"
    )
    assert result.stderr == ""


@pytest.mark.parametrize("name", list(PROVIDER_NAMES))
def test_each_provider_verifies(name: str) -> None:
    scheme = PROVIDER_NAMES[name]
    result = verify_cli(["--secret", SECRET, "--scheme", name, *NOW], captured(signed_by(scheme)))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("valid: id=")
    assert result.stdout.endswith(f" scheme={scheme.name}\n")


def test_provider_names_may_be_prefixed_and_any_case() -> None:
    request = captured(signed_by(PROVIDER_NAMES["github"]))
    for name in ("provider:github", "GitHub", "PROVIDER:GITHUB"):
        assert verify_cli(["--secret", SECRET, "--scheme", name], request).exit_code == 0


def test_the_default_scheme_is_webhook_kits_own_sha256_prefix_format() -> None:
    request = captured(signed_by(SignatureFormat.HEX_SHA256_WITH_PREFIX))
    result = verify_cli(["--secret", SECRET], request)
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("newline", [b"\r\n", b"\n"], ids=["crlf", "lf"])
@pytest.mark.parametrize("request_line", [True, False], ids=["request-line", "headers-only"])
def test_line_endings_and_a_missing_request_line(newline: bytes, request_line: bool) -> None:
    request = captured(
        signed_by(SignatureFormat.HEX_SHA256_WITH_PREFIX),
        newline=newline,
        request_line=request_line,
    )
    assert verify_cli(["--secret", SECRET], request).exit_code == 0


def test_content_length_says_where_the_body_ends() -> None:
    # An editor's final line break after the body is not part of the request.
    request = captured(signed_by(SignatureFormat.HEX_SHA256_WITH_PREFIX), trailing=b"\n")
    assert verify_cli(["--secret", SECRET], request).exit_code == 0


def test_a_body_with_blank_lines_is_kept_whole() -> None:
    body = b"line one\r\n\r\nline three\n\n"
    headers = signed_by(SignatureFormat.HEX_SHA256, body)
    result = verify_cli(
        ["--secret", SECRET, "--scheme", "hex_sha256"],
        captured(headers, body, content_length=False),
    )
    assert result.exit_code == 0, result.output


def test_without_content_length_a_trailing_line_break_is_body_and_a_hint_says_so() -> None:
    request = captured(
        signed_by(SignatureFormat.HEX_SHA256_WITH_PREFIX), content_length=False, trailing=b"\n"
    )
    result = verify_cli(["--secret", SECRET], request)
    line = exit_line(result, 1)
    assert line == (
        "invalid: no_matching_signature: no signature in X-Webhook-Signature matches the body "
        "and secret"
    )
    assert "line break" in result.stderr
    assert result.stderr.startswith("hint: ")


def test_a_wrong_secret_is_invalid_with_the_reason() -> None:
    request = captured(signed_by(SignatureFormat.HEX_SHA256_WITH_PREFIX))
    result = verify_cli(["--secret", "not-the-secret"], request)
    assert exit_line(result, 1).startswith("invalid: no_matching_signature: ")
    assert result.stderr == ""  # the scheme was right: no hint


def test_a_tampered_body_is_invalid() -> None:
    headers = signed_by(SignatureFormat.HEX_SHA256_WITH_PREFIX)
    result = verify_cli(["--secret", SECRET], captured(headers, BODY.replace(b"42", b"43")))
    assert exit_line(result, 1).startswith("invalid: no_matching_signature: ")


def test_an_old_capture_fails_on_its_timestamp_and_the_hint_names_now() -> None:
    request = captured(signed_by(SignatureFormat.STANDARD_WEBHOOKS))
    result = verify_cli(["--secret", SECRET, "--scheme", "standard_webhooks"], request)
    assert exit_line(result, 1).startswith("invalid: timestamp_too_old: ")
    assert "--now" in result.stderr
    # The same capture checked at the time it was sent:
    args = ["--secret", SECRET, "--scheme", "standard_webhooks", "--now", str(SENT_AT)]
    assert verify_cli(args, request).exit_code == 0


def test_tolerance_is_applied() -> None:
    request = captured(signed_by(SignatureFormat.STRIPE))
    late = ["--secret", SECRET, "--scheme", "stripe", "--now", str(SENT_AT + 61)]
    assert exit_line(verify_cli([*late, "--tolerance", "60"], request), 1).startswith(
        "invalid: timestamp_too_old: "
    )
    assert verify_cli([*late, "--tolerance", "61"], request).exit_code == 0
    early = ["--secret", SECRET, "--scheme", "stripe", "--now", str(SENT_AT - 10)]
    assert exit_line(verify_cli([*early, "--tolerance", "0"], request), 1).startswith(
        "invalid: timestamp_in_future: "
    )


def test_stripe_alone_is_webhook_kits_format_and_the_hint_points_at_provider_stripe() -> None:
    # Stripe's own webhooks carry Stripe-Signature; webhook-kit's "stripe" format is read from
    # X-Webhook-Signature, as `send --format stripe` sends it.
    request = captured(signed_by(PROVIDER_NAMES["provider:stripe"]))
    result = verify_cli(["--secret", SECRET, "--scheme", "stripe", *NOW], request)
    assert exit_line(result, 1) == (
        "invalid: missing_header: header X-Webhook-Signature is missing"
    )
    assert result.stderr == "hint: the headers look like --scheme provider:stripe\n"
    fixed = verify_cli(["--secret", SECRET, "--scheme", "provider:stripe", *NOW], request)
    assert fixed.exit_code == 0


@pytest.mark.parametrize(
    ("signed_with", "told", "hinted"),
    [
        (SignatureFormat.HEX_SHA256, "hex_sha256_with_prefix", "hex_sha256"),
        (SignatureFormat.BASE64_SHA256, "hex_sha256", "base64_sha256"),
        (SignatureFormat.STRIPE, "hex_sha256_with_prefix", "stripe"),
        (SignatureFormat.STANDARD_WEBHOOKS, "stripe", "standard_webhooks"),
        (PROVIDER_NAMES["github"], "hex_sha256_with_prefix", "github"),
        (PROVIDER_NAMES["shopify"], "github", "shopify"),
        (PROVIDER_NAMES["slack"], "base64_sha256", "slack"),
        # Svix also sends the webhook-* headers: either preset verifies it.
        (PROVIDER_NAMES["svix"], "github", "standard-webhooks or --scheme svix"),
    ],
)
def test_a_wrong_scheme_gets_a_hint_at_the_right_one(
    signed_with: SignatureFormat | SignatureScheme, told: str, hinted: str
) -> None:
    request = captured(signed_by(signed_with))
    result = verify_cli(["--secret", SECRET, "--scheme", told, *NOW], request)
    exit_line(result, 1)
    assert result.stderr == f"hint: the headers look like --scheme {hinted}\n"


def test_the_secret_may_come_from_the_environment() -> None:
    request = captured(signed_by(SignatureFormat.HEX_SHA256_WITH_PREFIX))
    result = verify_cli([], request, env={"WEBHOOK_KIT_SECRET": SECRET})
    assert result.exit_code == 0, result.output


def test_hostile_header_values_are_printed_escaped() -> None:
    headers = signed_by(SignatureFormat.HEX_SHA256_WITH_PREFIX)
    headers["X-Webhook-Event"] = "order.created\x1b]0;pwned\x07"
    result = verify_cli(["--secret", SECRET], captured(headers))
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.stdout
    assert "\x07" not in result.stdout
    assert "event=order.created\\x1b]0;pwned\\x07 " in result.stdout


MALFORMED = {
    "empty": (b"", "stdin is empty"),
    "only-line-breaks": (b"\r\n\r\n", "stdin is empty"),
    "no-blank-line": (b"POST /hooks HTTP/1.1\r\nX-Webhook-Signature: sha256=00\r\n", "blank line"),
    "not-a-request-line": (b"hello there\r\n\r\n{}", "line 1 is neither a request line"),
    "bad-header-line": (b"POST / HTTP/1.1\nHost: x\nno colon here\n\n{}", "line 3: not a header"),
    "space-before-colon": (b"POST / HTTP/1.1\nHost : x\n\n{}", "line 2: not a header"),
    "folded-header": (b"POST / HTTP/1.1\nX-A: b\n  folded\n\n{}", "line 3: folded header"),
    "content-length-not-a-number": (
        b"POST / HTTP/1.1\nContent-Length: ten\n\n{}",
        "Content-Length is not a number",
    ),
    "content-length-negative": (
        b"POST / HTTP/1.1\nContent-Length: -1\n\n{}",
        "Content-Length is not a number",
    ),
    "body-shorter-than-content-length": (
        b"POST / HTTP/1.1\nContent-Length: 10\n\n{}",
        "the body has 2 bytes but Content-Length says 10",
    ),
    "conflicting-content-lengths": (
        b"POST / HTTP/1.1\nContent-Length: 2\nContent-Length: 3\n\n{}",
        "conflicting Content-Length",
    ),
    "chunked": (
        b"POST / HTTP/1.1\nTransfer-Encoding: chunked\n\n2\r\n{}\r\n0\r\n\r\n",
        "Transfer-Encoding",
    ),
    "binary": (b"\x00\xff\xfe\x1b[2J\n\n", "line 1 is neither"),
}


@pytest.mark.parametrize(("stdin", "expected"), MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_input_is_one_line_and_exit_2(stdin: bytes, expected: str) -> None:
    line = exit_line(verify_cli(["--secret", SECRET], stdin), 2)
    assert expected in line
    assert "\x1b" not in line


BAD_OPTIONS = {
    "no-secret": ([], "Missing option '--secret'"),
    "empty-secret": (["--secret", ""], "--secret"),
    "undecodable-whsec": (
        ["--secret", "whsec_!!not base64!!", "--scheme", "standard_webhooks"],
        "--secret",
    ),
    "unknown-scheme": (["--secret", SECRET, "--scheme", "sha1"], "'sha1' is not a scheme"),
    "negative-tolerance": (["--secret", SECRET, "--tolerance", "-1"], "--tolerance"),
    "nan-tolerance": (["--secret", SECRET, "--tolerance", "nan"], "--tolerance"),
    "infinite-tolerance": (["--secret", SECRET, "--tolerance", "inf"], "--tolerance"),
    "nan-now": (["--secret", SECRET, "--now", "nan"], "--now"),
    "negative-now": (["--secret", SECRET, "--now", "-5"], "--now"),
    "now-not-a-number": (["--secret", SECRET, "--now", "yesterday"], "--now"),
}


@pytest.mark.parametrize(("args", "expected"), BAD_OPTIONS.values(), ids=BAD_OPTIONS.keys())
def test_bad_options_are_usage_errors(args: list[str], expected: str) -> None:
    request = captured(signed_by(SignatureFormat.HEX_SHA256_WITH_PREFIX))
    assert expected in exit_line(verify_cli(args, request), 2)


def test_as_a_process_the_exit_codes_are_what_a_shell_sees() -> None:
    request = captured(signed_by(SignatureFormat.HEX_SHA256_WITH_PREFIX))

    def run(secret: str, stdin: bytes) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [*CLI, "verify", "--secret", secret],
            input=stdin,
            capture_output=True,
            env=clean_env(),
            timeout=TIMEOUT,
            check=False,
        )

    valid, invalid, malformed = run(SECRET, request), run("wrong", request), run(SECRET, b"x")
    assert (valid.returncode, invalid.returncode, malformed.returncode) == (0, 1, 2)
    assert valid.stdout.startswith(b"valid: ")
    assert invalid.stdout.startswith(b"invalid: no_matching_signature: ")
    for completed in (valid, invalid, malformed):
        assert b"Traceback" not in completed.stderr


# -- the parser ----------------------------------------------------------------------------

_TOKEN = st.text(
    alphabet="!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
    min_size=1,
    max_size=20,
).filter(lambda name: name.lower() not in ("content-length", "transfer-encoding"))
# Field values: visible latin-1 characters and inner spaces (no leading/trailing whitespace).
_VALUE = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0xFF, exclude_characters="\x7f"),
    max_size=40,
).map(lambda value: value.replace("~", " ").strip())


@given(
    headers=st.lists(st.tuples(_TOKEN, _VALUE), max_size=8),
    body=st.binary(max_size=200),
    newline=st.sampled_from([b"\r\n", b"\n"]),
    request_line=st.booleans(),
)
def test_parse_request_gives_back_what_was_written(
    headers: list[tuple[str, str]], body: bytes, newline: bytes, request_line: bool
) -> None:
    lines = [b"PUT /a/b?c=d HTTP/1.1"] if request_line or not headers else []
    lines += [f"{name}: {value}".encode("latin-1") for name, value in headers]
    lines.append(f"Content-Length: {len(body)}".encode())
    raw = newline.join(lines) + newline + newline + body + b"\r\n"
    request = parse_request(raw)
    assert request.body == body
    assert request.has_content_length
    written = [(name.lower(), value) for name, value in headers]
    assert [item for item in request.headers.items() if item[0] != "content-length"] == written
    if lines[0].startswith(b"PUT "):
        assert (request.method, request.target) == ("PUT", "/a/b?c=d")


@given(st.binary(max_size=300))
def test_parse_request_refuses_garbage_only_with_its_own_error(raw: bytes) -> None:
    refusal: MalformedRequestError | None = None
    try:
        parse_request(raw)
    except MalformedRequestError as exc:
        refusal = exc
    if refusal is not None:
        assert refusal.exit_code == 2
        assert "\n" not in refusal.message


def test_a_uuid_id_survives_the_round_trip() -> None:
    delivery_id = str(uuid.uuid4())
    request = parse_request(b"POST / HTTP/1.1\nX-Webhook-Id: " + delivery_id.encode() + b"\n\n")
    assert request.headers["x-webhook-id"] == delivery_id
    assert request.body == b""
