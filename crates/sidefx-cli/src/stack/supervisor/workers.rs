//! The supervisor's control of its workers: `sidefx chaos stop-worker` / `start-worker`
//! (SIGUSR1 / SIGUSR2) and the bookkeeping of a worker's (or any restarted slot's) exit.

use anyhow::Result;

use super::{Supervised, say};
use crate::stack::Service;
use crate::stack::children::Slot;
use crate::stack::launch::open_log;
use crate::stack::state::SlotExits;

impl Supervised {
    /// Stops every worker and keeps them stopped (their records are cleared).
    pub(super) async fn pause_workers(&mut self) -> Result<()> {
        say("SIGUSR1: stopping the workers until SIGUSR2");
        self.local_mut()?.workers_paused = true;
        self.state.save(&self.dir)?;
        self.children
            .stop_where(|slot| slot.service == Service::Worker, say)
            .await;
        let count = self.worker_count();
        let local = self.local_mut()?;
        for index in 0..count {
            local.set_worker_at(index, None);
        }
        self.state.save(&self.dir)
    }

    /// Starts the workers again after a pause.
    pub(super) fn resume_workers(&mut self) -> Result<()> {
        if !self.local()?.workers_paused {
            return Ok(());
        }
        say("SIGUSR2: starting the workers again");
        self.local_mut()?.workers_paused = false;
        self.start_workers()
    }

    pub(super) fn note_worker_exit(&mut self, slot: Slot, status: std::process::ExitStatus) {
        let why = if status.code() == Some(137) {
            "exit code 137: a deliberate chaos crash (fail_mode)".to_owned()
        } else {
            status.to_string()
        };
        let line = format!("{} exited ({why}); restarting it", slot.label());
        say(&line);
        // Also in worker.log, where people look for it (like `docker compose logs worker`).
        if let Ok(mut log) = open_log(&self.dir.log_file(Service::Worker)) {
            use std::io::Write;
            let _ = writeln!(log, "[sidefx supervisor] {line}");
        }
        if let Some(local) = self.state.local.as_mut() {
            local.worker_restarts += 1;
        }
    }

    /// Records the exit of a slot about to be restarted in the state file, so `sidefx status`
    /// can tell a crash loop from a single crash (call after [`Restarts::exited`]).
    ///
    /// [`Restarts::exited`]: crate::stack::restart::Restarts::exited
    pub(super) fn record_exit(
        &mut self,
        slot: Slot,
        status: std::process::ExitStatus,
    ) -> Result<()> {
        let quick_exits = self.restarts_of(slot).quick_exits();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let exits = self
            .local_mut()?
            .exits
            .entry(slot.label())
            .or_insert_with(SlotExits::default);
        exits.restarts += 1;
        exits.quick_exits = quick_exits;
        exits.last_exit = status.to_string();
        exits.last_exit_at = now;
        self.state.save(&self.dir)
    }
}
