//! Connection settings and the versioned schema, applied once when the store opens.
//!
//! The version lives in `PRAGMA user_version`. Version 1 keeps the original starter's
//! `side_effects` table byte for byte and adds the claim columns with `ALTER TABLE`, so a
//! database written by the original is migrated in place, not copied. Version 2 adds the
//! indexes the redrive sweeper's query needs, version 3 the runs' redrive counter, version 4
//! the effects' receipts, version 5 the effect identity across runs (`effect_key`), version 6
//! the run outbox (`run_outbox`), version 7 the indexes that list runs (`run_list.rs`), version 8 the runs' durable
//! history (`run_history.rs`) and the operator's dead-letter actions (`dead_letter_actions.rs`).

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, Transaction, TransactionBehavior};

use super::StoreError;

/// The schema version this build writes.
pub(super) const SCHEMA_VERSION: i64 = 8;

/// How long a statement waits for another process's write lock before failing with
/// `SQLITE_BUSY`. The API and the worker share the file; their writes are short.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The original starter's table, unchanged (its columns and names are part of the contract).
const ORIGINAL_SIDE_EFFECTS: &str = "
CREATE TABLE IF NOT EXISTS side_effects (
  effect_id TEXT PRIMARY KEY,
  run_id TEXT NOT NULL,
  step_id TEXT NOT NULL,
  business_key TEXT NOT NULL,
  status TEXT NOT NULL,
  artifact_path TEXT,
  created_ms INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL,
  payload_json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_side_effects_run_id ON side_effects(run_id);
CREATE INDEX IF NOT EXISTS idx_side_effects_business_key ON side_effects(business_key);
";

/// Claim columns added to `side_effects` in version 1. Rows from the original get NULL owner
/// and lease (treated as "expired, nobody's") and 0 attempts.
const CLAIM_COLUMNS: [(&str, &str); 3] = [
    ("owner", "TEXT"),
    ("lease_expires_ms", "INTEGER"),
    ("attempts", "INTEGER NOT NULL DEFAULT 0"),
];

/// Tables that are new in this port.
const NEW_TABLES: &str = "
CREATE INDEX IF NOT EXISTS idx_side_effects_updated_ms ON side_effects(updated_ms);

CREATE TABLE IF NOT EXISTS runs (
  run_id TEXT PRIMARY KEY,
  business_key TEXT NOT NULL,
  status TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  request_json TEXT NOT NULL,
  idempotency_key TEXT UNIQUE,
  request_fingerprint TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_runs_created_ms ON runs(created_ms);

CREATE TABLE IF NOT EXISTS retry_outbox (
  key TEXT PRIMARY KEY,
  run_id TEXT NOT NULL,
  due_ms INTEGER NOT NULL,
  command_json TEXT NOT NULL,
  created_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_retry_outbox_due_ms ON retry_outbox(due_ms);

CREATE TABLE IF NOT EXISTS dead_letters (
  key TEXT PRIMARY KEY,
  run_id TEXT NOT NULL,
  record_json TEXT NOT NULL,
  archived_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_dead_letters_archived_ms ON dead_letters(archived_ms);
";

/// Version 2: the redrive sweeper looks for unfinished runs by age every few seconds, and for
/// each one asks whether a retry waits in the outbox. The partial index only holds unfinished
/// runs, so the sweep costs the same after a million completed ones.
const REDRIVE_INDEXES: &str = "
CREATE INDEX IF NOT EXISTS idx_runs_unfinished_updated_ms ON runs(updated_ms)
  WHERE status IN ('queued', 'running', 'retrying');
CREATE INDEX IF NOT EXISTS idx_retry_outbox_run_id ON retry_outbox(run_id);
";

/// Version 6: runs whose first messages are owed to the broker (see `run_outbox.rs`). A run
/// and its row commit together; the API's relay deletes the row once the broker has them.
/// Runs answered `rejected` by an earlier version stay so until their request is re-sent.
const RUN_OUTBOX: &str = "
CREATE TABLE IF NOT EXISTS run_outbox (
  run_id TEXT PRIMARY KEY,
  due_ms INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  last_error TEXT,
  created_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_run_outbox_due_ms ON run_outbox(due_ms);
";

/// Version 7: listing runs newest first by business key, and the runs that stopped without
/// completing (see `run_list.rs`). The business key never changes, so its index costs one
/// insert per run; the partial index is touched only when a run dead-letters.
const RUN_LIST_INDEXES: &str = "
CREATE INDEX IF NOT EXISTS idx_runs_business_key ON runs(business_key, created_ms, run_id);
CREATE INDEX IF NOT EXISTS idx_runs_stopped_created_ms ON runs(created_ms, run_id)
  WHERE status IN ('dead_lettered', 'rejected');
";

/// Version 8: every run's events, in the order they were recorded (see `run_history.rs`),
/// and what the dead-letter actions need: the manual redrives of a run, the attempt budget a
/// redrive gave it (NULL: the request's `max_attempts`), and `discarded` among the runs that
/// stopped without completing (its partial index is rebuilt to hold them).
const RUN_HISTORY: &str = "
CREATE TABLE IF NOT EXISTS run_events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  run_id TEXT NOT NULL,
  key TEXT NOT NULL UNIQUE,
  kind TEXT NOT NULL,
  ts_ms INTEGER NOT NULL,
  event_json TEXT NOT NULL,
  recorded_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_run_events_run_id ON run_events(run_id, seq);
DROP INDEX IF EXISTS idx_runs_stopped_created_ms;
CREATE INDEX idx_runs_stopped_created_ms ON runs(created_ms, run_id)
  WHERE status IN ('dead_lettered', 'rejected', 'discarded');
";

/// Opens the file, applies the connection pragmas and migrates the schema.
pub(super) fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    let mut conn = Connection::open(path)?;
    configure(&conn)?;
    migrate(&mut conn)?;
    Ok(conn)
}

/// Per-connection settings.
///
/// * WAL: readers (the API's debug pages) never block the writer, and a commit is one
///   sequential append.
/// * `synchronous = FULL`: in WAL mode `NORMAL` survives an application crash but may lose
///   the last commits on power loss or an OS crash. Here a commit is a promise made to
///   someone else right after it: the worker acks DriftQ once `done` is committed, the API
///   answers a client once its idempotency key is stored. Losing either commit after the
///   promise could repeat a charge, so every commit is fsynced before we act on it.
/// * `foreign_keys = OFF`: there are no foreign keys; said explicitly so nobody wonders.
fn configure(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let _mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    Ok(())
}

/// Brings the schema to [`SCHEMA_VERSION`] in one transaction.
///
/// `BEGIN IMMEDIATE` takes the write lock before reading the version, so when the API and
/// the worker start at the same moment one migrates and the other then sees the new version.
fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::UnsupportedSchema {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    if found < 1 {
        apply_v1(&tx)?;
    }
    if found < 2 {
        tx.execute_batch(REDRIVE_INDEXES)?;
    }
    if found < 3 {
        // Version 3: how often each run was redriven (`GET /runs/{id}` shows it).
        add_column_if_missing(&tx, "runs", "redrives", "INTEGER NOT NULL DEFAULT 0")?;
    }
    if found < 4 {
        // Version 4: the receipt of a done effect (JSON of `Receipt`; NULL before it is done
        // and for rows done by an earlier version, which have only `artifact_path`).
        add_column_if_missing(&tx, "side_effects", "receipt_json", "TEXT")?;
    }
    if found < 5 {
        apply_v5(&tx)?;
    }
    if found < 6 {
        tx.execute_batch(RUN_OUTBOX)?;
    }
    if found < 7 {
        tx.execute_batch(RUN_LIST_INDEXES)?;
    }
    if found < 8 {
        add_column_if_missing(&tx, "runs", "dlq_redrives", "INTEGER NOT NULL DEFAULT 0")?;
        add_column_if_missing(&tx, "runs", "attempt_budget", "INTEGER")?;
        tx.execute_batch(RUN_HISTORY)?;
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()?;
    Ok(())
}

/// Version 1: the original table (kept if present), its claim columns, the new tables.
fn apply_v1(tx: &Transaction<'_>) -> Result<(), StoreError> {
    tx.execute_batch(ORIGINAL_SIDE_EFFECTS)?;
    for (column, decl) in CLAIM_COLUMNS {
        add_column_if_missing(tx, "side_effects", column, decl)?;
    }
    tx.execute_batch(NEW_TABLES)?;
    Ok(())
}

/// Version 5: one identity for an effect across runs, `<step_id>:<business_key>`, unique.
/// Existing rows get it where that is unambiguous: of several rows of one key (two runs of
/// one order, before this version), the done one (else the oldest) takes it, and the others
/// keep NULL, which a unique index does not compare, so they stay readable and claim nothing.
fn apply_v5(tx: &Transaction<'_>) -> Result<(), StoreError> {
    add_column_if_missing(tx, "side_effects", "effect_key", "TEXT")?;
    tx.execute_batch(
        "UPDATE side_effects SET effect_key = step_id || ':' || business_key
          WHERE rowid IN (SELECT COALESCE(MIN(CASE WHEN status = 'done' THEN rowid END),
                                          MIN(rowid))
                            FROM side_effects GROUP BY step_id, business_key);
         CREATE UNIQUE INDEX IF NOT EXISTS idx_side_effects_effect_key
             ON side_effects(effect_key);",
    )?;
    Ok(())
}

/// `ALTER TABLE ... ADD COLUMN` unless the column exists (SQLite has no `IF NOT EXISTS` here).
/// Names come from constants above, never from input, so formatting them into SQL is safe.
fn add_column_if_missing(
    tx: &Transaction<'_>,
    table: &str,
    column: &str,
    decl: &str,
) -> Result<(), StoreError> {
    let exists: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2)",
        [table, column],
        |r| r.get(0),
    )?;
    if !exists {
        tx.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {decl}"))?;
    }
    Ok(())
}
