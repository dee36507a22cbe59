//! How the commands reach the sidefx API: its base URL (the flag, else the stack recorded in
//! the data dir) and the admin token its `/debug/*` routes may require.

use anyhow::Result;
use clap::Args;

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
    /// An HTTP client that sends the token (if any) with every request, and gives up
    /// connecting after 3 s.
    pub fn client(&self) -> anyhow::Result<reqwest::Client> {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(token) = self.admin_token.as_deref().filter(|t| !t.is_empty()) {
            let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|_| anyhow::anyhow!("API_ADMIN_TOKEN is not a valid header value"))?;
            value.set_sensitive(true);
            headers.insert(reqwest::header::AUTHORIZATION, value);
        }
        Ok(reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(3))
            .default_headers(headers)
            .build()?)
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
