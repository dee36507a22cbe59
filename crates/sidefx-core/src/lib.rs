//! The shared pieces of the exactly-once side-effect pattern: identifiers, the commands and
//! events that travel over DriftQ, the SQLite store that decides claims, the create-only ticket
//! artifacts, a typed publisher, and the configuration and telemetry every binary shares.
//!
//! Start reading at [`store`] (where a claim is decided) and [`artifacts`] (the side effect).
//!
//! Features (all on by default): `openapi` (utoipa schemas of the wire types), `config`
//! (the clap flags every binary shares), `telemetry` (the tracing subscriber), `prometheus`
//! (the metrics recorder) and `publisher` (the typed DriftQ publisher, with its HTTP client).
//! With `default-features = false` the crate is the ids, messages, store, artifacts and
//! verifier alone: see docs/INTEGRATE_IN_YOUR_APP.md.

pub mod artifacts;
#[cfg(feature = "config")]
pub mod config;
pub mod ids;
pub mod messages;
pub mod metrics;
#[cfg(feature = "publisher")]
pub mod publisher;
pub mod receipt;
pub mod shutdown;
pub mod store;
#[cfg(feature = "telemetry")]
pub mod telemetry;
pub mod topics;
pub mod verify;

pub use artifacts::{ArtifactError, Artifacts, LedgerEntry, Ticket, TicketFile, TicketWrite};
#[cfg(feature = "config")]
pub use config::{ChaosArgs, DriftqArgs, LogFormat, StoreArgs, TelemetryArgs};
pub use ids::{BusinessKey, EffectId, IdError, RunId, StepId};
pub use messages::{
    Command, DlqKind, DlqRecord, Event, FailMode, RuleViolation, RunCommand, RunRequest,
    SkipReason, now_ms,
};
#[cfg(feature = "publisher")]
pub use publisher::{PublishError, Publisher};
pub use receipt::Receipt;
pub use shutdown::shutdown_signal;
pub use store::{
    BadCursor, Claim, CreateRun, Discard, EffectRow, EffectStatus, MarkDone, NewClaim, NewRetry,
    NewRun, PendingRun, RecordedEvent, Redrive, RedriveRefused, RunCursor, RunFilter, RunPage,
    RunRow, RunStatus, ScheduledRetry, Store, StoreError,
};
#[cfg(feature = "telemetry")]
pub use telemetry::TelemetryError;
pub use topics::{
    COMMANDS_PARTITIONS, COMMANDS_TOPIC, DLQ_TOPIC, EVENTS_TOPIC_PREFIX, events_topic,
    partitions_for,
};
pub use verify::{VerifyError, VerifyOptions, VerifyReport, verify};
