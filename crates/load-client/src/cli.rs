//! The command line's shape (clap): every subcommand and flag. The binary
//! (`main.rs`) parses it and dispatches; it lives in the library so tests
//! can parse argument lists exactly as the binary does (the deployment
//! manifests' arguments, for one).

// The doc comments below are the `--help` text, written for a terminal
// (`results/<scenario>/...`), not HTML.
#![allow(rustdoc::invalid_html_tags)]

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::compare::{self, Format, Tolerances};
use crate::oneline::OneLineArgs;
use crate::shard::{Shard, ShardError};

/// `load-client`: the whole command line.
#[derive(Parser)]
#[command(
    name = "load-client",
    version,
    about = "Run load scenarios and record latency histograms"
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Subcommand)]
pub enum Command {
    /// Run a scenario file (or a one-liner: --url URL) and write results.
    Run {
        /// The scenario file (YAML); `-` reads standard input. Not with --url.
        scenario: Option<PathBuf>,
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
        #[arg(long)]
        quiet: bool,
        /// Allow targets that are not loopback addresses (and serving metrics on one).
        #[arg(long)]
        allow_remote: bool,
        /// Serve live Prometheus metrics on http://ADDR/metrics while the run goes
        /// (port 0 picks a free port; the address is printed on stderr).
        #[arg(long, value_name = "ADDR")]
        metrics_listen: Option<std::net::SocketAddr>,
        /// Run shard I of N: its slots of every open-loop schedule, its part
        /// of every closed loop's tasks (`merge` adds the shards up).
        #[arg(long, value_name = "I/N", conflicts_with = "shards")]
        shard: Option<Shard>,
        /// Run one of N shards, the index taken from JOB_COMPLETION_INDEX
        /// (set by a Kubernetes Indexed Job).
        #[arg(long, value_name = "N")]
        shards: Option<u64>,
        /// Start the first case's measured phase at this instant: RFC 3339
        /// (2026-11-30T12:00:00Z) or +DURATION from now (+30s).
        #[arg(long, value_name = "TIME")]
        start_at: Option<String>,
        /// Accept a --start-at more than an hour ahead.
        #[arg(long)]
        allow_distant_start: bool,
        /// The one-line mode's flags (oha's, hey's and wrk's names).
        #[command(flatten)]
        oneline: Box<OneLineArgs>,
    },
    /// Merge the results folders of a sharded run into one results folder.
    Merge {
        /// The shards' results folders, one per shard.
        #[arg(required = true, value_name = "DIR")]
        dirs: Vec<PathBuf>,
        /// Where the merged folder goes.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Regenerate the knee summary, plots and report.html of a results folder, without rerunning.
    Report {
        /// A results folder written by `load-client run`.
        dir: PathBuf,
        /// Write report.html only (no plots, nothing printed but its path).
        #[arg(long)]
        html: bool,
        /// Compare with this base run in report.html (a results folder or summary file).
        #[arg(long, value_name = "BASEDIR")]
        base: Option<PathBuf>,
        /// Tolerances of the comparison with --base, as for `compare`.
        #[arg(long, value_name = "METRIC=N%,...", value_parser = compare::parse_tolerances,
              default_value = compare::DEFAULT_TOLERANCES)]
        max_regression: Tolerances,
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
        /// Output format: table, markdown (for a pull-request comment or job summary), csv or junit (XML).
        #[arg(long, default_value = "table", value_parser = |s: &str| s.parse::<Format>())]
        format: Format,
    },
}

/// The shard a `run` is: `--shard I/N`, else `--shards N` with the index
/// from `index_variable` (the value of `JOB_COMPLETION_INDEX`), else the
/// whole run.
pub fn shard_of(
    shard: Option<Shard>,
    shards: Option<u64>,
    index_variable: Option<&str>,
) -> Result<Shard, ShardError> {
    match (shard, shards) {
        (Some(shard), _) => Ok(shard),
        (None, Some(count)) => Shard::from_index_variable(count, index_variable),
        (None, None) => Ok(Shard::WHOLE),
    }
}
