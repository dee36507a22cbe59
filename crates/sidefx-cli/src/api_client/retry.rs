//! The retry policy of the client, the part people copy: a `503` (the broker is full, or a
//! verification is already running) is retried after the server's `Retry-After`, otherwise
//! with a backoff of 100 ms doubling to 1 s, and never past the budget. Only `POST /runs`,
//! which carries an `Idempotency-Key`, is also retried when the API cannot be reached or the
//! answer is cut off: the key makes the repeat return the first run instead of a second one.

use std::future::Future;
use std::time::{Duration, Instant};

use super::error::Problem;

/// First retry delay; it doubles up to [`MAX_BACKOFF`] (unless the server says `Retry-After`).
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// What one attempt came to, when it was not an answer.
#[derive(Debug)]
pub enum Failure {
    /// Worth trying again (after `after`, when the server said so).
    Retry {
        /// What went wrong, for the give-up message and [`Attempts::retried`].
        why: String,
        /// The server's `Retry-After`.
        after: Option<Duration>,
    },
    /// Trying again would not help (a 4xx, an unexpected 5xx, a body of the wrong shape).
    Final(Problem),
}

/// The attempts one call took: a benchmark counts them, a torture run lists why.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attempts {
    /// Requests sent (1 = no retry needed).
    pub sent: u32,
    /// Why each retried attempt failed ("HTTP 503", "connection refused", …), in order.
    pub retried: Vec<String>,
}

/// Runs `attempt` until it answers, fails for good, or the next wait would end after
/// `budget`.
pub async fn retrying<T, Fut>(
    budget: Duration,
    attempts: &mut Attempts,
    mut attempt: impl FnMut() -> Fut,
) -> Result<T, Problem>
where
    Fut: Future<Output = Result<T, Failure>>,
{
    let deadline = Instant::now() + budget;
    let mut backoff = FIRST_BACKOFF;
    loop {
        attempts.sent += 1;
        let (why, after) = match attempt().await {
            Ok(answer) => return Ok(answer),
            Err(Failure::Final(problem)) => return Err(problem),
            Err(Failure::Retry { why, after }) => (why, after),
        };
        let wait = after.unwrap_or(backoff);
        if Instant::now() + wait > deadline {
            let secs = budget.as_secs();
            return Err(Problem::GaveUp { why, secs });
        }
        attempts.retried.push(why);
        tokio::time::sleep(wait).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// The `Retry-After` of a response, in seconds (the API never sends an HTTP date).
pub fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let secs = response.headers().get(reqwest::header::RETRY_AFTER)?;
    secs.to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
        .map(Duration::from_secs)
}
