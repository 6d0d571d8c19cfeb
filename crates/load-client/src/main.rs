//! `load-client`: parse the command line, run, map the outcome to an exit
//! code. `run`: 0 ok, 1 a check failed, 2 bad input, 3 the run could not be
//! done, 130 interrupted. `compare`: 0 no regression, 1 a regression, 2 an
//! input could not be read. `report`: 0 written, 2 the folder could not be
//! read.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use load_client::compare::{self, Format, Tolerances};
use load_client::run::{self, RunOptions};
use load_client::{checks, table};

#[derive(Parser)]
#[command(
    name = "load-client",
    version,
    about = "Run load scenarios and record latency histograms"
)]
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
    /// Regenerate the knee summary and plots of a results folder, without rerunning.
    Report {
        /// A results folder written by `load-client run`.
        dir: PathBuf,
    },
    /// Compare two results (summary.csv files or results folders); exit 1 on a regression.
    Compare {
        /// The baseline: a summary.csv, or a results folder holding one.
        base: PathBuf,
        /// The results to judge against it.
        new: PathBuf,
        /// Tolerated change per metric, e.g. `p99=10%,throughput=5%` or `max=off`;
        /// metrics not named keep their defaults.
        #[arg(long, value_name = "METRIC=N%,...", value_parser = compare::parse_tolerances,
              default_value = compare::DEFAULT_TOLERANCES)]
        max_regression: Tolerances,
        /// Output format: table, markdown (for a pull-request comment) or csv.
        #[arg(long, default_value = "table", value_parser = |s: &str| s.parse::<Format>())]
        format: Format,
    },
}

fn main() -> ExitCode {
    init_logging();
    load_client::limits::raise_open_files_limit();
    let code = match Cli::parse().command {
        Command::Run {
            scenario,
            overrides,
            only,
            out,
            repeat,
            quiet,
            allow_remote,
        } => run_command(&RunOptions {
            scenario,
            overrides,
            only,
            out,
            quiet,
            allow_remote,
            repeat,
        }),
        Command::Report { dir } => report_command(&dir),
        Command::Compare {
            base,
            new,
            max_regression,
            format,
        } => compare_command(&base, &new, &max_regression, format),
    };
    ExitCode::from(code)
}

/// Runs, prints the table, the checks and the report; the exit code is the
/// run's ([`run::RunReport::exit_code`], [`run::RunError::exit_code`]).
fn run_command(options: &RunOptions) -> u8 {
    let report = match run::run(options) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("error: {e}");
            return e.exit_code() as u8;
        }
    };
    for warning in &report.warnings {
        eprintln!("warning: {warning}");
    }
    if report.target != "embedded" {
        println!("target  {}", report.target);
    }
    print!("{}", table::render(&report.results));
    for line in report.results.iter().filter_map(table::error_summary) {
        println!("errors  {line}");
    }
    if !report.verdicts.is_empty() {
        println!();
        print!("{}", checks::render(&report.verdicts));
    }
    match load_client::report::generate(&report.out_dir) {
        Ok(r) => print!("{}", r.render()),
        Err(e) => eprintln!("warning: no report: {e}"),
    }
    println!("results written to {}", report.out_dir.display());
    if let Some(message) = report.closing_message() {
        eprintln!("{message}");
    }
    report.exit_code()
}

/// Prints the report of a results folder: 0, or 2 when it cannot be read.
fn report_command(dir: &Path) -> u8 {
    match load_client::report::generate(dir) {
        Ok(report) => {
            print!("{}", report.table());
            print!("{}", report.render());
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            2
        }
    }
}

/// Prints the comparison; the exit code is [`compare::Comparison::exit_code`],
/// or [`compare::CompareError::exit_code`] when a side cannot be read.
fn compare_command(base: &Path, new: &Path, tolerances: &Tolerances, format: Format) -> u8 {
    let sides = compare::load_summary(base).and_then(|b| Ok((b, compare::load_summary(new)?)));
    match sides {
        Ok((base, new)) => {
            let comparison = compare::compare(&base, &new, tolerances);
            print!("{}", compare::render(&comparison, format));
            comparison.exit_code()
        }
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
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
