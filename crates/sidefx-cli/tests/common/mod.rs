//! Helpers of the black-box tests that drive the `sidefx` binary: running it with a deadline,
//! and guards that stop every stack a test started (by the PIDs in its state files), also
//! when an assertion fails.

#![allow(dead_code)] // Each test file uses a different part.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The `sidefx` binary under test.
pub const SIDEFX: &str = env!("CARGO_BIN_EXE_sidefx");

/// `sidefx up` for a test: local mode, in the background, every port picked by the OS.
pub const UP_LOCAL_ON_FREE_PORTS: &[&str] = &[
    "up",
    "--local",
    "--detached",
    "--api-port",
    "0",
    "--driftq-port",
    "0",
];

/// Fails with the fix when the service binaries were not built.
pub fn require_service_binaries() {
    for name in ["driftq-local", "sidefx-api", "sidefx-worker"] {
        let path: PathBuf = Path::new(SIDEFX).with_file_name(name);
        assert!(
            path.is_file(),
            "{} is missing: run `cargo build --workspace --bins` before these tests (`make test` does)",
            path.display()
        );
    }
}

/// Fails with the fix when the provider simulator was not built (provider-mode tests).
pub fn require_provider_binary() {
    require_service_binaries();
    let path: PathBuf = Path::new(SIDEFX).with_file_name("sidefx-provider");
    assert!(
        path.is_file(),
        "{} is missing: run `cargo build --workspace --bins` before these tests",
        path.display()
    );
}

/// Runs `sidefx --data-dir <dir> <args>`, killing it (by its PID) if it outlives `timeout`.
pub fn sidefx(dir: &Path, args: &[&str], timeout: Duration) -> Output {
    let mut command = Command::new(SIDEFX);
    command.arg("--data-dir").arg(dir);
    run(command, args, timeout)
}

/// Runs `command` (a `sidefx` command line, before its `args`) without colours, collecting
/// its output; kills it (by its PID) if it outlives `timeout`.
pub fn run(mut command: Command, args: &[&str], timeout: Duration) -> Output {
    let mut child = command
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run sidefx");
    // Drain the pipes on threads so a chatty child cannot block on a full pipe.
    let stdout = drain(child.stdout.take().expect("stdout"));
    let stderr = drain(child.stderr.take().expect("stderr"));
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for sidefx") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let status = child.wait().expect("wait for killed sidefx");
            let out = stdout.join().unwrap_or_default();
            let err = stderr.join().unwrap_or_default();
            panic!(
                "sidefx {args:?} did not finish within {timeout:?} ({status})\n--- stdout\n{}--- stderr\n{}",
                String::from_utf8_lossy(&out),
                String::from_utf8_lossy(&err)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}

fn drain(mut pipe: impl std::io::Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    })
}

/// Status and both streams, for assertion messages.
pub fn text(output: &Output) -> String {
    format!(
        "status: {}\n--- stdout\n{}--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A temp dir holding stacks (in it or in its subdirectories); dropping it runs `sidefx down`
/// for every stack still recorded there, then deletes the dir.
#[derive(Debug)]
pub struct StacksDir {
    /// The directory.
    pub dir: tempfile::TempDir,
}

impl StacksDir {
    /// A fresh temp dir.
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for StacksDir {
    fn drop(&mut self) {
        let root = self.dir.path().to_path_buf();
        let subdirs = std::fs::read_dir(&root)
            .map(|entries| entries.flatten().map(|e| e.path()).collect::<Vec<_>>())
            .unwrap_or_default();
        for dir in std::iter::once(root).chain(subdirs) {
            if dir.join("state.json").is_file() {
                let _ = sidefx(&dir, &["down"], Duration::from_secs(60));
            }
        }
    }
}

/// An `http://127.0.0.1:PORT` URL where nothing listens (the OS picked the port and it was
/// released again), for testing what commands do when the API is unreachable.
pub fn unreachable_api() -> String {
    let listener =
        std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).expect("bind a free port");
    let port = listener.local_addr().expect("local address").port();
    format!("http://127.0.0.1:{port}")
}
