//! [`Receipt`]: what proves that a side effect happened, stored in its `done` row.
//!
//! The receipt is the effect's own evidence (the ticket it wrote, the charge the provider
//! made), so a reader can check the effect where it happened instead of trusting the row.

use serde::{Deserialize, Serialize};

/// The proof of one performed side effect, as stored in `side_effects.receipt_json` and shown
/// by `GET /runs/{id}` and `/debug/side-effects`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Receipt {
    /// Ticket mode: the ticket file is the effect itself.
    Ticket {
        /// Where the ticket is.
        path: String,
    },
    /// Provider mode: a charge at the payments provider; the ticket is its local file proof
    /// and holds the same charge id.
    Charge {
        /// The provider's charge id (`ch_…`).
        charge_id: String,
        /// Where the ticket naming the charge is.
        ticket_path: String,
    },
    /// Your own effect: the id of the record the remote side keeps (a webhook delivery, an
    /// e-mail message id, an LLM response id). No file.
    Remote {
        /// The remote record's id.
        id: String,
    },
}

impl Receipt {
    /// A ticket-mode receipt.
    pub fn ticket(path: impl Into<String>) -> Self {
        Receipt::Ticket { path: path.into() }
    }

    /// The ticket file the effect left, if any: the original's `artifact_path`.
    pub fn artifact_path(&self) -> Option<&str> {
        match self {
            Receipt::Ticket { path } => Some(path),
            Receipt::Charge { ticket_path, .. } => Some(ticket_path),
            Receipt::Remote { .. } => None,
        }
    }

    /// The provider's charge id, in provider mode.
    pub fn charge_id(&self) -> Option<&str> {
        match self {
            Receipt::Charge { charge_id, .. } => Some(charge_id),
            Receipt::Ticket { .. } | Receipt::Remote { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipts_are_tagged_by_kind() {
        let charge = Receipt::Charge {
            charge_id: "ch_1".into(),
            ticket_path: "tickets/ticket_k.json".into(),
        };
        let json = serde_json::to_value(&charge).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"kind":"charge","charge_id":"ch_1","ticket_path":"tickets/ticket_k.json"})
        );
        assert_eq!(serde_json::from_value::<Receipt>(json).unwrap(), charge);
        assert_eq!(charge.artifact_path(), Some("tickets/ticket_k.json"));
        assert_eq!(Receipt::Remote { id: "d1".into() }.artifact_path(), None);
        assert_eq!(Receipt::ticket("t").charge_id(), None);
    }
}
