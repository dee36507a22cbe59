//! The ticket effect's ledger: one JSON line per ticket actually created, appended to
//! `<artifacts>/ledger.jsonl`. It is to ticket mode what the provider's ledger is to provider
//! mode: the count of executions, read by `sidefx torture`, which rows and files cannot give
//! (the primary key and the create-only link already cap those at one).

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{ArtifactError, io_err};
use crate::ids::{BusinessKey, EffectId, RunId};

/// One execution of the ticket effect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// The effect that executed.
    pub effect_id: EffectId,
    /// Its business key (what a double execution is counted by).
    pub business_key: BusinessKey,
    /// The run whose step executed it.
    pub run_id: RunId,
    /// The worker that executed it.
    pub owner: String,
    /// When (ms since the epoch).
    pub ts_ms: i64,
}

/// `<dir>/ledger.jsonl`.
pub(super) fn path(dir: &Path) -> PathBuf {
    dir.join("ledger.jsonl")
}

/// Appends one line. `O_APPEND` makes each `write` land whole at the end even with several
/// worker processes appending at once (a line is far below what one write delivers whole).
/// Not fsynced: the ledger is evidence for tests, and a killed process loses no written line
/// (the page cache survives it); only a power loss could.
pub(super) fn append(dir: &Path, entry: &LedgerEntry) -> Result<(), ArtifactError> {
    let mut line = serde_json::to_vec(entry)?;
    line.push(b'\n');
    let file = path(dir);
    let open = || OpenOptions::new().create(true).append(true).open(&file);
    let mut handle = match open() {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(dir).map_err(io_err("creating", dir))?;
            open()
        }
        opened => opened,
    }
    .map_err(io_err("opening", &file))?;
    handle
        .write_all(&line)
        .map_err(io_err("appending to", &file))
}

/// Every line so far (an absent ledger is empty). A torn last line (a writer killed in the
/// middle of its write) is skipped rather than failing the whole read.
pub(super) fn read(dir: &Path) -> Result<Vec<LedgerEntry>, ArtifactError> {
    let file = path(dir);
    let text = match fs::read_to_string(&file) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err("reading", &file)(e)),
    };
    Ok(text
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect())
}
