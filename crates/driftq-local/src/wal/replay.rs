//! Opening the log at start-up: `--reset-wal`, reading every record back, and
//! dealing with a torn tail.
//!
//! A final line without its `\n` was being written when the process died; its
//! sync never completed, so no client was ever told it succeeded. It is cut off
//! with a warning (the real broker refuses to start instead, quirk Q24 — see
//! the README). Any other undecodable line is corruption: start-up fails.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::path::Path;

use super::{Record, WalError};

/// The opened log, positioned for appending, and its records in order.
#[derive(Debug)]
pub struct Opened {
    /// The file, opened for appending.
    pub file: File,
    /// Every record, oldest first.
    pub records: Vec<Record>,
}

/// Moves an existing log to `<wal>.bak.<unix-seconds>` (`--reset-wal`).
pub fn reset(path: &Path) -> std::io::Result<Option<std::path::PathBuf>> {
    if !path.exists() {
        return Ok(None);
    }
    let secs = chrono::Utc::now().timestamp();
    let mut backup = path.as_os_str().to_owned();
    backup.push(format!(".bak.{secs}"));
    let backup = std::path::PathBuf::from(backup);
    std::fs::rename(path, &backup)?;
    Ok(Some(backup))
}

/// Opens (creating if needed) and reads the log.
pub fn open(path: &Path) -> Result<Opened, WalError> {
    let io = |e| WalError::io(path, e);
    let existed = path.exists();
    let mut file = OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .open(path)
        .map_err(io)?;
    let mut data = Vec::new();
    file.read_to_end(&mut data).map_err(io)?;

    let complete = data.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    if complete < data.len() {
        tracing::warn!(
            wal = %path.display(),
            dropped_bytes = data.len() - complete,
            "dropping a torn final WAL line (never acknowledged)"
        );
        file.set_len(complete as u64).map_err(io)?;
        file.sync_data().map_err(io)?;
    }
    if !existed {
        sync_parent_dir(path);
    }

    let mut records = Vec::new();
    for (i, line) in data[..complete].split(|&b| b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let record = serde_json::from_slice::<Record>(line).map_err(|e| WalError::Corrupt {
            path: path.to_path_buf(),
            line: i + 1,
            reason: e.to_string(),
        })?;
        records.push(record);
    }
    Ok(Opened { file, records })
}

/// Makes a newly created log's directory entry durable; best effort (not every
/// platform can open directories).
fn sync_parent_dir(path: &Path) {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if let Ok(dir) = File::open(parent) {
        let _ = dir.sync_all();
    }
}
