//! The signals that stop the binary: SIGINT (Ctrl-C) and SIGTERM.
//!
//! Handlers are installed before the server starts: installing them needs
//! file descriptors, which a flood of connections could use up first.

use tokio::runtime::Runtime;
use tokio::signal::unix::{signal, Signal, SignalKind};

/// Installed SIGINT and SIGTERM handlers, with the small runtime that
/// drives them.
#[derive(Debug)]
pub struct ShutdownSignals {
    runtime: Runtime,
    interrupt: Signal,
    terminate: Signal,
}

impl ShutdownSignals {
    /// Installs the handlers. Call it from outside any tokio runtime.
    pub fn install() -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (interrupt, terminate) = {
            let _context = runtime.enter();
            (
                signal(SignalKind::interrupt())?,
                signal(SignalKind::terminate())?,
            )
        };
        Ok(ShutdownSignals {
            runtime,
            interrupt,
            terminate,
        })
    }

    /// Blocks the calling thread until SIGINT or SIGTERM arrives.
    pub fn wait(mut self) {
        self.runtime.block_on(async {
            tokio::select! {
                _ = self.interrupt.recv() => tracing::info!("SIGINT received"),
                _ = self.terminate.recv() => tracing::info!("SIGTERM received"),
            }
        });
    }
}
