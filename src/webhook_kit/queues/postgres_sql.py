"""The SQL text of the PostgreSQL queue, in one place (a MySQL dialect can mirror it).

Every statement is built once per queue by `Statements`, for one schema and one time source:

- ``{now}``: the queue's current time. On the database's clock it is the server's
  ``statement_timestamp()``; on the caller's clock it is the ``now`` parameter.
- `Statements.given`: a time handed in by the caller (a retry's ``at``, ``not_before``). On the
  database's clock the caller passes its distance from its own clock, added to the server's now.
- `Statements.back`: a stored time handed back. On the database's clock it is its distance from
  the server's now, which the caller adds to its own clock.

So a worker whose clock is off by a minute compares nothing against its own clock.
"""

# The only text formatted into these statements is the schema name, checked by
# `quoted_schema` to be a plain identifier, and fragments built here: values are parameters.
# ruff: noqa: S608

from __future__ import annotations

import re

from ..errors import InvalidInputError
from .postgres_claim_sql import ClaimStatements

__all__ = ["CHANNEL_SUFFIX", "Statements", "quoted_schema"]

CHANNEL_SUFFIX = "_work"
"""The LISTEN/NOTIFY channel of a schema is its name with this suffix."""

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,57}")
_SERVER_NOW = "extract(epoch from statement_timestamp())::float8"


def quoted_schema(schema: str) -> str:
    """``schema`` as a quoted SQL identifier; only plain names are accepted.

    Raises:
        InvalidInputError: ``schema`` is not letters, digits and underscores (at most 58).
    """
    if not isinstance(schema, str) or _IDENTIFIER.fullmatch(schema) is None:
        raise InvalidInputError(
            f"schema must be a plain identifier (letters, digits, _), not {schema!r}"
        )
    return f'"{schema}"'


class Statements:
    """Every statement the queue runs, for one schema and time source."""

    def __init__(self, schema: str, *, database_time: bool) -> None:
        s = quoted_schema(schema)
        self.channel = schema + CHANNEL_SUFFIX
        self.database_time = database_time
        now = _SERVER_NOW if database_time else "%(now)s::float8"
        self.now = now

        def given(param: str) -> str:
            return f"({now} + %({param})s::float8)" if database_time else f"%({param})s::float8"

        def back(expr: str) -> str:
            return f"(({expr}) - {now})" if database_time else f"({expr})"

        self.given = given
        self.back = back
        notify = f"pg_notify('{self.channel}', '')"
        # Claims and outcomes commit without waiting for the WAL flush (for this transaction
        # only): one a server crash loses is a delivery attempted again — at least once, as
        # every lease that runs out — never a delivery lost. An enqueue waits for it: dispatch
        # returns once the delivery is durable.
        relaxed = "(SELECT set_config('synchronous_commit', 'off', true))"

        self.enqueue = f"""
            WITH inserted AS (
                INSERT INTO {s}.jobs (id, state, due, timeout, created_at, target_url, endpoint,
                                      body, event_json)
                VALUES (%(id)s, 'pending', {given("due")}, %(timeout)s, %(created_at)s,
                        %(target_url)s, %(endpoint)s, %(body)s, %(event_json)s)
                ON CONFLICT (id) DO NOTHING
                RETURNING 1
            )
            SELECT {notify} FROM inserted
        """

        # The claim statements (a plain round and a fair round) are in `postgres_claim_sql`.
        claims = ClaimStatements(s, now, back, relaxed)
        self.claim = claims.plain
        self.claim_fair = claims.fair

        # Every endpoint with pending jobs and the due date of its earliest: a skip-scan of the
        # (endpoint, due) index, one lookup per endpoint however many jobs each has (what
        # `next_due` leaves held endpoints out of).
        head = f"SELECT min(due) FROM {s}.jobs WHERE state = 'pending' AND endpoint = e2.endpoint"
        self.endpoint_heads = f"""
            WITH RECURSIVE endpoints(endpoint) AS (
                SELECT (SELECT min(endpoint) FROM {s}.jobs WHERE state = 'pending')
                UNION ALL
                SELECT (SELECT min(endpoint) FROM {s}.jobs
                        WHERE state = 'pending' AND endpoint > e.endpoint)
                FROM endpoints AS e WHERE e.endpoint IS NOT NULL
            )
            SELECT endpoint,
                   {back(f"({head})")}
            FROM endpoints AS e2 WHERE endpoint IS NOT NULL
        """

        # A batch of outcomes in one statement: jobs updated where the lease still holds, an
        # attempt and (for a dead letter) a dead letter for each of those, and a notification
        # when a retry went back to pending. The batch is one JSON array (`batch_parameters`):
        # one C-encoded parameter instead of fourteen arrays dumped value by value.
        self.outcomes = f"""
            WITH batch AS (
                SELECT * FROM json_to_recordset(%(batch)s::json) AS b(
                    position int4, id text, token int8, state text, due float8, attempt int4,
                    started_at float8, status int4, error text, latency float8, excerpt text,
                    outcome text, reason text, gone bool, claim_attempt int4
                )
            ), updated AS (
                UPDATE {s}.jobs j SET
                    state = b.state,
                    due = CASE WHEN b.state = 'pending' THEN {
            given_column("b.due", now, database_time)
        }
                               ELSE j.due END,
                    finished_at = CASE WHEN b.state = 'pending' THEN NULL ELSE {now} END,
                    lease_token = NULL
                FROM batch b
                WHERE j.id = b.id AND j.state = 'in_flight' AND j.lease_token = b.token
                RETURNING j.id
            ), attempts AS (
                INSERT INTO {s}.attempts (delivery_id, attempt, started_at, status, error,
                                          latency, response_excerpt, outcome)
                SELECT b.id, b.attempt, b.started_at, b.status, b.error, b.latency, b.excerpt,
                       b.outcome
                FROM batch b JOIN updated u ON u.id = b.id ORDER BY b.position
            ), dead AS (
                INSERT INTO {s}.dead_letters (delivery_id, reason, gone, attempts, dead_at,
                                              last_status, last_error, response_excerpt)
                SELECT b.id, b.reason, b.gone, b.claim_attempt, {now}, b.status, b.error,
                       b.excerpt
                FROM batch b JOIN updated u ON u.id = b.id WHERE b.state = 'dead'
                ON CONFLICT (delivery_id) DO UPDATE SET
                    reason = excluded.reason, gone = excluded.gone,
                    attempts = excluded.attempts, dead_at = excluded.dead_at,
                    last_status = excluded.last_status, last_error = excluded.last_error,
                    response_excerpt = excluded.response_excerpt
            ), notified AS (
                SELECT {notify} FROM batch b JOIN updated u ON u.id = b.id
                WHERE b.state = 'pending' LIMIT 1
            )
            SELECT u.id FROM updated u WHERE {relaxed} IS NOT NULL
            UNION ALL
            SELECT NULL FROM notified
        """

        self.release = f"""
            WITH released AS (
                UPDATE {s}.jobs SET state = 'pending', attempts = attempts - 1,
                    due = {given("due")}, lease_token = NULL
                WHERE id = %(id)s AND state = 'in_flight' AND lease_token = %(token)s
                RETURNING 1
            )
            SELECT {notify} FROM released
        """

        self.next_attempt_due = f"SELECT {back('min(due)')} FROM {s}.jobs WHERE state = 'pending'"
        pending_head = f"(SELECT min(due) FROM {s}.jobs WHERE state = 'pending')"
        lease_end = f"(SELECT min(due) FROM {s}.jobs WHERE state = 'in_flight')"
        self.next_due = f"SELECT {back(pending_head)}, {back(lease_end)}"
        self.next_lease_end = f"SELECT {back('min(due)')} FROM {s}.jobs WHERE state = 'in_flight'"

        self.list_dead_letters = f"""
            SELECT j.id, j.body, j.event_json, d.reason, d.gone, d.attempts,
                   {back("d.dead_at")}, d.last_status, d.last_error, d.response_excerpt
            FROM {s}.dead_letters d JOIN {s}.jobs j ON j.id = d.delivery_id
            ORDER BY d.dead_at, d.seq
        """

        redrive_tail = f"""
            ), redriven AS (
                UPDATE {s}.jobs j SET state = 'pending', attempts = 0, due = {now},
                    finished_at = NULL, lease_token = NULL
                FROM removed r WHERE j.id = r.delivery_id
                RETURNING j.id
            ), notified AS (
                SELECT {notify} FROM redriven LIMIT 1
            )
            SELECT (SELECT count(*) FROM redriven), (SELECT count(*) FROM notified)
        """
        self.redrive = f"""
            WITH removed AS (
                DELETE FROM {s}.dead_letters WHERE delivery_id = %(id)s RETURNING delivery_id
            {redrive_tail}
        """
        self.redrive_since = f"""
            WITH removed AS (
                DELETE FROM {s}.dead_letters WHERE dead_at >= {given("since")}
                RETURNING delivery_id
            {redrive_tail}
        """
        self.purge_dead_letters = f"""
            DELETE FROM {s}.jobs WHERE state = 'dead' AND id IN (
                SELECT delivery_id FROM {s}.dead_letters
                WHERE %(before)s::float8 IS NULL OR dead_at < {given("before")}
            )
            RETURNING id
        """

        self.job_exists = f"SELECT 1 FROM {s}.jobs WHERE id = %(id)s"
        self.history = f"""
            SELECT attempt, started_at, status, error, latency, response_excerpt, outcome
            FROM {s}.attempts WHERE delivery_id = %(id)s ORDER BY seq
        """
        self.find_deliveries = f"""
            SELECT id, body, event_json, state, {back("due")} FROM {s}.jobs
            WHERE id LIKE %(pattern)s ESCAPE '\\'
            ORDER BY id <> %(prefix)s, id COLLATE "C" LIMIT %(limit)s
        """
        self.counts = f"""
            SELECT count(*) FILTER (WHERE state = 'pending'),
                   count(*) FILTER (WHERE state = 'pending' AND due <= {now}),
                   count(*) FILTER (WHERE state = 'in_flight'),
                   count(*) FILTER (WHERE state = 'delivered'),
                   count(*) FILTER (WHERE state = 'dead')
            FROM {s}.jobs
        """
        self.endpoint_records = f"""
            SELECT endpoint, state, reason, updated_at, probe_at FROM {s}.endpoints
            ORDER BY endpoint COLLATE "C"
        """
        self.save_endpoint = f"""
            WITH saved AS (
                INSERT INTO {s}.endpoints (endpoint, state, reason, updated_at, probe_at)
                VALUES (%(endpoint)s, %(state)s, %(reason)s, %(updated_at)s, %(probe_at)s)
                ON CONFLICT (endpoint) DO UPDATE SET
                    state = excluded.state, reason = excluded.reason,
                    updated_at = excluded.updated_at, probe_at = excluded.probe_at
                RETURNING 1
            )
            SELECT {notify} FROM saved
        """
        self.prune = f"""
            DELETE FROM {s}.jobs
            WHERE state = 'delivered' AND finished_at < {now} - %(retention)s::float8
        """


def given_column(column: str, now: str, database_time: bool) -> str:
    """`Statements.given` for a column of caller times (a batch's retry dates)."""
    return f"({now} + {column})" if database_time else column
