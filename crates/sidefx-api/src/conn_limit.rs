//! A cap on open connections, in front of the server loop (`serve.rs`).
//!
//! `POST /runs` sheds load per request (see `AppState::admit_run`), but an overloaded API still
//! holds one task and hyper's buffers per open connection, and a client that opens a
//! connection per waiting request (an open-loop load generator, a fleet of retrying clients)
//! can open thousands. Beyond the cap the listener stops accepting: new connections wait in
//! the kernel's accept backlog, where they cost this process nothing, until one closes.
//! An admitted event stream (`/runs/{id}/events`) gives its slot back through
//! [`ConnectionSlot::release`]: streams are bounded by `stream_limit.rs` instead, so
//! watchers can never take the slots requests need.
//!
//! A cap is only safe with an idle timeout: `axum::serve` keeps an idle keep-alive connection
//! open for as long as its client does, so a few clients with connection pools could hold
//! every slot and starve everyone else. A connection with no traffic either way for
//! [`IDLE_TIMEOUT`] reads as closed, and hyper closes it. Event streams stay well inside it:
//! they send a keep-alive comment every 10 s.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::serve::Listener;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

/// How long a connection may carry no bytes in either direction before it is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// A TCP listener that keeps at most `max` accepted connections open at once.
#[derive(Debug)]
pub struct LimitedListener {
    inner: TcpListener,
    permits: Arc<Semaphore>,
    idle_timeout: Duration,
}

impl LimitedListener {
    /// Wraps `inner`; `max` is at least 1.
    pub fn new(inner: TcpListener, max: u32) -> Self {
        Self::with_idle_timeout(inner, max, IDLE_TIMEOUT)
    }

    /// The same with another idle timeout (tests use a short one).
    pub fn with_idle_timeout(inner: TcpListener, max: u32, idle_timeout: Duration) -> Self {
        let max = usize::try_from(max.max(1)).unwrap_or(usize::MAX);
        LimitedListener {
            inner,
            permits: Arc::new(Semaphore::new(max)),
            idle_timeout,
        }
    }
}

impl Listener for LimitedListener {
    type Io = LimitedStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        // The semaphore is never closed, so this only waits; `ok()` keeps it panic-free.
        let permit = Arc::clone(&self.permits).acquire_owned().await.ok();
        // TcpListener's own `accept` logs and retries accept errors (e.g. out of fds).
        let (io, addr) = Listener::accept(&mut self.inner).await;
        let stream = LimitedStream {
            io,
            slot: ConnectionSlot(Arc::new(Mutex::new(permit))),
            idle_timeout: self.idle_timeout,
            idle: Box::pin(tokio::time::sleep(self.idle_timeout)),
        };
        (stream, addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// The slot of one connection: freed when the connection closes, or earlier by
/// [`ConnectionSlot::release`]. Clones share the slot.
#[derive(Debug, Clone)]
pub struct ConnectionSlot(Arc<Mutex<Option<OwnedSemaphorePermit>>>);

impl ConnectionSlot {
    /// Gives the slot back while the connection stays open (an admitted event stream).
    pub fn release(&self) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take();
    }
}

/// An accepted connection; its slot frees when hyper drops it (the connection closed).
#[derive(Debug)]
pub struct LimitedStream {
    io: TcpStream,
    slot: ConnectionSlot,
    idle_timeout: Duration,
    /// Fires [`IDLE_TIMEOUT`] after the last byte read or written.
    idle: Pin<Box<Sleep>>,
}

impl LimitedStream {
    /// This connection's slot (the server puts it in every request's extensions).
    pub fn slot(&self) -> ConnectionSlot {
        self.slot.clone()
    }

    /// Bytes moved: the idle clock starts again.
    fn active(&mut self) {
        self.idle.as_mut().reset(Instant::now() + self.idle_timeout);
    }

    /// Passes a write's result through, restarting the idle clock if bytes went out.
    fn wrote(&mut self, written: Poll<io::Result<usize>>) -> Poll<io::Result<usize>> {
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            self.active();
        }
        written
    }
}

impl AsyncRead for LimitedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(result) => {
                if buf.filled().len() > before {
                    this.active();
                }
                Poll::Ready(result)
            }
            // Nothing to read: after the idle timeout, report end of stream, which makes
            // hyper close the connection (and so free its slot).
            Poll::Pending => match this.idle.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Ok(())),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl AsyncWrite for LimitedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.io).poll_write(cx, buf);
        this.wrote(written)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.wrote(written)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}
