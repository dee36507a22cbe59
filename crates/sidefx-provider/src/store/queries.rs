//! The SQL statements, as plain functions on a connection (run by `Store` in the blocking
//! pool). The commit of "key → answer" plus the charge is one transaction, and the key insert
//! is decided by the primary key, not by an earlier read.

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension, params};

use super::{Commit, Execution, StoreError, StoredResponse};
use crate::wire::{Charge, Ledger, LedgerCharge, STATUS_SUCCEEDED};

/// Counter of executed declines in `counters`.
const DECLINES: &str = "declines";

pub(super) fn record_request(conn: &mut Connection, key: &str) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO key_requests (key, count) VALUES (?1, 1)
         ON CONFLICT (key) DO UPDATE SET count = count + 1",
        params![key],
    )?;
    Ok(())
}

/// The stored answer for `key` if it was stored after `cutoff` (Unix ms).
pub(super) fn lookup(
    conn: &Connection,
    key: &str,
    cutoff: i64,
) -> Result<Option<StoredResponse>, StoreError> {
    let row = conn
        .query_row(
            "SELECT fingerprint, status, body FROM idempotency_keys
             WHERE key = ?1 AND stored_at_ms > ?2",
            params![key, cutoff],
            |row| Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?, row.get(2)?)),
        )
        .optional()?;
    row.map(|(fingerprint, status, body)| {
        let status = u16::try_from(status)
            .map_err(|_| StoreError::Corrupt(format!("status {status} of key {key:?}")))?;
        Ok(StoredResponse {
            fingerprint,
            status,
            body,
        })
    })
    .transpose()
}

/// Writes the key's answer and the execution together. The key row is inserted, or replaces
/// a row past retention (`stored_at_ms <= cutoff`); a live row wins and nothing is written.
pub(super) fn commit(
    conn: &mut Connection,
    key: &str,
    response: &StoredResponse,
    execution: &Execution,
    now: i64,
    cutoff: i64,
) -> Result<Commit, StoreError> {
    let tx = conn.transaction()?;
    let written = tx.execute(
        "INSERT INTO idempotency_keys (key, fingerprint, status, body, stored_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (key) DO UPDATE SET
             fingerprint = excluded.fingerprint, status = excluded.status,
             body = excluded.body, stored_at_ms = excluded.stored_at_ms
         WHERE idempotency_keys.stored_at_ms <= ?6",
        params![
            key,
            response.fingerprint,
            response.status,
            response.body,
            now,
            cutoff
        ],
    )?;
    if written == 0 {
        // Dropping `tx` rolls back (nothing was written anyway).
        let stored = lookup(&tx, key, cutoff)?
            .ok_or_else(|| StoreError::Corrupt(format!("key {key:?} neither new nor stored")))?;
        return Ok(Commit::AlreadyStored(stored));
    }
    match execution {
        Execution::Charge(charge) => insert_charge(&tx, key, charge)?,
        Execution::Decline => {
            tx.execute(
                "INSERT INTO counters (name, value) VALUES (?1, 1)
                 ON CONFLICT (name) DO UPDATE SET value = value + 1",
                params![DECLINES],
            )?;
        }
    }
    tx.commit()?;
    Ok(Commit::Committed)
}

fn insert_charge(conn: &Connection, key: &str, charge: &Charge) -> Result<(), StoreError> {
    let metadata = serde_json::to_string(&charge.metadata)
        .map_err(|e| StoreError::Corrupt(format!("metadata: {e}")))?;
    conn.execute(
        "INSERT INTO charges (id, reference, amount, currency, metadata, idempotency_key, created)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            charge.id,
            charge.reference,
            amount_to_sql(charge.amount)?,
            charge.currency,
            metadata,
            key,
            charge.created
        ],
    )?;
    Ok(())
}

pub(super) fn list_charges(
    conn: &mut Connection,
    reference: &str,
) -> Result<Vec<Charge>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, amount, currency, reference, created, metadata FROM charges
         WHERE reference = ?1 ORDER BY seq",
    )?;
    let rows = stmt.query_map(params![reference], |row| {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, i64>(1)?,
            row.get::<_, String>(2)?,
            row.get::<_, String>(3)?,
            row.get::<_, i64>(4)?,
            row.get::<_, String>(5)?,
        ))
    })?;
    let mut charges = Vec::new();
    for row in rows {
        let (id, amount, currency, reference, created, metadata) = row?;
        let metadata: BTreeMap<String, String> = serde_json::from_str(&metadata)
            .map_err(|e| StoreError::Corrupt(format!("metadata of {id}: {e}")))?;
        charges.push(Charge {
            amount: amount_from_sql(amount)?,
            status: STATUS_SUCCEEDED.to_owned(),
            id,
            currency,
            reference,
            created,
            metadata,
        });
    }
    Ok(charges)
}

pub(super) fn ledger(conn: &mut Connection) -> Result<Ledger, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, reference, amount, currency, idempotency_key, created FROM charges
         ORDER BY seq",
    )?;
    let mut charges = Vec::new();
    let mut charges_per_reference = BTreeMap::new();
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let charge = LedgerCharge {
            id: row.get(0)?,
            reference: row.get(1)?,
            amount: amount_from_sql(row.get(2)?)?,
            currency: row.get(3)?,
            idempotency_key: row.get(4)?,
            created: row.get(5)?,
        };
        *charges_per_reference
            .entry(charge.reference.clone())
            .or_insert(0) += 1;
        charges.push(charge);
    }
    let requests_per_key = count_map(conn, "SELECT key, count FROM key_requests")?;
    let declines = count_map(conn, "SELECT name, value FROM counters")?
        .get(DECLINES)
        .copied()
        .unwrap_or(0);
    Ok(Ledger {
        total_charges: charges.len() as u64,
        total_requests: requests_per_key.values().sum(),
        charges_per_reference,
        requests_per_key,
        charges,
        declines,
        in_flight: Vec::new(),
    })
}

fn count_map(conn: &Connection, sql: &str) -> Result<BTreeMap<String, u64>, StoreError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map([], |row| {
        Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
    })?;
    let mut map = BTreeMap::new();
    for row in rows {
        let (name, count) = row?;
        map.insert(name, u64::try_from(count).unwrap_or(0));
    }
    Ok(map)
}

pub(super) fn reset(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn.transaction()?;
    tx.execute_batch(
        "DELETE FROM idempotency_keys; DELETE FROM charges;
         DELETE FROM key_requests; DELETE FROM counters;",
    )?;
    tx.commit()?;
    Ok(())
}

fn amount_to_sql(amount: u64) -> Result<i64, StoreError> {
    i64::try_from(amount).map_err(|_| StoreError::Corrupt(format!("amount {amount} too large")))
}

fn amount_from_sql(amount: i64) -> Result<u64, StoreError> {
    u64::try_from(amount).map_err(|_| StoreError::Corrupt(format!("negative amount {amount}")))
}
