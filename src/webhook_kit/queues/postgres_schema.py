"""The PostgreSQL queue's schema: versioned migrations, applied under an advisory lock.

The queue's tables live in a PostgreSQL schema of their own (``webhook_kit`` by default), marked
as webhook-kit's by its ``schema_version`` table. `apply_schema` identifies what the schema holds
before writing anything: another application's tables, or a newer webhook-kit's, are refused and
left exactly as they were.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import QueueStorageError, SchemaError

# Only the schema name is formatted into statements, checked by `quoted_schema`.
# ruff: noqa: S608
from .postgres_sql import quoted_schema

if TYPE_CHECKING:
    import psycopg

__all__ = ["ADVISORY_LOCK_KEY", "APPLICATION", "SCHEMA_VERSION", "apply_schema", "identify"]

APPLICATION = "webhook-kit"
"""What the version table says the schema belongs to."""

ADVISORY_LOCK_KEY = 0x7765_6268_6B6B_0001
"""The ``pg_advisory_xact_lock`` key every migration holds: two processes never migrate at once."""

# Each entry takes the schema from version N to N + 1; never edit a released entry, append.
# Times are epoch seconds (double precision). ``{s}`` is the quoted schema name.
_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE {s}.schema_version (
        application text NOT NULL,
        version     integer NOT NULL
    );
    CREATE TABLE {s}.jobs (
        id          text PRIMARY KEY,
        seq         bigint GENERATED ALWAYS AS IDENTITY,  -- enqueue order, among equal dues
        state       text NOT NULL
                    CHECK (state IN ('pending', 'in_flight', 'delivered', 'dead')),
        due         double precision NOT NULL,  -- pending: when due, in_flight: lease end
        attempts    integer NOT NULL DEFAULT 0,
        timeout     double precision NOT NULL,
        lease_token bigint,
        created_at  double precision NOT NULL,
        finished_at double precision,
        target_url  text NOT NULL,
        endpoint    text NOT NULL,
        body        text NOT NULL,  -- the exact JSON text every attempt sends
        event_json  text NOT NULL   -- the rest of the WebhookEvent (its body left empty)
    );
    CREATE INDEX jobs_claimable ON {s}.jobs (due, seq) WHERE state IN ('pending', 'in_flight');
    CREATE INDEX jobs_pending_by_endpoint ON {s}.jobs (endpoint, due, seq)
        WHERE state = 'pending';
    CREATE INDEX jobs_in_flight_by_lease_end ON {s}.jobs (due) WHERE state = 'in_flight';
    CREATE INDEX jobs_delivered_by_time ON {s}.jobs (finished_at) WHERE state = 'delivered';
    CREATE TABLE {s}.attempts (
        seq              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        delivery_id      text NOT NULL REFERENCES {s}.jobs (id) ON DELETE CASCADE,
        attempt          integer NOT NULL,
        started_at       double precision NOT NULL,
        status           integer,
        error            text,
        latency          double precision NOT NULL,
        response_excerpt text NOT NULL,
        outcome          text NOT NULL
    );
    CREATE INDEX attempts_by_delivery ON {s}.attempts (delivery_id, seq);
    CREATE TABLE {s}.dead_letters (
        delivery_id      text PRIMARY KEY REFERENCES {s}.jobs (id) ON DELETE CASCADE,
        seq              bigint GENERATED ALWAYS AS IDENTITY,
        reason           text NOT NULL,
        gone             boolean NOT NULL,
        attempts         integer NOT NULL,
        dead_at          double precision NOT NULL,
        last_status      integer,
        last_error       text,
        response_excerpt text NOT NULL
    );
    CREATE INDEX dead_letters_by_time ON {s}.dead_letters (dead_at);
    CREATE TABLE {s}.endpoints (
        endpoint   text PRIMARY KEY,
        state      text NOT NULL,
        reason     text NOT NULL,
        updated_at double precision NOT NULL,
        probe_at   double precision
    );
    """,
)

# The tables each version has (what `identify` accepts in the schema).
_TABLES: dict[int, frozenset[str]] = {
    1: frozenset({"schema_version", "jobs", "attempts", "dead_letters", "endpoints"}),
}

SCHEMA_VERSION = len(_MIGRATIONS)
"""The schema version this release writes."""

_RELATIONS = """
    SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
"""


async def identify(connection: psycopg.AsyncConnection[Any], schema: str, where: str) -> int:
    """The version of webhook-kit's schema in ``schema`` (0: absent or empty).

    Raises:
        QueueStorageError: the schema holds tables that are not webhook-kit's.
        SchemaError: a newer webhook-kit's schema.
    """
    s = quoted_schema(schema)
    cursor = await connection.execute(_RELATIONS, (schema,))
    tables = {str(row[0]) for row in await cursor.fetchall()}
    if not tables:
        return 0
    if "schema_version" not in tables:
        raise QueueStorageError(
            f"the schema {schema!r} of {where} is not a webhook-kit queue (it holds"
            f" {', '.join(sorted(tables))}); choose another schema= for the queue"
        )
    cursor = await connection.execute(f"SELECT application, version FROM {s}.schema_version")
    rows = await cursor.fetchall()
    if len(rows) != 1 or rows[0][0] != APPLICATION:
        raise QueueStorageError(
            f"the schema {schema!r} of {where} is not a webhook-kit queue (its schema_version"
            " table is not webhook-kit's); choose another schema= for the queue"
        )
    version = int(rows[0][1])
    if version > SCHEMA_VERSION:
        raise SchemaError(
            f"the queue in schema {schema!r} of {where} has schema version {version}, newer"
            f" than this webhook-kit knows ({SCHEMA_VERSION}): upgrade webhook-kit"
        )
    unknown = tables - _TABLES.get(version, frozenset())
    if version < 1 or unknown:
        raise QueueStorageError(
            f"the schema {schema!r} of {where} is not a webhook-kit queue (it holds"
            f" {', '.join(sorted(unknown or tables))}); choose another schema= for the queue"
        )
    return version


async def apply_schema(connection: psycopg.AsyncConnection[Any], schema: str, where: str) -> int:
    """Bring ``schema`` up to `SCHEMA_VERSION` in one transaction; return the version found.

    Holds ``pg_advisory_xact_lock(ADVISORY_LOCK_KEY)`` for the transaction, so concurrent
    callers migrate one after the other (the later ones find it done). What the schema holds is
    identified first: nothing is written to a schema that is not webhook-kit's or is newer.

    Raises:
        QueueStorageError: the schema holds another application's tables.
        SchemaError: the schema is a newer webhook-kit's.
    """
    s = quoted_schema(schema)
    async with connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock(%s)", (ADVISORY_LOCK_KEY,))
        found = await identify(connection, schema, where)
        if found == SCHEMA_VERSION:
            return found
        await connection.execute(f"CREATE SCHEMA IF NOT EXISTS {s}")
        for version in range(found, SCHEMA_VERSION):
            await connection.execute(_MIGRATIONS[version].replace("{s}", s), prepare=False)
        if found == 0:
            await connection.execute(
                f"INSERT INTO {s}.schema_version (application, version) VALUES (%s, %s)",
                (APPLICATION, SCHEMA_VERSION),
            )
        else:
            await connection.execute(
                f"UPDATE {s}.schema_version SET version = %s", (SCHEMA_VERSION,)
            )
    return found
