//! Micro-benchmarks of the store's hot paths on a temp-dir database with the real pragmas
//! (WAL, `synchronous = FULL`): every write here includes its fsync, as in production.
//!
//! `cargo bench -p sidefx-core --bench store -- --warm-up-time 1 --measurement-time 3`

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sidefx_core::{
    BusinessKey, Claim, EffectId, MarkDone, NewClaim, NewRun, Receipt, RunId, StepId, Store,
};
use tokio::runtime::Runtime;

const OWNER: &str = "bench-worker";
const LEASE: Duration = Duration::from_secs(30);
/// Concurrent callers in the batch benchmark: the worker's default concurrency.
const CONCURRENCY: usize = 16;

/// Unique ids across iterations (a claim or run must be new each time).
static NEXT: AtomicU64 = AtomicU64::new(0);

fn unique(prefix: &str) -> String {
    format!("{prefix}{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

fn new_claim(run: &str) -> NewClaim {
    let run_id = RunId::parse(run).expect("run id");
    let step_id = StepId::charge_card();
    let business_key = BusinessKey::parse(&format!("order-{run}")).expect("key");
    NewClaim {
        effect_id: EffectId::new(&run_id, &step_id, &business_key),
        run_id,
        step_id,
        business_key,
        payload_json: r#"{"type":"run.command","amount":49.99}"#.to_owned(),
        owner: OWNER.to_owned(),
        lease: LEASE,
    }
}

fn new_run() -> NewRun {
    let run_id = RunId::generate();
    NewRun {
        business_key: BusinessKey::parse(&format!("order-{run_id}")).expect("key"),
        request_json: r#"{"business_key":"order-1","amount":49.99}"#.to_owned(),
        idempotency_key: Some(run_id.to_string()),
        request_fingerprint: r#"{"business_key":"order-1","amount":49.99}"#.to_owned(),
        run_id,
    }
}

/// The worker's exactly-once path for a fresh effect: claim (insert) then mark done.
async fn claim_and_mark_done(store: &Store) {
    let claim = new_claim(&unique("r"));
    let effect_id = claim.effect_id.clone();
    assert_eq!(store.claim(claim).await.expect("claim"), Claim::Acquired);
    let done = store
        .mark_done(&effect_id, OWNER, &Receipt::ticket("ticket.json"))
        .await;
    assert_eq!(done.expect("mark done"), MarkDone::Done);
}

fn store_benches(c: &mut Criterion) {
    let rt = Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let store = rt
        .block_on(Store::open(&dir.path().join("bench.sqlite")))
        .expect("store");

    c.bench_function("claim_then_mark_done", |b| {
        b.iter(|| rt.block_on(claim_and_mark_done(&store)));
    });

    let done = new_claim("done-run");
    rt.block_on(async {
        store.claim(done.clone()).await.expect("claim");
        store
            .mark_done(&done.effect_id, OWNER, &Receipt::ticket("t"))
            .await
            .expect("done");
    });
    c.bench_function("claim_already_done", |b| {
        b.iter(|| {
            let claim = rt.block_on(store.claim(done.clone())).expect("claim");
            assert!(matches!(claim, Claim::AlreadyDone(_)));
        });
    });

    c.bench_function("create_run", |b| {
        b.iter(|| rt.block_on(store.create_run(new_run())).expect("create"));
    });

    let mut group = c.benchmark_group("concurrent");
    group.throughput(Throughput::Elements(CONCURRENCY as u64));
    group.bench_function("create_run_x16", |b| {
        b.iter(|| rt.block_on(concurrently(|| store.create_run(new_run()))));
    });
    group.bench_function("claim_then_mark_done_x16", |b| {
        b.iter(|| rt.block_on(concurrently(|| claim_and_mark_done(&store))));
    });
    group.finish();
}

/// Runs [`CONCURRENCY`] calls of `f` at once, as concurrent requests would.
async fn concurrently<F, Fut>(f: F)
where
    F: Fn() -> Fut,
    Fut: Future,
{
    futures::future::join_all((0..CONCURRENCY).map(|_| f())).await;
}

criterion_group!(benches, store_benches);
criterion_main!(benches);
