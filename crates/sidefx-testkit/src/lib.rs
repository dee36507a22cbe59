//! What the workspace's tests share, so each crate's tests say what they check and not how
//! they wait for it:
//!
//! - [`poll_until`] (and [`poll_until_blocking`]): call a check until it gives a value, with
//!   a short growing pause, failing at a deadline with a message naming what was awaited.
//!   Tests never synchronise with fixed sleeps.
//! - [`module_graph::assert_no_circle`]: a crate's top-level modules import each other in no
//!   circle.
//! - With the `stack` feature (on by default): [`TestStack`], the whole system in one value
//!   (driftq-local and the API in-process, the payments provider in-process in provider mode,
//!   real `sidefx-worker` processes restarted when they exit, killed by PID when it drops),
//!   and [`assert_charged_once`], the exactly-once assertion counted where the effect
//!   happens.
//!
//! Without `stack` the kit needs only tokio, so the crates the stack is built from can use
//! its polling in their own tests (`default-features = false`).

pub mod module_graph;
mod poll;

pub use poll::{poll_until, poll_until_blocking};

#[cfg(feature = "stack")]
mod charges;
#[cfg(feature = "stack")]
mod stack;

#[cfg(feature = "stack")]
pub use charges::{assert_charged_once, charges_of};
#[cfg(feature = "stack")]
pub use stack::{Effect, TestProvider, TestStack, TestStackBuilder, WorkerProcess, spawn_broker};
