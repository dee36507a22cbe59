//! The HTTP surface: routing exactly like the real broker's Go router (§1.2,
//! §1.5) — exact paths, method checks before any parsing, a plain-text 404
//! under `/v1/` and a JSON 404 elsewhere — plus `X-Request-Id` on every
//! response.
//!
//! | file | concept |
//! |---|---|
//! | [`conn`] | accepting connections, read timeout, graceful shutdown (§1.1) |
//! | [`input`] | query string vs JSON body (§1.6) |
//! | [`limits`] | input limits of this broker that the real one lacks |
//! | [`gojson`] | Go-style decoding of the fixed-structure bodies (case-insensitive names) |
//! | [`topics`], [`produce`] (+ [`produce_json`]), [`consume`], [`ack`], [`meta`] | the endpoints |
//! | [`response`] | bodies, error rendering, 404/405 |
//! | [`request_id`] | `X-Request-Id` echo/generation |

pub mod ack;
pub mod conn;
pub mod consume;
pub mod gojson;
pub mod input;
pub mod limits;
pub mod meta;
pub mod produce;
pub mod produce_json;
pub mod request_id;
pub mod response;
pub mod topics;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::Method;
use axum::response::Response;

use crate::error::ApiError;
use crate::state::Shared;
use crate::state::stream_budget::Disconnect;

/// Handler state: the shared broker state.
#[derive(Debug, Clone)]
pub struct AppState {
    /// Broker state and WAL.
    pub shared: Arc<Shared>,
    /// Time allowed for a request body to arrive (the head has its own, equal budget).
    pub read_timeout: Duration,
}

/// The router. Everything goes through one fallback so that 404/405 and
/// redirects follow Go's rules rather than axum's.
pub fn app(state: AppState) -> Router {
    Router::new().fallback(handle).with_state(state)
}

async fn handle(State(app): State<AppState>, req: Request) -> Response {
    let request_id = request_id::for_request(req.headers());
    let mut resp = route(&app, req).await;
    resp.headers_mut().insert("x-request-id", request_id);
    resp
}

/// Allowed methods of an endpoint (the `Allow` header on 405).
fn allowed(path: &str) -> Option<&'static str> {
    match path {
        "/v1/healthz" | "/v1/version" | "/v1/consume" => Some("GET"),
        "/v1/produce" | "/v1/ack" | "/v1/nack" => Some("POST"),
        "/v1/topics" => Some("GET, POST"),
        _ => None,
    }
}

async fn route(app: &AppState, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    if let Some(clean) = redirect_target(&path) {
        let location = match req.uri().query() {
            Some(q) => format!("{clean}?{q}"),
            None => clean,
        };
        return response::redirect(&location);
    }
    if path == "/metrics" {
        return meta::metrics(app);
    }
    let Some(allow) = allowed(&path) else {
        return if path.starts_with("/v1/") {
            response::not_found_text()
        } else {
            response::not_found_json()
        };
    };
    let method = req.method().clone();
    if !allow.split(", ").any(|m| m == method.as_str()) {
        return response::method_not_allowed(allow);
    }
    match endpoint(app, &path, &method, req).await {
        Ok(resp) => resp,
        Err(e) => response::error(&e),
    }
}

async fn endpoint(
    app: &AppState,
    path: &str,
    method: &Method,
    req: Request,
) -> Result<Response, ApiError> {
    match (path, method) {
        ("/v1/healthz", _) => return Ok(meta::healthz(app)),
        ("/v1/version", _) => return Ok(meta::version()),
        ("/v1/topics", &Method::GET) => return Ok(topics::list(app)),
        _ => {}
    }
    let (parts, body) = req.into_parts();
    let input = input::read(&parts.headers, parts.uri.query(), body, app.read_timeout).await?;
    match path {
        "/v1/topics" => topics::create(app, &input),
        "/v1/produce" => produce::produce(app, &input).await,
        "/v1/consume" => {
            let disconnect = parts.extensions.get::<Disconnect>().cloned();
            consume::consume(app, &input, disconnect).await
        }
        "/v1/ack" => ack::handle(app, &input, ack::Kind::Ack).await,
        _ => ack::handle(app, &input, ack::Kind::Nack).await,
    }
}

/// Go's router redirects `/v1` to `/v1/` and unclean paths to their cleaned form.
fn redirect_target(path: &str) -> Option<String> {
    if path == "/v1" {
        return Some("/v1/".to_owned());
    }
    let clean = clean_path(path);
    (clean != path).then_some(clean)
}

/// Go's `path.Clean` for a rooted path, keeping a trailing slash.
fn clean_path(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    let mut out = format!("/{}", parts.join("/"));
    if path.ends_with('/') && out != "/" {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::clean_path;

    #[test]
    fn cleans_like_go() {
        assert_eq!(clean_path("/v1//healthz"), "/v1/healthz");
        assert_eq!(clean_path("/v1/./topics"), "/v1/topics");
        assert_eq!(clean_path("/v1/x/../topics"), "/v1/topics");
        assert_eq!(clean_path("/v1/healthz/"), "/v1/healthz/");
        assert_eq!(clean_path("/"), "/");
    }
}
