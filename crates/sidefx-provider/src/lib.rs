//! `sidefx-provider`: a Stripe-like payments provider simulator. The worker's provider effect
//! charges a card here, and test harnesses read its ledger to count real executions.
//!
//! [`wire`] (always compiled) is the JSON contract; feature `client` adds [`client`], the
//! typed client.

pub mod wire;

#[cfg(feature = "client")]
pub mod client;

#[cfg(feature = "client")]
pub use client::{ChargeReply, ClientError, ProviderClient};
