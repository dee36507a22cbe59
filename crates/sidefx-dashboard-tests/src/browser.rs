//! One headless Chromium session over its own chromedriver: pages, elements found with a
//! deadline, the browser's console log, the page's width and screenshots. Dropping it ends
//! the session (Chromium quits) and then stops chromedriver, also when a test panics.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use sidefx_testkit::poll_until;
use tempfile::TempDir;

use crate::chromedriver::{BrowserBinaries, ChromeDriver};

/// The viewport of every session, and of the screenshots.
pub const DESKTOP: (u32, u32) = (1280, 900);
/// A phone's viewport (an iPhone 12–15 in CSS pixels).
pub const PHONE: (u32, u32) = (390, 844);

/// Flags that keep Chromium quiet and self-contained here: no GPU, no sandbox (the tests run
/// as root), and none of the background connections it would make to the internet.
const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,900",
];

/// One line of the browser's console log.
#[derive(Debug, Clone)]
pub struct LogEntry {
    /// `SEVERE`, `WARNING`, `INFO`, …
    pub level: String,
    /// `javascript` (an uncaught error), `console-api` (`console.error`), `network`, …
    pub source: String,
    /// The message, with the URL and line it came from.
    pub message: String,
}

/// A browser session; see the module doc.
#[derive(Debug)]
pub struct Browser {
    /// The WebDriver client.
    pub client: Client,
    session: String,
    driver: ChromeDriver,
    http: reqwest::Client,
    _profile: TempDir,
}

impl Browser {
    /// Starts chromedriver and a Chromium session with a fresh profile, its console log kept.
    ///
    /// # Panics
    ///
    /// When the binaries are missing (saying how to install them) or do not start.
    pub async fn start() -> Browser {
        let binaries = BrowserBinaries::find().unwrap_or_else(|why| panic!("{why}"));
        let driver = ChromeDriver::start(&binaries.chromedriver).await;
        let profile = tempfile::tempdir().expect("profile dir");
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|f| (*f).to_owned()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": binaries.chromium, "args": args},
            "goog:loggingPrefs": {"browser": "ALL"},
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!("an object literal")
        };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&driver.url)
            .await
            .unwrap_or_else(|err| {
                panic!("a Chromium session (chromedriver {}): {err}", driver.url)
            });
        let session = client
            .session_id()
            .await
            .expect("session id")
            .expect("a session");
        let browser = Browser {
            client,
            session,
            driver,
            http: reqwest::Client::new(),
            _profile: profile,
        };
        browser.resize(DESKTOP).await;
        browser
    }

    /// Opens `url` and waits until it has loaded.
    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|err| panic!("opening {url}: {err}"));
    }

    /// The first element matching `css`, waiting for it up to `timeout`.
    pub async fn wait_for(&self, css: &str, timeout: Duration) -> Element {
        let what = format!("an element matching `{css}`");
        poll_until(&what, timeout, async || {
            self.client.find(Locator::Css(css)).await.ok()
        })
        .await
    }

    /// Waits until the text of the first element matching `css` contains `text`.
    pub async fn wait_for_text(&self, css: &str, text: &str, timeout: Duration) -> String {
        let what = format!("`{css}` to contain {text:?}");
        poll_until(&what, timeout, async || {
            let element = self.client.find(Locator::Css(css)).await.ok()?;
            let found = element.text().await.ok()?;
            found.contains(text).then_some(found)
        })
        .await
    }

    /// Whether an element matches `css` right now.
    pub async fn has(&self, css: &str) -> bool {
        self.client.find(Locator::Css(css)).await.is_ok()
    }

    /// Runs `script` in the page and returns what it returns.
    pub async fn eval(&self, script: &str) -> Value {
        self.client
            .execute(script, Vec::new())
            .await
            .unwrap_or_else(|err| panic!("running {script:?}: {err}"))
    }

    /// The console lines since the last call (chromedriver hands each line out once).
    pub async fn console(&self) -> Vec<LogEntry> {
        let url = format!("{}/session/{}/se/log", self.driver.url, self.session);
        let answer = self
            .http
            .post(&url)
            .json(&json!({"type": "browser"}))
            .send()
            .await;
        let body: Value = answer
            .expect("reading the browser log")
            .json()
            .await
            .expect("the browser log as JSON");
        let lines = body["value"].as_array().cloned().unwrap_or_default();
        lines
            .iter()
            .map(|line| LogEntry {
                level: line["level"].as_str().unwrap_or_default().to_owned(),
                source: line["source"].as_str().unwrap_or_default().to_owned(),
                message: line["message"].as_str().unwrap_or_default().to_owned(),
            })
            .collect()
    }

    /// The errors among [`Browser::console`]'s lines.
    pub async fn console_errors(&self) -> Vec<LogEntry> {
        let mut lines = self.console().await;
        lines.retain(|line| line.level == "SEVERE");
        lines
    }

    /// `Err` listing them if the console has errors since the last look.
    pub async fn check_console(&self, page: &str) -> Result<(), String> {
        let errors = self.console_errors().await;
        if errors.is_empty() {
            return Ok(());
        }
        Err(format!("console errors on {page}: {errors:#?}"))
    }

    /// Panics if [`Browser::check_console`] finds errors.
    pub async fn assert_no_console_errors(&self, page: &str) {
        if let Err(errors) = self.check_console(page).await {
            panic!("{errors}");
        }
    }

    /// Resizes the window so that the page's viewport is `width` × `height` CSS pixels (the
    /// window is larger by its own frame, which is measured first).
    pub async fn resize(&self, (width, height): (u32, u32)) {
        let frame = self
            .eval("return [window.outerWidth - window.innerWidth, window.outerHeight - window.innerHeight]")
            .await;
        let frame = |i: usize| u32::try_from(frame[i].as_u64().unwrap_or(0)).unwrap_or(0);
        self.client
            .set_window_size(width + frame(0), height + frame(1))
            .await
            .expect("set_window_size");
        let what = format!("the viewport to be {width}x{height}");
        poll_until(&what, Duration::from_secs(5), async || {
            let inner = self
                .eval("return [window.innerWidth, window.innerHeight]")
                .await;
            let wanted = [u64::from(width), u64::from(height)];
            (inner[0].as_u64() == Some(wanted[0]) && inner[1].as_u64() == Some(wanted[1]))
                .then_some(())
        })
        .await;
    }

    /// How far the page reaches past the viewport's right edge, in CSS pixels (0: no
    /// horizontal scrolling).
    pub async fn horizontal_overflow(&self) -> i64 {
        let script = "return document.documentElement.scrollWidth - window.innerWidth";
        self.eval(script).await.as_i64().expect("a number")
    }

    /// Saves a PNG of the viewport as `<screenshot dir>/<name>.png`.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("screenshot");
        let dir = crate::screenshot_dir();
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("writing the screenshot");
        path
    }
}

impl Drop for Browser {
    /// Ends the session, which quits Chromium, before chromedriver is stopped: killing the
    /// driver alone would leave the browser running. Blocking on purpose (a `Drop` cannot
    /// await), with short timeouts, and with no error (the driver is killed next anyway).
    fn drop(&mut self) {
        let _ = end_session(&self.driver.url, &self.session);
    }
}

/// `DELETE /session/<id>` with a plain blocking HTTP/1.1 request.
fn end_session(driver: &str, session: &str) -> std::io::Result<()> {
    let addr = driver.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.set_write_timeout(Some(Duration::from_secs(2)))?;
    let request =
        format!("DELETE /session/{session} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes())?;
    // Reading the answer waits until Chromium has quit.
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    Ok(())
}
