//! `load-client`: parse the command line, run, map the outcome to an exit
//! code (0 ok, 1 checks failed, 2 bad input, 3 the run could not be done,
//! 130 interrupted).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use load_client::run::{self, RunOptions};

#[derive(Parser)]
#[command(name = "load-client", version, about = "Run load scenarios and record latency histograms")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a scenario file and write results.
    Run {
        /// The scenario file (YAML).
        scenario: PathBuf,
        /// Override a field: PATH=VALUE, e.g. `cases.500-tasks.tasks=1000`, `server.capacity=50`.
        #[arg(long = "set", value_name = "PATH=VALUE")]
        overrides: Vec<String>,
        /// Run only this case (by name or sweep base name); repeatable.
        #[arg(long, value_name = "CASE")]
        only: Vec<String>,
        /// Output folder [default: results/<scenario>/<timestamp>/].
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Run each case this many times.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
        repeat: u32,
        /// No progress bars.
        #[arg(long, short)]
        quiet: bool,
        /// Allow targets that are not loopback addresses.
        #[arg(long)]
        allow_remote: bool,
    },
}

fn main() -> ExitCode {
    init_logging();
    let cli = Cli::parse();
    match cli.command {
        Command::Run {
            scenario,
            overrides,
            only,
            out,
            repeat,
            quiet,
            allow_remote,
        } => {
            let options = RunOptions {
                scenario,
                overrides,
                only,
                out,
                quiet,
                allow_remote,
                repeat,
            };
            run_command(&options)
        }
    }
}

fn run_command(options: &RunOptions) -> ExitCode {
    match run::run(options) {
        Ok(report) => {
            print!("{}", load_client::table::render(&report.results));
            for line in report.results.iter().filter_map(load_client::table::error_summary) {
                println!("errors  {line}");
            }
            println!("results written to {}", report.out_dir.display());
            if report.interrupted {
                eprintln!("the run was interrupted; results so far are marked interrupted");
                return ExitCode::from(130);
            }
            let ok: u64 = report.results.iter().map(|r| r.ok).sum();
            let sent: u64 = report.results.iter().map(|r| r.requests).sum();
            if sent > 0 && ok == 0 {
                eprintln!("error: not a single request succeeded; is the server running?");
                return ExitCode::from(3);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("LOAD_CLIENT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
