//! sidefx-core (under construction)
