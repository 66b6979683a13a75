"""`Reply`, `Delay` and `Script`: scripted answers for `MockReceiver`, checked on their own."""

from __future__ import annotations

import math

import pytest

from webhook_kit import InvalidInputError
from webhook_kit.testing import Delay, Reply, Script, Step, Then


def play(script: Script, times: int) -> list[Step | None]:
    return [script.next_step() for _ in range(times)]


def test_steps_play_in_order_then_the_last_repeats_by_default() -> None:
    script = Script([503, 503, 200])
    assert play(script, 6) == [503, 503, 200, 200, 200, 200]
    assert script.played == 6


def test_then_fail_gives_none_after_the_last_step() -> None:
    script = Script([503, 200], then="fail")
    assert play(script, 4) == [503, 200, None, None]


@pytest.mark.parametrize("then", [204, Reply(410, body="gone")])
def test_then_a_status_or_a_reply_answers_every_later_request(then: Then) -> None:
    script = Script([503], then=then)
    assert play(script, 4) == [503, then, then, then]


def test_steps_may_mix_statuses_replies_and_delays() -> None:
    reply = Reply(429, headers={"Retry-After": "120"}, body="slow down")
    delay = Delay(5, then=Reply(201))
    script = Script([reply, delay, 200])
    assert play(script, 4) == [reply, delay, 200, 200]


def test_a_script_takes_any_iterable_once() -> None:
    script = Script(iter([500, 200]))
    assert script.steps == (500, 200)
    assert play(script, 3) == [500, 200, 200]


def test_reply_defaults_to_an_empty_200() -> None:
    reply = Reply()
    assert (reply.status, dict(reply.headers), reply.body) == (200, {}, b"")


def test_delay_defaults_to_answering_200() -> None:
    assert Delay(1.5).then == 200


def test_the_repr_shows_the_steps_and_then() -> None:
    assert repr(Script([503, 200], then="fail")) == "Script([503, 200], then='fail')"


@pytest.mark.parametrize(
    ("steps", "then"),
    [
        ([], "repeat_last"),
        ([99], "repeat_last"),
        ([600], "repeat_last"),
        ([True], "repeat_last"),
        (["200"], "repeat_last"),
        ([200.0], "repeat_last"),
        ([None], "repeat_last"),
        ([200], "repeat"),
        ([200], 700),
        ([200], False),
        ([200], None),
        ([200], 3.5),
    ],
)
def test_bad_scripts_are_refused_at_the_call(steps: list[object], then: object) -> None:
    with pytest.raises(InvalidInputError):
        Script(steps, then)  # type: ignore[arg-type]


@pytest.mark.parametrize("status", [0, 99, 600, True, "200", 200.0])
def test_a_reply_needs_a_real_status(status: object) -> None:
    with pytest.raises(InvalidInputError):
        Reply(status)  # type: ignore[arg-type]


@pytest.mark.parametrize("seconds", [-0.001, math.inf, math.nan, True, "1", None])
def test_a_delay_needs_finite_non_negative_seconds(seconds: object) -> None:
    with pytest.raises(InvalidInputError):
        Delay(seconds)  # type: ignore[arg-type]


@pytest.mark.parametrize("then", [99, 600, True])
def test_a_delay_needs_a_real_status_after_it(then: object) -> None:
    with pytest.raises(InvalidInputError):
        Delay(1, then)  # type: ignore[arg-type]


def test_replies_and_delays_are_values() -> None:
    assert Reply(503, body="x") == Reply(503, body="x")
    assert Delay(2, 201) == Delay(2, 201)
    assert Delay(0) != Delay(0, 204)
    with pytest.raises(AttributeError):
        Reply().status = 500  # type: ignore[misc]
