//! The mutation check: a step broken on purpose, so that a test can prove the evidence
//! (the provider's ledger, the ticket ledger) sees a double execution. Without a harness
//! that fails on a broken worker, "0 duplicates" would mean nothing.
//!
//! Set by `SIDEFX_MUTATION=rerun_effect` and honoured by debug builds only: a release worker
//! refuses to start with it (see `config.rs`), so it can never run in production. The broken
//! step itself is in `broken_step.rs`.

/// How the step is broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum Mutation {
    /// A worker without the pattern: the claim's verdict is ignored and the effect performed
    /// on every delivery, with a provider idempotency key unique to the delivery (and, in
    /// ticket mode, without the create-only check). Every redelivery charges again.
    RerunEffect,
}
