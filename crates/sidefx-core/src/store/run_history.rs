//! The durable history of every run: each event it produced, in the order it was recorded
//! (schema 8). `GET /runs/{id}/history` reads it, and `GET /runs/{id}/events` replays it
//! before it follows new events, so any number of viewers see every event at any time and
//! none of them leaves state on the broker.
//!
//! An event is recorded before (or while) it is published, by whoever publishes it: the API
//! records `run.created` and `command.enqueued` in the transaction that accepts the run, the
//! worker records each event of a step together with its publish, and the dead-letter actions
//! record theirs in the transaction that changes the run. The key of a row is the event's
//! broker idempotency key, so an event published again (a redelivered step emits its events
//! again) is recorded once, as the broker keeps it once.
//!
//! `seq` orders the whole history. SQLite has one writer at a time, so a transaction that
//! commits later assigns higher numbers, and a reader that has seen `seq` N has seen every
//! committed row below it: following the history by `seq > last` misses nothing
//! (`AUTOINCREMENT` never reuses a number, even once old rows are deleted).

use rusqlite::{Connection, params};

use super::{Store, StoreError};
use crate::ids::RunId;
use crate::messages::{Event, now_ms};

/// One event per key; a key recorded before is left as it was.
pub(super) const INSERT_EVENT: &str = "
INSERT INTO run_events (run_id, key, kind, ts_ms, event_json, recorded_ms)
VALUES (?1, ?2, ?3, ?4, ?5, ?6)
ON CONFLICT (key) DO NOTHING";

/// One run's events after `seq` ?2, oldest first.
pub(super) const RUN_HISTORY: &str = "
SELECT seq, run_id, kind, event_json FROM run_events
 WHERE run_id = ?1 AND seq > ?2
 ORDER BY seq LIMIT ?3";

/// Every run's events after `seq` ?1, oldest first: what the API's live feed polls.
pub(super) const EVENTS_SINCE: &str = "
SELECT seq, run_id, kind, event_json FROM run_events
 WHERE seq > ?1
 ORDER BY seq LIMIT ?2";

/// The newest `seq` (0 for an empty history).
pub(super) const LAST_SEQ: &str = "SELECT COALESCE(MAX(seq), 0) FROM run_events";

/// One recorded event, as stored: the JSON is the event exactly as it was published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedEvent {
    /// Its place in the history of all runs (ascending, never reused).
    pub seq: i64,
    /// The run it belongs to.
    pub run_id: String,
    /// Its `type`, e.g. `side_effect.done`.
    pub kind: String,
    /// The event's JSON (an [`Event`]).
    pub json: String,
}

impl RecordedEvent {
    /// The event itself.
    pub fn decode(&self) -> Result<Event, StoreError> {
        serde_json::from_str(&self.json).map_err(StoreError::Encode)
    }

    /// Whether nothing more happens to the run after it (see [`Event::is_terminal_kind`]).
    pub fn is_terminal(&self) -> bool {
        Event::is_terminal_kind(&self.kind)
    }
}

/// Records `events` inside the caller's transaction (the writer's). Returns how many were new.
pub(super) fn insert_events(conn: &Connection, events: &[Event]) -> Result<usize, StoreError> {
    let mut stmt = conn.prepare_cached(INSERT_EVENT)?;
    let recorded = now_ms();
    let mut new = 0;
    for event in events {
        let json = serde_json::to_string(event).map_err(StoreError::Encode)?;
        new += stmt.execute(params![
            event.run_id(),
            event.idempotency_key(),
            event.kind(),
            event.ts(),
            json,
            recorded
        ])?;
    }
    Ok(new)
}

fn recorded_event(row: &rusqlite::Row<'_>) -> rusqlite::Result<RecordedEvent> {
    Ok(RecordedEvent {
        seq: row.get(0)?,
        run_id: row.get(1)?,
        kind: row.get(2)?,
        json: row.get(3)?,
    })
}

impl Store {
    /// Records `events` in the history, in this order, in one transaction. An event whose key
    /// is recorded already is skipped, so recording again what was recorded is harmless.
    pub async fn record_events(&self, events: Vec<Event>) -> Result<(), StoreError> {
        self.write(move |conn| insert_events(conn, &events).map(drop))
            .await
    }

    /// Up to `limit` events of `run_id` after `seq` `after` (0: from the start), oldest first.
    pub async fn run_history(
        &self,
        run_id: &RunId,
        after: i64,
        limit: u32,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let run_id = run_id.clone();
        self.call(move |conn| {
            let mut stmt = conn.prepare_cached(RUN_HISTORY)?;
            let rows = stmt.query_map(params![run_id, after, limit], recorded_event)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    /// Up to `limit` events of any run after `seq` `after`, oldest first.
    pub async fn events_since(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.call(move |conn| {
            let mut stmt = conn.prepare_cached(EVENTS_SINCE)?;
            let rows = stmt.query_map(params![after, limit], recorded_event)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    /// The `seq` of the newest recorded event, 0 if there is none.
    pub async fn last_event_seq(&self) -> Result<i64, StoreError> {
        self.call(|conn| Ok(conn.prepare_cached(LAST_SEQ)?.query_row([], |r| r.get(0))?))
            .await
    }
}
