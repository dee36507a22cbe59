//! sidefx-api (under construction)
