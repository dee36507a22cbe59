//! What can go wrong with one request to the API, named by the request (`GET http://…/runs/…`)
//! so that every command reports it the same way.

use std::fmt;

/// A request that got no usable answer.
#[derive(Debug, thiserror::Error)]
#[error("{request}: {problem}")]
pub struct ApiError {
    /// `GET http://127.0.0.1:8000/debug/verify`.
    pub request: Request,
    /// What went wrong.
    pub problem: Problem,
}

/// The method and URL of a request, as error messages show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `GET` or `POST`.
    pub method: &'static str,
    /// The full URL, query included.
    pub url: String,
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.url)
    }
}

/// Why a request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// No connection, a timeout, or a connection cut mid-answer ("connection refused", …).
    #[error("{0}")]
    Transport(String),
    /// An answer with a status the request does not accept, and its body.
    #[error("HTTP {status}: {body}")]
    Status {
        /// The HTTP status code.
        status: u16,
        /// The body, trimmed (the API's `{"error": …, "message": …}`).
        body: String,
    },
    /// A body that is not the expected JSON.
    #[error("unexpected body: {0}")]
    Body(String),
    /// Still failing (503, or unreachable for `POST /runs`) when the retry budget ran out.
    #[error("{why} (still failing after {secs}s)")]
    GaveUp {
        /// The last attempt's failure.
        why: String,
        /// The retry budget, in seconds.
        secs: u64,
    },
}

/// Exit code of a command whose API could not be asked or refused the request as such.
pub const EXIT_UNREACHABLE: u8 = 2;

impl ApiError {
    /// What went wrong, with what to do about it: a locked API wants a token, an API that
    /// cannot be reached a running stack or another `--api`.
    pub fn explained(&self) -> String {
        match &self.problem {
            Problem::Status { status: 401, .. } => format!(
                "{}: the API is locked; pass --admin-token (or set API_ADMIN_TOKEN)",
                self.request
            ),
            Problem::Transport(_) => {
                format!("{self} (is the stack up? `sidefx status`, or pass --api)")
            }
            _ => self.to_string(),
        }
    }

    /// The HTTP status of the answer, when the problem is one.
    pub fn status(&self) -> Option<u16> {
        match self.problem {
            Problem::Status { status, .. } => Some(status),
            _ => None,
        }
    }
}

/// A transport error in a few words ("connection refused", "timed out", …).
pub fn describe(e: &reqwest::Error) -> String {
    if e.is_connect() {
        "connection refused".to_owned()
    } else if e.is_timeout() {
        "timed out".to_owned()
    } else {
        let mut text = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(inner) = source {
            text = format!("{text}: {inner}");
            source = inner.source();
        }
        text
    }
}
