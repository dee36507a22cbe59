//! The dashboard's end-to-end harness: a headless Chromium driven through chromedriver
//! (both Debian packages; `scripts/install-test-deps` installs them) against a real local
//! stack from `sidefx_testkit::TestStack`.
//!
//! - [`Browser`]: one session over its own chromedriver, on a free port; dropping it quits
//!   Chromium and stops chromedriver by its PID, also when a test panics.
//! - [`Browser::console_errors`]: the browser's own console log (uncaught errors,
//!   `console.error`, failed loads), read through chromedriver, so a page cannot hide them.
//! - [`Browser::screenshot`]: PNGs into [`screenshot_dir`], which `make screenshots` copies
//!   into `docs/screenshots/`.

mod browser;
mod chromedriver;

use std::path::PathBuf;

pub use browser::{Browser, DESKTOP, LogEntry, PHONE};
pub use chromedriver::{BrowserBinaries, ChromeDriver, INSTALL_HINT};

/// Where screenshots go: `$SIDEFX_SCREENSHOTS_DIR`, else `screenshots/` in the target
/// directory of the running test (`target/screenshots`).
pub fn screenshot_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("SIDEFX_SCREENSHOTS_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().expect("the test's executable");
    // target/<profile>/deps/<test binary>
    let target = exe.ancestors().nth(3).expect("the target directory");
    target.join("screenshots")
}
