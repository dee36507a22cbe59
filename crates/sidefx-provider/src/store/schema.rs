//! Opening the database: durability pragmas and the schema, versioned by `PRAGMA user_version`.

use std::path::Path;

use rusqlite::Connection;

use super::StoreError;

/// The schema this build writes.
const SCHEMA_VERSION: i64 = 1;

/// Version 1. `seq` orders charges oldest first; the key row holds the answer to replay.
const SCHEMA_V1: &str = "
CREATE TABLE idempotency_keys (
    key          TEXT PRIMARY KEY,
    fingerprint  TEXT NOT NULL,
    status       INTEGER NOT NULL,
    body         TEXT NOT NULL,
    stored_at_ms INTEGER NOT NULL
) STRICT;
CREATE TABLE charges (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT NOT NULL UNIQUE,
    reference       TEXT NOT NULL,
    amount          INTEGER NOT NULL,
    currency        TEXT NOT NULL,
    metadata        TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    created         INTEGER NOT NULL
) STRICT;
CREATE INDEX charges_by_reference ON charges (reference, seq);
CREATE TABLE key_requests (
    key   TEXT PRIMARY KEY,
    count INTEGER NOT NULL
) STRICT;
CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) STRICT;
";

/// Opens `path`, creating its directory and the schema when new.
pub(super) fn open(path: &Path) -> Result<Connection, StoreError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
            path: dir.to_owned(),
            source,
        })?;
    }
    let mut conn = Connection::open(path)?;
    // WAL lets readers run beside the writer; FULL fsyncs every commit, so an answered charge
    // survives a power cut (the provider must never forget a charge it reported).
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    apply_schema(&mut conn)?;
    Ok(conn)
}

fn apply_schema(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn.transaction()?;
    let version: i64 = tx.pragma_query_value(None, "user_version", |row| row.get(0))?;
    match version {
        0 => {
            tx.execute_batch(SCHEMA_V1)?;
            tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        }
        SCHEMA_VERSION => {}
        other => return Err(StoreError::UnknownSchema(other)),
    }
    tx.commit()?;
    Ok(())
}
