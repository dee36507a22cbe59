//! Serving connections the way `driftqd`'s Go `http.Server` does (§1.1):
//! plain HTTP/1.x only (no h2c), `TCP_NODELAY`, and a read timeout — the
//! request line and headers must arrive within it, or the connection is
//! closed. The body gets the same budget again in [`super::input`].
//!
//! hyper starts the header timer whenever it waits for a request head, so it
//! also closes keep-alive connections that stay idle that long — as Go does,
//! whose idle timeout defaults to the read timeout. Consume streams are not
//! affected: no head is awaited while a response is being written.
//!
//! Each request carries a [`Disconnect`] for its connection: a consume stream
//! whose client stopped reading fires it, and the connection is dropped even
//! though hyper is blocked writing to it.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower::ServiceExt;

use crate::state::stream_budget::Disconnect;

/// Pause after a failed `accept` (e.g. out of file descriptors) before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Accepts connections until `stop` turns true, then asks every connection to
/// finish its current exchange and waits for them. Dropping the returned
/// future (aborting its task) drops every connection at once.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    read_timeout: Duration,
    stop: watch::Receiver<bool>,
) {
    let mut conns = JoinSet::new();
    let mut stopped = stop.clone();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => {
                    conns.spawn(connection(tcp, app.clone(), read_timeout, stop.clone()));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
            // Reap finished connections so the set does not grow without bound.
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            () = stop_requested(&mut stopped) => break,
        }
    }
    drop(listener);
    while conns.join_next().await.is_some() {}
}

/// One connection: requests are served in order until the client closes, a
/// read times out, or shutdown lets the current exchange finish.
async fn connection(
    tcp: TcpStream,
    app: Router,
    read_timeout: Duration,
    mut stop: watch::Receiver<bool>,
) {
    // Go sets TCP_NODELAY on every accepted connection; without it small
    // responses can wait for delayed ACKs.
    let _ = tcp.set_nodelay(true);
    let (disconnect, mut cut) = Disconnect::new();
    let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let mut req = req.map(Body::new);
        req.extensions_mut().insert(disconnect.clone());
        app.clone().oneshot(req)
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(read_timeout);
    let conn = builder.serve_connection(TokioIo::new(tcp), service);
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            return;
        }
        () = stop_requested(&mut stop) => conn.as_mut().graceful_shutdown(),
        // Dropping the connection closes the socket and drops the stream's body.
        _ = cut.wait_for(|cut| *cut) => return,
    }
    let _ = conn.await;
}

/// Resolves once shutdown is requested (or the broker is gone). The watch
/// guard is dropped inside, so callers' futures stay `Send`.
async fn stop_requested(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}
