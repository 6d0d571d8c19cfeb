//! `load-client run`: load a scenario, start the target, run every case,
//! write the results, print the table.

use std::io::IsTerminal;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use mock_server::{EmbeddedServer, StatsSnapshot};

use crate::checks::Verdict;
use crate::connect::TlsClient;
use crate::executor::{run_case, Measurement, Placement, Stop};
use crate::http::Endpoint;
use crate::mix::Mix;
use crate::model::{ModelParams, ServerModel};
use crate::outcome::{ErrorCounts, ErrorKind};
use crate::recorder::{Progress, RequestRecorder};
use crate::redact::{self, Redactor};
use crate::results::files::{
    self, write_atomic, CaseData, Encoded, RequestData, RunJson, Summary, SummaryJsonFile, Writer,
};
use crate::results::run_json::{
    utc_now, CasePhases, PhaseMark, RequestInfo, RunInfo, SearchRecord, ShardInfo, TlsInfo,
};
use crate::results::summary_json::SummaryJson;
use crate::results::{CaseResult, Latency, PhaseTimes, ServerView};
use crate::scenario::{
    self, Case, ExecutorKind, RequestSpec, Scenario, ScenarioError, Search, SearchOver, Shape,
    Target, Warmup,
};
use crate::search;
use crate::shard::{shard_case, Shard};

/// Everything `run` needs, validated by the command line.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// The scenario file; with `scenario_text`, the name the text goes by.
    pub scenario: PathBuf,
    /// The scenario's text, when it comes from no file (the one-line mode,
    /// `crate::oneline`): loaded exactly like a file's.
    pub scenario_text: Option<String>,
    /// `--set PATH=VALUE` overrides.
    pub overrides: Vec<String>,
    /// `--only CASE` filters.
    pub only: Vec<String>,
    /// Output folder; default `results/<scenario>/<timestamp>/`.
    pub out: Option<PathBuf>,
    /// No progress bars.
    pub quiet: bool,
    /// Allow targets that are not loopback addresses.
    pub allow_remote: bool,
    /// Run each case this many times (at least 1).
    pub repeat: u32,
    /// Live counters to feed while the run goes (`--metrics-listen`).
    pub live: Option<Arc<crate::live::LiveMetrics>>,
    /// Run only this shard's part of every case (`--shard I/N`; see
    /// `crate::shard`); the whole run by default.
    pub shard: Shard,
    /// `--start-at TIME`: start the first case's measured phase at this
    /// instant (see `crate::start_at` for the form and the rules).
    pub start_at: Option<String>,
    /// Accept a `--start-at` more than an hour ahead.
    pub allow_distant_start: bool,
}

/// Why a run could not be done; each kind maps to an exit code.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The scenario file or an option is wrong (exit 2).
    #[error("{0}")]
    Scenario(#[from] ScenarioError),
    /// The target's host name does not resolve (exit 2).
    #[error("cannot resolve {host}: {source}")]
    Resolve {
        /// The host as written in the URL.
        host: String,
        /// The resolver's error.
        source: std::io::Error,
    },
    /// The target's host name resolves to nothing (exit 2).
    #[error("{host} resolves to no address")]
    NoAddress {
        /// The host as written in the URL.
        host: String,
    },
    /// The target is not a loopback address and `--allow-remote` was not
    /// given (exit 2).
    #[error("refusing to send load to {host} ({ip}), which is not a loopback address; pass --allow-remote if you really mean to load that host")]
    NotLoopback {
        /// The host as written in the URL.
        host: String,
        /// The first address it resolves to that is not loopback.
        ip: std::net::IpAddr,
    },
    /// The TLS client could not be set up (exit 2: the scenario's `tls:`
    /// or the machine's roots).
    #[error("TLS: {0}")]
    Tls(#[from] crate::connect::TlsSetupError),
    /// The embedded mock server could not start (exit 3).
    #[error("cannot start the embedded mock server: {0}")]
    StartServer(#[source] std::io::Error),
    /// The output folder could not be created (exit 3).
    #[error("cannot create the output folder {}: {source}", dir.display())]
    OutputFolder {
        /// The folder.
        dir: PathBuf,
        /// Why not.
        source: std::io::Error,
    },
    /// A case's runtime could not be set up (exit 3).
    #[error("case {case}: cannot run: {source}")]
    Case {
        /// The case's name.
        case: String,
        /// Why not.
        source: std::io::Error,
    },
    /// A case's histogram files could not be encoded (exit 3).
    #[error(transparent)]
    CaseFile(#[from] crate::results::files::CaseFileError),
    /// `--shard` with a scenario whose target is the embedded server (exit 2).
    #[error("--shard {shard}: the scenario starts its own mock server (`server:`); sharding splits the load on one external target between machines, so give the scenario a `url:` instead")]
    ShardEmbedded {
        /// The shard asked for.
        shard: Shard,
    },
    /// `--shard` with a search case (exit 2).
    #[error("--shard {shard}: case {case} is a search, which adapts its load to what it measures and cannot be split between shards; run it unsharded or give the case fixed loads")]
    ShardSearch {
        /// The shard asked for.
        shard: Shard,
        /// The search case.
        case: String,
    },
    /// `--start-at` is malformed, too far in the past or too far ahead (exit 2).
    #[error(transparent)]
    StartAt(#[from] crate::start_at::StartAtError),
    /// A results file could not be made or written (exit 3).
    #[error("cannot write {file} in {}: {source}", dir.display())]
    Write {
        /// The file's name.
        file: String,
        /// The results folder.
        dir: PathBuf,
        /// Why not.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl RunError {
    /// The same error with every secret the redactor knows removed from its
    /// message. Only the scenario's errors echo input; the others name
    /// hosts (never a URL's credentials), paths and system errors.
    pub fn redacted(self, redactor: &Redactor) -> RunError {
        match self {
            RunError::Scenario(mut e) => {
                e.field = redactor.text(&e.field);
                e.message = redactor.text(&e.message);
                RunError::Scenario(e)
            }
            other => other,
        }
    }

    /// The documented exit code for this error: 2 for bad input (the
    /// scenario, an option, a refused or unknown target), 3 when the run
    /// could not be carried out.
    pub fn exit_code(&self) -> i32 {
        match self {
            RunError::Scenario(_)
            | RunError::Resolve { .. }
            | RunError::NoAddress { .. }
            | RunError::NotLoopback { .. }
            | RunError::ShardEmbedded { .. }
            | RunError::ShardSearch { .. }
            | RunError::StartAt(_)
            | RunError::Tls(_) => 2,
            RunError::StartServer(_)
            | RunError::OutputFolder { .. }
            | RunError::Case { .. }
            | RunError::CaseFile(_)
            | RunError::Write { .. } => 3,
        }
    }
}

/// What a finished (or interrupted) run produced.
#[derive(Debug)]
pub struct RunReport {
    /// One result per case and repetition, in run order.
    pub results: Vec<CaseResult>,
    /// Where the files went.
    pub out_dir: PathBuf,
    /// Whether Ctrl-C stopped the run early.
    pub interrupted: bool,
    /// Verdicts of the scenario's checks, per case and repetition.
    pub verdicts: Vec<Verdict>,
    /// What was loaded: the full URL (credentials redacted), or `embedded`.
    pub target: String,
    /// Where each search case ended, in run order.
    pub searches: Vec<SearchRecord>,
    /// Warnings about how the run was made (e.g. TLS verification off),
    /// printed before the table.
    pub warnings: Vec<String>,
}

impl RunReport {
    /// Whether any check failed.
    pub fn checks_failed(&self) -> bool {
        self.verdicts.iter().any(|v| !v.passed)
    }

    /// The documented exit code of a finished run: 130 interrupted, 3 not a
    /// single request succeeded, 1 a check failed, 0 otherwise (in that
    /// order of precedence).
    pub fn exit_code(&self) -> u8 {
        if self.interrupted {
            130
        } else if self.nothing_succeeded().is_some() {
            3
        } else if self.checks_failed() {
            1
        } else {
            0
        }
    }

    /// What to tell the user at the end, beside [`RunReport::exit_code`].
    pub fn closing_message(&self) -> Option<String> {
        if self.interrupted {
            return Some("the run was interrupted; results so far are marked interrupted".into());
        }
        if let Some(what) = self.nothing_succeeded() {
            return Some(format!("error: {what}"));
        }
        let failed = self.verdicts.iter().filter(|v| !v.passed).count();
        (failed > 0).then(|| format!("{failed} check(s) failed"))
    }

    /// When requests were sent and not one succeeded: what happened to them,
    /// in words (the statuses they got, or the error kinds).
    pub fn nothing_succeeded(&self) -> Option<String> {
        let sent: u64 = self.results.iter().map(|r| r.requests).sum();
        let ok: u64 = self.results.iter().map(|r| r.ok).sum();
        if sent == 0 || ok > 0 {
            return None;
        }
        let mut kinds = ErrorCounts::default();
        let mut statuses = std::collections::BTreeMap::<u16, u64>::new();
        for r in &self.results {
            kinds.merge(&r.errors);
            for (status, n) in &r.statuses {
                *statuses.entry(*status).or_default() += n;
            }
        }
        let answered: u64 = statuses.values().sum();
        let list = |items: Vec<String>| items.join(", ");
        Some(if answered == sent {
            let got = statuses
                .iter()
                .map(|(s, n)| format!("{n} got {s}"))
                .collect();
            format!(
                "not a single request succeeded: all {sent} were answered with an error status ({})",
                list(got)
            )
        } else {
            let got = kinds
                .nonzero()
                .map(|(k, n)| format!("{}={n}", k.as_str()))
                .collect();
            let connect =
                kinds.get(ErrorKind::ConnectRefused) + kinds.get(ErrorKind::ConnectTimeout);
            let hint = if connect * 2 > sent {
                "; is the server running?"
            } else {
                ""
            };
            let first = self
                .results
                .iter()
                .find_map(|r| r.first_error.as_ref())
                .map_or_else(String::new, |e| format!("; first error: {e}"));
            format!(
                "not a single request succeeded ({} of {sent}){hint}{first}",
                list(got)
            )
        })
    }
}

/// The process-wide stop flag, raised by Ctrl-C.
pub fn stop_flag() -> Arc<Stop> {
    static STOP: OnceLock<Arc<Stop>> = OnceLock::new();
    STOP.get_or_init(|| {
        let stop = Arc::new(Stop::default());
        install_ctrl_c(stop.clone());
        stop
    })
    .clone()
}

/// First Ctrl-C: stop launching, let in-flight requests finish briefly,
/// write what was measured. Second Ctrl-C: exit at once (files are only ever
/// replaced by rename, so none is left half-written).
fn install_ctrl_c(stop: Arc<Stop>) {
    let spawned = std::thread::Builder::new()
        .name("ctrl-c".into())
        .spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                return;
            };
            rt.block_on(async {
                if tokio::signal::ctrl_c().await.is_err() {
                    return;
                }
                eprintln!("\ninterrupted: finishing in-flight requests and writing results (Ctrl-C again to exit now)");
                stop.trigger();
                if tokio::signal::ctrl_c().await.is_ok() {
                    std::process::exit(130);
                }
            });
        });
    if let Err(e) = spawned {
        tracing::warn!("cannot watch for Ctrl-C: {e}");
    }
}

/// Runs a scenario end to end. Error messages never carry the credentials
/// given in `--set` values or URLs (`crate::redact`).
pub fn run(opts: &RunOptions) -> Result<RunReport, RunError> {
    run_unredacted(opts).map_err(|e| e.redacted(&Redactor::for_overrides(&opts.overrides)))
}

fn run_unredacted(opts: &RunOptions) -> Result<RunReport, RunError> {
    let scenario = match &opts.scenario_text {
        Some(text) => scenario::parse(&opts.scenario, text, &opts.overrides, &opts.only)?,
        None => scenario::load(&opts.scenario, &opts.overrides, &opts.only)?,
    };
    check_shardable(&scenario, opts.shard)?;
    let origin = opts
        .start_at
        .as_deref()
        .map(|t| {
            crate::start_at::resolve(t, std::time::SystemTime::now(), opts.allow_distant_start)
        })
        .transpose()?;
    let stop = stop_flag();
    let target = start_target(&scenario, opts.allow_remote)?;
    let out_dir = opts
        .out
        .clone()
        .unwrap_or_else(|| files::default_out_dir(&scenario.name));
    std::fs::create_dir_all(&out_dir).map_err(|source| RunError::OutputFolder {
        dir: out_dir.clone(),
        source,
    })?;
    let started_at = utc_now();
    // A shard's checks would judge its part (a throughput check fails on
    // every shard of a run that meets it); `merge` judges the whole.
    let mut ran = Ran {
        skip_checks: !opts.shard.is_whole(),
        ..Ran::default()
    };
    let mut searches = Vec::new();
    let mut placement = Placement {
        shard: opts.shard,
        origin,
    };
    let mut start_skew = None;
    let ctx = StepContext {
        scenario: &scenario,
        target: &target,
        stop: &stop,
        quiet: opts.quiet,
        live: opts.live.as_deref(),
    };
    'cases: for case in &scenario.cases {
        if let Some(search) = &case.search {
            if stop.is_set() {
                break 'cases;
            }
            searches.push(run_search(&ctx, case, search, &mut ran)?);
            continue;
        }
        for repetition in 1..=opts.repeat.max(1) {
            if stop.is_set() {
                break 'cases;
            }
            let (result, files, skew) = run_shard(&ctx, case, repetition, placement)?;
            // Only the first case waits for the start instant.
            if placement.origin.take().is_some() {
                start_skew = skew;
            }
            ran.add(case, result, files);
        }
    }
    let Ran {
        mut results,
        verdicts,
        files: case_files,
        ..
    } = ran;
    let interrupted = stop.is_set();
    if interrupted {
        for r in &mut results {
            r.interrupted = true;
            for part in &mut r.parts {
                part.interrupted = true;
            }
        }
    }
    if let Some(server) = target.server {
        server.shutdown(Duration::from_secs(2));
    }
    let info = RunInfo {
        tool_version: crate::VERSION.to_string(),
        git_revision: git_revision(),
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        scenario: scenario.name.clone(),
        scenario_file: opts.scenario.display().to_string(),
        scenario_sha256: scenario.source_sha256.clone(),
        overrides: opts
            .overrides
            .iter()
            .map(|o| redact::override_item(o))
            .collect(),
        target: match &scenario.target {
            Target::Embedded(_) => "embedded".into(),
            Target::Url(u) => redact::url(&scenario::loaded_url(u, &scenario.request.path)),
        },
        request: request_info(&scenario.request),
        tls: scenario.tls.as_ref().map(tls_info),
        started_at,
        interrupted,
        cases: results.iter().map(|r| r.case.clone()).collect(),
        model: target.model.map(ModelParams::from),
        searches: searches.clone(),
        phases: std::mem::take(
            &mut *target
                .phases
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        ),
        shard: (!opts.shard.is_whole()).then(|| ShardInfo {
            index: opts.shard.index(),
            count: opts.shard.count(),
        }),
        host: host_name(),
        start_at: origin.map(crate::start_at::format_millis),
        start_skew_seconds: start_skew,
        checks: scenario
            .cases
            .iter()
            .filter(|c| !c.checks.is_empty())
            .map(|c| {
                let texts = c.checks.iter().map(|k| k.text().to_string()).collect();
                (c.name.clone(), texts)
            })
            .collect(),
        merged_from: Vec::new(),
    };
    write_run_folder(&out_dir, &case_files, &results, &verdicts, &info)?;
    Ok(RunReport {
        results,
        out_dir,
        interrupted,
        verdicts,
        target: info.target.clone(),
        searches,
        warnings: warnings(&scenario),
    })
}

/// The files of the whole run besides the per-case files and `run.json`:
/// `summary.csv`, `summary.json`, `checks.csv` and `checks.xml` (when
/// there are checks) and `report.html`, made from the run in memory.
pub struct RunFiles<'a> {
    summary: Summary<'a>,
    summary_json: SummaryJsonFile<'a>,
    checks: Option<(Encoded, Encoded)>,
    html: Encoded,
}

impl<'a> RunFiles<'a> {
    /// Makes the files (the knees and the report's charts are computed
    /// here).
    pub fn new(
        info: &'a RunInfo,
        results: &'a [CaseResult],
        verdicts: &'a [Verdict],
        case_files: &'a [Encoded],
    ) -> RunFiles<'a> {
        let knees = crate::report::knee_records(&crate::report::sweeps_of(results, info.model));
        let read = |name: &str| {
            case_files
                .iter()
                .find(|f| f.name == name)
                .map(|f| String::from_utf8_lossy(&f.bytes).into_owned())
                .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "not recorded"))
        };
        let page = crate::report::html(
            &crate::report::RunData {
                info,
                results,
                verdicts,
                read: &read,
            },
            None,
        );
        let checks = (!verdicts.is_empty()).then(|| {
            (
                Encoded {
                    name: files::CHECKS.to_string(),
                    bytes: crate::checks::checks_csv(verdicts),
                },
                Encoded {
                    name: files::CHECKS_XML.to_string(),
                    bytes: crate::results::junit::checks_xml(&info.scenario, verdicts),
                },
            )
        });
        RunFiles {
            summary: Summary(results),
            summary_json: SummaryJsonFile(SummaryJson {
                info,
                results,
                verdicts,
                knees,
            }),
            checks,
            html: Encoded {
                name: files::REPORT_HTML.to_string(),
                bytes: page.into_bytes(),
            },
        }
    }

    /// The writers, in write order.
    pub fn writers(&self) -> Vec<&dyn Writer> {
        let mut writers: Vec<&dyn Writer> = vec![&self.summary, &self.summary_json];
        if let Some((csv, xml)) = &self.checks {
            writers.extend([csv as &dyn Writer, xml]);
        }
        writers.push(&self.html);
        writers
    }
}

/// What `run.json` records of the TLS set-up.
fn tls_info(tls: &scenario::ScenarioTls) -> TlsInfo {
    TlsInfo {
        insecure: tls.options.insecure,
        server_name: tls.server_name.clone(),
        ca: tls.ca.clone(),
        client_cert: tls.client_cert.clone(),
    }
}

/// Warnings about the run itself, printed before the table.
fn warnings(scenario: &Scenario) -> Vec<String> {
    let mut out = Vec::new();
    if scenario.tls.as_ref().is_some_and(|t| t.options.insecure) {
        out.push(
            "tls.insecure: true: the server's certificate was NOT verified (any server could have answered)"
                .to_string(),
        );
    }
    out
}

/// What the cases run so far produced.
#[derive(Default)]
struct Ran {
    results: Vec<CaseResult>,
    verdicts: Vec<Verdict>,
    files: CaseFiles,
    /// A shard leaves the checks to `merge`.
    skip_checks: bool,
}

impl Ran {
    /// Keeps a finished case's result, its checks' verdicts and its files.
    fn add(&mut self, case: &Case, result: CaseResult, files: CaseFiles) {
        self.files.extend(files);
        if !self.skip_checks {
            self.verdicts
                .extend(case.checks.iter().map(|check| check.evaluate(&result)));
        }
        self.results.push(result);
    }
}

/// What every step of a search runs against.
struct StepContext<'a> {
    scenario: &'a Scenario,
    target: &'a RunningTarget,
    stop: &'a Arc<Stop>,
    quiet: bool,
    live: Option<&'a crate::live::LiveMetrics>,
}

/// Runs a search case (see `crate::search`): every step is an ordinary
/// case result named `NAME-stepK-LOAD`, with `base_case` = NAME so the
/// steps read as a sweep. Prints the bound on its duration before it starts
/// and the answer at the end.
fn run_search(
    ctx: &StepContext<'_>,
    case: &Case,
    spec: &Search,
    ran: &mut Ran,
) -> Result<SearchRecord, RunError> {
    let (min, max) = spec.over.bounds();
    let plan = search::Plan {
        from: spec.from,
        min,
        max,
        precision: spec.precision,
        max_steps: spec.max_steps.get(),
        confirm: spec.confirm,
        integer: spec.over == SearchOver::Tasks,
    };
    eprintln!("{}", search_bound(case, spec));
    let mut failure = None;
    let answer = search::search(&plan, |step| {
        if ctx.stop.is_set() {
            return None;
        }
        let step_case = search_step(case, step);
        match run_one(ctx, &step_case, 1, Placement::default()) {
            Ok((result, files, _)) => {
                let outcome = objective_outcome(spec, &result);
                eprintln!("{}", step_line(&step_case, step, &outcome));
                ran.add(&step_case, result, files);
                // A step cut short by Ctrl-C proves nothing.
                (!ctx.stop.is_set()).then_some(outcome)
            }
            Err(e) => {
                failure = Some(e);
                None
            }
        }
    });
    if let Some(e) = failure {
        return Err(e);
    }
    let record = SearchRecord {
        case: case.name.clone(),
        over: spec.over.as_str().to_string(),
        objective: spec
            .objective
            .iter()
            .map(|c| c.text().to_string())
            .collect(),
        highest_pass: answer.highest_pass,
        lowest_fail: answer.lowest_fail,
        broke: answer.broke,
        steps: answer.steps,
        converged: answer.converged,
        model_limit: ctx.target.model.and_then(|m| match spec.over {
            SearchOver::Rate => Some(m.saturation_throughput()).filter(|x| x.is_finite()),
            SearchOver::Tasks => m.capacity.map(|c| c as f64),
        }),
    };
    eprintln!("{}", search_answer(&record, answer.stopped));
    Ok(record)
}

/// The case one step runs: the search case at the step's load.
fn search_step(case: &Case, step: search::Step) -> Case {
    let mut shape = case.shape;
    match &mut shape {
        Shape::Rate { rate, .. } => {
            // The search keeps its loads within the rate's bounds.
            if let Some(r) = scenario::Rate::new(step.load) {
                *rate = r;
            }
        }
        Shape::Tasks { tasks, .. } => {
            if let Some(n) = std::num::NonZeroU32::new(step.load as u32) {
                *tasks = n;
            }
        }
        _ => {}
    }
    Case {
        name: scenario::search_step_name(&case.base_name, step.number, &shape),
        base_name: case.base_name.clone(),
        shape,
        search: None,
        ..case.clone()
    }
}

/// Whether a step met the objective, and if not which parts failed.
fn objective_outcome(spec: &Search, result: &CaseResult) -> search::Outcome {
    let broke: Vec<String> = spec
        .objective
        .iter()
        .map(|check| check.evaluate(result))
        .filter(|v| !v.passed)
        .map(|v| format!("{} (actual {})", v.expr, v.actual))
        .collect();
    if broke.is_empty() {
        search::Outcome::Pass
    } else {
        search::Outcome::Fail(broke)
    }
}

/// A load in the unit of what a search varies.
fn load_text(over: SearchOver, load: f64) -> String {
    match (over, scenario::Rate::new(load)) {
        (SearchOver::Rate, Some(rate)) => rate.to_string(),
        _ => format!("{load} tasks"),
    }
}

/// The line printed before a search starts: at most how long it takes.
fn search_bound(case: &Case, spec: &Search) -> String {
    let steps = spec.max_steps.get();
    let (warmup, extra) = match case.warmup {
        Warmup::None => (Duration::ZERO, String::new()),
        Warmup::Time(d) => (d, String::new()),
        Warmup::Requests(n) => (
            Duration::ZERO,
            format!(" plus a warm-up of {n} requests per step"),
        ),
    };
    let bound = (spec.step_duration + warmup) * steps;
    format!(
        "search {}: over {} from {} until {}, at most {steps} steps of {} + {} warm-up: at most {}{extra}",
        case.base_name,
        spec.over.as_str(),
        load_text(spec.over, spec.from),
        spec.objective.iter().map(|c| c.text()).collect::<Vec<_>>().join(", "),
        mock_server::duration::format(spec.step_duration),
        mock_server::duration::format(warmup),
        mock_server::duration::format(bound),
    )
}

/// The line printed after each step.
fn step_line(step_case: &Case, step: search::Step, outcome: &search::Outcome) -> String {
    let again = if step.confirming {
        " (re-run to confirm)"
    } else {
        ""
    };
    match outcome {
        search::Outcome::Pass => format!("  {}{again}: meets the objective", step_case.name),
        search::Outcome::Fail(broke) => {
            format!("  {}{again}: fails {}", step_case.name, broke.join(", "))
        }
    }
}

/// The line printed when a search ends: its answer beside the model's.
fn search_answer(r: &SearchRecord, stopped: bool) -> String {
    let over = if r.over == "rate" {
        SearchOver::Rate
    } else {
        SearchOver::Tasks
    };
    let load = |l: Option<f64>| l.map_or("none".to_string(), |l| load_text(over, l));
    let mut text = format!(
        "search {}: highest passing {}, lowest failing {}",
        r.case,
        load(r.highest_pass),
        load(r.lowest_fail)
    );
    if !r.broke.is_empty() {
        text.push_str(&format!(" (broke: {})", r.broke.join(", ")));
    }
    if let Some(limit) = r.model_limit {
        let what = if over == SearchOver::Rate { "C/D" } else { "C" };
        text.push_str(&format!("; model {what} = {}", load_text(over, limit)));
    }
    text.push_str(&format!("; {} steps", r.steps));
    if stopped {
        text.push_str(", interrupted");
    } else if !r.converged {
        text.push_str(", max_steps reached before the precision");
    }
    text
}

/// The running target: its address and, when embedded, the server itself.
struct RunningTarget {
    addr: SocketAddr,
    authority: String,
    server: Option<EmbeddedServer>,
    model: Option<ServerModel>,
    /// The embedded server's phase changes, per case, for `run.json`.
    phases: std::sync::Mutex<Vec<CasePhases>>,
    /// The TLS client, built once for the run, when the target speaks TLS.
    tls: Option<Arc<TlsClient>>,
}

/// Per-case files ([`files::CaseFile`]), encoded as cases finish and
/// written with the rest at the end.
type CaseFiles = Vec<Encoded>;

fn start_target(scenario: &Scenario, allow_remote: bool) -> Result<RunningTarget, RunError> {
    match &scenario.target {
        Target::Embedded(settings) => {
            // One delay and one capacity describe the server only when no
            // route or pool serves some requests by rules of its own; a
            // schedule's phases start from them (the model is the start's).
            let model =
                (settings.routes.is_empty() && settings.pools.is_empty()).then(|| ServerModel {
                    delay: settings.mean_delay(),
                    capacity: settings.capacity.map(|c| c.get() as u64),
                    queue: settings.queue,
                });
            let server =
                EmbeddedServer::start((**settings).clone(), 2).map_err(RunError::StartServer)?;
            let addr = server.addr();
            // The embedded server's own certificate is trusted as a root.
            let tls = match &scenario.tls {
                Some(tls) => {
                    let mut options = tls.options.clone();
                    options
                        .extra_roots
                        .extend(server.tls_certificate().cloned());
                    Some(Arc::new(TlsClient::new(&options, &addr.ip().to_string())?))
                }
                None => None,
            };
            Ok(RunningTarget {
                addr,
                authority: addr.to_string(),
                server: Some(server),
                model,
                phases: Default::default(),
                tls,
            })
        }
        Target::Url(uri) => {
            let (addr, authority) = resolve(uri, allow_remote)?;
            let tls = match &scenario.tls {
                Some(tls) => Some(Arc::new(TlsClient::new(&tls.options, url_host(uri))?)),
                None => None,
            };
            Ok(RunningTarget {
                addr,
                authority,
                server: None,
                model: None,
                phases: Default::default(),
                tls,
            })
        }
    }
}

/// A URL's host without the brackets of an IPv6 address.
fn url_host(uri: &http::Uri) -> &str {
    uri.host()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']')
}

/// Resolves a URL's host and refuses non-loopback addresses unless allowed
/// (`https://` by the same rule as `http://`).
pub fn resolve(uri: &http::Uri, allow_remote: bool) -> Result<(SocketAddr, String), RunError> {
    let host = url_host(uri);
    let default_port = if uri.scheme_str() == Some("https") {
        443
    } else {
        80
    };
    let port = uri.port_u16().unwrap_or(default_port);
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|source| RunError::Resolve {
            host: host.to_string(),
            source,
        })?
        .collect();
    let Some(first) = addrs.first().copied() else {
        return Err(RunError::NoAddress {
            host: host.to_string(),
        });
    };
    if !allow_remote {
        // `::ffff:127.0.0.1` is IPv4's loopback written as IPv6.
        if let Some(remote) = addrs.iter().find(|a| !a.ip().to_canonical().is_loopback()) {
            return Err(RunError::NotLoopback {
                host: host.to_string(),
                ip: remote.ip(),
            });
        }
    }
    // The Host header names host and port, never the URL's credentials.
    let authority = uri.authority().map_or_else(
        || first.to_string(),
        |a| {
            let text = a.as_str();
            text.rsplit_once('@')
                .map_or(text, |(_, host)| host)
                .to_string()
        },
    );
    Ok((first, authority))
}

/// Refuses to shard what cannot be split: an embedded server (each shard
/// would load its own) and search cases.
fn check_shardable(scenario: &Scenario, shard: Shard) -> Result<(), RunError> {
    if shard.is_whole() {
        return Ok(());
    }
    if let Target::Embedded(_) = scenario.target {
        return Err(RunError::ShardEmbedded { shard });
    }
    if let Some(case) = scenario.cases.iter().find(|c| c.search.is_some()) {
        return Err(RunError::ShardSearch {
            shard,
            case: case.name.clone(),
        });
    }
    Ok(())
}

/// Runs this shard's part of a case ([`shard_case`]); a shard with no
/// part records the case as empty (no requests, empty histograms, the
/// concurrency it ran: 0). Also returns the start skew against the origin.
fn run_shard(
    ctx: &StepContext<'_>,
    case: &Case,
    repetition: u32,
    placement: Placement,
) -> Result<(CaseResult, CaseFiles, Option<f64>), RunError> {
    let Some(part) = shard_case(case, placement.shard) else {
        let empty = Measurement {
            recorder: Default::default(),
            wall: Duration::ZERO,
            launched: 0,
            skipped: 0,
            connect_backoffs: 0,
            started_at: std::time::SystemTime::now(),
            start_skew: None,
            first_error: None,
        };
        let mut result = case_result(&ctx.scenario.name, case, repetition, &empty);
        result.concurrency = result.concurrency.map(|_| 0);
        // No entry rows, so no entry files either (`merge` counts them as
        // empty).
        let files = case_files(case, repetition, &empty, None)?;
        return Ok((result, files, None));
    };
    let (mut result, files, skew) = run_one(ctx, &part, repetition, placement)?;
    // A shard's part is named and typed like the whole case; its target
    // rate is the whole schedule's (it sends a slice of that schedule).
    result.target_rate = case.shape.rate().map(|r| r.per_second());
    Ok((result, files, skew))
}

/// A case's files; with a `requests:` mix (`Some`), one `.hdr` per entry
/// too, beside the entry rows of [`request_results`].
fn case_files(
    case: &Case,
    repetition: u32,
    m: &Measurement,
    mix: Option<&Mix>,
) -> Result<CaseFiles, RunError> {
    let empty = crate::recorder::new_histogram();
    let requests: Vec<RequestData<'_>> = mix
        .filter(|mix| mix.per_request)
        .map(|mix| {
            mix.entries
                .iter()
                .enumerate()
                .map(|(index, entry)| RequestData {
                    name: &entry.name,
                    ok: m.recorder.by_request.get(index).map_or(&empty, |r| &r.ok),
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(files::case_files(&CaseData {
        case: &case.name,
        repetition,
        ok: &m.recorder.ok,
        timeline: &m.recorder.timeline,
        started_at: m.started_at,
        requests: &requests,
    })?)
}

/// The host name (`/proc/sys/kernel/hostname`, else `$HOSTNAME`).
fn host_name() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
}

fn run_one(
    ctx: &StepContext<'_>,
    case: &Case,
    repetition: u32,
    placement: Placement,
) -> Result<(CaseResult, CaseFiles, Option<f64>), RunError> {
    let (scenario, target, stop, quiet) = (ctx.scenario, ctx.target, ctx.stop, ctx.quiet);
    let endpoint = Arc::new(Endpoint {
        addr: target.addr,
        authority: target.authority.clone(),
        request: scenario.request.clone(),
        mix: scenario.mix.clone(),
        connection: case.connection,
        protocol: case.protocol,
        streams_per_connection: case.streams_per_connection,
        backoffs: Default::default(),
        tls: target.tls.clone(),
        first_error: Default::default(),
    });
    // The server's "before" is read when the warm-up is over, so the server
    // columns count the measured phase only.
    let before = Arc::new(OnceLock::new());
    let on_start = target.server.as_ref().map(|s| {
        let (handle, before) = (s.stats_handle(), before.clone());
        Box::new(move || {
            // Phases (`schedule:`) are timed from each case's measured start.
            handle.restart_schedule();
            handle.reset_peaks();
            let _ = before.set(handle.stats());
        }) as crate::executor::StartHook
    });
    let progress = Arc::new(if ctx.live.is_some() {
        Progress::detailed()
    } else {
        Progress::default()
    });
    if let Some(live) = ctx.live {
        live.begin_case(progress.clone(), case.shape.rate().map(|r| r.per_second()));
    }
    let bar = ProgressDisplay::start(case, progress.clone(), quiet);
    let measured = run_case(case, endpoint, progress, stop.clone(), on_start, placement);
    bar.finish();
    if let Some(live) = ctx.live {
        live.end_case();
    }
    let measured = measured.map_err(|source| RunError::Case {
        case: case.name.clone(),
        source,
    })?;
    let after = target.server.as_ref().map(|s| s.stats());
    let mut result = case_result(&scenario.name, case, repetition, &measured);
    result.parts = request_results(&result, &scenario.mix, &measured);
    if let (Some(before), Some(after)) = (before.get(), after) {
        result.server = Some(ServerView::between(before, &after));
        record_phases(target, case, repetition, &after);
    }
    result.model = target.model.map(|m| m.expect(&case.shape));
    let files = case_files(case, repetition, &measured, Some(&scenario.mix))?;
    Ok((result, files, measured.start_skew))
}

/// Keeps the server's phase changes during a case for `run.json`.
fn record_phases(target: &RunningTarget, case: &Case, repetition: u32, after: &StatsSnapshot) {
    if after.phases.is_empty() {
        return;
    }
    let changes = after
        .phases
        .iter()
        .map(|p| PhaseMark {
            at_seconds: p.applied_seconds,
            source: p.source.clone(),
            set: p.set.clone(),
        })
        .collect();
    let mut phases = target
        .phases
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    phases.push(CasePhases {
        case: case.name.clone(),
        repetition,
        changes,
    });
}

/// A case's result from its measurement.
fn case_result(scenario: &str, case: &Case, repetition: u32, m: &Measurement) -> CaseResult {
    let wall = m.wall.as_secs_f64();
    let per_second = |n: u64| if wall > 0.0 { n as f64 / wall } else { 0.0 };
    let open = case.shape.rate().is_some();
    let ok = m.recorder.ok_count();
    CaseResult {
        scenario: scenario.to_string(),
        case: case.name.clone(),
        base_case: case.base_name.clone(),
        repetition,
        executor: case.shape.executor().as_str().to_string(),
        runtime: match case.shape.executor() {
            ExecutorKind::Sequential => "blocking".into(),
            _ => serde_name(&case.runtime),
        },
        connection: serde_name(&case.connection),
        protocol: case.protocol.as_str().to_string(),
        streams_per_connection: case.streams_per_connection.get(),
        concurrency: case.shape.concurrency(),
        target_rate: case.shape.rate().map(|r| r.per_second()),
        requests: m.launched,
        ok,
        errors: m.recorder.errors,
        statuses: m.recorder.statuses.clone(),
        wall_seconds: wall,
        throughput: per_second(ok),
        achieved_rate: per_second(m.launched.saturating_sub(never_left(&m.recorder.errors))),
        late_sends: m.recorder.late,
        skipped_sends: m.skipped,
        connect_backoffs: m.connect_backoffs,
        phases: PhaseTimes {
            connections_opened: m.recorder.phases.connections_opened,
            connect: Latency::of(&m.recorder.phases.connect),
            tls: Latency::of(&m.recorder.phases.tls),
            ttfb: Latency::of(&m.recorder.phases.ttfb),
            body: Latency::of(&m.recorder.phases.body),
        },
        first_error: m.first_error.clone(),
        latency: Latency::of(&m.recorder.ok),
        service: if open {
            Latency::of(&m.recorder.service)
        } else {
            None
        },
        server: None,
        model: None,
        interrupted: false,
        request: String::new(),
        parts: Vec::new(),
    }
}

/// One row per entry of a request mix (none for a single request): the
/// case's names, executor and wall time, the entry's own counts,
/// statuses and latency; the open loop's target rate split by weight.
fn request_results(total: &CaseResult, mix: &Mix, m: &Measurement) -> Vec<CaseResult> {
    if !mix.per_request {
        return Vec::new();
    }
    let weights: u64 = mix.entries.iter().map(|e| u64::from(e.weight)).sum();
    let empty = RequestRecorder::default();
    mix.entries
        .iter()
        .enumerate()
        .map(|(index, entry)| {
            let r = m.recorder.by_request.get(index).unwrap_or(&empty);
            let ok = r.ok_count();
            let requests = ok + r.errors.total();
            let per_second = |n: u64| {
                if total.wall_seconds > 0.0 {
                    n as f64 / total.wall_seconds
                } else {
                    0.0
                }
            };
            CaseResult {
                request: entry.name.clone(),
                target_rate: total
                    .target_rate
                    .map(|rate| rate * f64::from(entry.weight) / weights.max(1) as f64),
                requests,
                ok,
                errors: r.errors,
                statuses: r.statuses.clone(),
                throughput: per_second(ok),
                achieved_rate: per_second(requests.saturating_sub(never_left(&r.errors))),
                late_sends: r.late,
                skipped_sends: 0,
                connect_backoffs: 0,
                latency: Latency::of(&r.ok),
                service: None,
                server: None,
                model: None,
                parts: Vec::new(),
                ..total.clone()
            }
        })
        .collect()
}

/// Requests that failed inside the client, before anything was sent.
fn never_left(errors: &ErrorCounts) -> u64 {
    errors.get(ErrorKind::TooManyOpenFiles) + errors.get(ErrorKind::PortsExhausted)
}

fn serde_name<T: serde::Serialize>(value: &T) -> String {
    serde_yaml::to_string(value)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// The request spec as `run.json` records it, secrets redacted (see
/// `crate::redact`).
pub fn request_info(spec: &RequestSpec) -> RequestInfo {
    RequestInfo {
        method: spec.method.to_string(),
        path: redact::path_and_query(&spec.path),
        headers: spec
            .headers
            .iter()
            .map(|(n, v)| {
                let value = redact::header_value(n.as_str(), v.to_str().unwrap_or("<binary>"));
                (n.to_string(), value)
            })
            .collect(),
        body_bytes: spec.body.len(),
    }
}

/// The git revision of the current folder, if any.
fn git_revision() -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
}

/// Writes a run's folder (`run`, and `merge` for the merged result): the
/// per-case files, `summary.csv`, `checks.csv` when there are verdicts,
/// then `run.json` last ([`write_files`]).
pub(crate) fn write_run_folder(
    out_dir: &std::path::Path,
    case_files: &[Encoded],
    results: &[CaseResult],
    verdicts: &[Verdict],
    info: &RunInfo,
) -> Result<(), RunError> {
    let reports = RunFiles::new(info, results, verdicts, case_files);
    let mut writers: Vec<&dyn Writer> = case_files.iter().map(|f| f as &dyn Writer).collect();
    writers.extend(reports.writers());
    write_files(out_dir, &writers, &RunJson(info))
}

/// Writes the results folder: every writer in order, then `run.json`
/// last, as the mark of a complete run. A stale `run.json` from an earlier
/// run into the same folder is removed first, so a run that fails midway
/// (full disk, kill) leaves a folder without `run.json`.
pub fn write_files(
    dir: &std::path::Path,
    writers: &[&dyn Writer],
    run_json: &RunJson<'_>,
) -> Result<(), RunError> {
    let fail = |file: &str, source: Box<dyn std::error::Error + Send + Sync>| RunError::Write {
        file: file.to_string(),
        dir: dir.to_path_buf(),
        source,
    };
    match std::fs::remove_file(dir.join(files::RUN_JSON)) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(fail("run.json (removing the old one)", e.into())),
    }
    let write = |writer: &dyn Writer| {
        let name = writer.file_name();
        let bytes = writer.write().map_err(|e| fail(name, e.into()))?;
        write_atomic(&dir.join(name), &bytes).map_err(|e| fail(name, e.into()))
    };
    for writer in writers {
        write(*writer)?;
    }
    // The renames above reach the disk before run.json can (best effort:
    // some file systems cannot sync a folder).
    if let Ok(folder) = std::fs::File::open(dir) {
        let _ = folder.sync_all();
    }
    write(run_json)
}

/// A progress bar on stderr, refreshed from the live counters.
struct ProgressDisplay {
    bar: Option<ProgressBar>,
    ticker: Option<(
        Arc<std::sync::atomic::AtomicBool>,
        std::thread::JoinHandle<()>,
    )>,
}

impl ProgressDisplay {
    fn start(case: &Case, progress: Arc<Progress>, quiet: bool) -> ProgressDisplay {
        if quiet || !std::io::stderr().is_terminal() {
            return ProgressDisplay {
                bar: None,
                ticker: None,
            };
        }
        let bar = match case.shape.planned_requests() {
            Some(n) => ProgressBar::new(n),
            None => ProgressBar::new_spinner(),
        };
        let style = ProgressStyle::with_template(
            "{prefix:>20} [{elapsed_precise}] {wide_bar} {pos}/{len} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.set_prefix(case.name.clone());
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (bar2, done2) = (bar.clone(), done.clone());
        let ticker = std::thread::spawn(move || {
            let start = std::time::Instant::now();
            while !done2.load(Ordering::Relaxed) {
                let n = progress.done.load(Ordering::Relaxed);
                let errors = progress.errors.load(Ordering::Relaxed);
                let rate = n as f64 / start.elapsed().as_secs_f64().max(1e-3);
                bar2.set_position(n);
                bar2.set_message(format!("{rate:.0} req/s, {errors} errors"));
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        ProgressDisplay {
            bar: Some(bar),
            ticker: Some((done, ticker)),
        }
    }

    fn finish(self) {
        if let Some((done, handle)) = self.ticker {
            done.store(true, Ordering::Relaxed);
            let _ = handle.join();
        }
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(results: Vec<CaseResult>, interrupted: bool, failed_checks: usize) -> RunReport {
        let verdict = |passed| Verdict {
            case: "a".into(),
            repetition: 1,
            expr: "p99 < 1s".into(),
            passed,
            actual: String::new(),
            threshold: String::new(),
        };
        let mut verdicts = vec![verdict(true)];
        verdicts.extend((0..failed_checks).map(|_| verdict(false)));
        RunReport {
            results,
            out_dir: PathBuf::from("out"),
            interrupted,
            verdicts,
            target: "embedded".into(),
            searches: Vec::new(),
            warnings: Vec::new(),
        }
    }

    fn result(requests: u64, ok: u64) -> CaseResult {
        let mut r = CaseResult {
            requests,
            ok,
            ..CaseResult::default()
        };
        r.errors
            .add_many(crate::outcome::ErrorKind::Http5xx, requests - ok);
        r.statuses.insert(503, requests - ok);
        r
    }

    #[test]
    fn credentials_are_redacted() {
        let spec = RequestSpec {
            method: http::Method::GET,
            path: "/".into(),
            headers: vec![
                (
                    http::header::AUTHORIZATION,
                    http::HeaderValue::from_static("Bearer s3cret"),
                ),
                (http::header::ACCEPT, http::HeaderValue::from_static("*/*")),
            ],
            body: bytes::Bytes::new(),
            timeout: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(1),
        };
        let info = request_info(&spec);
        assert_eq!(info.headers[0].1, "<redacted>");
        assert_eq!(info.headers[1].1, "*/*");
    }

    #[test]
    fn exit_codes_follow_the_documented_precedence() {
        let table = [
            (vec![result(10, 10)], false, 0, 0, None),
            (vec![result(10, 10)], false, 2, 1, Some("2 check(s) failed")),
            (
                vec![result(10, 0)],
                false,
                1,
                3,
                Some("error: not a single request succeeded: all 10 were answered with an error status (10 got 503)"),
            ),
            (vec![result(10, 0)], true, 1, 130, Some("the run was interrupted; results so far are marked interrupted")),
            // Nothing sent is not "nothing succeeded".
            (vec![result(0, 0)], false, 0, 0, None),
            (vec![result(10, 0), result(5, 1)], false, 0, 0, None),
        ];
        for (results, interrupted, failed, code, message) in table {
            let r = report(results, interrupted, failed);
            assert_eq!(r.exit_code(), code, "{r:?}");
            assert_eq!(r.closing_message().as_deref(), message, "{r:?}");
        }
    }
}
