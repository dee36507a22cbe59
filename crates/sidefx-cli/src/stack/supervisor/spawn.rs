//! Spawning one service of the stack: its command line (from `launch`), its log file, its
//! own process group, and the PID recorded in the state file for later commands.

use std::path::Path;
use std::process::Stdio;
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};

use super::{Supervised, say};
use crate::stack::Service;
use crate::stack::children::Slot;
use crate::stack::launch::{Ports, open_log, service_command, worker_metrics_addr};
use crate::stack::restart::Restarts;
use crate::stack::state::ProcessRecord;

impl Supervised {
    /// Spawns one service with its output appended to `<service>.log` and records its PID.
    pub(super) fn start(&mut self, slot: Slot) -> Result<()> {
        let ports = self.state_ports();
        let local = self.local()?;
        let (Some(program), Some(mut command)) = (
            local.binaries.of(slot.service).map(Path::to_path_buf),
            service_command(slot.service, &local.binaries, &self.dir, &ports),
        ) else {
            bail!("the recorded stack has no {}", slot.label());
        };
        if slot.service == Service::Worker {
            worker_metrics_addr(&mut command, slot.index)?;
        }
        let log = open_log(&self.dir.log_file(slot.service))?;
        let child = command
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            // Own process group: a Ctrl-C in the terminal reaches the supervisor only, which
            // then stops the services in order (and does not restart a worker it is stopping).
            .process_group(0)
            .spawn()
            .with_context(|| format!("cannot start {}", program.display()))?;
        let pid = child
            .id()
            .ok_or_else(|| anyhow!("{} exited at once", slot.label()))?;
        say(&format!("started {} pid={pid}", slot.label()));
        let record = Some(ProcessRecord { pid, program });
        let local = self.local_mut()?;
        match slot.service {
            Service::Worker => local.set_worker_at(slot.index, record),
            service => local.set_service(service, record),
        }
        self.state.save(&self.dir)?;
        self.restarts_of(slot).started = Instant::now();
        self.children.push(slot, child);
        Ok(())
    }

    /// The restart bookkeeping of `slot`.
    pub(super) fn restarts_of(&mut self, slot: Slot) -> &mut Restarts {
        match slot.service {
            Service::Worker => {
                if self.workers.len() <= slot.index {
                    self.workers.resize(slot.index + 1, Restarts::new());
                }
                &mut self.workers[slot.index]
            }
            Service::Driftq => &mut self.driftq,
            Service::Provider => &mut self.provider,
            Service::Api => &mut self.api,
        }
    }

    fn state_ports(&self) -> Ports {
        Ports {
            api: self.state.api_port,
            driftq: self.state.driftq_port,
            driftq_url: self.state.driftq_url.clone(),
            provider: self.state.provider.clone(),
        }
    }
}
