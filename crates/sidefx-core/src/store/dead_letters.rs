//! The dead-letter archive: every record that reached `sidefx.dlq`, kept in SQLite so that
//! `/debug/dlq` is complete and instant and the DLQ topic can be acked (see
//! [`crate::topics::DLQ_ARCHIVE_GROUP`]).

use rusqlite::params;

use super::{Store, StoreError};
use crate::messages::{DlqRecord, now_ms};

/// One row per dead letter: the key is the record's broker idempotency key
/// (`dlq:<run>:<step>:<key>`), so a record consumed twice (DriftQ delivers at least once) is
/// archived once.
pub(super) const INSERT_DEAD_LETTER: &str = "
INSERT INTO dead_letters (key, run_id, record_json, archived_ms)
VALUES (?1, ?2, ?3, ?4)
ON CONFLICT (key) DO NOTHING";

const SELECT_NEWEST: &str = "
SELECT record_json FROM dead_letters ORDER BY archived_ms DESC, key DESC LIMIT ?1";

impl Store {
    /// Archives a dead letter; returns `true` if it was new, `false` if already archived.
    pub async fn archive_dead_letter(&self, record: &DlqRecord) -> Result<bool, StoreError> {
        let key = record.idempotency_key();
        let run_id = record.run_id.clone();
        let json = serde_json::to_string(record).map_err(StoreError::Encode)?;
        self.write(move |conn| {
            let args = params![key, run_id, json, now_ms()];
            let inserted = conn.prepare_cached(INSERT_DEAD_LETTER)?.execute(args)?;
            Ok(inserted == 1)
        })
        .await
    }

    /// The newest `limit` archived dead letters, newest first.
    pub async fn list_dead_letters(&self, limit: u32) -> Result<Vec<DlqRecord>, StoreError> {
        self.call(move |conn| {
            let mut stmt = conn.prepare_cached(SELECT_NEWEST)?;
            let rows = stmt.query_map([limit], |r| r.get::<_, String>(0))?;
            let mut records = Vec::new();
            for json in rows {
                records.push(serde_json::from_str(&json?).map_err(StoreError::Encode)?);
            }
            Ok(records)
        })
        .await
    }

    /// How many dead letters are archived.
    pub async fn count_dead_letters(&self) -> Result<u64, StoreError> {
        self.call(|conn| {
            let sql = "SELECT COUNT(*) FROM dead_letters";
            Ok(conn.prepare_cached(sql)?.query_row([], |r| r.get(0))?)
        })
        .await
    }
}
