//! What `sidefx up --local` (and `sidefx torture`) decide before anything starts: free ports,
//! the binaries, how many workers and what the supervisor restarts, recorded in the state file
//! for the supervisor to carry out.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, TcpListener};

use anyhow::{Context, Result, bail};

use super::effect::{EffectMode, ProviderFaults, ProviderSetup};
use super::state::{LocalProcesses, RestartPolicy, StackState};
use super::{DataDir, Mode, Service};
use crate::ui::Style;

/// The shape of a local stack.
#[derive(Debug, Clone, Copy)]
pub struct LocalPlan {
    /// API port on 127.0.0.1 (0 picks a free one).
    pub api_port: u16,
    /// DriftQ port on 127.0.0.1 (0 picks a free one).
    pub driftq_port: u16,
    /// Worker processes (at least 1).
    pub workers: u32,
    /// What the supervisor restarts.
    pub restart: RestartPolicy,
    /// What the workers do; in provider mode the provider runs too.
    pub effect: EffectMode,
    /// Provider port on 127.0.0.1 (0 picks a free one; provider mode only).
    pub provider_port: u16,
    /// The provider's fault injection (provider mode only).
    pub provider_faults: ProviderFaults,
}

/// Starts of a stack on picked ports: a port picked free can be taken before the service
/// binds it (see [`LocalPlan::record_and_start`]).
const PORT_RACE_ATTEMPTS: u32 = 3;

impl LocalPlan {
    /// Records the plan and starts it detached (see [`super::local::start_detached`]). A
    /// port picked with 0 is only known free at the moment it is checked; if another process
    /// takes it before the service binds it (parallel tests, busy hosts), the start fails
    /// with "Address already in use" in the service's log, and a new pick is tried, up to
    /// three starts in all. Ports given explicitly are never changed.
    pub async fn record_and_start(
        &self,
        dir: &DataDir,
        env: &[(&str, String)],
        timeout: std::time::Duration,
        style: Style,
    ) -> Result<StackState> {
        let picks_ports = self.api_port == 0
            || self.driftq_port == 0
            || (self.effect == EffectMode::Provider && self.provider_port == 0);
        let mut attempt = 1;
        loop {
            let state = self.record(dir, style)?;
            match super::local::start_detached(dir, &state, env, timeout).await {
                Ok(()) => return Ok(state),
                Err(e) if picks_ports && attempt < PORT_RACE_ATTEMPTS && lost_a_port(dir) => {
                    eprintln!(
                        "{}",
                        style.dim(&format!(
                            "a picked port was taken meanwhile ({e:#}); trying new ports"
                        ))
                    );
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Checks the data dir and the ports, finds the binaries, and records the stack in the
    /// state file (nothing runs yet). Port 0 is resolved to a free port here, so the state
    /// file holds the real URLs before any service starts.
    pub fn record(&self, dir: &DataDir, style: Style) -> Result<StackState> {
        refuse_if_running(dir, style)?;
        let api_port = free_port(self.api_port, PortName::Api)?;
        let driftq_port = free_port(self.driftq_port, PortName::Driftq)?;
        if api_port == driftq_port {
            bail!("--api-port and --driftq-port must differ (both are {api_port})");
        }
        let provider = self.provider(&[api_port, driftq_port])?;
        let binaries = super::binaries::locate_binaries(self.effect)?;
        let state = StackState {
            mode: Mode::Local,
            api_url: format!("http://127.0.0.1:{api_port}"),
            driftq_url: format!("http://127.0.0.1:{driftq_port}"),
            api_port,
            driftq_port,
            effect: self.effect,
            provider,
            compose_file: None,
            local: Some(LocalProcesses {
                binaries,
                supervisor: None,
                driftq: None,
                api: None,
                provider: None,
                worker: None,
                worker_restarts: 0,
                workers: self.workers.max(1),
                more_workers: Vec::new(),
                restart: self.restart,
                workers_paused: false,
                exits: BTreeMap::new(),
            }),
        };
        state.save(dir)?;
        Ok(state)
    }
}

impl LocalPlan {
    /// Provider mode: the provider's port (checked free, distinct from `taken`) and URL.
    fn provider(&self, taken: &[u16]) -> Result<Option<ProviderSetup>> {
        if self.effect != EffectMode::Provider {
            return Ok(None);
        }
        let port = free_port(self.provider_port, PortName::Provider)?;
        if taken.contains(&port) {
            bail!("--provider-port must differ from --api-port and --driftq-port ({port})");
        }
        Ok(Some(ProviderSetup {
            url: format!("http://127.0.0.1:{port}"),
            port,
            faults: self.provider_faults,
        }))
    }
}

/// Refuses when a stack recorded in the data dir still runs; forgets a stale record.
fn refuse_if_running(dir: &DataDir, style: Style) -> Result<()> {
    let Some(state) = StackState::load(dir)? else {
        return Ok(());
    };
    let location = dir.root().display();
    let Some(procs) = &state.local else {
        bail!(
            "a {:?} stack is recorded in {location}: stop it with `sidefx down`, or use another --data-dir",
            state.mode
        );
    };
    if let Some(pid) = procs
        .non_worker_records()
        .into_iter()
        .chain(procs.worker_records())
        .find(|p| p.is_ours())
        .map(|p| p.pid)
    {
        bail!(
            "a local stack is already running in {location} (pid {pid}, API {}): stop it with \
             `sidefx down`, or start another one with a different --data-dir and ports",
            state.api_url
        );
    }
    println!(
        "{}",
        style.dim(&format!("forgetting a stale stack record in {location}"))
    );
    StackState::remove(dir)
}

/// True when a service's log says its listen address was taken.
fn lost_a_port(dir: &DataDir) -> bool {
    [Service::Driftq, Service::Provider, Service::Api]
        .into_iter()
        .any(|service| {
            std::fs::read_to_string(dir.log_file(service))
                .is_ok_and(|log| log.contains("Address already in use"))
        })
}

/// A host port of the stack, and every name a user can set it by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortName {
    /// The API's port.
    Api,
    /// DriftQ's port.
    Driftq,
    /// The provider's port.
    Provider,
}

impl PortName {
    /// The `sidefx up` flag.
    fn flag(self) -> &'static str {
        match self {
            PortName::Api => "--api-port",
            PortName::Driftq => "--driftq-port",
            PortName::Provider => "--provider-port",
        }
    }

    /// The Makefile variable (`make up API_PORT=8001`).
    fn make_var(self) -> &'static str {
        match self {
            PortName::Api => "API_PORT",
            PortName::Driftq => "DRIFTQ_PORT",
            PortName::Provider => "PROVIDER_PORT",
        }
    }

    /// The environment variable (`.env`, and docker-compose.yml's host port).
    fn env_var(self) -> &'static str {
        match self {
            PortName::Api => "SIDEFX_API_PORT",
            PortName::Driftq => "SIDEFX_DRIFTQ_PORT",
            PortName::Provider => "SIDEFX_PROVIDER_PORT",
        }
    }
}

/// `port`, checked free on 127.0.0.1; 0 picks a free one. A port in use is refused before
/// anything starts, with every way to choose another: otherwise the service would fail to
/// bind, and its start (or compose's restart policy) would end in a crash loop.
pub fn free_port(port: u16, name: PortName) -> Result<u16> {
    match TcpListener::bind((Ipv4Addr::LOCALHOST, port)) {
        Ok(listener) => Ok(listener.local_addr()?.port()),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => bail!(
            "port {port} is already in use: set {make}=<port> (make), {flag} <port> (sidefx) \
             or {env}=<port> (.env); 0 picks a free port in local mode",
            make = name.make_var(),
            flag = name.flag(),
            env = name.env_var(),
        ),
        Err(e) => Err(e).with_context(|| format!("cannot check port {port}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_listen_address_in_a_service_log_is_a_lost_port_race() {
        let temp = tempfile::tempdir().unwrap();
        let dir = DataDir::new(temp.path()).unwrap();
        assert!(!lost_a_port(&dir), "no logs yet");
        std::fs::write(dir.log_file(Service::Api), "error: starting the API\n").unwrap();
        assert!(!lost_a_port(&dir), "another failure");
        std::fs::write(
            dir.log_file(Service::Driftq),
            "error: binding 127.0.0.1:4242: Address already in use (os error 98)\n",
        )
        .unwrap();
        assert!(lost_a_port(&dir));
    }

    #[test]
    fn a_taken_port_is_refused_with_the_flag_to_change_it() {
        let taken = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = taken.local_addr().unwrap().port();
        let err = free_port(port, PortName::Api).unwrap_err().to_string();
        for name in [
            port.to_string().as_str(),
            "API_PORT=",
            "--api-port",
            "SIDEFX_API_PORT=",
        ] {
            assert!(err.contains(name), "{name} missing: {err}");
        }
    }

    #[test]
    fn port_zero_picks_a_free_port() {
        let port = free_port(0, PortName::Api).unwrap();
        assert_ne!(port, 0);
    }
}
