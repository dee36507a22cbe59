//! Start-up, background tasks and shutdown: [`spawn`] opens and replays the
//! WAL, binds, and starts the HTTP server, the redelivery ticker and the
//! dispatcher that hands out messages once their WAL record is durable.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::BrokerConfig;
use crate::error::StartError;
use crate::http::{self, AppState};
use crate::state::{Shared, State};
use crate::wal::{self, Wal, WalError};

/// How long a graceful shutdown waits for connections before dropping them (as `driftqd`).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A running broker.
#[derive(Debug)]
pub struct Broker {
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    server: Option<JoinHandle<()>>,
    tasks: Vec<JoinHandle<()>>,
}

/// Opens the WAL, binds, starts serving in background tasks.
pub async fn spawn(config: BrokerConfig) -> Result<Broker, StartError> {
    let shared = open_state(&config).await?;
    let addr = config.socket_addr().map_err(|source| StartError::Bind {
        addr: config.addr.clone(),
        source,
    })?;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind {
            addr: config.addr.clone(),
            source,
        })?;
    let local_addr = listener.local_addr().map_err(|source| StartError::Bind {
        addr: config.addr.clone(),
        source,
    })?;
    tracing::info!(addr = %local_addr, wal = %config.wal.display(), "listening");

    let (stop, stop_rx) = watch::channel(false);
    let read_timeout = config.limits.read_timeout();
    let app = http::app(AppState {
        shared: Arc::clone(&shared),
        read_timeout,
    });
    let server = tokio::spawn(http::conn::serve(
        listener,
        app,
        read_timeout,
        stop_rx.clone(),
    ));
    let tick = config.limits.tick();
    let tasks = vec![
        tokio::spawn(redelivery_ticker(
            Arc::clone(&shared),
            tick,
            stop_rx.clone(),
        )),
        tokio::spawn(dispatcher(Arc::clone(&shared), stop_rx)),
    ];
    Ok(Broker {
        local_addr,
        shared,
        stop,
        server: Some(server),
        tasks,
    })
}

/// `--reset-wal`, open + replay (blocking file I/O, so off the async threads).
async fn open_state(config: &BrokerConfig) -> Result<Arc<Shared>, StartError> {
    let path = config.wal.clone();
    let reset = config.reset_wal;
    let limits = config.limits.clone();
    let opened = tokio::task::spawn_blocking(move || -> Result<_, StartError> {
        if reset {
            let moved = wal::replay::reset(&path).map_err(|source| StartError::ResetWal {
                path: path.clone(),
                source,
            })?;
            if let Some(backup) = moved {
                tracing::info!(backup = %backup.display(), "previous WAL moved aside");
            }
        }
        let opened = wal::replay::open(&path)?;
        let records = opened.records.len();
        let wal = Arc::new(Wal::start(opened.file, &path)?);
        let mut state = State::new(wal, limits);
        state.restore(opened.records, &path)?;
        tracing::info!(wal = %path.display(), records, topics = state.topics.len(), "WAL replayed");
        Ok(state)
    })
    .await
    .map_err(|e| StartError::Wal(WalError::io(&config.wal, std::io::Error::other(e))))??;
    Ok(Shared::new(opened))
}

/// Every tick: lease expiry, backoff, DLQ for groups with open streams.
async fn redelivery_ticker(shared: Arc<Shared>, tick: Duration, mut stop: watch::Receiver<bool>) {
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = interval.tick() => {
                let mut state = shared.lock();
                state.redelivery_tick(Instant::now());
                state.log.take_mark();
            }
            _ = stop.wait_for(|s| *s) => break,
        }
    }
}

/// Dispatches messages as soon as their WAL records are durable.
async fn dispatcher(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut progress = shared.wal.subscribe();
    loop {
        tokio::select! {
            changed = progress.changed() => {
                if changed.is_err() {
                    break;
                }
                let mut state = shared.lock();
                state.dispatch_durable(Instant::now());
                state.log.take_mark();
            }
            _ = stop.wait_for(|s| *s) => break,
        }
    }
}

impl Broker {
    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `http://IP:PORT` (an unspecified bind address is reached via 127.0.0.1).
    pub fn base_url(&self) -> String {
        let mut addr = self.local_addr;
        if addr.ip().is_unspecified() {
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        format!("http://{addr}")
    }

    /// Graceful shutdown: stops the ticker, ends open streams, waits up to 5 s
    /// for in-progress requests, then stops the WAL writer.
    pub async fn shutdown(mut self) {
        self.shared.lock().close_all_streams();
        let _ = self.stop.send(true);
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
        if let Some(server) = self.server.take() {
            let abort = server.abort_handle();
            if tokio::time::timeout(SHUTDOWN_GRACE, server).await.is_err() {
                abort.abort();
            }
        }
        self.shared.wal.close();
        tracing::info!("broker stopped");
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        self.shared.lock().close_all_streams();
        for task in &self.tasks {
            task.abort();
        }
        if let Some(server) = &self.server {
            server.abort();
        }
    }
}
