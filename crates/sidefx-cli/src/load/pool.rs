//! A small worker pool: at most N futures at a time over a list, results in input order
//! (what `buffered` does in the futures crate, with only tokio).

use std::sync::{Arc, Mutex, PoisonError};

use tokio::task::JoinSet;

/// Runs `f` over `items` with at most `concurrency` at a time; results in input order.
pub async fn map_concurrent<T, R, F, Fut>(items: Vec<T>, concurrency: usize, f: F) -> Vec<R>
where
    T: Send + 'static,
    R: Send + 'static,
    F: Fn(T) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = R> + Send,
{
    let len = items.len();
    let queue = Arc::new(Mutex::new(items.into_iter().enumerate()));
    let mut tasks = JoinSet::new();
    for _ in 0..concurrency.clamp(1, len.max(1)) {
        let (queue, f) = (Arc::clone(&queue), f.clone());
        tasks.spawn(async move {
            let mut done = Vec::new();
            loop {
                // The lock is released before the await: the next item, then the work.
                let next = queue.lock().unwrap_or_else(PoisonError::into_inner).next();
                let Some((index, item)) = next else {
                    return done;
                };
                done.push((index, f(item).await));
            }
        });
    }
    let mut results: Vec<(usize, R)> = Vec::with_capacity(len);
    while let Some(joined) = tasks.join_next().await {
        results.extend(joined.unwrap_or_default());
    }
    results.sort_by_key(|(index, _)| *index);
    results.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn map_concurrent_keeps_the_input_order() {
        let out = map_concurrent((0..50).collect(), 7, |n: u32| async move { n * 2 }).await;
        assert_eq!(out, (0..50).map(|n| n * 2).collect::<Vec<_>>());
    }
}
