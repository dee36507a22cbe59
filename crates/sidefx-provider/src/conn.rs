//! Serving connections ourselves (hyper, HTTP/1.1) instead of `axum::serve`, for one reason:
//! the drop-after-commit fault must close the connection WITHOUT an HTTP response, the
//! "charged but we never heard" window. A handler asks for it through the
//! [`ConnectionControl`] in its request's extensions; the connection task then drops the
//! connection future, closing the socket mid-exchange.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::response::Response;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tower::ServiceExt;

/// Pause after a failed `accept` (e.g. out of file descriptors) before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// How long shutdown waits for requests in progress (slow faults included) before dropping them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Lets a handler drop its own connection unanswered.
#[derive(Debug, Clone, Default)]
pub struct ConnectionControl(Arc<Notify>);

impl ConnectionControl {
    /// Asks the connection task to drop the connection, and never completes: the caller's
    /// future is dropped with the connection, so no response is ever written.
    pub async fn drop_unanswered(&self) -> Response {
        // `notify_one` stores a permit if the task is not waiting yet, so it cannot be missed.
        self.0.notify_one();
        std::future::pending().await
    }
}

/// Accepts connections until `shutdown` completes, then lets each finish its current exchange
/// (for at most [`SHUTDOWN_GRACE`]).
pub async fn serve(listener: TcpListener, app: Router, shutdown: impl Future<Output = ()>) {
    let (stop, stop_rx) = watch::channel(false);
    let mut conns = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => {
                    conns.spawn(connection(tcp, app.clone(), stop_rx.clone()));
                }
                Err(err) => {
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
            // Reap finished connections so the set does not grow without bound.
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    let _ = stop.send(true);
    let drain = async { while conns.join_next().await.is_some() {} };
    if tokio::time::timeout(SHUTDOWN_GRACE, drain).await.is_err() {
        tracing::warn!("requests still running after the grace period; dropping them");
    }
}

/// One connection: requests in order until the client closes, a handler asks for the drop,
/// or shutdown lets the current exchange finish.
async fn connection(tcp: TcpStream, app: Router, mut stop: watch::Receiver<bool>) {
    let _ = tcp.set_nodelay(true);
    let control = ConnectionControl::default();
    let drop_requested = Arc::clone(&control.0);
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(control.clone());
        app.clone().oneshot(req.map(Body::new))
    });
    let conn = http1::Builder::new().serve_connection(TokioIo::new(tcp), service);
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => return log_end(result),
        // Returning drops `conn`, and with it the socket: the client sees the connection
        // close with no response.
        () = drop_requested.notified() => return,
        _ = stop.wait_for(|stopped| *stopped) => conn.as_mut().graceful_shutdown(),
    }
    tokio::select! {
        result = conn => log_end(result),
        () = drop_requested.notified() => {}
    }
}

fn log_end(result: Result<(), hyper::Error>) {
    if let Err(err) = result {
        tracing::debug!(error = %err, "connection ended with an error");
    }
}
