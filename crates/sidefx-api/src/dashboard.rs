//! The web dashboard at `/ui/`: hand-written HTML, CSS and JavaScript modules from
//! `crates/sidefx-api/ui/`, compiled into the binary, so the API serves them with no files
//! beside it and the browser loads nothing from anywhere else (the policy below forbids it).
//! The pages call the API's own routes; `ui/README.md` says what each one shows.

use axum::extract::Path;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};

use crate::error::ApiError;

/// Where the dashboard lives.
pub const DASHBOARD_PATH: &str = "/ui/";

/// One embedded file.
struct Asset {
    /// Its path below `/ui/`.
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

/// Declares an embedded asset by its path below `ui/`.
macro_rules! asset {
    ($name:literal, $content_type:expr) => {
        Asset {
            name: $name,
            content_type: $content_type,
            body: include_str!(concat!("../ui/", $name)),
        }
    };
}

const HTML: &str = "text/html; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";

/// Every file the dashboard is made of.
const ASSETS: &[Asset] = &[
    asset!("index.html", HTML),
    asset!("app.css", CSS),
    asset!("js/main.js", JS),
    asset!("js/api.js", JS),
    asset!("js/dom.js", JS),
    asset!("js/health.js", JS),
    asset!("js/start.js", JS),
    asset!("js/runs.js", JS),
    asset!("js/run.js", JS),
    asset!("js/timeline.js", JS),
    asset!("js/dead_letters.js", JS),
    asset!("js/actions.js", JS),
];

/// The stylesheet, also served to the login page (which must load without the token).
pub(crate) const STYLESHEET: &str = include_str!("../ui/app.css");

/// What the pages may load and run: their own scripts, styles and API, nothing inline and
/// nothing from another origin; no framing (clickjacking).
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
    form-action 'self'; frame-ancestors 'none'";

/// `GET /` and `GET /ui`: to the dashboard.
pub async fn to_dashboard() -> Redirect {
    Redirect::to(DASHBOARD_PATH)
}

/// `GET /ui/`: the dashboard's page.
pub async fn index() -> Response {
    embedded("index.html").unwrap_or_else(IntoResponse::into_response)
}

/// `GET /ui/{*file}`: a script or stylesheet of the dashboard; 404 for any other name.
pub async fn file(Path(name): Path<String>) -> Response {
    embedded(&name).unwrap_or_else(IntoResponse::into_response)
}

fn embedded(name: &str) -> Result<Response, ApiError> {
    let asset = ASSETS
        .iter()
        .find(|asset| asset.name == name)
        .ok_or(ApiError::RouteNotFound)?;
    Ok(page(asset.content_type, asset.body))
}

/// A dashboard or login response: its type and the headers every page gets. `no-cache`:
/// the files change with the binary, and a browser must not keep yesterday's script.
pub(crate) fn page(content_type: &'static str, body: impl Into<axum::body::Body>) -> Response {
    let mut response = body.into().into_response();
    let headers = response.headers_mut();
    let fixed = [
        (header::CONTENT_TYPE, content_type),
        (header::CACHE_CONTROL, "no-cache"),
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// The login page's content type, for `login.rs`.
pub(crate) const HTML_TYPE: &str = HTML;
/// The stylesheet's content type, for `login.rs`.
pub(crate) const CSS_TYPE: &str = CSS;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_is_found_by_its_name_and_nothing_else_is() {
        for asset in ASSETS {
            assert!(embedded(asset.name).is_ok(), "{}", asset.name);
            assert!(!asset.body.is_empty(), "{}", asset.name);
        }
        for name in ["", "missing.js", "../Cargo.toml", "js/../index.html"] {
            assert!(embedded(name).is_err(), "{name}");
        }
    }

    /// The targets of `attr="…"` on the lines of `text` that contain `tag`.
    fn targets<'a>(text: &'a str, tag: &str, attr: &str) -> Vec<&'a str> {
        let attr = format!("{attr}\"");
        text.lines()
            .filter(|line| line.contains(tag))
            .filter_map(|line| line.split_once(attr.as_str()))
            .filter_map(|(_, rest)| rest.split_once('"'))
            .map(|(target, _)| target)
            .collect()
    }

    #[test]
    fn the_page_loads_only_embedded_scripts_and_styles() {
        let index = ASSETS.iter().find(|a| a.name == "index.html").unwrap();
        let mut loaded = targets(index.body, "<script", "src=");
        loaded.extend(targets(index.body, "<link", "href="));
        assert!(loaded.len() >= 3, "{loaded:?}");
        for target in loaded {
            let embedded_file = target
                .strip_prefix("/ui/")
                .is_some_and(|name| embedded(name).is_ok());
            assert!(embedded_file || target.starts_with("data:"), "{target}");
        }
    }

    #[test]
    fn every_module_imports_embedded_modules_only() {
        for script in ASSETS.iter().filter(|a| a.name.ends_with(".js")) {
            for import in targets(script.body, "import ", "from ") {
                let name = import.strip_prefix("./").map(|n| format!("js/{n}"));
                let found = name.is_some_and(|name| embedded(&name).is_ok());
                assert!(found, "{} imports {import}", script.name);
            }
        }
    }
}
