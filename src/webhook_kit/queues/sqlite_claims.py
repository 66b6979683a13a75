"""Which due jobs a `SQLiteQueue` claim round leases: a plain round or a fair one (`fair_claims`).

Run inside the claim's transaction, after expired leases went back to pending. A plain round is
one SELECT of the earliest due jobs. When they would give an endpoint more than its allowance,
or when the last claim needed a fair round, a fair round reads instead: one statement for the
heads of the window's endpoints (a skip-scan of the (endpoint, due) index); then, earliest head
first, one indexed SELECT per endpoint for its own earliest jobs up to its allowance, until the
round is full. To know whether the next claim can be plain, it counts what a plain round would
take per endpoint (one more SELECT), unless the earliest head is of a held endpoint.

Measured (a held backlog of 10,000 ahead, a healthy endpoint behind it, 48 a round): this
takes about half the time of a plain SELECT followed by the fair reads. Doing it all in one
statement was slower: SQLite cannot limit a correlated subquery per endpoint, so it meant a
recursive CTE merging the endpoints' jobs one row at a time (3-4 times slower with a few
endpoints), and a CTE used twice in one statement is computed twice.
"""

# Only fragments built here are formatted into the statements: values are parameters.
# ruff: noqa: S608

from __future__ import annotations

import sqlite3
from collections import Counter

from .fair_claims import FairRounds, by_heads, may_cap, over_allowances
from .protocol import ClaimLimits

__all__ = ["ENDPOINT_HEADS", "choose"]

# Every endpoint with pending jobs and the due date of its earliest: a skip-scan of the
# (endpoint, due) index, one lookup per endpoint however many jobs each has.
ENDPOINT_HEADS = """
    WITH RECURSIVE endpoints(endpoint) AS (
        SELECT (SELECT min(endpoint) FROM jobs WHERE state = 'pending')
        UNION ALL
        SELECT (SELECT min(endpoint) FROM jobs WHERE state = 'pending' AND endpoint > e.endpoint)
        FROM endpoints AS e WHERE e.endpoint IS NOT NULL
    )
    SELECT endpoint,
           (SELECT min(due) FROM jobs WHERE state = 'pending' AND endpoint = endpoints.endpoint)
    FROM endpoints WHERE endpoint IS NOT NULL
"""


def _head(where: str) -> str:
    """The rowid of the earliest pending job of the first endpoint matching ``where``."""
    return (
        f"(SELECT rowid FROM jobs WHERE state = 'pending' AND {where}"
        " ORDER BY endpoint, due, rowid LIMIT 1)"
    )


# The endpoints of a fair round's window with their heads, in the order visited (step 1, 2, …):
# those after :after, then from the first up to :after (an endpoint at or before it is one the
# window reached by wrapping around), at most :scan.
_WINDOW = f"""
    WITH RECURSIVE heads(endpoint, due, step) AS (
        SELECT j.endpoint, j.due, 1 FROM jobs AS j
        WHERE j.rowid = coalesce({_head("endpoint > :after")}, {_head("endpoint <= :after")})
        UNION ALL
        SELECT j.endpoint, j.due, h.step + 1 FROM heads AS h CROSS JOIN jobs AS j
        WHERE h.step < :scan AND j.rowid = CASE
            WHEN h.endpoint > :after THEN coalesce(
                {_head("endpoint > h.endpoint")}, {_head("endpoint <= :after")}
            )
            ELSE {_head("endpoint > h.endpoint AND endpoint <= :after")}
        END
    )
    SELECT endpoint, due, step FROM heads
"""

# How many of the earliest due jobs each endpoint has: what a plain round would read.
_EARLIEST_BY_ENDPOINT = """
    SELECT endpoint, count(*) FROM (
        SELECT endpoint FROM jobs WHERE state = 'pending' AND due <= ?
        ORDER BY due, rowid LIMIT ?
    )
    GROUP BY endpoint
"""

_EARLIEST = (
    "SELECT id, endpoint FROM jobs WHERE state = 'pending' AND due <= ?"
    " ORDER BY due, rowid LIMIT ?"
)

_ENDPOINTS_EARLIEST = (
    "SELECT due, rowid, id FROM jobs WHERE state = 'pending' AND endpoint = ? AND due <= ?"
    " ORDER BY due, rowid LIMIT ?"
)


def choose(
    connection: sqlite3.Connection,
    now: float,
    limit: int,
    limits: ClaimLimits,
    rounds: FairRounds,
) -> list[str]:
    """The ids of the due jobs to lease, earliest due first, each endpoint up to its allowance.

    ``rounds`` says whether to start with a fair round and learns whether the next claim does.
    """
    if not rounds.starts_fair(limit, limits):
        due = connection.execute(_EARLIEST, (now, limit)).fetchall()
        if not may_cap(limit, limits) or not over_allowances(
            Counter(str(row[1]) for row in due).items(), limits
        ):
            return [str(row[0]) for row in due]
    return _fair_round(connection, now, limit, limits, rounds)


def _fair_round(
    connection: sqlite3.Connection,
    now: float,
    limit: int,
    limits: ClaimLimits,
    rounds: FairRounds,
) -> list[str]:
    window = connection.execute(_WINDOW, {"scan": rounds.scan, "after": rounds.after}).fetchall()
    heads = [(str(endpoint), float(due)) for endpoint, due, _ in window if due <= now]
    last = str(window[-1][0]) if len(window) >= rounds.scan else None
    # Whether a plain round would do next time. A held endpoint's head first: it would cap
    # that one for sure, without reading what it would take.
    first = min(heads, key=lambda head: head[1], default=None)
    if first is not None and limits.allowance(first[0]) <= 0:
        capped = 1
    else:
        capped = over_allowances(connection.execute(_EARLIEST_BY_ENDPOINT, (now, limit)), limits)
    rounds.finished(capped, last)
    chosen: list[tuple[float, int, str]] = []
    for endpoint, count in by_heads(heads, limits, limit):
        wanted = min(count, limit - len(chosen))
        chosen += connection.execute(_ENDPOINTS_EARLIEST, (endpoint, now, wanted)).fetchall()
        if len(chosen) >= limit:
            break
    chosen.sort()
    return [row[2] for row in chosen]
