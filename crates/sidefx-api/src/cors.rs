//! Which browser origins may call the API (`ALLOW_ORIGINS`), parsed once at startup and
//! turned into tower-http's `CorsLayer`.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use axum::http::HeaderValue;
use tower_http::cors::{AllowHeaders, AllowMethods, AllowOrigin, CorsLayer};

/// The parsed `ALLOW_ORIGINS` value: comma-separated origins (trimmed, empty entries
/// ignored), or `*` for any origin.
#[derive(Clone, PartialEq, Eq)]
pub enum AllowedOrigins {
    /// `*`: any origin, without credentials (browsers refuse `*` with credentials).
    Any,
    /// Exactly these origins, with credentials, as the original configured it.
    List(Arc<[HeaderValue]>),
}

/// `ALLOW_ORIGINS` contained an entry that cannot be an origin header value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid origin {0:?} in ALLOW_ORIGINS")]
pub struct InvalidOrigin(String);

impl FromStr for AllowedOrigins {
    type Err = InvalidOrigin;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let entries: Vec<&str> = s
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .collect();
        if entries.contains(&"*") {
            return Ok(AllowedOrigins::Any);
        }
        let origins = entries
            .into_iter()
            .map(|e| HeaderValue::from_str(e).map_err(|_| InvalidOrigin(e.to_owned())))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(AllowedOrigins::List(origins.into()))
    }
}

impl fmt::Debug for AllowedOrigins {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AllowedOrigins::Any => f.write_str("*"),
            AllowedOrigins::List(origins) => f.debug_list().entries(origins.iter()).finish(),
        }
    }
}

impl AllowedOrigins {
    /// The CORS layer. Methods and headers mirror the request (the original allowed `*`;
    /// a literal `*` cannot be combined with credentials, mirroring can).
    pub fn layer(&self) -> CorsLayer {
        let layer = CorsLayer::new()
            .allow_methods(AllowMethods::mirror_request())
            .allow_headers(AllowHeaders::mirror_request());
        match self {
            AllowedOrigins::Any => layer.allow_origin(AllowOrigin::any()),
            AllowedOrigins::List(origins) => layer
                .allow_origin(AllowOrigin::list(origins.iter().cloned()))
                .allow_credentials(true),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lists_and_wildcard() {
        let parsed: AllowedOrigins = " http://a.test , ,http://b.test".parse().unwrap();
        let AllowedOrigins::List(origins) = parsed else {
            panic!("expected a list");
        };
        assert_eq!(&*origins, ["http://a.test", "http://b.test"]);
        assert_eq!(
            "http://a.test, *".parse::<AllowedOrigins>(),
            Ok(AllowedOrigins::Any)
        );
        assert!("bad\norigin".parse::<AllowedOrigins>().is_err());
    }

    #[test]
    fn every_variant_builds_a_usable_layer() {
        // tower-http panics on first use for invalid combinations (`*` with credentials), so
        // build a service from each variant.
        for origins in ["*", "http://localhost:3000", ""] {
            let layer = origins.parse::<AllowedOrigins>().unwrap().layer();
            let _service = tower::ServiceBuilder::new()
                .layer(layer)
                .service(tower::service_fn(|_: axum::http::Request<()>| async {
                    Ok::<_, std::convert::Infallible>(())
                }));
        }
    }
}
