//! Every statement the hot path runs finds its rows through an index, so its cost stays flat
//! however many runs, effects and dead letters the store holds. Each is checked with SQLite's
//! own `EXPLAIN QUERY PLAN` against the migrated schema: a full scan of a table that grows
//! (`SCAN runs`, `SCAN side_effects`, …, with or without an index) fails the test, naming the
//! statement and its plan.
//!
//! The two outboxes are queues, not histories: a row goes once its run is published
//! (`run_outbox`, at most `API_MAX_PENDING_RUNS` rows) or its retry is (`retry_outbox`). They
//! are still read through their `due_ms` index; only counting the run outbox up to its bound
//! walks it, and that walk stops at the bound.

use rusqlite::Connection;

use super::{
    dead_letter_actions, dead_letters, effect_rows, effects, redrive, retries, run_history,
    run_list, run_outbox, runs, schema,
};

/// The statements of `POST /runs`, the relay, the step, the heartbeat, the retry and
/// redrive sweepers, the DLQ archive and `GET /runs`, by name.
const HOT_PATH: &[(&str, &str)] = &[
    ("accept: the run", runs::INSERT_RUN),
    ("accept: replay lookup", runs::RUN_BY_IDEMPOTENCY_KEY),
    ("accept: the outbox bound", run_outbox::COUNT_UP_TO),
    ("accept: the outbox row", run_outbox::INSERT_PENDING),
    ("relay: due rows", run_outbox::SELECT_DUE),
    ("relay: failed publish", run_outbox::FAILED),
    ("relay: clear published", run_outbox::CLEAR_PUBLISHED),
    ("run by id", runs::RUN_BY_ID),
    ("run status", runs::UPDATE_RUN),
    ("claim", effects::INSERT_CLAIM),
    ("claim: existing row", effect_rows::EFFECT_BY_IDENTITY),
    ("take over", effects::TAKE_OVER),
    ("mark done", effects::MARK_DONE),
    ("heal", effects::HEAL),
    ("heartbeat", effects::RENEW),
    ("release claim", effects::RELEASE),
    ("retry: schedule", retries::INSERT_RETRY),
    ("retry: due", retries::SELECT_DUE),
    ("retry: published", retries::DELETE_RETRY),
    ("redrive: stalled runs", redrive::STALLED_RUNS),
    ("redrive: claim", redrive::CLAIM_REDRIVE),
    ("redrive: requeue", redrive::REQUEUE_RUN),
    ("dead letter: archive", dead_letters::INSERT_DEAD_LETTER),
    ("list runs", run_list::LIST_ALL),
    ("list runs: completed", run_list::LIST_BY_STATUS),
    ("list runs: unfinished", run_list::LIST_UNFINISHED),
    ("list runs: stopped", run_list::LIST_STOPPED),
    ("list runs: business key", run_list::LIST_BY_KEY),
    ("history: record", run_history::INSERT_EVENT),
    ("history: one run", run_history::RUN_HISTORY),
    ("history: live feed", run_history::EVENTS_SINCE),
    ("history: newest", run_history::LAST_SEQ),
    ("dead letter: redrive", dead_letter_actions::REDRIVE_RUN),
    ("dead letter: discard", dead_letter_actions::DISCARD_RUN),
    (
        "dead letter: done effect",
        dead_letter_actions::DONE_EFFECT_BY_IDENTITY,
    ),
];

/// Bounded walks, allowed: (statement, plan line). Counting the run outbox stops at
/// `API_MAX_PENDING_RUNS` rows (its `LIMIT`), on the narrow `due_ms` index.
const BOUNDED: &[(&str, &str)] = &[
    (
        "accept: the outbox bound",
        "SCAN run_outbox USING COVERING INDEX idx_run_outbox_due_ms",
    ),
    ("accept: the outbox bound", "SCAN (subquery-1)"),
    // The partial index holds only unfinished runs: as many as are in flight.
    (
        "list runs: unfinished",
        "SCAN runs USING INDEX idx_runs_unfinished_updated_ms",
    ),
];

/// `EXPLAIN QUERY PLAN` of `sql`: one line per step.
fn plan(conn: &Connection, sql: &str) -> Vec<String> {
    let mut stmt = conn
        .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
        .unwrap_or_else(|err| panic!("preparing {sql}: {err}"));
    // Every parameter NULL: the plan depends on the statement's shape, not on the values.
    let nulls = vec![rusqlite::types::Null; stmt.parameter_count()];
    let rows = stmt
        .query_map(rusqlite::params_from_iter(nulls), |row| {
            row.get::<_, String>(3)
        })
        .expect("plan rows");
    rows.collect::<Result<_, _>>().expect("plan")
}

/// The plan lines of `sql` that walk a whole table or index (`SCAN …`, with or without an
/// index: a covering index walked end to end grows with the table too).
fn full_scans(conn: &Connection, sql: &str) -> Vec<String> {
    plan(conn, sql)
        .into_iter()
        .filter(|line| line.starts_with("SCAN "))
        .collect()
}

fn migrated() -> (tempfile::TempDir, Connection) {
    let dir = tempfile::tempdir().expect("temp dir");
    let conn = schema::open_connection(&dir.path().join("plans.sqlite")).expect("store opens");
    (dir, conn)
}

#[test]
fn every_hot_path_statement_reads_through_an_index() {
    let (_dir, conn) = migrated();
    let mut offenders = Vec::new();
    for (name, sql) in HOT_PATH {
        for line in full_scans(&conn, sql) {
            if !BOUNDED.contains(&(*name, line.as_str())) {
                offenders.push(format!("{name}: {line}\n  plan: {:?}", plan(&conn, sql)));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "statements that scan a whole table:\n{}",
        offenders.join("\n")
    );
}

#[test]
fn a_statement_without_an_index_is_caught() {
    let (_dir, conn) = migrated();
    // `payload_json` has no index: the check must see the scan.
    let scans = full_scans(&conn, "SELECT 1 FROM side_effects WHERE payload_json = ?1");
    assert_eq!(scans, ["SCAN side_effects"]);
    // Nor must an index walked end to end pass for a lookup.
    let scans = full_scans(&conn, "SELECT COUNT(*) FROM runs");
    assert_eq!(scans.len(), 1, "{scans:?}");
    assert!(full_scans(&conn, effect_rows::EFFECT_BY_IDENTITY).is_empty());
}
