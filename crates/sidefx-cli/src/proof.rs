//! The exactly-once proof of a demo run, read from the API: the run must have left exactly one
//! side-effect row (status `done`) and exactly one ticket file. Rows come from `GET /runs/{id}`
//! (falling back to `/debug/side-effects` for an API without it), tickets from `/debug/artifacts`.

use anyhow::{Context, Result};
use serde::Deserialize;

/// How many recent rows of `/debug/side-effects` are searched for the run's row.
const ROW_WINDOW: u32 = 200;

/// One row of `GET /debug/side-effects` (only the fields the proof reads).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct EffectRow {
    /// `run_id:step_id:business_key`.
    pub effect_id: String,
    /// The run that claimed it.
    pub run_id: String,
    /// The caller's key (the provider's charge reference).
    #[serde(default)]
    pub business_key: String,
    /// `in_progress` or `done`.
    pub status: String,
    /// The ticket file, once done.
    #[serde(default)]
    pub artifact_path: Option<String>,
    /// Claims of the effect (first claim + takeovers), where the API reports it.
    #[serde(default)]
    pub attempts: Option<u32>,
    /// What the effect left behind, once done (absent from APIs without receipts).
    #[serde(default)]
    pub receipt: Option<Receipt>,
}

/// The receipt of a done effect: the ticket it wrote, or the charge it made.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Receipt {
    /// The ticket effect: the file it created.
    Ticket {
        /// The ticket file.
        #[serde(default)]
        path: Option<String>,
    },
    /// The provider effect: the charge, then the ticket holding its id.
    Charge {
        /// The provider's charge id, `ch_…`.
        charge_id: String,
        /// The ticket file.
        #[serde(default)]
        ticket_path: Option<String>,
    },
    /// A kind this CLI does not know yet.
    #[serde(other)]
    Other,
}

impl EffectRow {
    /// The charge id of the receipt, for an effect that charged the provider.
    pub fn charge_id(&self) -> Option<&str> {
        match &self.receipt {
            Some(Receipt::Charge { charge_id, .. }) => Some(charge_id),
            _ => None,
        }
    }
}

/// `GET /runs/{id}` (only the fields the proof reads).
#[derive(Debug, Deserialize)]
struct RunView {
    status: String,
    effects: Vec<EffectRow>,
}

/// One entry of `GET /debug/artifacts`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TicketFile {
    /// File name, `ticket_<business_key>.json`.
    pub name: String,
    /// Size in bytes.
    pub bytes: u64,
}

#[derive(Debug, Deserialize)]
struct Items<T> {
    items: Vec<T>,
}

/// What the debug views say about one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    /// The run's durable status, where the API reports it.
    pub run_status: Option<String>,
    /// Side-effect rows of the run.
    pub rows: Vec<EffectRow>,
    /// Ticket files of the run's business key.
    pub tickets: Vec<TicketFile>,
}

/// Whether the proof holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// One row, done, one ticket, and (where the API reports it) the run `completed`.
    Holds,
    /// Not there yet (the run may still be finishing).
    Pending(String),
    /// More than one row or ticket: a duplicated side effect.
    Violated(String),
}

/// The ticket file name the worker writes for a business key.
pub fn ticket_name(business_key: &str) -> String {
    format!("ticket_{business_key}.json")
}

impl Evidence {
    /// Reads the rows of `run_id` and the tickets of `business_key` from the API.
    pub async fn collect(
        client: &reqwest::Client,
        api: &str,
        run_id: &str,
        business_key: &str,
    ) -> Result<Self> {
        let (run_status, rows) =
            match get_json::<RunView>(client, &format!("{api}/runs/{run_id}")).await? {
                Some(run) => (Some(run.status), run.effects),
                None => {
                    let url = format!("{api}/debug/side-effects?limit={ROW_WINDOW}");
                    let effects: Items<EffectRow> = get_json(client, &url)
                        .await?
                        .with_context(|| format!("GET {url}: 404"))?;
                    (None, effects.items)
                }
            };
        let url = format!("{api}/debug/artifacts");
        let tickets: Items<TicketFile> = get_json(client, &url)
            .await?
            .with_context(|| format!("GET {url}: 404"))?;
        let name = ticket_name(business_key);
        Ok(Self {
            run_status,
            rows: rows.into_iter().filter(|r| r.run_id == run_id).collect(),
            tickets: tickets
                .items
                .into_iter()
                .filter(|t| t.name == name)
                .collect(),
        })
    }

    /// Judges the evidence.
    pub fn verdict(&self) -> Verdict {
        let (rows, tickets) = (self.rows.len(), self.tickets.len());
        if rows > 1 || tickets > 1 {
            return Verdict::Violated(format!(
                "{rows} side-effect rows and {tickets} ticket files for one run"
            ));
        }
        match (self.rows.first(), tickets) {
            (None, _) => Verdict::Pending("no side-effect row for the run yet".into()),
            (Some(row), _) if row.status != "done" => {
                Verdict::Pending(format!("the side-effect row is {}", row.status))
            }
            (Some(_), 0) => Verdict::Pending("no ticket file yet".into()),
            // The worker records `completed` alongside `run.completed`, not before it, so a
            // reader that saw the event may still find the run `running` for a moment.
            _ => match self.run_status.as_deref() {
                Some(status) if status != "completed" => {
                    Verdict::Pending(format!("the durable registry still says {status}"))
                }
                _ => Verdict::Holds,
            },
        }
    }
}

/// GETs JSON; `None` on 404.
async fn get_json<T: serde::de::DeserializeOwned>(
    client: &reqwest::Client,
    url: &str,
) -> Result<Option<T>> {
    let response = client
        .get(url)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    if response.status() == reqwest::StatusCode::NOT_FOUND {
        return Ok(None);
    }
    let response = response
        .error_for_status()
        .with_context(|| format!("GET {url}"))?;
    response
        .json()
        .await
        .map(Some)
        .with_context(|| format!("GET {url}: unexpected body"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(status: &str) -> EffectRow {
        EffectRow {
            effect_id: "r:charge_card:k".into(),
            run_id: "r".into(),
            business_key: "k".into(),
            status: status.into(),
            artifact_path: None,
            attempts: Some(1),
            receipt: None,
        }
    }

    fn ticket() -> TicketFile {
        TicketFile {
            name: ticket_name("k"),
            bytes: 120,
        }
    }

    #[test]
    fn one_done_row_and_one_ticket_hold() {
        let evidence = Evidence {
            run_status: None,
            rows: vec![row("done")],
            tickets: vec![ticket()],
        };
        assert_eq!(evidence.verdict(), Verdict::Holds);
    }

    #[test]
    fn missing_pieces_are_pending() {
        let none = Evidence {
            run_status: None,
            rows: vec![],
            tickets: vec![],
        };
        assert!(matches!(none.verdict(), Verdict::Pending(_)));
        let in_progress = Evidence {
            run_status: None,
            rows: vec![row("in_progress")],
            tickets: vec![ticket()],
        };
        assert!(matches!(in_progress.verdict(), Verdict::Pending(m) if m.contains("in_progress")));
        let no_ticket = Evidence {
            run_status: None,
            rows: vec![row("done")],
            tickets: vec![],
        };
        assert!(matches!(no_ticket.verdict(), Verdict::Pending(m) if m.contains("ticket")));
    }

    #[test]
    fn a_run_the_registry_has_not_marked_completed_yet_is_pending() {
        let mut evidence = Evidence {
            run_status: Some("running".into()),
            rows: vec![row("done")],
            tickets: vec![ticket()],
        };
        assert!(matches!(evidence.verdict(), Verdict::Pending(m) if m.contains("running")));
        evidence.run_status = Some("completed".into());
        assert_eq!(evidence.verdict(), Verdict::Holds);
    }

    #[test]
    fn duplicates_violate() {
        let twice = Evidence {
            run_status: None,
            rows: vec![row("done"), row("done")],
            tickets: vec![ticket()],
        };
        assert!(matches!(twice.verdict(), Verdict::Violated(_)));
    }

    #[test]
    fn reads_the_original_json_shapes() {
        let effects: Items<EffectRow> = serde_json::from_str(
            r#"{"count":1,"items":[{"effect_id":"r:s:k","run_id":"r","step_id":"s","business_key":"k",
                "status":"done","artifact_path":"/data/artifacts/tickets/ticket_k.json","created_ms":1,
                "updated_ms":2,"payload":{}}]}"#,
        )
        .unwrap();
        assert_eq!(effects.items[0].status, "done");
        assert_eq!(effects.items[0].receipt, None);
        let charged: EffectRow = serde_json::from_value(serde_json::json!({
            "effect_id": "r:s:k", "run_id": "r", "business_key": "k", "status": "done",
            "receipt": {"kind": "charge", "charge_id": "ch_1", "ticket_path": "/t"}
        }))
        .unwrap();
        assert_eq!(charged.charge_id(), Some("ch_1"));
        let ticket: EffectRow = serde_json::from_value(serde_json::json!({
            "effect_id": "r:s:k", "run_id": "r", "status": "done",
            "receipt": {"kind": "ticket", "path": "/t"}, "business_key": "k"
        }))
        .unwrap();
        assert_eq!(
            ticket.receipt,
            Some(Receipt::Ticket {
                path: Some("/t".into())
            })
        );
        let tickets: Items<TicketFile> = serde_json::from_str(
            r#"{"tickets_dir":"/d","count":1,"items":[{"name":"ticket_k.json","bytes":9}]}"#,
        )
        .unwrap();
        assert_eq!(
            tickets.items,
            [TicketFile {
                name: "ticket_k.json".into(),
                bytes: 9
            }]
        );
    }
}
