//! driftq-client (under construction)
