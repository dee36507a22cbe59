//! Which API a command talks to: its base URL (the flag, else the stack recorded in the data
//! dir) and the admin token its `/debug/*` routes may require.

use anyhow::Result;
use clap::Args;

use super::ApiClient;
use crate::stack::DataDir;
use crate::stack::state::StackState;

/// The API of a stack started without a state file (e.g. `docker compose up` by hand).
const DEFAULT_API: &str = "http://localhost:8000";

/// The token of an API started with `API_ADMIN_TOKEN` (its `/debug/*` routes need it).
#[derive(Debug, Clone, Default, Args)]
pub struct AdminArgs {
    /// Bearer token for the API's admin routes (`/debug/*`, `/metrics`), when the API was
    /// started with API_ADMIN_TOKEN. Unset: none is sent (the local default is open).
    #[arg(
        long,
        env = "API_ADMIN_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub admin_token: Option<String>,
}

impl AdminArgs {
    /// A client of the API at `api` that sends the token (if any) with every request.
    pub fn client(&self, api: &str) -> Result<ApiClient> {
        ApiClient::new(api, self.admin_token.as_deref())
    }
}

/// `--api`, else the API of the stack recorded in the data dir, else localhost:8000.
pub fn api_url(flag: Option<&str>, dir: &DataDir) -> Result<String> {
    let url = match flag {
        Some(url) => url.to_owned(),
        None => StackState::load(dir)?.map_or_else(|| DEFAULT_API.to_owned(), |s| s.api_url),
    };
    Ok(url.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_url_comes_from_the_flag_then_the_state_then_the_default() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = DataDir::new(tmp.path()).unwrap();
        assert_eq!(api_url(Some("http://h:1/"), &dir).unwrap(), "http://h:1");
        assert_eq!(api_url(None, &dir).unwrap(), DEFAULT_API);
    }
}
