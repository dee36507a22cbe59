//! Group commit: one thread owns the write connection and commits concurrent writes together.
//!
//! With `synchronous = FULL` every COMMIT waits for an fsync (about a millisecond here), and
//! SQLite has one writer at a time, so committing each write on its own caps the store at
//! one fsync per write. The writer instead takes every write that is queued when it becomes
//! free, runs each inside its own SAVEPOINT of one `BEGIN IMMEDIATE` transaction, commits
//! once, and only then answers each caller. So:
//! * a caller's result is exactly what its statements saw (the batch is one serial history,
//!   and a write that fails is rolled back to its savepoint without touching the others);
//! * nothing is promised before it is durable: no caller hears "done" before the COMMIT
//!   returned, and if the COMMIT fails every write of the batch reports the failure.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use super::StoreError;

/// Writes waiting for the writer. A full queue makes callers wait (`send().await`): bounded
/// memory under overload instead of an ever-growing backlog.
const QUEUE_CAPACITY: usize = 1024;
/// Most writes in one transaction; bounds how long the first write of a batch waits.
const MAX_BATCH: usize = 128;

/// A queued write with its reply channel, type-erased so one queue carries every result type.
pub(super) trait Job: Send {
    /// Runs the write's statements; returns false if they failed (the caller of `run` rolls
    /// back to the savepoint). Keeps the result for `finish`.
    fn run(&mut self, conn: &Connection) -> bool;
    /// Answers the caller once the batch's COMMIT finished (or failed).
    fn finish(self: Box<Self>, committed: Result<(), Arc<rusqlite::Error>>);
}

/// The write `F` and, after it ran, its result.
struct Pending<T, F> {
    op: Option<F>,
    result: Option<Result<T, StoreError>>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> Job for Pending<T, F>
where
    T: Send,
    F: FnOnce(&Connection) -> Result<T, StoreError> + Send,
{
    fn run(&mut self, conn: &Connection) -> bool {
        let Some(op) = self.op.take() else {
            return false;
        };
        let result = op(conn);
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn finish(self: Box<Self>, committed: Result<(), Arc<rusqlite::Error>>) {
        let answer = match (self.result, committed) {
            // A write that failed was rolled back on its own; its error stands either way.
            (Some(Err(err)), _) => Err(err),
            (Some(Ok(value)), Ok(())) => Ok(value),
            (Some(Ok(_)) | None, Err(err)) => Err(StoreError::GroupRolledBack(err)),
            (None, Ok(())) => Err(StoreError::WritePanicked),
        };
        // The caller may have gone away (its future was dropped); nothing to tell then.
        let _ = self.reply.send(answer);
    }
}

/// The sending side, held by every `Store` clone; the thread stops when the last one drops.
#[derive(Debug, Clone)]
pub(super) struct Writer {
    queue: mpsc::Sender<Box<dyn Job>>,
}

impl Writer {
    /// Starts the writer thread on `conn`.
    pub(super) fn start(conn: Connection) -> std::io::Result<Writer> {
        let (queue, jobs) = mpsc::channel(QUEUE_CAPACITY);
        std::thread::Builder::new()
            .name("sidefx-store-writer".into())
            .spawn(move || write_loop(&conn, jobs))?;
        Ok(Writer { queue })
    }

    /// Queues `op` and waits until its batch is committed.
    pub(super) async fn write<T, F>(&self, op: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Pending {
            op: Some(op),
            result: None,
            reply,
        };
        self.queue
            .send(Box::new(job))
            .await
            .map_err(|_| StoreError::WriterStopped)?;
        answer.await.map_err(|_| StoreError::WriterStopped)?
    }
}

/// Waits for a write, gathers whatever else is queued, commits them as one batch; until the
/// last `Writer` is dropped.
fn write_loop(conn: &Connection, mut jobs: mpsc::Receiver<Box<dyn Job>>) {
    let mut batch = VecDeque::new();
    loop {
        if batch.is_empty() {
            match jobs.blocking_recv() {
                Some(job) => batch.push_back(job),
                None => return,
            }
        }
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push_back(job),
                Err(_) => break,
            }
        }
        commit_batch(conn, &mut batch);
    }
}

/// One transaction over the front of `batch`. Jobs it did not get to (SQLite aborted the
/// transaction under them) stay in `batch` for the next round.
fn commit_batch(conn: &Connection, batch: &mut VecDeque<Box<dyn Job>>) {
    if let Err(err) = exec(conn, "BEGIN IMMEDIATE") {
        // E.g. another process held the write lock past busy_timeout: nothing ran.
        let err = Arc::new(err);
        batch.drain(..).for_each(|job| job.finish(Err(err.clone())));
        return;
    }
    let mut ran = Vec::with_capacity(batch.len());
    while let Some(mut job) = batch.pop_front() {
        run_in_savepoint(conn, job.as_mut());
        ran.push(job);
        // Some errors (I/O, disk full) make SQLite roll back the whole transaction; the
        // COMMIT below then fails and every job that ran hears so.
        if conn.is_autocommit() {
            break;
        }
    }
    let committed = exec(conn, "COMMIT").map_err(Arc::new);
    if committed.is_err() && !conn.is_autocommit() {
        // Best effort: leave no transaction open for the next batch.
        let _ = conn.execute_batch("ROLLBACK");
    }
    ran.into_iter()
        .for_each(|job| job.finish(committed.clone()));
}

/// Runs one job between `SAVEPOINT` and `RELEASE`, rolling back only its own changes if it
/// fails or panics (a panic is a bug in the job; the writer thread must survive it).
fn run_in_savepoint(conn: &Connection, job: &mut dyn Job) {
    if exec(conn, "SAVEPOINT job").is_err() {
        return;
    }
    let ok = catch_unwind(AssertUnwindSafe(|| job.run(conn))).unwrap_or(false);
    // A failure here means the transaction is gone; `commit_batch` notices.
    if !ok {
        let _ = exec(conn, "ROLLBACK TO job");
    }
    let _ = exec(conn, "RELEASE job");
}

/// Runs a statement from the connection's statement cache: these run several times per
/// batch, and re-parsing them each time is measurable next to the short writes.
fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer() -> Writer {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (k TEXT PRIMARY KEY)")
            .unwrap();
        Writer::start(conn).unwrap()
    }

    fn insert(key: &'static str) -> impl FnOnce(&Connection) -> Result<usize, StoreError> {
        move |conn| Ok(conn.execute("INSERT INTO t (k) VALUES (?1)", [key])?)
    }

    fn count(conn: &Connection) -> Result<i64, StoreError> {
        Ok(conn.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))?)
    }

    #[tokio::test]
    async fn a_failed_or_panicking_write_rolls_back_alone() {
        let writer = writer();
        let failing = |conn: &Connection| -> Result<(), StoreError> {
            conn.execute("INSERT INTO t (k) VALUES ('lost')", [])?;
            Err(StoreError::WriterStopped)
        };
        let panicking = |conn: &Connection| -> Result<(), StoreError> {
            conn.execute("INSERT INTO t (k) VALUES ('also-lost')", [])?;
            panic!("bug in a write")
        };
        // Queued together, so they very likely share one batch; the outcome must not care.
        let (a, b, c, d) = tokio::join!(
            writer.write(insert("a")),
            writer.write(failing),
            writer.write(panicking),
            writer.write(insert("a")),
        );
        assert_eq!(a.unwrap(), 1);
        assert!(matches!(b, Err(StoreError::WriterStopped)));
        assert!(matches!(c, Err(StoreError::WritePanicked)));
        assert!(
            matches!(d, Err(StoreError::Sqlite(_))),
            "duplicate key: {d:?}"
        );
        assert_eq!(writer.write(count).await.unwrap(), 1);
    }

    #[tokio::test]
    async fn concurrent_writes_each_get_their_own_result() {
        let writer = writer();
        let keys: Vec<&'static str> = vec!["k1", "k2", "k3", "k1", "k2", "k4"];
        let results = futures::future::join_all(keys.iter().map(|k| writer.write(insert(k)))).await;
        let inserted = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(inserted, 4);
        assert_eq!(writer.write(count).await.unwrap(), 4);
    }
}
