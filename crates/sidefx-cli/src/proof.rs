//! The exactly-once proof of a demo run, read from the API: the run must have left exactly one
//! side-effect row (status `done`) and exactly one ticket file. Rows come from `GET /runs/{id}`
//! (falling back to `/debug/side-effects` for an API without it), tickets from `/debug/artifacts`.

use anyhow::Result;
use sidefx_core::{BusinessKey, EffectStatus, RunId, RunStatus, TicketFile};

use crate::api_client::{ApiClient, SideEffectView};

/// How many recent rows of `/debug/side-effects` are searched for the run's row.
const ROW_WINDOW: usize = 200;

/// The charge id of a done effect's receipt, for an effect that charged the provider.
pub fn charge_id(row: &SideEffectView) -> Option<&str> {
    row.receipt.as_ref().and_then(|r| r.charge_id())
}

/// What the debug views say about one run.
#[derive(Debug, Clone)]
pub struct Evidence {
    /// The run's durable status, where the API reports it.
    pub run_status: Option<RunStatus>,
    /// Side-effect rows of the run.
    pub rows: Vec<SideEffectView>,
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
pub fn ticket_name(business_key: &BusinessKey) -> String {
    format!("ticket_{business_key}.json")
}

impl Evidence {
    /// Reads the rows of `run_id` and the tickets of `business_key` from the API.
    pub async fn collect(
        client: &ApiClient,
        run_id: &RunId,
        business_key: &BusinessKey,
    ) -> Result<Self> {
        let (run_status, rows) = match client.run(run_id).await? {
            Some(run) => (Some(run.status), run.effects),
            None => (None, client.side_effects(ROW_WINDOW).await?.items),
        };
        let tickets = client.artifacts().await?.items;
        let name = ticket_name(business_key);
        Ok(Self {
            run_status,
            rows: rows.into_iter().filter(|r| r.run_id == *run_id).collect(),
            tickets: tickets.into_iter().filter(|t| t.name == name).collect(),
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
            (Some(row), _) if row.status != EffectStatus::Done => {
                Verdict::Pending(format!("the side-effect row is {}", row.status.as_str()))
            }
            (Some(_), 0) => Verdict::Pending("no ticket file yet".into()),
            // The worker records `completed` alongside `run.completed`, not before it, so a
            // reader that saw the event may still find the run `running` for a moment.
            _ => match self.run_status {
                Some(status) if status != RunStatus::Completed => Verdict::Pending(format!(
                    "the durable registry still says {}",
                    status.as_str()
                )),
                _ => Verdict::Holds,
            },
        }
    }
}

/// A side-effect row as the API lists it, for the tests of the proof and the provider check.
#[cfg(test)]
pub fn effect_view(
    run: &str,
    key: &str,
    status: EffectStatus,
    receipt: Option<sidefx_core::Receipt>,
) -> SideEffectView {
    let (run_id, key) = (RunId::parse(run).unwrap(), BusinessKey::parse(key).unwrap());
    let step_id = sidefx_core::StepId::charge_card();
    SideEffectView {
        effect_id: sidefx_core::EffectId::new(&run_id, &step_id, &key),
        run_id,
        step_id,
        business_key: key,
        status,
        artifact_path: None,
        created_ms: 1,
        updated_ms: 2,
        payload: None,
        owner: None,
        attempts: 1,
        lease_expires_ms: None,
        receipt,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(status: EffectStatus) -> SideEffectView {
        effect_view("r", "k", status, None)
    }

    fn ticket() -> TicketFile {
        TicketFile {
            name: ticket_name(&BusinessKey::parse("k").unwrap()),
            bytes: 120,
        }
    }

    #[test]
    fn one_done_row_and_one_ticket_hold() {
        let evidence = Evidence {
            run_status: None,
            rows: vec![row(EffectStatus::Done)],
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
            rows: vec![row(EffectStatus::InProgress)],
            tickets: vec![ticket()],
        };
        assert!(matches!(in_progress.verdict(), Verdict::Pending(m) if m.contains("in_progress")));
        let no_ticket = Evidence {
            run_status: None,
            rows: vec![row(EffectStatus::Done)],
            tickets: vec![],
        };
        assert!(matches!(no_ticket.verdict(), Verdict::Pending(m) if m.contains("ticket")));
    }

    #[test]
    fn a_run_the_registry_has_not_marked_completed_yet_is_pending() {
        let mut evidence = Evidence {
            run_status: Some(RunStatus::Running),
            rows: vec![row(EffectStatus::Done)],
            tickets: vec![ticket()],
        };
        assert!(matches!(evidence.verdict(), Verdict::Pending(m) if m.contains("running")));
        evidence.run_status = Some(RunStatus::Completed);
        assert_eq!(evidence.verdict(), Verdict::Holds);
    }

    #[test]
    fn duplicates_violate() {
        let twice = Evidence {
            run_status: None,
            rows: vec![row(EffectStatus::Done), row(EffectStatus::Done)],
            tickets: vec![ticket()],
        };
        assert!(matches!(twice.verdict(), Verdict::Violated(_)));
    }

    #[test]
    fn reads_the_json_of_the_api() {
        let view: SideEffectView = serde_json::from_str(
            r#"{"effect_id":"r:s:k","run_id":"r","step_id":"s","business_key":"k",
                "status":"done","artifact_path":"tickets/ticket_k.json","created_ms":1,
                "updated_ms":2,"payload":{"a":1},"owner":"w","attempts":2,"lease_expires_ms":null,
                "receipt":{"kind":"charge","charge_id":"ch_1","ticket_path":"tickets/ticket_k.json"}}"#,
        )
        .unwrap();
        assert_eq!(view.status, EffectStatus::Done);
        assert_eq!(charge_id(&view), Some("ch_1"));
        assert_eq!(charge_id(&row(EffectStatus::Done)), None);
    }
}
