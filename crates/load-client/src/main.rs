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
use load_client::live::{LiveMetrics, MetricsServer};
use load_client::oneline::{self, Source};
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
            metrics_listen,
            oneline,
            shard,
            shards,
            start_at,
            allow_distant_start,
        } => {
            let index = std::env::var(load_client::shard::INDEX_VARIABLE).ok();
            let shard = match load_client::cli::shard_of(shard, shards, index.as_deref()) {
                Ok(shard) => shard,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            let (scenario, scenario_text) = match oneline::source(scenario.as_deref(), &oneline) {
                Ok(Source::File(file)) => (file, None),
                Ok(Source::OneLine(text)) => (oneline::SOURCE_NAME.into(), Some(text)),
                Ok(Source::Print(_)) if !overrides.is_empty() => {
                    eprintln!("error: --print-scenario and --set cannot be used together: the printed scenario is the flags'; edit the printed file instead");
                    return ExitCode::from(2);
                }
                Ok(Source::Print(text)) => {
                    print!("{text}");
                    return ExitCode::SUCCESS;
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(e.exit_code());
                }
            };
            run_command(
                RunOptions {
                    scenario,
                    scenario_text,
                    overrides,
                    only,
                    out,
                    quiet,
                    allow_remote,
                    repeat,
                    live: None,
                    shard,
                    start_at,
                    allow_distant_start,
                },
                metrics_listen,
            )
        }
        Command::Merge { dirs, out } => merge_command(&dirs, &out),
        Command::Report {
            dir,
            html,
            base,
            max_regression,
        } => report_command(&dir, html, base.as_deref().map(|b| (b, &max_regression))),
        Command::Compare {
            base,
            new,
            max_regression,
            format,
        } => compare_command(&base, &new, &max_regression, format),
    };
    ExitCode::from(code)
}

/// Runs (serving live metrics on `metrics_listen` while it goes), prints
/// the table, the checks and the report; the exit code is the run's
/// ([`run::RunReport::exit_code`], [`run::RunError::exit_code`],
/// [`load_client::live::MetricsError::exit_code`]).
fn run_command(mut options: RunOptions, metrics_listen: Option<std::net::SocketAddr>) -> u8 {
    let _metrics = match metrics_listen {
        Some(addr) => {
            let live = std::sync::Arc::new(LiveMetrics::default());
            match MetricsServer::start(addr, options.allow_remote, live.clone()) {
                Ok(server) => {
                    eprintln!("metrics: serving http://{}/metrics", server.addr());
                    options.live = Some(live);
                    Some(server)
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    return e.exit_code();
                }
            }
        }
        None => None,
    };
    match run::run(&options) {
        Ok(report) => print_run(&report),
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code() as u8
        }
    }
}

/// Prints a finished run (or merge): its warnings, the table, the checks,
/// the report.
fn print_run(report: &run::RunReport) -> u8 {
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

/// Prints the report of a results folder and writes its plots and
/// `report.html` (only the page with `html`): 0, or 2 when it cannot be read.
fn report_command(dir: &Path, html: bool, base: Option<(&Path, &Tolerances)>) -> u8 {
    if !html {
        match load_client::report::generate(dir) {
            Ok(report) => {
                print!("{}", report.table());
                print!("{}", report.render());
            }
            Err(e) => {
                eprintln!("error: {e}");
                return 2;
            }
        }
    }
    match load_client::report::write_html(dir, base) {
        Ok(path) => {
            println!("report: {}", path.display());
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
