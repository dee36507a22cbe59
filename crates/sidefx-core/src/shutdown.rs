//! The one shutdown signal of every binary (the API, the worker, the provider simulator,
//! `driftq-local` and the CLI's supervisor): Ctrl-C or SIGTERM, which is what `docker stop`,
//! process managers and `sidefx down` send. Servers stop accepting, loops finish the message
//! in hand, then the process exits 0.

/// Completes on the first Ctrl-C (SIGINT) or SIGTERM.
///
/// A signal whose listener cannot be installed is logged and never completes; the other one
/// still works.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sigterm) => drop(sigterm.recv().await),
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
