//! The supervisor's running children: which slot of the stack each process fills (a service,
//! and for workers their index), waiting for the first one to exit, and stopping them in order.

use std::future::Future;
use std::process::ExitStatus;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::process::Child;

use super::Service;

/// Grace between SIGTERM and SIGKILL for each service.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// One place in the stack: a service, and which of its instances (only workers have several).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    /// The service.
    pub service: Service,
    /// 0 for DriftQ and the API; 0..N for the workers.
    pub index: usize,
}

impl Slot {
    /// The only instance of `service`.
    pub fn single(service: Service) -> Self {
        Self { service, index: 0 }
    }

    /// Worker number `index` (0-based).
    pub fn worker(index: usize) -> Self {
        Self {
            service: Service::Worker,
            index,
        }
    }

    /// "worker 2" for the second worker, else the service name.
    pub fn label(self) -> String {
        match (self.service, self.index) {
            (Service::Worker, i) if i > 0 => format!("worker {}", i + 1),
            (service, _) => service.name().to_owned(),
        }
    }
}

/// Running children, in start order.
#[derive(Debug, Default)]
pub struct Children {
    running: Vec<(Slot, Child)>,
}

impl Children {
    /// Adds a child that was just started.
    pub fn push(&mut self, slot: Slot, child: Child) {
        self.running.push((slot, child));
    }

    /// Waits until one child exits and takes it out of the list. Pending forever when there
    /// are none. (`Child::wait` is cancel safe, so dropping this inside `select!` loses nothing.)
    pub async fn first_exit(&mut self) -> Result<(Slot, ExitStatus)> {
        let (index, status) = {
            let mut waits: Vec<_> = self
                .running
                .iter_mut()
                .map(|(_, child)| Box::pin(child.wait()))
                .collect();
            std::future::poll_fn(|cx| {
                for (index, wait) in waits.iter_mut().enumerate() {
                    if let std::task::Poll::Ready(status) = wait.as_mut().poll(cx) {
                        return std::task::Poll::Ready((index, status));
                    }
                }
                std::task::Poll::Pending
            })
            .await
        };
        let (slot, _) = self.running.remove(index);
        let status = status.with_context(|| format!("cannot wait for {}", slot.label()))?;
        Ok((slot, status))
    }

    /// Stops, newest first, every child whose slot matches: SIGTERM, grace, SIGKILL.
    /// Newest first means workers (they hold leases) before the API, before DriftQ.
    pub async fn stop_where(&mut self, matches: impl Fn(Slot) -> bool, say: impl Fn(&str)) {
        let mut index = self.running.len();
        while index > 0 {
            index -= 1;
            if !matches(self.running[index].0) {
                continue;
            }
            let (slot, mut child) = self.running.remove(index);
            if let Some(pid) = child.id().and_then(|pid| i32::try_from(pid).ok()) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGTERM,
                );
            }
            if tokio::time::timeout(STOP_GRACE, child.wait())
                .await
                .is_err()
            {
                say(&format!(
                    "{} did not stop within {}s; killing it",
                    slot.label(),
                    STOP_GRACE.as_secs()
                ));
                let _ = child.kill().await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_labelled_for_people() {
        assert_eq!(Slot::single(Service::Api).label(), "api");
        assert_eq!(Slot::worker(0).label(), "worker");
        assert_eq!(Slot::worker(2).label(), "worker 3");
    }

    #[tokio::test]
    async fn the_first_exit_is_reported_and_the_rest_can_be_stopped() {
        let mut children = Children::default();
        let spawn = |secs: &str| tokio::process::Command::new("sleep").arg(secs).spawn();
        children.push(Slot::single(Service::Driftq), spawn("30").unwrap());
        children.push(Slot::worker(0), spawn("0").unwrap());
        let (slot, status) = children.first_exit().await.unwrap();
        assert_eq!((slot, status.success()), (Slot::worker(0), true));
        children.stop_where(|_| true, |_| {}).await;
        assert!(children.running.is_empty());
    }
}
