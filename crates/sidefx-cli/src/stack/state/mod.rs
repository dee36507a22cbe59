//! The state file (`<data dir>/state.json`): how later commands find a running stack — its mode,
//! ports, URLs and, in local mode, the PIDs of the supervisor and the services.
//!
//! Written atomically (temp file + rename) so a reader never sees half a file. After
//! `sidefx up --local` has started the supervisor, only the supervisor writes it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::effect::{EffectMode, ProviderSetup};
use super::{DataDir, Mode, Service};

/// Everything later commands need to know about a stack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StackState {
    /// Docker or local.
    pub mode: Mode,
    /// Base URL of the sidefx API, e.g. `http://127.0.0.1:8000`.
    pub api_url: String,
    /// Base URL of DriftQ, e.g. `http://127.0.0.1:8080`.
    pub driftq_url: String,
    /// Host port of the API.
    pub api_port: u16,
    /// Host port of DriftQ.
    pub driftq_port: u16,
    /// What the workers do: write tickets, or charge the provider.
    #[serde(default)]
    pub effect: EffectMode,
    /// Provider mode: the provider the workers charge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<ProviderSetup>,
    /// Docker mode: the compose file the stack was started from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compose_file: Option<PathBuf>,
    /// Local mode: the processes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<LocalProcesses>,
}

/// The processes of a local stack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalProcesses {
    /// The binaries the supervisor starts.
    pub binaries: Binaries,
    /// The supervisor (a detached `sidefx supervise`, or the foreground `sidefx up`).
    #[serde(default)]
    pub supervisor: Option<ProcessRecord>,
    /// `driftq-local`, once started.
    #[serde(default)]
    pub driftq: Option<ProcessRecord>,
    /// `sidefx-api`, once started.
    #[serde(default)]
    pub api: Option<ProcessRecord>,
    /// `sidefx-provider`, once started (provider mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<ProcessRecord>,
    /// `sidefx-worker`, once started (the PID changes on every restart).
    #[serde(default)]
    pub worker: Option<ProcessRecord>,
    /// How often the supervisor has restarted a worker.
    #[serde(default)]
    pub worker_restarts: u32,
    /// How many worker processes the supervisor runs (`sidefx up --workers N`); they share
    /// one consumer group, so DriftQ spreads the commands over them.
    #[serde(default = "one_worker")]
    pub workers: u32,
    /// Workers 2..=N (worker 1 is `worker`), once started; `None` while one is stopped.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub more_workers: Vec<Option<ProcessRecord>>,
    /// What the supervisor restarts when it exits.
    #[serde(default)]
    pub restart: RestartPolicy,
    /// The workers were stopped on purpose (`sidefx chaos stop-worker`): not restarted until
    /// `sidefx chaos start-worker`.
    #[serde(default)]
    pub workers_paused: bool,
    /// How each slot (`worker`, `worker 2`, `api`, …) has exited so far, for `sidefx status`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub exits: BTreeMap<String, SlotExits>,
}

/// The exits of one slot of the stack, as the supervisor saw them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotExits {
    /// How often it exited (and was restarted).
    pub restarts: u32,
    /// Its exits in a row that came soon after its start: 3 or more recent ones is a crash loop.
    pub quick_exits: u32,
    /// How it last exited, e.g. `exit status: 1`.
    pub last_exit: String,
    /// When it last exited (seconds since the epoch).
    pub last_exit_at: u64,
}

fn one_worker() -> u32 {
    1
}

/// Which services the supervisor restarts when they exit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RestartPolicy {
    /// The workers only, with a backoff for crash loops (compose's `restart: unless-stopped`);
    /// if DriftQ or the API exits, the supervisor stops the whole stack rather than leave half
    /// of it running.
    #[default]
    Workers,
    /// Every service, at once (`sidefx torture` kills DriftQ and the API on purpose: their
    /// restart is part of the test, not a failure).
    Every,
}

impl LocalProcesses {
    /// The record of one service's process.
    pub fn service(&self, service: Service) -> Option<&ProcessRecord> {
        match service {
            Service::Api => self.api.as_ref(),
            Service::Worker => self.worker.as_ref(),
            Service::Driftq => self.driftq.as_ref(),
            Service::Provider => self.provider.as_ref(),
        }
    }

    /// Sets (or clears) the record of one service's process.
    pub fn set_service(&mut self, service: Service, record: Option<ProcessRecord>) {
        match service {
            Service::Api => self.api = record,
            Service::Worker => self.worker = record,
            Service::Driftq => self.driftq = record,
            Service::Provider => self.provider = record,
        }
    }

    /// The record of worker `index` (0-based).
    pub fn worker_at(&self, index: usize) -> Option<&ProcessRecord> {
        match index {
            0 => self.worker.as_ref(),
            n => self.more_workers.get(n - 1).and_then(Option::as_ref),
        }
    }

    /// Sets (or clears) the record of worker `index` (0-based).
    pub fn set_worker_at(&mut self, index: usize, record: Option<ProcessRecord>) {
        if index == 0 {
            self.worker = record;
            return;
        }
        if self.more_workers.len() < index {
            self.more_workers.resize(index, None);
        }
        self.more_workers[index - 1] = record;
    }

    /// The records of the supervisor and of every service but the workers, where they have one.
    pub fn non_worker_records(&self) -> Vec<&ProcessRecord> {
        [&self.supervisor, &self.driftq, &self.provider, &self.api]
            .into_iter()
            .filter_map(Option::as_ref)
            .collect()
    }

    /// The records of every worker that has one.
    pub fn worker_records(&self) -> Vec<&ProcessRecord> {
        (0..self.workers.max(1) as usize)
            .filter_map(|i| self.worker_at(i))
            .collect()
    }
}

/// Absolute paths of the service binaries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binaries {
    /// `driftq-local`.
    pub driftq: PathBuf,
    /// `sidefx-api`.
    pub api: PathBuf,
    /// `sidefx-worker`.
    pub worker: PathBuf,
    /// `sidefx-provider` (recorded for provider-mode stacks only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<PathBuf>,
}

impl Binaries {
    /// The binary of one service (`None`: the provider of a ticket-mode stack).
    pub fn of(&self, service: Service) -> Option<&Path> {
        match service {
            Service::Api => Some(&self.api),
            Service::Worker => Some(&self.worker),
            Service::Driftq => Some(&self.driftq),
            Service::Provider => self.provider.as_deref(),
        }
    }
}

/// A process we started: its PID and the executable it runs. The executable is how we check,
/// before sending a signal, that the PID still belongs to our process and was not reused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessRecord {
    /// Process id.
    pub pid: u32,
    /// Absolute path of its executable.
    pub program: PathBuf,
}

impl StackState {
    /// The services of this stack, in start order: the provider only in provider mode.
    pub fn services(&self) -> Vec<Service> {
        Service::ALL
            .into_iter()
            .filter(|s| *s != Service::Provider || self.provider.is_some())
            .collect()
    }

    /// Reads the state file; `None` when there is none.
    pub fn load(dir: &DataDir) -> Result<Option<Self>> {
        let path = dir.state_file();
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let state = serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is not a sidefx state file (delete it if no stack is running)",
                path.display()
            )
        })?;
        Ok(Some(state))
    }

    /// Writes the state file atomically, creating the data dir if needed.
    pub fn save(&self, dir: &DataDir) -> Result<()> {
        std::fs::create_dir_all(dir.root())
            .with_context(|| format!("cannot create {}", dir.root().display()))?;
        let path = dir.state_file();
        let tmp = path.with_extension(format!("json.tmp.{}", std::process::id()));
        let json = serde_json::to_vec_pretty(self).context("cannot encode the state file")?;
        std::fs::write(&tmp, json).with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("cannot replace {}", path.display()))
    }

    /// Deletes the state file (no error if it is already gone).
    pub fn remove(dir: &DataDir) -> Result<()> {
        let path = dir.state_file();
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("cannot delete {}", path.display()))
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests;
