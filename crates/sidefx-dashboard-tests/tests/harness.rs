//! The harness's own checks: the console check fails on a page that throws or calls
//! `console.error` (so the dashboard tests' "no console errors" can fail), and a page wider
//! than the viewport is measured as overflowing.

use sidefx_dashboard_tests::{Browser, PHONE};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_check_fails_on_a_page_that_throws() {
    let browser = Browser::start().await;
    browser.goto("data:text/html,<p>quiet</p>").await;
    assert_eq!(browser.check_console("a quiet page").await, Ok(()));

    browser
        .goto("data:text/html,<script>throw new Error('deliberately broken page')</script>")
        .await;
    let failed = browser.check_console("a page that throws").await;
    let report = failed.expect_err("the check fails on a page that throws");
    assert!(report.contains("deliberately broken page"), "{report}");

    browser
        .goto("data:text/html,<script>console.error('said out loud')</script>")
        .await;
    let failed = browser.check_console("a page that logs an error").await;
    let report = failed.expect_err("the check fails on console.error");
    assert!(report.contains("said out loud"), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_wider_than_a_phone_overflows() {
    let browser = Browser::start().await;
    browser.resize(PHONE).await;
    browser
        .goto("data:text/html,<meta name=viewport content='width=device-width'><div style='width:600px'>wide</div>")
        .await;
    assert!(browser.horizontal_overflow().await > 0);
    browser
        .goto("data:text/html,<meta name=viewport content='width=device-width'><p>narrow</p>")
        .await;
    assert_eq!(browser.horizontal_overflow().await, 0);
}
