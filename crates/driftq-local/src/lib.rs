//! driftq-local (under construction)
