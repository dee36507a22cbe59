//! `GET /runs`: the runs accepted through the API, newest first, a page at a time, filtered by
//! status and business key; every bad parameter a 422 naming it.

mod common;

use std::collections::BTreeSet;

use common::TestApp;
use serde_json::{Value, json};
use sidefx_core::{RunId, RunStatus, Store};

/// Posts a run for `key` and returns its id.
async fn post(app: &TestApp, key: &str) -> String {
    let response = app.post_run(&json!({ "business_key": key }), None).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["run_id"].as_str().unwrap().to_owned()
}

/// The run ids of every page of `query`, following `next`.
async fn all_pages(app: &TestApp, query: &str) -> (Vec<String>, usize) {
    let (mut ids, mut pages, mut before) = (Vec::new(), 0, None::<String>);
    loop {
        let path = match &before {
            Some(next) => format!("/runs?{query}&before={next}"),
            None => format!("/runs?{query}"),
        };
        let (status, body) = app.get_json(&path).await;
        assert_eq!(status, 200, "{path}: {body}");
        pages += 1;
        for run in body["runs"].as_array().unwrap() {
            ids.push(run["run_id"].as_str().unwrap().to_owned());
        }
        match body["next"].as_str() {
            Some(next) => before = Some(next.to_owned()),
            None => return (ids, pages),
        }
        assert!(pages < 50, "paging does not end");
    }
}

#[tokio::test]
async fn pages_list_every_accepted_run_once_newest_first_and_filter_by_key_and_status() {
    let app = TestApp::spawn().await;
    let mut posted = Vec::new();
    for n in 0..5 {
        posted.push(post(&app, &format!("order-{}", n % 2)).await);
    }
    let (listed, pages) = all_pages(&app, "limit=2").await;
    assert_eq!(pages, 3);
    assert_eq!(listed.len(), 5);
    assert_eq!(
        listed.iter().collect::<BTreeSet<_>>(),
        posted.iter().collect::<BTreeSet<_>>(),
        "every run once"
    );
    // Newest first: the last one posted leads (posts are sequential, so creation times grow
    // or tie; a tie is broken by run id, descending).
    let (_, first) = app.get_json("/runs?limit=1").await;
    let newest = &first["runs"][0];
    assert_eq!(newest["status"], "queued");
    assert!(
        newest["created_ms"].as_i64().unwrap() >= first["runs"][0]["created_ms"].as_i64().unwrap()
    );
    assert!(
        newest.get("request").is_none(),
        "a listing carries no requests"
    );

    let (of_key, _) = all_pages(&app, "business_key=order-0&limit=1").await;
    let expected: BTreeSet<_> = [&posted[0], &posted[2], &posted[4]].into_iter().collect();
    assert_eq!(of_key.iter().collect::<BTreeSet<_>>(), expected);

    // A worker's progress, as the worker writes it.
    let store = Store::open(&app.dir.path().join("side_effects.sqlite"))
        .await
        .unwrap();
    let done = RunId::parse(&posted[1]).unwrap();
    store
        .update_run(&done, RunStatus::Completed, 1)
        .await
        .unwrap();
    let (completed, _) = all_pages(&app, "status=completed").await;
    assert_eq!(completed, [posted[1].clone()]);
    let (queued, _) = all_pages(&app, "status=queued&business_key=order-1").await;
    assert_eq!(queued, [posted[3].clone()]);
    let (none, pages) = all_pages(&app, "status=dead_lettered").await;
    assert!(none.is_empty());
    assert_eq!(pages, 1);
}

#[tokio::test]
async fn every_bad_parameter_is_a_422_naming_it() {
    let app = TestApp::spawn().await;
    for (query, field) in [
        ("status=done", "status"),
        ("status=", "status"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=ten", "limit"),
        ("before=12345", "before"),
        ("before=abc.def", "before"),
        ("business_key=", "business_key"),
        ("stauts=queued", "query"),
    ] {
        let (status, body) = app.get_json(&format!("/runs?{query}")).await;
        assert_eq!(status, 422, "{query}: {body}");
        assert_eq!(body["error"], "invalid_request", "{query}: {body}");
        assert_eq!(body["field"], field, "{query}: {body}");
    }
}
