//! chromedriver as a child process on a free port, stopped by its PID when dropped (also when
//! a test panics), and where the browser binaries are.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use sidefx_testkit::poll_until;

/// What a machine without the browser is told, by every test that needs it.
pub const INSTALL_HINT: &str = "the dashboard tests drive Debian's headless Chromium through \
    chromedriver; install both with `scripts/install-test-deps` (as root, or with sudo: it runs \
    `apt-get update && apt-get install -y chromium chromium-driver`), or point CHROMIUM and \
    CHROMEDRIVER at the binaries";

/// How long chromedriver may take to answer its status route.
const DRIVER_START: Duration = Duration::from_secs(20);

/// The Chromium and chromedriver binaries: `$CHROMIUM` / `$CHROMEDRIVER`, else the first of
/// the usual names on `PATH`.
#[derive(Debug, Clone)]
pub struct BrowserBinaries {
    /// The browser.
    pub chromium: PathBuf,
    /// Its WebDriver server (the same version as the browser).
    pub chromedriver: PathBuf,
}

impl BrowserBinaries {
    /// Finds both, or says what is missing and how to install it.
    pub fn find() -> Result<BrowserBinaries, String> {
        let chromium = locate(
            "CHROMIUM",
            &["chromium", "chromium-browser", "google-chrome"],
        );
        let chromedriver = locate("CHROMEDRIVER", &["chromedriver"]);
        match (chromium, chromedriver) {
            (Some(chromium), Some(chromedriver)) => Ok(BrowserBinaries {
                chromium,
                chromedriver,
            }),
            (chromium, _) => {
                let missing = if chromium.is_none() {
                    "chromium"
                } else {
                    "chromedriver"
                };
                Err(format!("{missing} not found: {INSTALL_HINT}"))
            }
        }
    }
}

/// `$var` if it names a file, else the first of `names` found on `PATH`.
fn locate(var: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(var).map(PathBuf::from) {
        return path.is_file().then_some(path);
    }
    let dirs: Vec<PathBuf> = std::env::split_paths(&std::env::var_os("PATH")?).collect();
    names
        .iter()
        .flat_map(|name| dirs.iter().map(move |dir| dir.join(name)))
        .find(|path| is_executable(path))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// A running chromedriver; killed by its PID when dropped.
#[derive(Debug)]
pub struct ChromeDriver {
    child: Child,
    /// Its base URL, `http://127.0.0.1:<port>`.
    pub url: String,
}

impl ChromeDriver {
    /// Starts `binary` on a free port of 127.0.0.1 and waits until it accepts sessions.
    ///
    /// # Panics
    ///
    /// When it cannot be started or is not ready in time.
    pub async fn start(binary: &Path) -> ChromeDriver {
        let port = free_port();
        let child = Command::new(binary)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| panic!("starting {}: {err}", binary.display()));
        let driver = ChromeDriver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let status = format!("{}/status", driver.url);
        let http = reqwest::Client::new();
        poll_until("chromedriver to be ready", DRIVER_START, async || {
            let answer = http.get(&status).send().await.ok()?;
            let body: serde_json::Value = answer.json().await.ok()?;
            body["value"]["ready"].as_bool().filter(|ready| *ready)
        })
        .await;
        driver
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        // `Child::kill` signals this very process by its PID; nothing else is touched.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port the OS just gave out and took back. Another process could take it before
/// chromedriver binds it; the OS hands out ephemeral ports in turn, so that is rare, and it
/// fails the start loudly rather than silently.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}
