//! Listing runs newest first, a page at a time (`Store::list_runs_page`): the pages cover every
//! run once, in order, whatever is created meanwhile; each filter returns exactly its runs.

use std::collections::BTreeSet;

use sidefx_core::{
    BusinessKey, CreateRun, NewRun, RunCursor, RunFilter, RunId, RunRow, RunStatus, Store,
};

async fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("runs.sqlite")).await.unwrap();
    (dir, store)
}

async fn create(store: &Store, key: &str) -> RunId {
    let run = NewRun {
        run_id: RunId::generate(),
        business_key: BusinessKey::parse(key).unwrap(),
        request_json: format!(r#"{{"business_key":"{key}"}}"#),
        idempotency_key: None,
        request_fingerprint: key.to_owned(),
    };
    match store.create_run(run).await.unwrap() {
        CreateRun::Created(row) => row.run_id,
        other => panic!("not created: {other:?}"),
    }
}

fn filter(status: Option<RunStatus>, key: Option<&str>, limit: u32) -> RunFilter {
    RunFilter {
        status,
        business_key: key.map(|k| BusinessKey::parse(k).unwrap()),
        before: None,
        limit,
    }
}

/// Every page of `filter`, following `next` until it is absent.
async fn all_pages(store: &Store, mut filter: RunFilter) -> Vec<Vec<RunRow>> {
    let mut pages = Vec::new();
    loop {
        let page = store.list_runs_page(filter.clone()).await.unwrap();
        pages.push(page.runs);
        match page.next {
            Some(next) => filter.before = Some(next),
            None => return pages,
        }
        assert!(pages.len() < 100, "paging does not end");
    }
}

fn ids(runs: &[RunRow]) -> Vec<RunId> {
    runs.iter().map(|r| r.run_id.clone()).collect()
}

#[tokio::test]
async fn pages_cover_every_run_once_newest_first() {
    let (_dir, store) = store().await;
    for n in 0..7 {
        create(&store, &format!("order-{}", n % 2)).await;
    }
    let pages = all_pages(&store, filter(None, None, 3)).await;
    let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
    assert_eq!(sizes, [3, 3, 1]);
    let listed: Vec<RunRow> = pages.concat();
    // Newest first, ties (runs created in one millisecond) broken by run id, descending.
    let mut expected = listed.clone();
    expected.sort_by(|a, b| (b.created_ms, &b.run_id).cmp(&(a.created_ms, &a.run_id)));
    assert_eq!(ids(&listed), ids(&expected));
    let unique: BTreeSet<RunId> = ids(&listed).into_iter().collect();
    assert_eq!(unique.len(), 7, "no run twice");
}

#[tokio::test]
async fn runs_created_while_paging_neither_shift_nor_repeat_the_pages() {
    let (_dir, store) = store().await;
    let mut older = BTreeSet::new();
    for _ in 0..4 {
        older.insert(create(&store, "order-1").await);
    }
    let first = store.list_runs_page(filter(None, None, 2)).await.unwrap();
    for _ in 0..3 {
        create(&store, "order-1").await;
    }
    let mut rest = filter(None, None, 2);
    rest.before = first.next.clone();
    let rest: Vec<RunRow> = all_pages(&store, rest).await.concat();
    let seen: BTreeSet<RunId> = ids(&first.runs).into_iter().chain(ids(&rest)).collect();
    assert_eq!(
        seen, older,
        "the pages after the first hold the older runs, each once"
    );
    assert_eq!(first.runs.len() + rest.len(), 4);
}

#[tokio::test]
async fn each_filter_returns_exactly_its_runs() {
    let (_dir, store) = store().await;
    let queued = create(&store, "order-a").await;
    let running = create(&store, "order-b").await;
    let completed = create(&store, "order-a").await;
    let dead = create(&store, "order-b").await;
    let retrying = create(&store, "order-a").await;
    for (run, status) in [
        (&running, RunStatus::Running),
        (&completed, RunStatus::Completed),
        (&dead, RunStatus::DeadLettered),
        (&retrying, RunStatus::Retrying),
    ] {
        store.update_run(run, status, 1).await.unwrap();
    }
    let listed = async |status, key| -> BTreeSet<RunId> {
        let pages = all_pages(&store, filter(status, key, 2)).await;
        ids(&pages.concat()).into_iter().collect()
    };
    let set = |runs: &[&RunId]| runs.iter().map(|r| (*r).clone()).collect::<BTreeSet<_>>();
    assert_eq!(listed(Some(RunStatus::Queued), None).await, set(&[&queued]));
    assert_eq!(
        listed(Some(RunStatus::Running), None).await,
        set(&[&running])
    );
    assert_eq!(
        listed(Some(RunStatus::Retrying), None).await,
        set(&[&retrying])
    );
    assert_eq!(
        listed(Some(RunStatus::Completed), None).await,
        set(&[&completed])
    );
    assert_eq!(
        listed(Some(RunStatus::DeadLettered), None).await,
        set(&[&dead])
    );
    assert_eq!(listed(Some(RunStatus::Rejected), None).await, set(&[]));
    assert_eq!(
        listed(None, Some("order-a")).await,
        set(&[&queued, &completed, &retrying])
    );
    assert_eq!(
        listed(Some(RunStatus::DeadLettered), Some("order-b")).await,
        set(&[&dead])
    );
    assert_eq!(
        listed(Some(RunStatus::DeadLettered), Some("order-a")).await,
        set(&[])
    );
    assert_eq!(listed(None, Some("order-none")).await, set(&[]));
    assert_eq!(listed(None, None).await.len(), 5);
}

#[test]
fn a_cursor_reads_back_what_it_wrote_and_nothing_else() {
    let cursor = RunCursor {
        created_ms: 1_764_000_000_123,
        run_id: RunId::parse("0f3a-run_1").unwrap(),
    };
    assert_eq!(RunCursor::parse(&cursor.to_string()), Ok(cursor));
    for bad in ["", "123", ".abc", "x.abc", "123.", "123.a b", "123.a.b"] {
        assert!(RunCursor::parse(bad).is_err(), "{bad:?} parsed");
    }
}
