//! The workers `sidefx status` lists from the store, as the API's `GET /debug/workers` shows
//! them: every process that beat in the last day, alive or not, with what it has in hand. The
//! process table above it says what the supervisor started; this says what actually runs and
//! works, and covers workers the supervisor does not know (Docker, other hosts).

use serde::Serialize;
use sidefx_api::routes::workers::{WorkerView, WorkersResponse};
use sidefx_core::now_ms;

use crate::ui::Style;

/// Workers listed at most (the most recently seen).
const LIMIT: u32 = 20;

/// One worker, as the report shows it.
#[derive(Debug, Serialize)]
pub struct WorkerLine {
    owner: String,
    host: String,
    pid: u32,
    alive: bool,
    stopped: bool,
    steps_in_hand: u32,
    last_seen_secs_ago: i64,
}

impl WorkerLine {
    fn new(view: WorkerView, now: i64) -> Self {
        Self {
            alive: view.alive,
            stopped: view.stopped_ms.is_some(),
            steps_in_hand: view.steps_in_hand,
            last_seen_secs_ago: now.saturating_sub(view.last_seen_ms) / 1000,
            owner: view.owner,
            host: view.host,
            pid: view.pid,
        }
    }
}

/// The workers the API at `api` knows, or why they could not be read. A plain request, not
/// the API client: the stack's modules stay below the client, which reads the stack's state.
pub async fn fetch(api: &str, admin_token: Option<&str>) -> Result<Vec<WorkerLine>, String> {
    let client = crate::health::probe_client().map_err(|e| e.to_string())?;
    let mut request = client.get(format!("{api}/debug/workers?limit={LIMIT}"));
    if let Some(token) = admin_token.filter(|t| !t.is_empty()) {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.map_err(|e| e.to_string())?;
    match response.status().as_u16() {
        200 => {}
        401 => return Err("the API is locked; pass --admin-token (or set API_ADMIN_TOKEN)".into()),
        status => return Err(format!("HTTP {status}")),
    }
    let answer: WorkersResponse = response.json().await.map_err(|e| e.to_string())?;
    let now = now_ms();
    Ok(answer
        .workers
        .into_iter()
        .map(|w| WorkerLine::new(w, now))
        .collect())
}

/// `  workers     2 alive` and a line per worker.
pub fn print(workers: Result<&[WorkerLine], &str>, style: Style) {
    let workers = match workers {
        Ok(workers) => workers,
        Err(why) => {
            println!(
                "  {:<11} {}",
                "workers",
                style.warn(&format!("not read: {why}"))
            );
            return;
        }
    };
    let alive = workers.iter().filter(|w| w.alive).count();
    println!(
        "  {:<11} {alive} alive (heartbeats in the store)",
        "workers"
    );
    for w in workers {
        let state = match (w.alive, w.stopped) {
            (true, _) => style.ok(&format!("{:<9}", "alive")),
            (false, true) => style.dim(&format!("{:<9}", "stopped")),
            (false, false) => style.err(&format!("{:<9}", "silent")),
        };
        println!(
            "    {state} {} {}",
            w.owner,
            style.dim(&format!(
                "host {} pid {} in hand {} seen {}s ago",
                w.host, w.pid, w.steps_in_hand, w.last_seen_secs_ago
            ))
        );
    }
}
