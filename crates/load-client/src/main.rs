//! `load-client`: parse the command line, run, map the outcome to an exit
//! code. `run`: 0 ok, 1 a check failed, 2 bad input, 3 the run could not be
//! done, 130 interrupted. `compare`: 0 no regression, 1 a regression, 2 an
//! input could not be read. `report`: 0 written, 2 the folder could not be
//! read. `merge`: as `run`, 2 when the shards do not belong together.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser as _;
use load_client::cli::{Cli, Command};
use load_client::compare::{self, Format, Tolerances};
use load_client::run::{self, RunOptions};
use load_client::{checks, table};

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
            shard,
            shards,
            start_at,
            allow_distant_start,
        } => {
            let index = std::env::var(load_client::shard::INDEX_VARIABLE).ok();
            match load_client::cli::shard_of(shard, shards, index.as_deref()) {
                Ok(shard) => run_command(&RunOptions {
                    scenario,
                    overrides,
                    only,
                    out,
                    quiet,
                    allow_remote,
                    repeat,
                    shard,
                    start_at,
                    allow_distant_start,
                }),
                Err(e) => {
                    eprintln!("error: {e}");
                    2
                }
            }
        }
        Command::Merge { dirs, out } => merge_command(&dirs, &out),
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
    match run::run(options) {
        Ok(report) => print_run(&report),
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code() as u8
        }
    }
}

/// Prints a finished run (or merge): the table, the checks, the report.
fn print_run(report: &run::RunReport) -> u8 {
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

/// Merges shard folders, prints the merged table, checks and report; the
/// exit code is `run`'s ([`run::RunReport::exit_code`]), or 2 when the
/// shards do not belong together or cannot be read
/// ([`load_client::merge::MergeError::exit_code`]).
fn merge_command(dirs: &[PathBuf], out: &Path) -> u8 {
    match load_client::merge::merge(dirs, out) {
        Ok(report) => print_run(&report),
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    }
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
