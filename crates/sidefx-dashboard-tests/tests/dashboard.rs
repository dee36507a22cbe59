//! The dashboard in a real headless Chromium against a real stack (driftq-local, the API,
//! `sidefx-worker` processes), each test with its own stack and browser: a run started from
//! the form followed live to `run.completed`, the crash demo's crash marker, lease wait and
//! skip, a dead letter redriven from its page, the login, and every page free of console
//! errors and of sideways scrolling at a phone's width. Screenshots of the main pages go to
//! `target/screenshots/` (`make screenshots` copies them into `docs/screenshots/`).

use std::time::Duration;

use fantoccini::Locator;
use serde_json::json;
use sidefx_core::{RunId, RunStatus};
use sidefx_dashboard_tests::{Browser, DESKTOP, PHONE};
use sidefx_testkit::{TestStack, poll_until};

/// The admin token of every test stack: the dashboard is locked, as it would be when shared.
const TOKEN: &str = "dashboard-test-token";
/// How long a page may take to show what it was asked for.
const UI: Duration = Duration::from_secs(20);
/// How long a run may take (a crash waits out a lease and a worker restart).
const RUN: Duration = Duration::from_secs(60);

/// A locked stack with `workers` worker processes.
async fn stack(workers: usize) -> TestStack {
    TestStack::builder()
        .workers(workers)
        .admin_token(TOKEN)
        .spawn()
        .await
}

/// Opens the dashboard, is sent to the login page, logs in and lands on the dashboard.
async fn log_in(browser: &Browser, api: &str) {
    browser.goto(&format!("{api}/ui/")).await;
    assert_eq!(
        path(browser).await,
        "/login",
        "a locked dashboard asks for the token"
    );
    let token = browser.wait_for("#token", UI).await;
    token.send_keys(TOKEN).await.expect("typing the token");
    browser
        .wait_for("#login", UI)
        .await
        .click()
        .await
        .expect("log in");
    poll_until("the dashboard after logging in", UI, async || {
        (path(browser).await == "/ui/").then_some(())
    })
    .await;
    browser.wait_for("#health-api.ok", UI).await;
}

async fn path(browser: &Browser) -> String {
    let url = browser.client.current_url().await.expect("current url");
    url.path().to_owned()
}

/// Starts a run from the form with `fail_mode`; its id, from the answer the page shows.
async fn start_from_form(
    browser: &Browser,
    api: &str,
    fail_mode: &str,
    key: Option<&str>,
) -> RunId {
    browser.goto(&format!("{api}/ui/#/start")).await;
    let mode = browser.wait_for("#fail-mode", UI).await;
    mode.select_by_value(fail_mode).await.expect("fail mode");
    if let Some(key) = key {
        let input = browser.wait_for("#idempotency-key", UI).await;
        input.send_keys(key).await.expect("typing the key");
    }
    browser
        .wait_for("#start", UI)
        .await
        .click()
        .await
        .expect("start");
    let link = browser.wait_for("#run-link", UI).await;
    RunId::parse(&link.text().await.expect("run id")).expect("a run id")
}

/// Waits until the timeline shows an event of `kind`, restarting workers that crashed.
async fn wait_event(stack: &mut TestStack, browser: &Browser, kind: &str) {
    let css = format!(r#".event[data-type="{kind}"]"#);
    let what = format!("the timeline to show {kind}");
    poll_until(&what, RUN, async || {
        stack.supervise();
        browser.has(&css).await.then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_started_from_the_form_is_followed_live_to_completion() {
    // No worker yet: the run waits, so the page is open before anything happens to it.
    let mut stack = stack(0).await;
    let browser = Browser::start().await;
    log_in(&browser, &stack.api_url).await;
    let run = start_from_form(&browser, &stack.api_url, "none", Some("e2e-form-1")).await;

    // Sending the same body with the same key again answers the same run.
    browser
        .wait_for("#send-again", UI)
        .await
        .click()
        .await
        .expect("send again");
    browser.wait_for_text("#same-run", "Same run_id", UI).await;
    browser.wait_for_text("#replayed", "true", UI).await;
    browser.screenshot("start-a-run").await;

    browser
        .wait_for("#run-link", UI)
        .await
        .click()
        .await
        .expect("open the run");
    browser
        .wait_for(r#"#run-facts[data-status="queued"]"#, UI)
        .await;
    browser
        .wait_for(r#".event[data-type="run.created"]"#, UI)
        .await;
    assert!(!browser.has(r#".event[data-type="run.completed"]"#).await);
    // Marks this page load: still there at the end means nothing reloaded the page.
    browser.eval("window.sameLoad = 1; return null").await;

    stack.add_worker();
    wait_event(&mut stack, &browser, "run.completed").await;
    assert_eq!(
        browser.eval("return window.sameLoad").await,
        json!(1),
        "updated live"
    );
    browser
        .wait_for(r#"#run-facts[data-status="completed"]"#, UI)
        .await;
    let receipt = browser
        .wait_for_text(
            r#"[data-status="done"] .receipt"#,
            "ticket tickets/ticket_",
            UI,
        )
        .await;
    assert!(receipt.ends_with(".json"), "{receipt}");
    browser.assert_no_console_errors("the run page").await;
    stack.assert_run_charged_once(&run).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_crash_demo_shows_the_crash_the_lease_wait_and_the_skip() {
    let mut stack = stack(1).await;
    let browser = Browser::start().await;
    log_in(&browser, &stack.api_url).await;
    let run = start_from_form(
        &browser,
        &stack.api_url,
        "crash_after_effect_before_ack",
        None,
    )
    .await;
    browser
        .wait_for("#run-link", UI)
        .await
        .click()
        .await
        .expect("open the run");

    wait_event(&mut stack, &browser, "run.completed").await;
    browser
        .wait_for(r#".event.crash[data-type="chaos.crash_now"]"#, UI)
        .await;
    let gap = browser
        .wait_for_text(r#"[data-gap="lease"]"#, "lease wait until redelivery", UI)
        .await;
    assert!(gap.starts_with("worker crashed"), "{gap}");
    browser
        .wait_for_text(".badge.skipped", "already done", UI)
        .await;
    let executing = browser
        .client
        .find_all(Locator::Css(r#".event[data-type="side_effect.executing"]"#))
        .await
        .expect("find");
    assert_eq!(executing.len(), 1, "the effect ran once");
    assert!(
        stack.exits.contains(&Some(137)),
        "the worker crashed: {:?}",
        stack.exits
    );
    // The invariants hold over the store and the tickets once the run is done (the strip
    // re-reads them every 10 s).
    browser
        .wait_for_text("#health-invariants.ok", "effects done 1 · tickets 1", RUN)
        .await;
    browser
        .assert_no_console_errors("the crash demo's run page")
        .await;
    // The end of the timeline: the crash, the lease wait, the redelivery's skip.
    browser
        .eval("window.scrollTo(0, document.documentElement.scrollHeight); return null")
        .await;
    browser.screenshot("run-crash-demo").await;
    stack.assert_run_charged_once(&run).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_is_redriven_from_its_page_and_completes() {
    let mut stack = stack(1).await;
    // Every attempt the run has fails: it is dead-lettered after its second.
    let body = json!({"business_key": "e2e-dead-1", "fail_before_effect_n": 2, "max_attempts": 2});
    let run = stack.post_run(body, None).await;
    stack.wait_status(&run, RunStatus::DeadLettered, RUN).await;

    let browser = Browser::start().await;
    log_in(&browser, &stack.api_url).await;
    browser
        .goto(&format!("{}/ui/#/dead-letters", stack.api_url))
        .await;
    let row = format!(r#"#dead-letters tr[data-run="{run}"]"#);
    browser
        .wait_for_text(&format!("{row} .reason-text"), "fail", UI)
        .await;
    browser.screenshot("dead-letters").await;
    let redrive = browser.wait_for(&format!("{row} button.redrive"), UI).await;
    redrive.click().await.expect("redrive");
    stack.wait_status(&run, RunStatus::Completed, RUN).await;

    browser
        .goto(&format!("{}/ui/#/run/{run}", stack.api_url))
        .await;
    wait_event(&mut stack, &browser, "run.completed").await;
    browser
        .wait_for(r#".event[data-type="run.redriven"]"#, UI)
        .await;
    browser
        .assert_no_console_errors("the dead letters and the run page")
        .await;
    stack.assert_run_charged_once(&run).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_login_refuses_a_wrong_token_and_logging_out_locks_again() {
    let stack = stack(0).await;
    let browser = Browser::start().await;
    browser.goto(&format!("{}/ui/#/runs", stack.api_url)).await;
    assert_eq!(path(&browser).await, "/login");
    let token = browser.wait_for("#token", UI).await;
    token.send_keys("not-the-token").await.expect("typing");
    browser
        .wait_for("#login", UI)
        .await
        .click()
        .await
        .expect("log in");
    browser
        .wait_for_text(".form-error", "not the admin token", UI)
        .await;
    let source = browser.client.source().await.expect("page source");
    assert!(!source.contains(TOKEN) && !source.contains("not-the-token"));

    log_in(&browser, &stack.api_url).await;
    browser.wait_for("#runs-table", UI).await;
    browser
        .wait_for(".logout button", UI)
        .await
        .click()
        .await
        .expect("log out");
    poll_until("the login page after logging out", UI, async || {
        (path(&browser).await == "/login").then_some(())
    })
    .await;
    browser.goto(&format!("{}/ui/", stack.api_url)).await;
    assert_eq!(path(&browser).await, "/login", "locked again");
}

/// The main pages, each with what shows it has loaded.
fn pages(run: &RunId) -> Vec<(String, String, &'static str)> {
    vec![
        ("runs".into(), "#/runs".into(), "#runs-table table"),
        ("start".into(), "#/start".into(), "#start-form"),
        (
            "dead-letters".into(),
            "#/dead-letters".into(),
            "#dead-letters table",
        ),
        (
            "run".into(),
            format!("#/run/{run}"),
            r#".event[data-type="run.completed"]"#,
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_is_free_of_console_errors_and_fits_a_phone() {
    let mut stack = stack(1).await;
    // A run of each kind: done at once, done after a retry, dead-lettered.
    let bodies = [
        json!({"business_key": "e2e-pages-1"}),
        json!({"business_key": "e2e-pages-2", "fail_before_effect_n": 1}),
        json!({"business_key": "e2e-pages-3", "fail_before_effect_n": 2, "max_attempts": 2}),
    ];
    let mut runs = Vec::new();
    for body in bodies {
        runs.push(stack.post_run(body, None).await);
    }
    for (run, status) in runs.iter().zip([
        RunStatus::Completed,
        RunStatus::Completed,
        RunStatus::DeadLettered,
    ]) {
        stack.wait_status(run, status, RUN).await;
    }
    let run = runs[1].clone();
    let browser = Browser::start().await;
    log_in(&browser, &stack.api_url).await;
    browser.wait_for("#health-invariants.ok", UI).await;
    for size in [DESKTOP, PHONE] {
        browser.resize(size).await;
        for (name, hash, loaded) in pages(&run) {
            browser.goto(&format!("{}/ui/{hash}", stack.api_url)).await;
            browser.wait_for(loaded, UI).await;
            browser.wait_for("#health-invariants.ok", UI).await;
            let overflow = browser.horizontal_overflow().await;
            assert!(
                overflow <= 0,
                "{name} at {size:?} scrolls sideways by {overflow} px"
            );
            browser
                .assert_no_console_errors(&format!("{name} at {size:?}"))
                .await;
            if size == DESKTOP && name == "runs" {
                browser.screenshot("runs").await;
            }
            if size == PHONE && name == "run" {
                browser.screenshot("run-phone").await;
            }
        }
    }
}
