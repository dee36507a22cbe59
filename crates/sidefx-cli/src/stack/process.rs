//! Signalling recorded processes safely: a PID from the state file is only signalled while it
//! still runs the executable we started (PIDs get reused), and stopping is SIGTERM, a grace
//! period, then SIGKILL.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::state::ProcessRecord;

/// How often a stop polls whether the process is gone.
const POLL: Duration = Duration::from_millis(50);

impl ProcessRecord {
    /// The record of the current process.
    pub fn current() -> Result<Self> {
        let program = std::env::current_exe().context("cannot find the sidefx executable")?;
        Ok(Self {
            pid: std::process::id(),
            program,
        })
    }

    fn nix_pid(&self) -> Option<Pid> {
        i32::try_from(self.pid)
            .ok()
            .filter(|pid| *pid > 0)
            .map(Pid::from_raw)
    }

    /// The PID is alive and runs the recorded executable.
    pub fn is_ours(&self) -> bool {
        let Some(pid) = self.nix_pid() else {
            return false;
        };
        if kill(pid, None).is_err() {
            return false;
        }
        runs_program(self.pid, &self.program)
    }

    /// Sends `signal` if (and only if) the process is still ours. Returns whether it was sent.
    pub fn signal_if_ours(&self, signal: Signal) -> bool {
        match self.nix_pid() {
            Some(pid) if self.is_ours() => kill(pid, signal).is_ok(),
            _ => false,
        }
    }

    /// Waits until the process is gone (or no longer ours); false if `timeout` passed first.
    pub async fn wait_gone(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.is_ours() {
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(POLL).await;
        }
        true
    }

    /// SIGTERM, wait up to `grace`, then SIGKILL. Returns false if it was not running.
    pub async fn terminate(&self, grace: Duration) -> bool {
        if !self.signal_if_ours(Signal::SIGTERM) {
            return false;
        }
        if !self.wait_gone(grace).await {
            self.signal_if_ours(Signal::SIGKILL);
            self.wait_gone(grace).await;
        }
        true
    }
}

/// The process runs `program`: as its executable, or as the script an interpreter runs
/// (`#!` scripts show as `interpreter <script> …`).
fn runs_program(pid: u32, program: &Path) -> bool {
    if executable_of(pid).is_some_and(|exe| same_program(&exe, program)) {
        return true;
    }
    script_of(pid).is_some_and(|script| same_program(&script, program))
}

/// `/proc/<pid>/exe` on Linux; elsewhere the `comm` column of `ps`, which is the executable path.
fn executable_of(pid: u32) -> Option<PathBuf> {
    if Path::new("/proc/self/exe").exists() {
        let target = std::fs::read_link(format!("/proc/{pid}/exe")).ok()?;
        // A binary rebuilt while its process runs shows as "<path> (deleted)": still ours.
        let text = target.to_string_lossy();
        return Some(PathBuf::from(
            text.strip_suffix(" (deleted)").unwrap_or(&text),
        ));
    }
    ps_column(pid, "comm=").map(PathBuf::from)
}

/// The second word of the command line (the script, for an interpreted program).
fn script_of(pid: u32) -> Option<PathBuf> {
    if Path::new("/proc/self/cmdline").exists() {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let arg = cmdline.split(|b| *b == 0).nth(1)?;
        return Some(PathBuf::from(String::from_utf8_lossy(arg).into_owned()));
    }
    ps_column(pid, "command=")?
        .split_whitespace()
        .nth(1)
        .map(PathBuf::from)
}

fn ps_column(pid: u32, column: &str) -> Option<String> {
    let out = std::process::Command::new("ps")
        .args(["-o", column, "-p", &pid.to_string()])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (out.status.success() && !text.is_empty()).then_some(text)
}

/// Same executable: equal paths, or (when `ps` reports a shortened name) the same file name.
fn same_program(actual: &Path, recorded: &Path) -> bool {
    if actual.is_absolute() {
        let canonical = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
        return actual == recorded || canonical(actual) == canonical(recorded);
    }
    recorded.file_name() == actual.file_name()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_current_process_is_ours() {
        let me = ProcessRecord::current().unwrap();
        assert!(me.is_ours());
    }

    #[test]
    fn another_program_with_our_pid_is_not_ours() {
        let me = ProcessRecord::current().unwrap();
        let impostor = ProcessRecord {
            program: "/usr/bin/not-sidefx".into(),
            ..me
        };
        assert!(!impostor.is_ours());
        assert!(!impostor.signal_if_ours(Signal::SIGTERM));
    }

    #[test]
    fn an_invalid_pid_is_not_ours() {
        let gone = ProcessRecord {
            pid: 0,
            program: "/bin/sh".into(),
        };
        assert!(!gone.is_ours());
    }

    #[tokio::test]
    async fn terminate_stops_a_child_and_skips_a_dead_one() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let program = executable_of(child.id()).unwrap();
        let record = ProcessRecord {
            pid: child.id(),
            program,
        };
        assert!(record.is_ours());
        assert!(record.terminate(Duration::from_secs(5)).await || !record.is_ours());
        let status = child.wait().unwrap();
        assert!(!status.success());
        assert!(!record.terminate(Duration::from_secs(1)).await);
    }
}
