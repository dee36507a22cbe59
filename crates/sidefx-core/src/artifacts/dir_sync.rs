//! Group commit for directory fsyncs: concurrent ticket writes share one.
//!
//! A new ticket's name is durable once the directory has been fsynced *after* the link. One
//! fsync covers every link made before it started, so when several writers finish at once,
//! the first runs the fsync and the others either ride on it (if it started after their
//! link) or on the next one, which one of them starts as soon as it returns. Nobody hears
//! "done" before a directory fsync that began after its own link completed.

use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

/// Shared by every clone of an `Artifacts` (one tickets directory).
#[derive(Debug, Default)]
pub(super) struct DirSync {
    state: Mutex<Progress>,
    finished: Condvar,
}

#[derive(Debug, Default)]
struct Progress {
    /// Requests so far, numbered from 1; a request is made after its link.
    requested: u64,
    /// Every request numbered up to this is covered by a finished fsync.
    covered: u64,
    /// An fsync is running right now.
    running: bool,
}

impl DirSync {
    /// Returns once `dir` was fsynced after this call began (blocking; call it off the
    /// async runtime). Fails if the fsync this caller ran failed.
    pub(super) fn sync(&self, dir: &Path) -> io::Result<()> {
        let mut state = self.lock();
        state.requested += 1;
        let mine = state.requested;
        while state.covered < mine {
            if state.running {
                state = self
                    .finished
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            // Everything requested so far was linked before this fsync starts.
            let target = state.requested;
            state.running = true;
            drop(state);
            let synced = sync_dir(dir);
            state = self.lock();
            state.running = false;
            if synced.is_ok() {
                state.covered = state.covered.max(target);
            }
            self.finished.notify_all();
            // A failed fsync proves nothing: its runner reports it, waiters try their own.
            synced?;
        }
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, Progress> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Makes directory entries durable. Only Unix can open and fsync a directory.
fn sync_dir(dir: &Path) -> io::Result<()> {
    if cfg!(unix) {
        File::open(dir)?.sync_all()
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn every_caller_returns_after_a_sync_and_many_share_one() {
        let dir = tempfile::tempdir().unwrap();
        let sync = Arc::new(DirSync::default());
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (sync, path) = (Arc::clone(&sync), dir.path().to_path_buf());
                std::thread::spawn(move || sync.sync(&path))
            })
            .collect();
        for t in threads {
            t.join().unwrap().unwrap();
        }
        let state = sync.lock();
        assert_eq!((state.requested, state.covered), (8, 8));
        assert!(!state.running);
    }

    #[test]
    fn a_failed_sync_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let sync = DirSync::default();
        assert!(sync.sync(&dir.path().join("missing")).is_err());
        assert_eq!(sync.lock().covered, 0);
    }
}
