//! The `mock-server` binary: parse flags, run the server until SIGINT or
//! SIGTERM, print the final counters, and map failures to exit codes
//! (0 ok, 2 bad configuration or flags, 3 could not run).

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use mock_server::cli::Flags;
use mock_server::signal::ShutdownSignals;
use mock_server::EmbeddedServer;

/// Exit code for a bad configuration (clap's usage errors use it too).
const BAD_CONFIG: u8 = 2;
/// Exit code when the server could not run (e.g. the address is in use).
const CANNOT_RUN: u8 = 3;

fn main() -> ExitCode {
    init_logging();
    let flags = Flags::parse();
    match run(&flags) {
        Ok(()) => ExitCode::SUCCESS,
        Err((code, error)) => {
            eprintln!("mock-server: {error:#}");
            ExitCode::from(code)
        }
    }
}

fn run(flags: &Flags) -> Result<(), (u8, anyhow::Error)> {
    let settings = flags.settings().map_err(|e| (BAD_CONFIG, e.into()))?;
    let cannot_run = |e: anyhow::Error| (CANNOT_RUN, e);
    let signals = ShutdownSignals::install()
        .context("cannot install the signal handlers")
        .map_err(cannot_run)?;
    let server = EmbeddedServer::start(settings.clone(), flags.worker_threads())
        .with_context(|| format!("cannot listen on {}", settings.listen))
        .map_err(cannot_run)?;
    print_line(&format!(
        "mock-server listening on {}://{}",
        server.scheme(),
        server.addr()
    ))
    .map_err(cannot_run)?;
    signals.wait();
    let stats = server.shutdown(settings.shutdown_grace);
    let json = serde_json::to_string(&stats).context("cannot encode the final stats");
    print_line(&json.map_err(cannot_run)?).map_err(cannot_run)
}

/// Writes one line to stdout and flushes it, so a parent process reading
/// the pipe sees it at once.
fn print_line(line: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .context("cannot write to stdout")
}

/// Logs go to stderr; `RUST_LOG` sets the filter (default `info`).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
