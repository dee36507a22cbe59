//! sidefx-worker (under construction)
