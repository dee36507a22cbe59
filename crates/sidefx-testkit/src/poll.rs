//! Polling with a deadline: the one way the tests wait for something to happen.

use std::future::Future;
use std::panic::Location;
use std::time::{Duration, Instant};

/// The first pause between two checks; each following one is twice as long, up to
/// [`LONGEST_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(10);
/// The longest pause between two checks.
const LONGEST_PAUSE: Duration = Duration::from_millis(200);

/// Calls `check` until it returns `Some`, pausing 10 ms after the first miss, twice as long
/// after each further one (at most 200 ms), and returns its value.
///
/// `check` is an async closure (`async || …`) or a closure returning a future
/// (`|| async { … }`, or `|| { sync_part(); async move { … } }`).
///
/// # Panics
///
/// When `timeout` passes first (a check still running then is dropped), with a message
/// naming `what`, the timeout and the line that called `poll_until`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use std::time::Duration;
/// let mut calls = 0;
/// let third = sidefx_testkit::poll_until("the third call", Duration::from_secs(5), || {
///     calls += 1;
///     std::future::ready((calls == 3).then_some(calls))
/// })
/// .await;
/// assert_eq!(third, 3);
/// # }
/// ```
#[track_caller]
pub fn poll_until<T>(
    what: &str,
    timeout: Duration,
    mut check: impl AsyncFnMut() -> Option<T>,
) -> impl Future<Output = T> {
    let caller = Location::caller();
    async move {
        let polling = async {
            let mut pause = FIRST_PAUSE;
            loop {
                if let Some(value) = check().await {
                    return value;
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(LONGEST_PAUSE);
            }
        };
        match tokio::time::timeout(timeout, polling).await {
            Ok(value) => value,
            Err(_) => timed_out(what, timeout, caller),
        }
    }
}

/// Like [`poll_until`], for tests without a runtime: calls `check` until it returns `Some`,
/// sleeping the thread between two checks (10 ms, doubling up to 200 ms).
///
/// # Panics
///
/// When `timeout` passes first, naming `what`, the timeout and the calling line.
#[track_caller]
pub fn poll_until_blocking<T>(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> Option<T>,
) -> T {
    let caller = Location::caller();
    let deadline = Instant::now() + timeout;
    let mut pause = FIRST_PAUSE;
    loop {
        if let Some(value) = check() {
            return value;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            timed_out(what, timeout, caller);
        }
        std::thread::sleep(pause.min(left));
        pause = (pause * 2).min(LONGEST_PAUSE);
    }
}

fn timed_out(what: &str, timeout: Duration, caller: &Location<'_>) -> ! {
    panic!("timed out after {timeout:?} waiting for {what} (poll_until at {caller})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    #[should_panic(expected = "timed out after 50ms waiting for a value that never comes")]
    async fn panics_at_its_deadline_naming_what_it_waited_for() {
        let mut calls = 0;
        poll_until(
            "a value that never comes",
            Duration::from_millis(50),
            || {
                calls += 1;
                std::future::ready(None::<()>)
            },
        )
        .await;
    }

    #[tokio::test]
    #[should_panic(expected = "(poll_until at crates/sidefx-testkit/src/poll.rs:")]
    async fn the_panic_names_the_calling_line() {
        poll_until("nothing", Duration::from_millis(10), async || None::<()>).await;
    }

    #[tokio::test]
    #[should_panic(expected = "timed out after 50ms waiting for a check that hangs")]
    async fn a_check_that_hangs_still_ends_at_the_deadline() {
        poll_until(
            "a check that hangs",
            Duration::from_millis(50),
            std::future::pending::<Option<()>>,
        )
        .await;
    }

    #[tokio::test]
    async fn returns_the_first_value() {
        let mut calls = 0;
        let value = poll_until("the fourth call", Duration::from_secs(10), || {
            calls += 1;
            std::future::ready((calls == 4).then_some(calls))
        })
        .await;
        assert_eq!(value, 4);
    }

    #[test]
    #[should_panic(expected = "timed out after 30ms waiting for a file that never appears")]
    fn the_blocking_variant_panics_at_its_deadline_naming_what() {
        poll_until_blocking(
            "a file that never appears",
            Duration::from_millis(30),
            || None::<()>,
        );
    }

    #[test]
    fn the_blocking_variant_returns_the_first_value() {
        let mut calls = 0;
        let value = poll_until_blocking("the second call", Duration::from_secs(10), || {
            calls += 1;
            (calls == 2).then_some("done")
        });
        assert_eq!(value, "done");
    }
}
