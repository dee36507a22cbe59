//! The shared pieces of the exactly-once side-effect pattern: identifiers, the commands and
//! events that travel over DriftQ, the SQLite store that decides claims, the create-only ticket
//! artifacts, a typed publisher, and the configuration and telemetry every binary shares.
//!
//! Start reading at [`store`] (where a claim is decided) and [`artifacts`] (the side effect).

pub mod artifacts;
pub mod config;
pub mod ids;
pub mod messages;
pub mod metrics;
pub mod publisher;
pub mod receipt;
pub mod shutdown;
pub mod store;
pub mod telemetry;
pub mod topics;
pub mod verify;

pub use artifacts::{ArtifactError, Artifacts, LedgerEntry, Ticket, TicketFile, TicketWrite};
pub use config::{ChaosArgs, DriftqArgs, LogFormat, StoreArgs, TelemetryArgs};
pub use ids::{BusinessKey, EffectId, IdError, RunId, StepId};
pub use messages::{
    Command, DlqKind, DlqRecord, Event, FailMode, RuleViolation, RunCommand, RunRequest,
    SkipReason, now_ms,
};
pub use publisher::{PublishError, Publisher};
pub use receipt::Receipt;
pub use shutdown::shutdown_signal;
pub use store::{
    Claim, CreateRun, EffectRow, EffectStatus, MarkDone, NewClaim, NewRetry, NewRun, RunRow,
    RunStatus, ScheduledRetry, Store, StoreError,
};
pub use telemetry::TelemetryError;
pub use topics::{
    COMMANDS_PARTITIONS, COMMANDS_TOPIC, DLQ_TOPIC, EVENTS_TOPIC_PREFIX, events_topic,
    partitions_for,
};
pub use verify::{VerifyError, VerifyOptions, VerifyReport, verify};
