"""`Delivery`: one request a `MockReceiver` received, and how it answered."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import Headers

__all__ = ["Delivery"]


@dataclass(frozen=True, slots=True)
class Delivery:
    """One request received by a `MockReceiver`.

    Attributes:
        id: the ``X-Webhook-Id`` (or ``webhook-id``) header, if any.
        event: the ``X-Webhook-Event`` header, if any.
        method: the HTTP method.
        path: the request path.
        headers: the request headers (case-insensitive).
        body: the raw body.
        received_at: when it arrived, on the receiver's clock (virtual under ``fake_queue``).
        status: the status answered, or ``None`` when the sender timed out first.
        response_headers: the headers answered.
        verified: ``True``/``False`` when the receiver checks signatures
            (``expect_signature``), ``None`` when it does not.
        verification_error: why verification failed, if it did.
    """

    id: str | None
    event: str | None
    method: str
    path: str
    headers: Headers
    body: bytes
    received_at: float
    status: int | None
    response_headers: dict[str, str]
    verified: bool | None
    verification_error: str | None

    @property
    def delivered(self) -> bool:
        """Whether it was answered with a 2xx (so the sender counts it as delivered)."""
        return self.status is not None and 200 <= self.status < 300

    @property
    def timed_out(self) -> bool:
        """Whether the sender gave up before the scripted answer (a delay past its timeout)."""
        return self.status is None

    def json(self) -> Any:
        """The body decoded as JSON (raises ``ValueError`` if it is not JSON)."""
        return json.loads(self.body)

    def summary(self) -> str:
        """One line for reports: time, event, id, status, verification."""
        verdict = {True: "signature ok", False: "SIGNATURE FAILED", None: "unverified"}
        answered = "timed out" if self.status is None else str(self.status)
        return (
            f"t={self.received_at:.3f} {self.method} {self.path} event={self.event!r} "
            f"id={self.id!r} -> {answered}, {verdict[self.verified]}, body={_excerpt(self.body)}"
        )


def _excerpt(body: bytes, limit: int = 120) -> str:
    text = body.decode("utf-8", "replace")
    return repr(text if len(text) <= limit else text[:limit] + "…")
