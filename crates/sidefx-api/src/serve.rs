//! The server loop: accepts capped connections (`conn_limit.rs`) and serves each with hyper
//! directly instead of `axum::serve`, because only hyper's own builder can put a deadline on
//! reading a request head (`header_read_timeout`, which needs a timer). Graceful shutdown:
//! stop accepting, ask every connection to finish its current exchange, wait for them.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::serve::Listener;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower::ServiceExt;

use crate::conn_limit::{LimitedListener, LimitedStream};

/// Serves `app` on `listener` until `shutdown` completes, then drains the connections.
pub(crate) async fn serve_connections(
    mut listener: LimitedListener,
    app: Router,
    header_timeout: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop, stopped) = watch::channel(false);
    let mut conns = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            (io, peer) = listener.accept() => {
                let conn = connection(io, peer, app.clone(), header_timeout, stopped.clone());
                conns.spawn(conn);
            }
            // Reap finished connections so the set does not grow without bound.
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    stop.send_replace(true);
    while conns.join_next().await.is_some() {}
    Ok(())
}

/// One connection: requests in order until the client closes, the head deadline passes, or
/// shutdown lets the current exchange finish.
async fn connection(
    io: LimitedStream,
    peer: SocketAddr,
    app: Router,
    header_timeout: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let slot = io.slot();
    let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let mut req = req.map(Body::new);
        // The peer address (per-client stream bound) and the slot (streams release it).
        req.extensions_mut().insert(ConnectInfo(peer));
        req.extensions_mut().insert(slot.clone());
        app.clone().oneshot(req)
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    let conn = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(err) = result {
                tracing::debug!(error = %err, "connection ended with an error");
            }
            return;
        }
        _ = stop.wait_for(|stop| *stop) => conn.as_mut().graceful_shutdown(),
    }
    let _ = conn.await;
}
