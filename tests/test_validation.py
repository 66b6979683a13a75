"""Checks on user input: target URLs, headers, event names, status codes, payloads."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webhook_kit import InvalidInputError, InvalidPayloadError
from webhook_kit.validation import (
    RESERVED_HEADERS,
    InvalidHeaderError,
    InvalidTargetError,
    check_event_name,
    check_header,
    check_status_codes,
    check_target_url,
    check_timeout,
    serialise_payload,
)

# --- target URLs ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com",
        "https://example.com/hooks",
        "https://example.com:8443/hooks?tenant=1",
        "http://127.0.0.1:8000/",
        "http://[::1]:8080/x",
        "https://[2001:db8::1]/hook",
        "https://user:pw@example.com/h",
        "HTTPS://EXAMPLE.COM/",
    ],
)
def test_accepts_absolute_http_urls(url: str) -> None:
    assert check_target_url(url) == url


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/file",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "ws://example.com/",
        "/relative/path",
        "example.com/hooks",
        "//example.com/hooks",
        "http://",
        "http:///path",
        "https://",
        "",
        " https://example.com/",
        "https://example.com/ ",
        "https://exa mple.com/",
        "https://example.com/a b",
        "https://example.com/\r\nX-Injected: 1",
        "https://example.com/\n",
        "https://example.com/\x00",
        "https://example.com/\t",
        "https://exa\tmple.com/",
        "https://example.com/\x7f",
    ],
    ids=repr,
)
def test_refuses_other_urls(url: str) -> None:
    with pytest.raises(InvalidTargetError) as info:
        check_target_url(url)
    assert isinstance(info.value, InvalidInputError)


@pytest.mark.parametrize("url", [None, b"https://example.com/", 42, ["https://example.com/"]])
def test_refuses_non_strings(url: object) -> None:
    with pytest.raises(InvalidTargetError):
        check_target_url(url)  # type: ignore[arg-type]


# --- headers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("X-Tenant-Id", "acme"),
        ("User-Agent", "my-app/1.0"),
        ("user-agent", "my-app/1.0"),
        ("Authorization", "Bearer abc.def"),
        ("X-Empty", ""),
        ("X-Tab", "a\tb"),
        ("X-Weird_Token!#$%&'*+.^`|~", "ok"),
    ],
)
def test_accepts_safe_headers(name: str, value: str) -> None:
    assert check_header(name, value) == (name, value)


@pytest.mark.parametrize(
    "value",
    [
        "a\r\nX-Injected: 1",
        "a\rb",
        "a\nb",
        "a\x00b",
        "a\x01b",
        "a\x7fb",
        "caf\u00e9",
        "\u2603",
        " leading",
        "trailing ",
        "x" * 4097,
    ],
    ids=repr,
)
def test_refuses_unsafe_values(value: str) -> None:
    with pytest.raises(InvalidHeaderError):
        check_header("X-Custom", value)


@pytest.mark.parametrize(
    "name",
    ["Bad Header", "X:Y", "", "X-Ünicode", "X\r\nY", "X(Y)", "X/Y", "X@Y", "X\tY"],
    ids=repr,
)
def test_refuses_invalid_names(name: str) -> None:
    with pytest.raises(InvalidHeaderError):
        check_header(name, "value")


@pytest.mark.parametrize(
    "name",
    [
        "Content-Type",
        "content-type",
        "CONTENT-TYPE",
        "Content-Length",
        "Transfer-Encoding",
        "Host",
        "Connection",
        "X-Webhook-Id",
        "x-webhook-id",
        "X-WEBHOOK-EVENT",
        "X-Webhook-Signature",
        "webhook-id",
        "Webhook-Timestamp",
        "webhook-signature",
        "WEBHOOK-SIGNATURE",
    ],
)
def test_refuses_reserved_names_in_any_case(name: str) -> None:
    assert name.lower() in RESERVED_HEADERS
    with pytest.raises(InvalidHeaderError):
        check_header(name, "value")


def test_user_agent_is_not_reserved() -> None:
    assert "user-agent" not in RESERVED_HEADERS


@pytest.mark.parametrize(
    ("name", "value"), [(None, "v"), (b"X-A", "v"), ("X-A", None), ("X-A", 1)]
)
def test_refuses_non_string_headers(name: object, value: object) -> None:
    with pytest.raises(InvalidHeaderError):
        check_header(name, value)  # type: ignore[arg-type]


# --- event names ---------------------------------------------------------------------------


@pytest.mark.parametrize("event", ["order.created", "a", "x" * 200, "user:deleted/v2"])
def test_accepts_event_names(event: str) -> None:
    assert check_event_name(event) == event


@pytest.mark.parametrize(
    "event",
    [
        "",
        "  ",
        " order.created",
        "order.created ",
        "order\ncreated",
        "order\r\ncreated",
        "order\x00created",
        "order\x1bcreated",
        "order\x7fcreated",
        "caf\u00e9",
        "x" * 201,
    ],
    ids=repr,
)
def test_refuses_bad_event_names(event: str) -> None:
    with pytest.raises(InvalidInputError):
        check_event_name(event)


def test_refuses_a_tab_in_an_event_name() -> None:
    # Was a bug: the control-character check skips HT (\x09), so "order\tcreated" passes although
    # the docstring and the error message promise printable ASCII.
    with pytest.raises(InvalidInputError):
        check_event_name("order\tcreated")


@pytest.mark.parametrize("event", [None, 5, b"order.created"])
def test_refuses_non_string_event_names(event: object) -> None:
    with pytest.raises(InvalidInputError):
        check_event_name(event)  # type: ignore[arg-type]


# --- timeouts and status codes -------------------------------------------------------------


@pytest.mark.parametrize(("seconds", "expected"), [(1, 1.0), (0.25, 0.25), (30.0, 30.0)])
def test_accepts_timeouts(seconds: float, expected: float) -> None:
    result = check_timeout(seconds)
    assert result == expected
    assert isinstance(result, float)


@pytest.mark.parametrize("seconds", [0, -1, math.nan, math.inf, True, "5", None])
def test_refuses_timeouts(seconds: object) -> None:
    with pytest.raises(InvalidInputError):
        check_timeout(seconds)  # type: ignore[arg-type]


def test_accepts_error_status_codes() -> None:
    assert check_status_codes([409, 425, 400, 599, 409]) == frozenset({400, 409, 425, 599})
    assert check_status_codes([]) == frozenset()
    assert check_status_codes(iter([423])) == frozenset({423})


@pytest.mark.parametrize(
    "codes", [[200], [302], [600], [399], [True], ["500"], [409, 500.0], [None]], ids=repr
)
def test_refuses_other_status_codes(codes: list[Any]) -> None:
    with pytest.raises(InvalidInputError):
        check_status_codes(codes)


def test_refuses_a_string_of_codes() -> None:
    with pytest.raises(InvalidInputError):
        check_status_codes("500")  # type: ignore[arg-type]


# --- payloads ------------------------------------------------------------------------------


def test_serialises_compact_json() -> None:
    payload = {"order_id": 42, "items": [1, 2, {"sku": "a b"}], "total": 9.5, "ok": True}
    text = serialise_payload(payload)
    assert text == '{"order_id":42,"items":[1,2,{"sku":"a b"}],"total":9.5,"ok":true}'
    assert json.loads(text) == payload


def test_keeps_non_ascii_as_is() -> None:
    assert serialise_payload({"name": "José ☃"}) == '{"name":"José ☃"}'


@pytest.mark.parametrize("payload", [None, 0, "text", [], {}, [None, False]], ids=repr)
def test_serialises_any_json_value(payload: Any) -> None:
    assert json.loads(serialise_payload(payload)) == payload


def _cyclic_list() -> list[Any]:
    items: list[Any] = []
    items.append(items)
    return items


def _deep_list() -> list[Any]:
    items: list[Any] = []
    for _ in range(100_000):
        items = [items]
    return items


@pytest.mark.parametrize(
    "payload",
    [
        {1, 2},
        b"bytes",
        object(),
        math.nan,
        math.inf,
        -math.inf,
        {"x": [math.nan]},
        {("tuple", "key"): 1},
        _cyclic_list(),
        _deep_list(),
    ],
    ids=[
        "set",
        "bytes",
        "object",
        "nan",
        "inf",
        "-inf",
        "nested-nan",
        "tuple-key",
        "cycle",
        "deep",
    ],
)
def test_refuses_what_is_not_json(payload: Any) -> None:
    with pytest.raises(InvalidPayloadError):
        serialise_payload(payload)


@pytest.mark.parametrize("payload", ["\ud800", {"note": "a\udfffb"}], ids=repr)
def test_refuses_lone_surrogates(payload: Any) -> None:
    # Was a bug: ensure_ascii=False lets a lone surrogate through; the body then cannot be encoded
    # as UTF-8 when it is signed or sent.
    with pytest.raises(InvalidPayloadError):
        serialise_payload(payload)


@given(
    payload=st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(),
        lambda children: st.lists(children) | st.dictionaries(st.text(), children),
        max_leaves=20,
    )
)
def test_serialised_json_round_trips_and_encodes(payload: Any) -> None:
    text = serialise_payload(payload)
    assert json.loads(text) == payload
    text.encode("utf-8")  # every body is sent as UTF-8


@pytest.mark.parametrize("url", ["example.com/hooks", "/relative/path", "//example.com/hooks"])
def test_a_url_without_a_scheme_is_asked_to_be_a_full_url(url: str) -> None:
    with pytest.raises(InvalidTargetError) as caught:
        check_target_url(url)
    assert str(caught.value) == "the target URL must be a full URL with http:// or https://"


_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5)
)
_ANY_KEYS = st.text(max_size=3) | st.integers(-3, 3) | st.booleans() | st.none() | st.floats(-2, 2)


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    assert len(keys) == len(set(keys)), f"a body with duplicate keys: {keys}"
    return dict(pairs)


@given(
    payload=st.recursive(
        _SCALARS,
        lambda children: (
            st.lists(children, max_size=3) | st.dictionaries(_ANY_KEYS, children, max_size=4)
        ),
        max_leaves=12,
    )
)
def test_no_body_has_duplicate_keys(payload: Any) -> None:
    # Whatever keys a payload has, a body either reads back as the payload itself (every key a
    # string, none repeated) or is refused.
    if _has_a_key_that_is_not_a_string(payload):
        with pytest.raises(InvalidPayloadError, match="keys must be strings"):
            serialise_payload(payload)
        return
    text = serialise_payload(payload)
    assert json.loads(text, object_pairs_hook=_no_duplicate_keys) == payload


def _has_a_key_that_is_not_a_string(value: Any) -> bool:
    if isinstance(value, dict):
        return any(
            not isinstance(key, str) or _has_a_key_that_is_not_a_string(item)
            for key, item in value.items()
        )
    if isinstance(value, list):
        return any(_has_a_key_that_is_not_a_string(item) for item in value)
    return False


@pytest.mark.parametrize(
    "payload",
    [{1: "a", "1": "b"}, {True: 1}, {None: 1}, {1.5: 1}, {"a": [{"b": {0: 1}}]}, [[{2: 3}]]],
    ids=["int-and-str", "bool", "none", "float", "nested", "in-lists"],
)
def test_refuses_keys_that_are_not_strings(payload: Any) -> None:
    with pytest.raises(InvalidPayloadError, match="keys must be strings"):
        serialise_payload(payload)


def test_a_cap_counts_utf8_bytes_and_names_both_sizes() -> None:
    assert serialise_payload(["€"], max_bytes=7) == '["€"]'  # 3 + 4 bytes
    with pytest.raises(InvalidPayloadError, match=r"is 7 bytes as JSON, over the cap of 6 bytes"):
        serialise_payload(["€"], max_bytes=6)
