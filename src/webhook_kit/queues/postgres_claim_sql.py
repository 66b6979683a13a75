"""The claim statements of the PostgreSQL queue: a plain round and a fair round, one each.

Both lease due jobs (``FOR UPDATE SKIP LOCKED``), each endpoint up to its allowance, with the
expired-lease handling every claim does: an in-flight job whose lease has ended is due again
(its attempt was interrupted and counts); expired leases not taken now go back to pending.
Allowances arrive as two arrays (``named``, ``allowances``) and a ``default``. The claimed rows
are followed by one summary row: its two last values are described at `SUMMARY`.

- `ClaimStatements.plain` reads the earliest due jobs through the (due, seq) index and keeps
  each endpoint's first ones up to its allowance: one index range however many endpoints there
  are. A backlog ahead in due order fills that range and is left out: the summary says how
  many jobs were, and then a fair round follows (`fair_claims`).
- `ClaimStatements.fair` never reads a backlog. A skip-scan of the (endpoint, due, seq) index
  finds each endpoint's earliest pending job (its head), in a window of at most ``scan``
  endpoints after ``after`` (wrapping around to the first); the endpoints whose heads are due
  are taken in the order they fell due, each one's own earliest jobs read and locked through
  the same index up to its allowance, until ``limit`` jobs are found: the nested loop stops
  there, so no job past the round is locked. Expired leases come from their own index. The
  summary tells whether the plain round would do again: how many endpoints the earliest
  ``limit`` due jobs (read without locks) would give more than their allowance; or 1 without
  reading them when the earliest due head is of a held endpoint (allowance 0), as it is while
  a stuck endpoint's backlog waits.
"""

# Only the schema name (checked by `postgres_sql.quoted_schema`) and fragments built here are
# formatted into these statements: values are parameters.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Callable

__all__ = ["SUMMARY", "ClaimStatements"]

SUMMARY = 9
"""Where the summary row's own values start (the claimed rows' width): how many jobs the plain
round left out, or how many endpoints the fair round found a plain round would cap; then the
last endpoint the fair round's window visited if it stopped at ``scan`` (else ``NULL``)."""


class ClaimStatements:
    """The plain and the fair claim statement for one schema and time source.

    Args:
        s: the quoted schema name.
        now: the SQL expression of the queue's current time.
        back: turns an expression of a stored time into what is handed back to the caller.
        relaxed: an expression that makes the transaction commit without waiting for the WAL
            flush (see `postgres_sql`).
    """

    def __init__(self, s: str, now: str, back: Callable[[str], str], relaxed: str) -> None:
        allowances = (
            "SELECT * FROM unnest(%(named)s::text[], %(allowances)s::int8[])"
            " AS a(endpoint, allowance)"
        )
        allowance = "coalesce(a.allowance, %(default)s::int8)"
        relaxed = f"length({relaxed}) * 0"
        # What both rounds end with, once ``chosen`` (id, due, seq) is known.
        tail = f"""
            expired AS (
                UPDATE {s}.jobs SET state = 'pending', lease_token = NULL
                WHERE id IN (
                    SELECT id FROM {s}.jobs WHERE state = 'in_flight' AND due <= {now}
                    FOR UPDATE SKIP LOCKED
                ) AND id NOT IN (SELECT id FROM chosen)
                RETURNING 1
            ), claimed AS (
                UPDATE {s}.jobs j SET state = 'in_flight', attempts = j.attempts + 1,
                    lease_token = floor(random() * 9e18)::int8,
                    due = {now} + j.timeout + %(grace)s::float8
                FROM chosen c WHERE j.id = c.id
                RETURNING j.id, j.attempts, j.due, j.lease_token, j.endpoint, j.body,
                          j.event_json, c.due AS was_due, c.seq
            )
            SELECT id, attempts, {back("due")}, lease_token, endpoint, body, event_json,
                   was_due, seq, NULL::int8, NULL::text FROM claimed
            UNION ALL
            SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
        """

        self.plain = f"""
            WITH allowances AS ({allowances}), picked AS (
                SELECT id, endpoint, due, seq FROM {s}.jobs
                WHERE state IN ('pending', 'in_flight') AND due <= {now}
                ORDER BY due, seq LIMIT %(limit)s
                FOR UPDATE SKIP LOCKED
            ), ranked AS (
                SELECT p.id, p.due, p.seq, {allowance} AS allowance,
                       row_number() OVER (PARTITION BY p.endpoint ORDER BY p.due, p.seq) AS rank
                FROM picked p LEFT JOIN allowances a ON a.endpoint = p.endpoint
            ), chosen AS (
                SELECT id, due, seq FROM ranked WHERE rank <= allowance
            ), {tail}
                   (SELECT count(*) FROM picked) - (SELECT count(*) FROM chosen) + {relaxed},
                   NULL
        """

        # One descent of the (endpoint, due, seq) index: the first endpoint matching ``where``
        # with pending jobs, and its head.
        def head(where: str) -> str:
            return f"""(SELECT j.endpoint, j.due FROM {s}.jobs j
                        WHERE j.state = 'pending' AND {where}
                        ORDER BY j.endpoint, j.due, j.seq LIMIT 1) AS x"""

        # The window: the endpoints after ``after`` in order; past the last, the first ones up
        # to ``after`` (an endpoint at or before it is one the window reached by wrapping).
        after = "%(after)s::text"
        self.fair = f"""
            WITH RECURSIVE allowances AS ({allowances}), heads(endpoint, due, step) AS (
                (
                    SELECT x.*, 1 FROM {head(f"j.endpoint > {after}")}
                    UNION ALL
                    SELECT x.*, 1 FROM {head(f"j.endpoint <= {after}")}
                    LIMIT 1
                )
                UNION ALL
                SELECT n.endpoint, n.due, h.step + 1 FROM heads h CROSS JOIN LATERAL (
                    SELECT x.* FROM {head("j.endpoint > h.endpoint")}
                    WHERE h.endpoint > {after}
                    UNION ALL
                    SELECT x.* FROM {head(f"j.endpoint <= {after}")}
                    WHERE h.endpoint > {after}
                    UNION ALL
                    SELECT x.* FROM {head(f"j.endpoint > h.endpoint AND j.endpoint <= {after}")}
                    WHERE h.endpoint <= {after}
                    LIMIT 1
                ) AS n
                WHERE h.step < %(scan)s
            ), fresh AS (
                SELECT c.* FROM (
                    SELECT h.endpoint, least({allowance}, %(limit)s::int8) AS n
                    FROM heads h LEFT JOIN allowances a ON a.endpoint = h.endpoint
                    WHERE h.due <= {now} AND {allowance} > 0
                    ORDER BY h.due, h.endpoint
                ) AS p CROSS JOIN LATERAL (
                    SELECT id, endpoint, due, seq FROM {s}.jobs
                    WHERE state = 'pending' AND endpoint = p.endpoint AND due <= {now}
                    ORDER BY due, seq LIMIT p.n
                    FOR UPDATE SKIP LOCKED
                ) AS c
                LIMIT %(limit)s
            ), lapsed AS (
                SELECT id, endpoint, due, seq FROM {s}.jobs
                WHERE state = 'in_flight' AND due <= {now}
                ORDER BY due LIMIT %(limit)s
                FOR UPDATE SKIP LOCKED
            ), ranked AS (
                SELECT c.id, c.due, c.seq, {allowance} AS allowance,
                       row_number() OVER (PARTITION BY c.endpoint ORDER BY c.due, c.seq) AS rank
                FROM (SELECT * FROM fresh UNION ALL SELECT * FROM lapsed) AS c
                LEFT JOIN allowances a ON a.endpoint = c.endpoint
            ), chosen AS (
                SELECT id, due, seq FROM ranked WHERE rank <= allowance
                ORDER BY due, seq LIMIT %(limit)s
            ), earliest AS (
                SELECT endpoint, count(*) AS n FROM (
                    SELECT endpoint FROM {s}.jobs
                    WHERE state IN ('pending', 'in_flight') AND due <= {now}
                    ORDER BY due, seq LIMIT %(limit)s
                ) AS e
                GROUP BY endpoint
            ), {tail}
                   CASE WHEN (
                       SELECT {allowance} FROM heads h LEFT JOIN allowances a USING (endpoint)
                       WHERE h.due <= {now} ORDER BY h.due, h.endpoint LIMIT 1
                   ) <= 0 THEN 1 ELSE (
                       SELECT count(*) FROM earliest e LEFT JOIN allowances a USING (endpoint)
                       WHERE e.n > {allowance}
                   ) END + {relaxed},
                   (SELECT endpoint FROM heads WHERE step >= %(scan)s)
        """
