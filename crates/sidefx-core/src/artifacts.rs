//! The demo's side effect: a ticket file per business key, written create-only.
//!
//! The write is itself idempotent, as every real side effect must be: a second writer for the
//! same key never overwrites the first, and a reader never sees a half-written ticket.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::ids::{BusinessKey, EffectId, RunId, StepId};
use crate::messages::RunCommand;

mod dir_sync;
mod ledger;
#[cfg(test)]
mod tests;

use dir_sync::DirSync;
pub use ledger::LedgerEntry;

/// Something went wrong reading or writing ticket files.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// A file-system operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What we were doing, e.g. "linking".
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A ticket could not be encoded or decoded.
    #[error("ticket json: {0}")]
    Json(#[from] serde_json::Error),
    /// The blocking task panicked or was cancelled.
    #[error("artifact task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// The ticket's content (the original's fields plus `effect_id`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Ticket {
    /// When the effect was performed (ms since the epoch).
    pub created_ms: i64,
    /// The run.
    pub run_id: RunId,
    /// The step.
    pub step_id: StepId,
    /// The caller's key; names the file.
    pub business_key: BusinessKey,
    /// The amount charged.
    pub amount: f64,
    /// The effect; what a real provider would get as its `Idempotency-Key`.
    pub effect_id: EffectId,
    /// Free text.
    pub note: String,
    /// Provider mode: the charge this ticket is the file proof of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charge_id: Option<String>,
}

impl Ticket {
    /// The ticket a command's side effect writes.
    pub fn for_command(cmd: &RunCommand, now_ms: i64) -> Self {
        Self {
            created_ms: now_ms,
            run_id: cmd.run_id.clone(),
            step_id: cmd.step_id.clone(),
            business_key: cmd.business_key.clone(),
            amount: cmd.amount,
            effect_id: cmd.effect_id(),
            note: "fake external side effect (ticket/webhook/charge)".to_owned(),
            charge_id: None,
        }
    }

    /// The ticket that records a provider's charge.
    pub fn for_charge(cmd: &RunCommand, now_ms: i64, charge_id: &str) -> Self {
        Self {
            note: "file proof of a charge at the payments provider".to_owned(),
            charge_id: Some(charge_id.to_owned()),
            ..Self::for_command(cmd, now_ms)
        }
    }
}

/// The outcome of [`Artifacts::write_ticket`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TicketWrite {
    /// We created the ticket at this path.
    Created(PathBuf),
    /// A ticket for this key already existed at this path; it was left untouched.
    AlreadyExisted(PathBuf),
}

impl TicketWrite {
    /// The ticket's path, whoever wrote it.
    pub fn path(&self) -> &Path {
        match self {
            TicketWrite::Created(p) | TicketWrite::AlreadyExisted(p) => p,
        }
    }
}

/// A ticket file as listed by [`Artifacts::list_tickets`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TicketFile {
    /// File name, e.g. `ticket_order-1.json`.
    pub name: String,
    /// Size in bytes.
    pub bytes: u64,
}

/// The artifacts directory; tickets live in `<dir>/tickets/ticket_<business_key>.json`.
#[derive(Debug, Clone)]
pub struct Artifacts {
    dir: PathBuf,
    /// Shared by clones, so concurrent writes share directory fsyncs.
    dir_sync: Arc<DirSync>,
}

impl Artifacts {
    /// Artifacts under `dir` (created on first write).
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            dir_sync: Arc::default(),
        }
    }

    /// `<dir>/tickets`.
    pub fn tickets_dir(&self) -> PathBuf {
        self.dir.join("tickets")
    }

    /// `<dir>/tickets/ticket_<key>.json`. Safe to build from the key alone: a
    /// [`BusinessKey`] has no path separators and cannot start with a dot.
    pub fn ticket_path(&self, key: &BusinessKey) -> PathBuf {
        self.tickets_dir().join(format!("ticket_{key}.json"))
    }

    /// Writes the ticket unless one exists for its key, create-only and crash-safe: a reader
    /// never sees a partial ticket and an existing ticket is never overwritten (how: the
    /// comments on `write_create_only` in this file).
    pub async fn write_ticket(&self, t: &Ticket) -> Result<TicketWrite, ArtifactError> {
        let mut json = serde_json::to_vec_pretty(t)?;
        json.push(b'\n');
        let (dir, path) = (self.tickets_dir(), self.ticket_path(&t.business_key));
        let dir_sync = Arc::clone(&self.dir_sync);
        let write = move || write_create_only(&dir, &path, &json, &dir_sync);
        tokio::task::spawn_blocking(write).await?
    }

    /// Replaces the ticket (temp file, fsync, rename): what a naive integration without a
    /// create-only check does. Only the mutation check (a worker broken on purpose, debug
    /// builds) calls it; it is here so that all file writes stay in this module.
    #[cfg(debug_assertions)]
    pub async fn overwrite_ticket(&self, t: &Ticket) -> Result<PathBuf, ArtifactError> {
        let mut json = serde_json::to_vec_pretty(t)?;
        json.push(b'\n');
        let (dir, path) = (self.tickets_dir(), self.ticket_path(&t.business_key));
        tokio::task::spawn_blocking(move || {
            let temp = dir.join(format!(".tmp-{}.json", uuid::Uuid::new_v4().simple()));
            write_synced(&temp, &json).map_err(io_err("writing", &temp))?;
            fs::rename(&temp, &path).map_err(io_err("renaming", &path))?;
            Ok(path)
        })
        .await?
    }

    /// Records one execution in the ticket effect's ledger (`<dir>/ledger.jsonl`).
    pub async fn append_ledger(&self, entry: LedgerEntry) -> Result<(), ArtifactError> {
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || ledger::append(&dir, &entry)).await?
    }

    /// Every execution the ticket effect's ledger recorded, oldest first.
    pub async fn read_ledger(&self) -> Result<Vec<LedgerEntry>, ArtifactError> {
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || ledger::read(&dir)).await?
    }

    /// Fsyncs the tickets directory (a missing one needs none), so every ticket a reader can
    /// see survives a power loss: what healing from a ticket must do first.
    pub async fn sync_tickets_dir(&self) -> Result<(), ArtifactError> {
        let (dir, dir_sync) = (self.tickets_dir(), Arc::clone(&self.dir_sync));
        tokio::task::spawn_blocking(move || match dir_sync.sync(&dir) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            synced => synced.map_err(io_err("syncing", &dir)),
        })
        .await?
    }

    /// Whether the ticket for `key` exists (the proof that its effect happened).
    pub async fn ticket_exists(&self, key: &BusinessKey) -> Result<bool, ArtifactError> {
        let path = self.ticket_path(key);
        let exists = tokio::fs::try_exists(&path).await;
        exists.map_err(|source| ArtifactError::Io {
            op: "checking",
            path,
            source,
        })
    }

    /// Reads the ticket for `key`, if it exists.
    pub async fn read_ticket(&self, key: &BusinessKey) -> Result<Option<Ticket>, ArtifactError> {
        let path = self.ticket_path(key);
        match tokio::fs::read(&path).await {
            Ok(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(ArtifactError::Io {
                op: "reading",
                path,
                source,
            }),
        }
    }

    /// The last `limit` ticket files by name (the original's `/debug/artifacts` listing).
    /// Temp files of writes in progress are not listed.
    pub async fn list_tickets(&self, limit: usize) -> Result<Vec<TicketFile>, ArtifactError> {
        let dir = self.tickets_dir();
        tokio::task::spawn_blocking(move || list_dir(&dir, limit)).await?
    }
}

/// The create-only write; copy this when your side effect is a file.
///
/// 1. Write the whole content to a uniquely named temp file in the same directory and fsync
///    it: the bytes are on disk before the ticket has a name.
/// 2. `hard_link` the temp file to the final name. A link is atomic and, unlike `rename`,
///    fails with `AlreadyExists` instead of replacing the target: that is the create-only
///    check, decided by the file system, so two racing writers cannot both win.
/// 3. Remove the temp name and fsync the directory, so the new name survives a power loss
///    before we report the effect as done. (Also when the ticket already existed: its writer
///    may have crashed before its own directory fsync.) Concurrent writes share directory
///    fsyncs (`dir_sync.rs`): each still returns only after one that began after its link.
///
/// Needs a file system with hard links (not FAT); every Linux/macOS default has them.
fn write_create_only(
    dir: &Path,
    path: &Path,
    content: &[u8],
    dir_sync: &DirSync,
) -> Result<TicketWrite, ArtifactError> {
    let temp = dir.join(format!(".tmp-{}.json", uuid::Uuid::new_v4().simple()));
    let written = write_synced(&temp, content).map_err(io_err("writing", &temp));
    let linked = written.and_then(|()| match fs::hard_link(&temp, path) {
        Ok(()) => Ok(TicketWrite::Created(path.to_path_buf())),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            Ok(TicketWrite::AlreadyExisted(path.to_path_buf()))
        }
        Err(e) => Err(io_err("linking", path)(e)),
    });
    // The temp name goes in every case; a leftover is harmless but would clutter the dir.
    let removed = fs::remove_file(&temp);
    let outcome = linked?;
    removed.map_err(io_err("removing", &temp))?;
    dir_sync.sync(dir).map_err(io_err("syncing", dir))?;
    Ok(outcome)
}

/// Wraps an I/O error with what we were doing and where.
fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> ArtifactError + 'a {
    move |source| ArtifactError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// Creates `path` (it must not exist), writes `content` and fsyncs it. The directory is
/// created only when the create says it is missing: checking it on every write would cost
/// a syscall per ticket for what happens once.
fn write_synced(path: &Path, content: &[u8]) -> io::Result<()> {
    let create = || OpenOptions::new().write(true).create_new(true).open(path);
    let mut file = match create() {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent() {
                fs::create_dir_all(dir)?;
            }
            create()?
        }
        opened => opened?,
    };
    file.write_all(content)?;
    file.sync_all()
}

fn list_dir(dir: &Path, limit: usize) -> Result<Vec<TicketFile>, ArtifactError> {
    let listing_err = |source| io_err("listing", dir)(source);
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(listing_err(e)),
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(listing_err)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let meta = entry.metadata().map_err(listing_err)?;
        if meta.is_file() && name.starts_with("ticket_") && name.ends_with(".json") {
            files.push(TicketFile {
                name,
                bytes: meta.len(),
            });
        }
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    let skip = files.len().saturating_sub(limit);
    Ok(files.split_off(skip))
}
