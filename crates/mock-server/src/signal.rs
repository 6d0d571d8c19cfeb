//! Waiting for the signals that stop the binary: SIGINT (Ctrl-C) and SIGTERM.

use tokio::signal::unix::{signal, SignalKind};

/// Blocks the calling thread until SIGINT or SIGTERM arrives. Call it from
/// outside any tokio runtime (it runs a small one of its own).
pub fn wait_for_shutdown_signal() -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        tokio::select! {
            _ = interrupt.recv() => tracing::info!("SIGINT received"),
            _ = terminate.recv() => tracing::info!("SIGTERM received"),
        }
        Ok(())
    })
}
