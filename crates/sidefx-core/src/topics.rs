//! DriftQ topic names, shared by the API, the worker and the CLI (the original's names).

use crate::ids::RunId;

/// Commands for the worker group: one `run.command` per attempt.
pub const COMMANDS_TOPIC: &str = "sidefx.commands";

/// Dead letters: one `sidefx.dlq` record per run that exhausted its attempts.
pub const DLQ_TOPIC: &str = "sidefx.dlq";

/// The worker's consumer group on [`DLQ_TOPIC`]: it copies every dead letter into the store's
/// archive and acks it. DriftQ refuses the 101st message of a partition that no group ever
/// acked (its backpressure counts from the slowest group that once committed), so without an
/// acking group `sidefx.dlq` would jam after 100 dead letters; `/debug/dlq` reads the archive.
pub const DLQ_ARCHIVE_GROUP: &str = "sidefx-dlq-archive";

/// Prefix of each run's own event topic; see [`events_topic`].
pub const EVENTS_TOPIC_PREFIX: &str = "sidefx.events.";

/// Partitions of [`COMMANDS_TOPIC`]. Commands are keyed by run id, so one run's commands stay
/// in order on one partition. DriftQ allows only 2 in-flight messages per partition and group,
/// so a single partition would cap the whole worker group at 2 concurrent steps.
pub const COMMANDS_PARTITIONS: u32 = 8;

/// The event topic of one run: `sidefx.events.<run_id>`.
pub fn events_topic(run: &RunId) -> String {
    format!("{EVENTS_TOPIC_PREFIX}{run}")
}

/// How many partitions a topic is created with: [`COMMANDS_PARTITIONS`] for the commands
/// topic, 1 for everything else (events must stay in order; the DLQ is low volume).
pub fn partitions_for(topic: &str) -> u32 {
    if topic == COMMANDS_TOPIC {
        COMMANDS_PARTITIONS
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_the_original() {
        let run = RunId::parse("abc").unwrap();
        assert_eq!(events_topic(&run), "sidefx.events.abc");
        assert_eq!(partitions_for(COMMANDS_TOPIC), 8);
        assert_eq!(partitions_for(DLQ_TOPIC), 1);
        assert_eq!(partitions_for(&events_topic(&run)), 1);
    }
}
