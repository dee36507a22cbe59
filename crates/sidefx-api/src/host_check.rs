//! The optional `Host` allow-list (`API_ALLOWED_HOSTS`), against DNS rebinding: a web page
//! on `evil.example` whose name is made to resolve to 127.0.0.1 can reach a loopback API
//! from the victim's browser, but its requests carry `Host: evil.example`.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::state::AppState;

/// Accepted `Host` values, lowercased; empty = any.
#[derive(Debug, Clone, Default)]
pub struct AllowedHosts(Arc<[String]>);

impl AllowedHosts {
    /// From the configured entries (trimmed, lowercased, empty ones ignored).
    pub fn new(entries: &[String]) -> Self {
        let hosts: Vec<String> = entries
            .iter()
            .map(|e| e.trim().to_ascii_lowercase())
            .filter(|e| !e.is_empty())
            .collect();
        AllowedHosts(hosts.into())
    }

    /// Whether a request with this `Host` header (or none) is accepted. An entry without a
    /// port accepts the host on any port.
    pub fn allows(&self, host: Option<&str>) -> bool {
        if self.0.is_empty() {
            return true;
        }
        let Some(host) = host.map(str::to_ascii_lowercase) else {
            return false;
        };
        let name = match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => host.as_str(),
        };
        self.0
            .iter()
            .any(|allowed| *allowed == host || allowed == name)
    }
}

/// Middleware: 421 `misdirected_request` for a `Host` outside the allow-list.
pub(crate) async fn check_host(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok());
    if state.allowed_hosts.allows(host) {
        next.run(request).await
    } else {
        ApiError::MisdirectedHost.into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_with_and_without_ports() {
        let hosts = AllowedHosts::new(&["localhost".into(), " API.example.com:8000 ".into()]);
        assert!(hosts.allows(Some("localhost")));
        assert!(hosts.allows(Some("localhost:8000")));
        assert!(hosts.allows(Some("api.example.com:8000")));
        assert!(!hosts.allows(Some("api.example.com:9000")));
        assert!(!hosts.allows(Some("evil.example:8000")));
        assert!(!hosts.allows(None));
        assert!(AllowedHosts::new(&[]).allows(Some("anything")));
    }
}
