//! DriftQ or the API killed mid-load: the runs go in `kills + 1` batches, and after each batch
//! but the last the service is SIGKILLed. The next batch is submitted at once, into the
//! outage: clients retry on connection errors and 503 with the same Idempotency-Key, which is
//! what the key is for. The supervisor restarts the service (same port, same WAL or store).

use anyhow::Result;

use crate::stack::throwaway::ThrowawayStack;
use sidefx_core::RunRequest;

use crate::load::{Load, Submission};
use crate::stack::Service;

/// Submits `specs` in batches with a kill of `service` between them. Returns the submissions
/// and how many kills landed.
pub async fn between_batches(
    stack: &ThrowawayStack,
    load: &Load,
    specs: Vec<RunRequest>,
    service: Service,
    kills: u32,
) -> Result<(Vec<Submission>, u32)> {
    let batch_size = specs.len().div_ceil(kills as usize + 1).max(1);
    let mut batches: Vec<Vec<RunRequest>> = Vec::new();
    let mut specs = specs.into_iter().peekable();
    while specs.peek().is_some() {
        batches.push(specs.by_ref().take(batch_size).collect());
    }
    let mut submissions = Vec::new();
    let mut landed = 0;
    for (index, batch) in batches.into_iter().enumerate() {
        // Each batch was accepted before the next kill, so the service is up again by then
        // and every kill hits a live process with runs in flight behind it.
        if index > 0 && landed < kills && stack.kill(service)? {
            landed += 1;
        }
        submissions.extend(load.submit(batch).await);
    }
    Ok((submissions, landed))
}
