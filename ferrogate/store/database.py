"""Opening the store: its path, WAL mode and the schema migrations.

Migrations are numbered SQL scripts applied in order inside one transaction each;
``schema_version`` records the last one. A store written by a newer FerroGate
(a higher version than this code knows) is refused rather than guessed at.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ferrogate.config.model import Config

MEMORY = ":memory:"

MIGRATIONS: tuple[str, ...] = (
    # 1: what each key and tenant has spent of each budget, in the period it was spent in.
    """
    CREATE TABLE spent_budgets (
        subject INTEGER NOT NULL,      -- governance.counter_table.subject_ident
        kind INTEGER NOT NULL,         -- governance.quotas.BudgetKind
        period INTEGER NOT NULL,       -- governance.quotas.period_of
        spent INTEGER NOT NULL,        -- tokens, or pico-USD for cost budgets
        updated_at REAL NOT NULL,
        PRIMARY KEY (subject, kind)
    ) WITHOUT ROWID;
    """,
    # 2: objects made over the admin API (store.admin_objects) and the audit trail of admin writes.
    """
    CREATE TABLE admin_objects (
        kind TEXT NOT NULL,            -- api_key, tenant, policy, gateway_config
        id TEXT NOT NULL,
        revision INTEGER NOT NULL,     -- bumped by every write; the admin API's ETag
        body BLOB NOT NULL,            -- the config struct as JSON (a key: key_hash, never the secret)
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        PRIMARY KEY (kind, id)
    );
    CREATE TABLE audit_events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        at REAL NOT NULL,
        actor TEXT NOT NULL,
        remote TEXT,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        change BLOB NOT NULL           -- JSON of what changed, never a secret or a hash
    );
    """,
    # 3: what the request records feed (store.request_records): the request log, metering
    # events, hourly and daily usage, and where the metering export is.
    """
    CREATE TABLE request_logs (        -- one row per write of a batch (store.record_batches)
        seq INTEGER PRIMARY KEY,       -- the rowid: retention deletes the oldest, never the newest
        first_at REAL NOT NULL,        -- the batch's earliest and latest request (epoch seconds)
        last_at REAL NOT NULL,
        count INTEGER NOT NULL,
        records BLOB NOT NULL          -- the RequestRecords as one msgpack array
    );
    CREATE TABLE metering_events (     -- the same, of the records that used tokens or the cache
        seq INTEGER PRIMARY KEY,
        first_at REAL NOT NULL,
        last_at REAL NOT NULL,
        count INTEGER NOT NULL,
        records BLOB NOT NULL
    );
    CREATE TABLE usage_aggregates (
        granularity TEXT NOT NULL,     -- hour, day
        bucket INTEGER NOT NULL,       -- epoch seconds of the bucket's start (UTC)
        key_id TEXT NOT NULL,          -- '' when the request had none
        tenant TEXT NOT NULL,
        model TEXT NOT NULL,
        provider TEXT NOT NULL,
        requests INTEGER NOT NULL,
        errors INTEGER NOT NULL,
        input_tokens INTEGER NOT NULL,
        output_tokens INTEGER NOT NULL,
        cached_tokens INTEGER NOT NULL,
        reasoning_tokens INTEGER NOT NULL,
        cost_pico INTEGER NOT NULL,
        cache_hits INTEGER NOT NULL,
        saved_cost_pico INTEGER NOT NULL,
        PRIMARY KEY (granularity, bucket, key_id, tenant, model, provider)
    ) WITHOUT ROWID;
    CREATE TABLE metering_export (     -- the metering export's place: events after last_id are to send
        id INTEGER PRIMARY KEY CHECK (id = 1),
        last_id INTEGER NOT NULL
    );
    """,
    # 4: the steps of tool sessions (store.tool_sessions), so a session outlives the control process.
    """
    CREATE TABLE tool_steps (
        id INTEGER PRIMARY KEY,
        session_id TEXT NOT NULL,
        key_id TEXT,
        at REAL NOT NULL,
        body BLOB NOT NULL             -- control.tool_views.ToolStep as JSON
    );
    CREATE INDEX tool_steps_by_session ON tool_steps (session_id, id);
    """,
    # 5: a request-log batch whose records all bill is stored once, in its metering-event row:
    # the log row names that row (events_seq) and keeps an empty blob (store.record_batches).
    """
    ALTER TABLE request_logs ADD COLUMN events_seq INTEGER;
    CREATE INDEX request_logs_by_events_seq ON request_logs (events_seq) WHERE events_seq IS NOT NULL;
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)
PAGE_SIZE = 16384


class StoreError(Exception):
    """The store cannot be opened or is not one this code can use."""


def store_path(config: Config, config_path: Path) -> str:
    """``storage.path`` resolved against the config file's directory (``:memory:`` as is)."""
    raw = config.storage.path
    if raw == MEMORY:
        return raw
    path = Path(raw).expanduser()
    if not path.is_absolute():
        path = config_path.parent / path
    return str(path)


def open_store(path: str, *, create: bool = True) -> sqlite3.Connection:
    """A connection with the schema brought up to date (``create=False``: StoreError when absent)."""
    if path != MEMORY:
        file = Path(path)
        if not create and not file.exists():
            raise StoreError(f"no store at {path}")
        file.parent.mkdir(parents=True, exist_ok=True)
    try:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=5.0)
        # Before anything is written: a new store gets 16 KiB pages (the record batches are
        # blobs of hundreds of KB; a quarter of the pages to write and checkpoint than at 4 KiB).
        # An existing store keeps the size it was made with.
        conn.execute(f"PRAGMA page_size={PAGE_SIZE}")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=5000")
        migrate(conn)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open the store at {path}: {exc}") from None
    return conn


def schema_version(conn: sqlite3.Connection) -> int:
    conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def migrate(conn: sqlite3.Connection) -> int:
    """Apply the migrations this store lacks; its version afterwards."""
    version = schema_version(conn)
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"the store's schema is version {version}, newer than this FerroGate knows ({SCHEMA_VERSION}):"
            " it was written by a newer release"
        )
    for number in range(version + 1, SCHEMA_VERSION + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(MIGRATIONS[number - 1]):
                conn.execute(statement)
            conn.execute("INSERT INTO schema_version (version) VALUES (?)", (number,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return SCHEMA_VERSION if version < SCHEMA_VERSION else version


def _statements(script: str) -> list[str]:
    lines = [line.split("--", 1)[0] for line in script.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
