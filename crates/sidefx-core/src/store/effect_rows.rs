//! Reading `side_effects` rows: the row type, its status, and the shared SELECT.

use rusqlite::{Connection, OptionalExtension, Row};
use serde::{Deserialize, Serialize};

use super::StoreError;
use crate::ids::{BusinessKey, EffectId, RunId, StepId};
use crate::receipt::Receipt;

/// The state of an effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum EffectStatus {
    /// Claimed; the effect may or may not have happened yet.
    InProgress,
    /// The effect happened and was recorded.
    Done,
}

impl EffectStatus {
    /// The value stored in the `status` column (the original's strings).
    pub fn as_str(self) -> &'static str {
        match self {
            EffectStatus::InProgress => "in_progress",
            EffectStatus::Done => "done",
        }
    }

    /// The inverse of [`EffectStatus::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "in_progress" => Some(EffectStatus::InProgress),
            "done" => Some(EffectStatus::Done),
            _ => None,
        }
    }
}

/// One row of `side_effects`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EffectRow {
    /// Primary key: `<run_id>:<step_id>:<business_key>`.
    pub effect_id: EffectId,
    /// The run.
    pub run_id: RunId,
    /// The step.
    pub step_id: StepId,
    /// The caller's key.
    pub business_key: BusinessKey,
    /// `in_progress` or `done`.
    pub status: EffectStatus,
    /// Where the ticket is, once done.
    pub artifact_path: Option<String>,
    /// When the row was claimed (ms since the epoch).
    pub created_ms: i64,
    /// Last change (ms since the epoch).
    pub updated_ms: i64,
    /// The command that claimed it, as JSON.
    pub payload_json: String,
    /// The claim holder; `None` for rows written by the original starter.
    pub owner: Option<String>,
    /// When the claim may be taken over; `None` = no live lease.
    pub lease_expires_ms: Option<i64>,
    /// How many times the effect was claimed (first claim + takeovers).
    pub attempts: u32,
    /// What proves the effect, once done (`None` while in progress, and for rows marked done
    /// by a version without receipts: those have only `artifact_path`).
    pub receipt: Option<Receipt>,
}

impl EffectRow {
    /// True if an `in_progress` claim's lease is over at `now_ms` (or it never had one).
    pub fn lease_expired(&self, now_ms: i64) -> bool {
        self.lease_expires_ms.is_none_or(|until| until <= now_ms)
    }
}

/// `SELECT <every column> FROM side_effects <tail>`, as a literal (so statements can be cached
/// by `prepare_cached` without formatting a string per call).
macro_rules! select_effects {
    ($tail:literal) => {
        concat!(
            "SELECT effect_id, run_id, step_id, business_key, status, artifact_path, created_ms, ",
            "updated_ms, payload_json, owner, lease_expires_ms, attempts, receipt_json FROM side_effects ",
            $tail
        )
    };
}
pub(super) use select_effects;

/// The claim row of one effect identity (`<step_id>:<business_key>`).
pub(super) const EFFECT_BY_IDENTITY: &str = select_effects!("WHERE effect_key = ?1");

/// The row of one effect identity (`EffectId::identity`), whichever run claimed it.
pub(super) fn by_identity(
    conn: &Connection,
    identity: &str,
) -> Result<Option<EffectRow>, StoreError> {
    Ok(conn
        .prepare_cached(EFFECT_BY_IDENTITY)?
        .query_row([identity], effect_row)
        .optional()?)
}

/// The most recently changed rows, newest first.
pub(super) fn recent(conn: &Connection, limit: u32) -> Result<Vec<EffectRow>, StoreError> {
    let sql = select_effects!("ORDER BY updated_ms DESC, effect_id LIMIT ?1");
    collect(conn, sql, [limit])
}

/// Every row of one business key, oldest first (one per step; older duplicates from before
/// effects had one identity, if any).
pub(super) fn of_key(conn: &Connection, key: &BusinessKey) -> Result<Vec<EffectRow>, StoreError> {
    let sql = select_effects!("WHERE business_key = ?1 ORDER BY created_ms, effect_id");
    collect(conn, sql, [key])
}

/// Every row of one run, oldest first.
///
/// A run's effects are its business key's: an effect done by an earlier run of the same key
/// is this run's effect too (it completed by skipping it). Rows written before effects had
/// one identity (`effect_key` NULL) count only for the run that wrote them.
pub(super) fn of_run(conn: &Connection, run_id: &RunId) -> Result<Vec<EffectRow>, StoreError> {
    let sql = select_effects!(
        "WHERE run_id = ?1
            OR (effect_key IS NOT NULL
                AND business_key = (SELECT business_key FROM runs WHERE run_id = ?1))
         ORDER BY created_ms, effect_id"
    );
    collect(conn, sql, [run_id])
}

fn collect(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<EffectRow>, StoreError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(params, effect_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Maps the columns of `select_effects!`, in order.
pub(super) fn effect_row(r: &Row<'_>) -> rusqlite::Result<EffectRow> {
    Ok(EffectRow {
        effect_id: r.get(0)?,
        run_id: r.get(1)?,
        step_id: r.get(2)?,
        business_key: r.get(3)?,
        status: r.get(4)?,
        artifact_path: r.get(5)?,
        created_ms: r.get(6)?,
        updated_ms: r.get(7)?,
        payload_json: r.get(8)?,
        owner: r.get(9)?,
        lease_expires_ms: r.get(10)?,
        attempts: r.get(11)?,
        receipt: receipt_column(r, 12)?,
    })
}

/// Decodes `receipt_json`. The store writes it from a [`Receipt`], so a value that does not
/// decode is a corrupt row: reported as a conversion error, not hidden as "no receipt".
fn receipt_column(r: &Row<'_>, idx: usize) -> rusqlite::Result<Option<Receipt>> {
    let Some(json) = r.get::<_, Option<String>>(idx)? else {
        return Ok(None);
    };
    serde_json::from_str(&json).map(Some).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e))
    })
}
