//! Ticket writes: create-only under concurrency, intact content, listing.

use super::*;

fn ticket(key: &str, note: &str) -> Ticket {
    let run_id = RunId::parse("r1").unwrap();
    let business_key = BusinessKey::parse(key).unwrap();
    Ticket {
        created_ms: 1,
        effect_id: EffectId::new(&run_id, &StepId::charge_card(), &business_key),
        run_id,
        step_id: StepId::charge_card(),
        business_key,
        amount: 49.99,
        note: note.to_owned(),
        charge_id: None,
    }
}

#[test]
fn ticket_path_is_the_originals() {
    let artifacts = Artifacts::new(PathBuf::from("data/artifacts"));
    let key = BusinessKey::parse("order-7").unwrap();
    assert_eq!(
        artifacts.ticket_path(&key),
        Path::new("data/artifacts/tickets/ticket_order-7.json")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_create_once_and_never_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let artifacts = Artifacts::new(dir.path().to_path_buf());
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..16 {
        let (artifacts, t) = (artifacts.clone(), ticket("order-1", &format!("writer {i}")));
        tasks.spawn(async move { (artifacts.write_ticket(&t).await.unwrap(), t) });
    }
    let mut winners = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let (outcome, t) = joined.unwrap();
        assert_eq!(outcome.path(), artifacts.ticket_path(&t.business_key));
        if let TicketWrite::Created(_) = outcome {
            winners.push(t);
        }
    }
    assert_eq!(winners.len(), 1, "exactly one writer creates the ticket");
    let key = BusinessKey::parse("order-1").unwrap();
    let on_disk = artifacts.read_ticket(&key).await.unwrap().unwrap();
    assert_eq!(on_disk, winners[0], "the winner's content, whole");
    assert!(artifacts.ticket_exists(&key).await.unwrap());

    let names: Vec<_> = fs::read_dir(artifacts.tickets_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["ticket_order-1.json"], "no temp files left behind");
}

#[tokio::test]
async fn a_second_write_leaves_the_first_ticket_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let artifacts = Artifacts::new(dir.path().to_path_buf());
    let first = artifacts.write_ticket(&ticket("k", "first")).await.unwrap();
    let second = artifacts
        .write_ticket(&ticket("k", "second"))
        .await
        .unwrap();
    assert!(matches!(first, TicketWrite::Created(_)));
    assert_eq!(
        second,
        TicketWrite::AlreadyExisted(first.path().to_path_buf())
    );
    let key = BusinessKey::parse("k").unwrap();
    assert_eq!(
        artifacts.read_ticket(&key).await.unwrap().unwrap().note,
        "first"
    );
}

#[tokio::test]
async fn list_tickets_sorted_last_n_without_temp_files() {
    let dir = tempfile::tempdir().unwrap();
    let artifacts = Artifacts::new(dir.path().to_path_buf());
    assert!(
        artifacts.list_tickets(10).await.unwrap().is_empty(),
        "missing dir = no tickets"
    );
    assert!(
        !artifacts
            .ticket_exists(&BusinessKey::parse("a").unwrap())
            .await
            .unwrap()
    );

    for key in ["c", "a", "b"] {
        artifacts.write_ticket(&ticket(key, "n")).await.unwrap();
    }
    fs::write(artifacts.tickets_dir().join(".tmp-abc.json"), b"{").unwrap();
    let listed = artifacts.list_tickets(2).await.unwrap();
    let names: Vec<_> = listed.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["ticket_b.json", "ticket_c.json"]);
    assert!(listed.iter().all(|f| f.bytes > 0));
    assert_eq!(artifacts.list_tickets(100).await.unwrap().len(), 3);
}

#[test]
fn ticket_json_has_the_original_fields() {
    let json = serde_json::to_value(ticket("k", "n")).unwrap();
    for field in [
        "created_ms",
        "run_id",
        "step_id",
        "business_key",
        "amount",
        "note",
        "effect_id",
    ] {
        assert!(json.get(field).is_some(), "{field}");
    }
}

#[tokio::test]
async fn the_ledger_keeps_one_line_per_execution_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let artifacts = Artifacts::new(dir.path().join("artifacts"));
    assert!(
        artifacts.read_ledger().await.unwrap().is_empty(),
        "no ledger yet"
    );
    for (key, owner) in [("a", "w1"), ("b", "w2"), ("a", "w3")] {
        let t = ticket(key, "n");
        let entry = LedgerEntry {
            effect_id: t.effect_id,
            business_key: t.business_key,
            run_id: t.run_id,
            owner: owner.to_owned(),
            ts_ms: 1,
        };
        artifacts.append_ledger(entry).await.unwrap();
    }
    // A writer killed mid-line leaves a torn tail: skipped, not fatal.
    let ledger = dir.path().join("artifacts/ledger.jsonl");
    let mut file = OpenOptions::new().append(true).open(&ledger).unwrap();
    file.write_all(b"{\"effect_id\":\"r1:charge").unwrap();
    let owners: Vec<String> = artifacts
        .read_ledger()
        .await
        .unwrap()
        .into_iter()
        .map(|e| format!("{}@{}", e.business_key, e.owner))
        .collect();
    assert_eq!(owners, ["a@w1", "b@w2", "a@w3"]);
}

#[tokio::test]
async fn a_ticket_for_a_charge_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let artifacts = Artifacts::new(dir.path().to_path_buf());
    let mut t = ticket("paid", "n");
    t.charge_id = Some("ch_1".to_owned());
    artifacts.write_ticket(&t).await.unwrap();
    artifacts.sync_tickets_dir().await.unwrap();
    let read = artifacts
        .read_ticket(&t.business_key)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.charge_id.as_deref(), Some("ch_1"));
}
