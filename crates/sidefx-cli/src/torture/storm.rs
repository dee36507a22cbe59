//! The kill storm: while the load runs, a random live worker is SIGKILLed every period and
//! the supervisor restarts it at once. DriftQ redelivers what the dead worker had not acked;
//! claims it held are taken over when their lease expires.

use std::future::Future;
use std::time::Duration;

use anyhow::Result;

use crate::stack::throwaway::ThrowawayStack;

/// Runs `work` to completion while killing a random worker every `every`; returns its output.
pub async fn during<T>(
    stack: &ThrowawayStack,
    every: Duration,
    work: impl Future<Output = T>,
) -> Result<T> {
    let mut work = std::pin::pin!(work);
    let mut ticks = tokio::time::interval(every);
    // The first tick of an interval is immediate: let the stack take some load first.
    ticks.tick().await;
    loop {
        tokio::select! {
            output = &mut work => return Ok(output),
            _ = ticks.tick() => {
                // None alive (all restarting) is fine: the next tick tries again.
                stack.kill_random_worker()?;
            }
        }
    }
}
