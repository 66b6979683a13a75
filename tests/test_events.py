"""`WebhookEvent`: the stored job — JSON round trip, masked repr, retryable statuses."""

from __future__ import annotations

import ipaddress
import json
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webhook_kit import InvalidInputError, SignatureFormat
from webhook_kit.events import DEFAULT_RETRY_STATUS_CODES, WebhookEvent
from webhook_kit.netguard import NetworkPolicy
from webhook_kit.retry import RetryPolicy

EVENT_ID = "3f0c6a1e-8c47-4d3c-9b0e-2f8f3a1b7c55"


def make_event(**changes: Any) -> WebhookEvent:
    event = WebhookEvent(
        id=EVENT_ID,
        event="order.created",
        target_url="https://example.com/hooks",
        body='{"order_id":42}',
        signature_format=SignatureFormat.HEX_SHA256_WITH_PREFIX,
        signature="sha256=" + "ab" * 32,
        created_at=1_700_000_000.0,
    )
    return replace(event, **changes)


def round_trip(event: WebhookEvent) -> WebhookEvent:
    text = event.to_json()
    assert isinstance(text, str)
    loaded = WebhookEvent.from_json(text)
    assert WebhookEvent.from_json(text.encode("utf-8")) == loaded
    return loaded


# --- JSON round trip -----------------------------------------------------------------------


@pytest.mark.parametrize("fmt", list(SignatureFormat))
def test_round_trip_for_every_format(fmt: SignatureFormat) -> None:
    signature = None if fmt.timestamped else "a-signature"
    event = make_event(signature_format=fmt, signature=signature)
    loaded = round_trip(event)
    assert loaded == event
    assert loaded.signature_format is fmt
    assert loaded.signature == signature


def test_round_trip_with_every_field_set() -> None:
    event = make_event(
        subscription_id="sub_123",
        body='{"name":"José ☃","n":[1,2,3]}',
        headers=(("X-Tenant-Id", "acme"), ("User-Agent", "my-app/1.0"), ("X-Empty", "")),
        timeout=12.5,
        connect_timeout=2.0,
        retry_status_codes=frozenset({409, 425}),
        retry_policy=RetryPolicy(max_attempts=3, base_delay=1.5, factor=3, max_delay=60, jitter=0),
        network=NetworkPolicy.from_networks(["10.0.0.0/8", "fd00::/8"]),
        created_at=1_700_000_123.25,
    )
    loaded = round_trip(event)
    assert loaded == event
    assert loaded.headers == event.headers  # order kept
    assert loaded.network.allowed_networks == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("fd00::/8"),
    )


@pytest.mark.parametrize(
    "network",
    [
        NetworkPolicy(),
        NetworkPolicy(allow_private=True),
        NetworkPolicy(allow_private=False),
        NetworkPolicy.from_networks(["192.168.0.0/16"]),
        NetworkPolicy.from_networks(["10.1.2.3/8", "::1/128"]),
    ],
    ids=repr,
)
def test_round_trip_of_network_policies(network: NetworkPolicy) -> None:
    assert round_trip(make_event(network=network)).network == network


def test_network_policy_json() -> None:
    assert NetworkPolicy().to_json() is False
    assert NetworkPolicy(allow_private=True).to_json() is True
    policy = NetworkPolicy.from_networks(["10.1.2.3/8", "fd00::/8"])
    assert policy.to_json() == ["10.0.0.0/8", "fd00::/8"]
    assert NetworkPolicy.from_json(policy.to_json()) == policy
    assert NetworkPolicy.from_json(True) == NetworkPolicy(allow_private=True)
    assert NetworkPolicy.from_json(False) == NetworkPolicy()
    assert NetworkPolicy.from_json([]) == NetworkPolicy()
    with pytest.raises(InvalidInputError):
        NetworkPolicy.from_json(["not-a-network"])


@given(
    body=st.text(),
    event_name=st.text(min_size=1, max_size=50),
    headers=st.lists(st.tuples(st.text(min_size=1), st.text()), max_size=5),
    codes=st.frozensets(st.integers(min_value=400, max_value=599)),
    created_at=st.floats(min_value=0, max_value=4e9) | st.integers(0, 2**32),
    fmt=st.sampled_from(list(SignatureFormat)),
    target_url=st.text(),
    subscription_id=st.none() | st.text(),
    signature=st.none() | st.text(),
)
def test_round_trip_of_arbitrary_events(
    body: str,
    event_name: str,
    headers: list[tuple[str, str]],
    codes: frozenset[int],
    created_at: float,
    fmt: SignatureFormat,
    target_url: str,
    subscription_id: str | None,
    signature: str | None,
) -> None:
    event = make_event(
        body=body,
        event=event_name,
        headers=tuple(headers),
        retry_status_codes=codes,
        created_at=created_at,
        signature_format=fmt,
        target_url=target_url,
        subscription_id=subscription_id,
        signature=signature,
    )
    assert round_trip(event) == event
    without_body = event.to_json(with_body=False)
    assert json.loads(without_body)["body"] == ""
    assert WebhookEvent.from_json(without_body, body=body) == event


def test_stored_form_is_versioned_json() -> None:
    data = json.loads(make_event().to_json())
    assert data["v"] == 1
    assert data["signature_format"] == "hex_sha256_with_prefix"
    assert data["network"] is False


# --- from_json refuses what it did not store -----------------------------------------------

STORED = json.loads(make_event().to_json())


@pytest.mark.parametrize(
    "text",
    ["garbage", "", "{", "{}", b"\xff\xfe", '{"v": 2}', '{"v": "1"}', '{"v": null}'],
    ids=repr,
)
def test_from_json_refuses_garbage(text: str | bytes) -> None:
    with pytest.raises(InvalidInputError):
        WebhookEvent.from_json(text)


@pytest.mark.parametrize("text", ["[]", "null", "5", '"text"', "[1, 2]"], ids=repr)
def test_from_json_refuses_json_that_is_not_an_object(text: str) -> None:
    # Was a bug: ``data.get("v")`` raises AttributeError (not InvalidInputError) on a non-object.
    with pytest.raises(InvalidInputError):
        WebhookEvent.from_json(text)


def test_from_json_refuses_another_version() -> None:
    with pytest.raises(InvalidInputError, match="version"):
        WebhookEvent.from_json(json.dumps({**STORED, "v": 2}))


@pytest.mark.parametrize("key", sorted(set(STORED) - {"v"}))
def test_from_json_refuses_a_missing_key(key: str) -> None:
    data = {name: value for name, value in STORED.items() if name != key}
    with pytest.raises(InvalidInputError):
        WebhookEvent.from_json(json.dumps(data))


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("signature_format", "md5"),
        ("headers", [["only-a-name"]]),
        ("headers", 5),
        ("timeout", "soon"),
        ("retry_status_codes", ["x"]),
        ("retry_policy", {"max_attempts": 0}),
        ("retry_policy", {"nope": 1}),
        ("retry_policy", []),
        ("network", ["not-a-network"]),
        ("network", 5),
        ("created_at", None),
    ],
    ids=repr,
)
def test_from_json_refuses_a_bad_value(key: str, value: object) -> None:
    with pytest.raises(InvalidInputError):
        WebhookEvent.from_json(json.dumps({**STORED, key: value}))


# --- repr and the retryable statuses -------------------------------------------------------


def test_repr_hides_credentials_query_and_body() -> None:
    event = make_event(
        target_url="https://alice:hunter2@example.com/hooks/in?token=tok-secret#frag",
        body='{"card":"4111111111111111"}',
    )
    text = repr(event)
    for hidden in ("alice", "hunter2", "tok-secret", "token", "4111111111111111", "frag"):
        assert hidden not in text
    assert "example.com/hooks/in" in text
    assert EVENT_ID in text
    assert "order.created" in text


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com?token=tok-secret",
        "https://alice:hunter2@example.com?token=tok-secret",
        "https://example.com:8443?token=tok-secret",
    ],
)
def test_repr_hides_the_query_of_a_url_without_a_path(url: str) -> None:
    # Was a bug: _masked splits the authority at the first "/", so without a path the query string
    # stays glued to the host and is printed in full.
    text = repr(make_event(target_url=url))
    assert "tok-secret" not in text
    assert "hunter2" not in text


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504, 599])
def test_default_retryable_statuses(status: int) -> None:
    assert make_event().is_retryable_status(status)


@pytest.mark.parametrize("status", [200, 204, 301, 302, 400, 401, 403, 404, 409, 410, 422, 600])
def test_other_statuses_are_not_retryable(status: int) -> None:
    assert not make_event().is_retryable_status(status)


def test_extra_retry_codes() -> None:
    event = make_event(retry_status_codes=frozenset({409, 425}))
    assert event.is_retryable_status(409)
    assert event.is_retryable_status(425)
    assert event.is_retryable_status(503)
    assert not event.is_retryable_status(404)
    assert frozenset({408, 429, *range(500, 600)}) == DEFAULT_RETRY_STATUS_CODES


def test_body_bytes_are_utf8() -> None:
    assert make_event(body='{"n":"é"}').body_bytes == '{"n":"é"}'.encode()
