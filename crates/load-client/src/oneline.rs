//! One-line mode: `load-client run --url URL -c 50 -n 1000`, with the flag
//! names of oha, hey and wrk where they exist.
//!
//! The flags ([`OneLineArgs`]) become a scenario as YAML text
//! ([`scenario_yaml`]); `run` then loads, validates and runs that text
//! exactly like a file (`RunOptions::scenario_text`), so a one-liner and the
//! scenario `--print-scenario` prints for it run the same case into the same
//! results layout. Errors name the flags, not the generated text: two flags
//! that exclude each other, a flag that needs another, and a value the
//! scenario's validation refuses (told as the flag that set the field).
//!
//! A flag that sets one scenario field to a fixed value is one line in
//! [`SWITCHES`]; flags with a value map to fields in [`scenario_yaml`].

use std::path::{Path, PathBuf};

use serde_yaml::{Mapping, Value};

use crate::redact::Redactor;
use crate::scenario::{self, Rate, ScenarioError};

/// How a one-line scenario's source is named in messages and `run.json`.
pub const SOURCE_NAME: &str = "<command line>";
/// The scenario name of a one-line run: results go to
/// `results/oneline/<timestamp>/`.
pub const SCENARIO_NAME: &str = "oneline";
/// Tasks when `-c` is not given (oha's and hey's default).
pub const DEFAULT_TASKS: u32 = 50;
/// Requests when neither `-n` nor `-z` is given (oha's and hey's default).
pub const DEFAULT_REQUESTS: u64 = 200;
/// The first rate of `--search-rate` without `--from`.
pub const DEFAULT_FROM_RATE: &str = "10/s";
/// The first task count of `--search-tasks` without `--from`.
pub const DEFAULT_FROM_TASKS: u32 = 1;

/// The first line of every one-line scenario.
const HEADER: &str =
    "# A one-line run as a scenario (load-client run --print-scenario); `load-client run FILE` runs the same case.\n";

/// A flag that sets one scenario field to a fixed value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Switch {
    /// The long flag, without `--`.
    pub long: &'static str,
    /// The scenario field it sets, dotted from the top (`defaults.connection`,
    /// `tls.insecure`); `case.` is the one case's block.
    pub field: &'static str,
    /// The value, as YAML (`per_request`, `true`).
    pub value: &'static str,
    /// Its line in `--help`.
    pub help: &'static str,
}

/// Every switch of the one-line mode. Adding one is one line here.
pub const SWITCHES: &[Switch] = &[
    Switch {
        long: "disable-keepalive",
        field: "defaults.connection",
        value: "per_request",
        help: "A new TCP connection for every request (oha's and hey's --disable-keepalive; \
           same as --connection per-request)",
    },
    Switch {
        long: "http2",
        field: "protocol",
        value: "http2",
        help: "Speak HTTP/2 (oha's --http2): prior-knowledge h2c over http://, ALPN h2 over https://",
    },
    Switch {
        long: "insecure",
        field: "tls.insecure",
        value: "true",
        help: "https://: do not verify the server's certificate (oha's --insecure); printed as a warning",
    },
];

/// The switches given on the command line, by their long names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Switches(pub Vec<&'static str>);

impl clap::FromArgMatches for Switches {
    fn from_arg_matches(matches: &clap::ArgMatches) -> Result<Self, clap::Error> {
        Ok(Switches(
            SWITCHES
                .iter()
                .filter(|s| matches!(matches.try_get_one::<bool>(s.long), Ok(Some(true))))
                .map(|s| s.long)
                .collect(),
        ))
    }

    fn update_from_arg_matches(&mut self, matches: &clap::ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

impl clap::Args for Switches {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        SWITCHES.iter().fold(cmd, |cmd, s| {
            cmd.arg(
                clap::Arg::new(s.long)
                    .long(s.long)
                    .action(clap::ArgAction::SetTrue)
                    .help(s.help)
                    .help_heading("One-line mode"),
            )
        })
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

/// The one-line mode's flags, as given.
#[derive(Debug, Clone, Default, PartialEq, Eq, clap::Args)]
#[command(next_help_heading = "One-line mode")]
pub struct OneLineArgs {
    /// Load this URL instead of running a scenario file (one-line mode).
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Concurrent tasks, each with its own connection [default: 50]; with -q
    /// or --search-rate: most requests in flight (`max_in_flight`).
    #[arg(short = 'c', long = "concurrency", value_name = "N")]
    pub concurrency: Option<u32>,
    /// Requests in total, across all tasks [default: 200]; a multiple of -c.
    #[arg(short = 'n', long = "requests", value_name = "N")]
    pub requests: Option<u64>,
    /// Run for this long instead of -n requests (`10s`, `2m`; a bare number is seconds).
    #[arg(short = 'z', long = "duration", value_name = "DURATION")]
    pub duration: Option<String>,
    /// Open loop at this TOTAL rate per second across all workers (as oha's
    /// -q; hey's -q is per worker), for -z or until -n requests are sent.
    #[arg(short = 'q', long = "rate", value_name = "RATE")]
    pub rate: Option<String>,
    /// HTTP method [default: GET].
    #[arg(short = 'm', long = "method", value_name = "METHOD")]
    pub method: Option<String>,
    /// A request header, `'Name: value'`; repeatable.
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,
    /// The request body.
    #[arg(short = 'd', long = "body", value_name = "BODY")]
    pub body: Option<String>,
    /// The request body, read from this file (UTF-8 text, put into the scenario).
    #[arg(short = 'D', long = "body-file", value_name = "FILE")]
    pub body_file: Option<PathBuf>,
    /// Per-request timeout (`30s`; a bare number is seconds) [default: 30s].
    #[arg(short = 't', long = "timeout", value_name = "DURATION")]
    pub timeout: Option<String>,
    /// Warm-up, not measured: a number of requests or a duration (`2s`).
    #[arg(long, value_name = "N|DURATION")]
    pub warmup: Option<String>,
    /// `reuse` (keep-alive) or `per-request` (a new connection each time).
    #[arg(long, value_name = "reuse|per-request")]
    pub connection: Option<String>,
    /// Fixed-value switches (see `SWITCHES`).
    #[command(flatten)]
    pub switches: Switches,
    /// Print the equivalent scenario file (YAML) and run nothing. It holds
    /// the headers as typed, credentials included.
    #[arg(long)]
    pub print_scenario: bool,
    /// Search for the highest rate that meets --objective (an open loop per step).
    #[arg(long)]
    pub search_rate: bool,
    /// Search for the highest number of tasks that meets --objective.
    #[arg(long)]
    pub search_tasks: bool,
    /// What every search step must meet, e.g. `p99 < 200ms`; repeatable or
    /// comma-separated (`'p99 < 200ms, error_rate < 1%'`).
    #[arg(long, value_name = "CHECKS")]
    pub objective: Vec<String>,
    /// The search's first load: a rate (`100/s`) or a task count [default: 10/s or 1].
    #[arg(long, value_name = "LOAD")]
    pub from: Option<String>,
    /// Stop the search when (fail - pass) / pass is at most this [default: 5%].
    #[arg(long, value_name = "PERCENT")]
    pub precision: Option<String>,
    /// How long each search step measures [default: 10s].
    #[arg(long, value_name = "DURATION")]
    pub step_duration: Option<String>,
    /// Most search steps, re-runs included [default: 20].
    #[arg(long, value_name = "N")]
    pub max_steps: Option<u32>,
}

/// A one-line command that cannot be turned into a scenario (exit 2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OneLineError {
    /// Two flags (or a flag and a scenario file) that exclude each other.
    #[error("{first} and {second} cannot be used together: {why}")]
    Conflict {
        /// The first flag.
        first: String,
        /// The second flag.
        second: String,
        /// Why, and what to do instead.
        why: String,
    },
    /// A flag that needs another one.
    #[error("{flag} needs {needs}: {why}")]
    Needs {
        /// The flag given.
        flag: String,
        /// What it needs.
        needs: String,
        /// Why.
        why: String,
    },
    /// A flag's value is not allowed.
    #[error("{flag}: {message}")]
    Invalid {
        /// The flag (or flags) whose value is wrong.
        flag: String,
        /// What was wrong and what is allowed.
        message: String,
    },
}

impl OneLineError {
    /// The documented exit code: 2, bad input.
    pub fn exit_code(&self) -> u8 {
        2
    }
}

fn conflict(first: &str, second: &str, why: &str) -> OneLineError {
    OneLineError::Conflict {
        first: first.into(),
        second: second.into(),
        why: why.into(),
    }
}

fn needs(flag: &str, needs: &str, why: &str) -> OneLineError {
    OneLineError::Needs {
        flag: flag.into(),
        needs: needs.into(),
        why: why.into(),
    }
}

fn invalid(flag: &str, message: impl Into<String>) -> OneLineError {
    OneLineError::Invalid {
        flag: flag.into(),
        message: message.into(),
    }
}

/// What `run` was asked to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A scenario file (or `-` for standard input).
    File(PathBuf),
    /// A one-line run: the scenario text built from the flags.
    OneLine(String),
    /// `--print-scenario`: the text to print; nothing runs.
    Print(String),
}

/// Decides between a scenario file and the one-line mode: exactly one of
/// them, and one-line flags only with `--url`.
pub fn source(file: Option<&Path>, args: &OneLineArgs) -> Result<Source, OneLineError> {
    let given = args.given();
    match (file, &args.url) {
        (Some(file), Some(_)) => Err(conflict(
            &format!("the scenario file {}", file.display()),
            "--url",
            "run either a scenario file or a one-liner; `--print-scenario` turns a one-liner into a file",
        )),
        (Some(file), None) => match given.first() {
            Some(flag) => Err(invalid(
                flag,
                format!(
                    "belongs to the one-line mode (--url), not to the scenario file {}; change the file or use --set PATH=VALUE",
                    file.display()
                ),
            )),
            None => Ok(Source::File(file.to_path_buf())),
        },
        (None, None) => Err(match given.first() {
            Some(flag) => needs(flag, "--url", "it belongs to the one-line mode"),
            None => invalid(
                "load-client run",
                "give a scenario file (load-client run scenario.yaml) or a URL (load-client run --url http://127.0.0.1:8080/)",
            ),
        }),
        (None, Some(_)) => {
            let text = scenario_yaml(args)?;
            Ok(if args.print_scenario {
                Source::Print(text)
            } else {
                Source::OneLine(text)
            })
        }
    }
}

impl OneLineArgs {
    /// The one-line flags given, other than `--url`, in `--help` order.
    pub fn given(&self) -> Vec<&'static str> {
        let mut flags = Vec::new();
        let mut add = |flag, is_set: bool| {
            if is_set {
                flags.push(flag);
            }
        };
        add("-c", self.concurrency.is_some());
        add("-n", self.requests.is_some());
        add("-z", self.duration.is_some());
        add("-q", self.rate.is_some());
        add("-m", self.method.is_some());
        add("-H", !self.headers.is_empty());
        add("-d", self.body.is_some());
        add("-D", self.body_file.is_some());
        add("-t", self.timeout.is_some());
        add("--warmup", self.warmup.is_some());
        add("--connection", self.connection.is_some());
        add("--print-scenario", self.print_scenario);
        add("--search-rate", self.search_rate);
        add("--search-tasks", self.search_tasks);
        add("--objective", !self.objective.is_empty());
        add("--from", self.from.is_some());
        add("--precision", self.precision.is_some());
        add("--step-duration", self.step_duration.is_some());
        add("--max-steps", self.max_steps.is_some());
        for s in SWITCHES {
            if self.switches.0.contains(&s.long) {
                flags.push(s.long);
            }
        }
        flags
    }

    /// The search flags given, other than `--search-rate`/`--search-tasks`.
    fn search_flags(&self) -> Option<&'static str> {
        [
            ("--objective", !self.objective.is_empty()),
            ("--from", self.from.is_some()),
            ("--precision", self.precision.is_some()),
            ("--step-duration", self.step_duration.is_some()),
            ("--max-steps", self.max_steps.is_some()),
        ]
        .into_iter()
        .find_map(|(flag, set)| set.then_some(flag))
    }
}

/// What the one case does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Closed loop: `-c` tasks for `-n` requests or `-z`.
    Tasks,
    /// Open loop at `-q`.
    Rate,
    /// A search over rate or tasks.
    Search(scenario::SearchOver),
}

/// Which load flags go together; every refusal names both flags.
fn mode(args: &OneLineArgs) -> Result<Mode, OneLineError> {
    let search = match (args.search_rate, args.search_tasks) {
        (true, true) => {
            return Err(conflict(
                "--search-rate",
                "--search-tasks",
                "a search varies one thing; pick one",
            ))
        }
        (true, false) => Some(("--search-rate", scenario::SearchOver::Rate)),
        (false, true) => Some(("--search-tasks", scenario::SearchOver::Tasks)),
        (false, false) => None,
    };
    if let Some((flag, over)) = search {
        for (other, set) in [
            ("-n", args.requests.is_some()),
            ("-z", args.duration.is_some()),
            ("-q", args.rate.is_some()),
        ] {
            if set {
                return Err(conflict(
                    flag,
                    other,
                    "the search sets the load of each step (--from, doubling, then bisecting) and its length (--step-duration)",
                ));
            }
        }
        if over == scenario::SearchOver::Tasks && args.concurrency.is_some() {
            return Err(conflict(
                flag,
                "-c",
                "the search sets the number of tasks; give the first one with --from",
            ));
        }
        if args.objective.is_empty() {
            return Err(needs(
                flag,
                "--objective",
                "what every step must meet, e.g. --objective 'p99 < 200ms, error_rate < 1%'",
            ));
        }
        return Ok(Mode::Search(over));
    }
    if let Some(flag) = args.search_flags() {
        return Err(needs(
            flag,
            "--search-rate or --search-tasks",
            "it is a setting of the search",
        ));
    }
    if args.requests.is_some() && args.duration.is_some() {
        return Err(conflict(
            "-n",
            "-z",
            "-n sends a number of requests, -z runs for a time; give one",
        ));
    }
    if args.rate.is_some() {
        if args.requests.is_none() && args.duration.is_none() {
            return Err(needs(
                "-q",
                "-z or -n",
                "the open loop runs for a time (-z 10s) or until it has sent -n requests",
            ));
        }
        return Ok(Mode::Rate);
    }
    Ok(Mode::Tasks)
}

/// The scenario the flags describe, as YAML text, validated like a file
/// (an error names the flag that set the refused field).
pub fn scenario_yaml(args: &OneLineArgs) -> Result<String, OneLineError> {
    let Some(url) = &args.url else {
        return Err(needs("the one-line mode", "--url", "the URL to load"));
    };
    let mode = mode(args)?;
    let mut doc = Doc::default();
    doc.set("--url", &["name"], SCENARIO_NAME.into())?;
    doc.set("--url", &["url"], url.as_str().into())?;
    request(args, &mut doc)?;
    if let Some(warmup) = &args.warmup {
        doc.set("--warmup", &["defaults", "warmup"], scalar(warmup))?;
    }
    if let Some(connection) = &args.connection {
        let value = match connection.trim() {
            "reuse" => "reuse",
            "per-request" | "per_request" => "per_request",
            other => {
                return Err(invalid(
                    "--connection",
                    format!("{other:?}: expected reuse or per-request"),
                ))
            }
        };
        doc.set("--connection", &["defaults", "connection"], value.into())?;
    }
    for s in SWITCHES
        .iter()
        .filter(|s| args.switches.0.contains(&s.long))
    {
        let value = serde_yaml::from_str(s.value).unwrap_or_else(|_| s.value.into());
        let path: Vec<&str> = s.field.split('.').collect();
        doc.set(&format!("--{}", s.long), &path, value)?;
    }
    case(args, mode, &mut doc)?;
    let text = doc.text()?;
    scenario::parse(Path::new(SOURCE_NAME), &text, &[], &[])
        .map_err(|e| doc.explain(e, &redactor(args)))?;
    Ok(text)
}

/// What hides the credentials given on the command line: the `-H` items
/// read as the `--set request.headers.NAME=VALUE` they stand for.
fn redactor(args: &OneLineArgs) -> Redactor {
    let items: Vec<String> = args
        .headers
        .iter()
        .filter_map(|h| h.split_once(':'))
        .map(|(name, value)| format!("request.headers.{}={}", name.trim(), value.trim()))
        .collect();
    Redactor::for_overrides(&items)
}

/// The `request:` block: method, headers, body, timeout.
fn request(args: &OneLineArgs, doc: &mut Doc) -> Result<(), OneLineError> {
    if let Some(method) = &args.method {
        doc.set("-m", &["request", "method"], method.as_str().into())?;
    }
    let mut names: Vec<String> = Vec::new();
    for header in &args.headers {
        let Some((name, value)) = header.split_once(':') else {
            // The text is not echoed: it may be a credential.
            return Err(invalid(
                "-H",
                "expected 'Name: value', with a colon after the name",
            ));
        };
        let name = name.trim();
        if name.is_empty() {
            return Err(invalid(
                "-H",
                "the header name is missing: expected 'Name: value'",
            ));
        }
        if names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
            return Err(invalid(
                "-H",
                format!("{name} is given twice; a scenario sends each header once"),
            ));
        }
        names.push(name.to_string());
        doc.set("-H", &["request", "headers", name], value.trim().into())?;
    }
    let body = match (&args.body, &args.body_file) {
        (Some(_), Some(_)) => {
            return Err(conflict(
                "-d",
                "-D",
                "give the body inline or in a file, not both",
            ))
        }
        (Some(body), None) => Some(("-d", body.clone())),
        (None, Some(file)) => Some(("-D", read_body(file)?)),
        (None, None) => None,
    };
    if let Some((flag, body)) = body {
        doc.set(flag, &["request", "body"], body.into())?;
    }
    if let Some(timeout) = &args.timeout {
        doc.set("-t", &["request", "timeout"], seconds(timeout).into())?;
    }
    Ok(())
}

/// `-D FILE`: the body as text, at most the scenario file's size limit.
fn read_body(file: &Path) -> Result<String, OneLineError> {
    use std::io::Read;
    let shown = file.display();
    let mut bytes = Vec::new();
    std::fs::File::open(file)
        .and_then(|f| {
            f.take(scenario::MAX_FILE_BYTES as u64 + 1)
                .read_to_end(&mut bytes)
        })
        .map_err(|e| invalid("-D", format!("cannot read {shown}: {e}")))?;
    if bytes.len() > scenario::MAX_FILE_BYTES {
        return Err(invalid(
            "-D",
            format!(
                "{shown} is larger than {} bytes, the most a scenario (which holds the body) may be",
                scenario::MAX_FILE_BYTES
            ),
        ));
    }
    String::from_utf8(bytes).map_err(|e| {
        invalid(
            "-D",
            format!(
                "{shown} is not UTF-8 text (byte {}); the scenario's body is text",
                e.utf8_error().valid_up_to()
            ),
        )
    })
}

/// The `cases:` entry.
fn case(args: &OneLineArgs, mode: Mode, doc: &mut Doc) -> Result<(), OneLineError> {
    let at = |key: &'static str| ["case", key];
    match mode {
        Mode::Tasks => {
            let tasks = args.concurrency.unwrap_or(DEFAULT_TASKS);
            doc.set("--url", &at("name"), "tasks".into())?;
            doc.set("--url", &at("executor"), "tasks".into())?;
            doc.set("-c", &at("tasks"), tasks.into())?;
            match (&args.duration, args.requests) {
                (Some(d), _) => doc.set("-z", &at("duration"), seconds(d).into())?,
                (None, n) => {
                    let n = n.unwrap_or(DEFAULT_REQUESTS);
                    doc.set("-n", &at("requests_per_task"), per_task(n, tasks)?.into())?;
                }
            }
        }
        Mode::Rate => {
            let text = args.rate.as_deref().unwrap_or_default();
            let rate: Rate = text.parse().map_err(|m: String| invalid("-q", m))?;
            doc.set("--url", &at("name"), "rate".into())?;
            doc.set("--url", &at("executor"), "rate".into())?;
            doc.set("-q", &at("rate"), rate.to_string().into())?;
            match (&args.duration, args.requests) {
                (Some(d), _) => doc.set("-z", &at("duration"), seconds(d).into())?,
                (None, Some(n)) => doc.set("-n", &at("duration"), sending_time(rate, n)?.into())?,
                (None, None) => {}
            }
            if let Some(c) = args.concurrency {
                doc.set("-c", &at("max_in_flight"), c.into())?;
            }
        }
        Mode::Search(over) => {
            doc.set("--url", &at("name"), "search".into())?;
            let (flag, from) = match over {
                scenario::SearchOver::Rate => {
                    doc.set(flag_of(over), &at("executor"), "rate".into())?;
                    if let Some(c) = args.concurrency {
                        doc.set("-c", &at("max_in_flight"), c.into())?;
                    }
                    let from = args.from.clone().unwrap_or(DEFAULT_FROM_RATE.into());
                    (flag_of(over), scalar(&from))
                }
                scenario::SearchOver::Tasks => {
                    doc.set(flag_of(over), &at("executor"), "tasks".into())?;
                    let from = match &args.from {
                        Some(f) => scalar(f),
                        None => DEFAULT_FROM_TASKS.into(),
                    };
                    (flag_of(over), from)
                }
            };
            let s = |key: &'static str| ["case", "search", key];
            doc.set(flag, &s("over"), over.as_str().into())?;
            doc.set("--from", &s("from"), from)?;
            let objective: Vec<Value> = args
                .objective
                .iter()
                .flat_map(|o| o.split(','))
                .map(str::trim)
                .filter(|o| !o.is_empty())
                .map(Value::from)
                .collect();
            doc.set("--objective", &s("objective"), Value::Sequence(objective))?;
            if let Some(p) = &args.precision {
                doc.set("--precision", &s("precision"), p.as_str().into())?;
            }
            if let Some(d) = &args.step_duration {
                doc.set("--step-duration", &s("step_duration"), seconds(d).into())?;
            }
            if let Some(n) = args.max_steps {
                doc.set("--max-steps", &s("max_steps"), n.into())?;
            }
        }
    }
    Ok(())
}

fn flag_of(over: scenario::SearchOver) -> &'static str {
    match over {
        scenario::SearchOver::Rate => "--search-rate",
        scenario::SearchOver::Tasks => "--search-tasks",
    }
}

/// `-n` over `-c` tasks: the same number each, so `-n` must divide evenly.
fn per_task(requests: u64, tasks: u32) -> Result<u64, OneLineError> {
    let tasks = u64::from(tasks.max(1));
    if requests == 0 {
        return Err(invalid("-n", "must be at least 1"));
    }
    if requests % tasks != 0 {
        let below = requests / tasks * tasks;
        let above = below + tasks;
        let lower = if below > 0 {
            format!("-n {below} or ")
        } else {
            String::new()
        };
        return Err(OneLineError::Invalid {
            flag: "-n and -c".into(),
            message: format!(
                "{requests} requests do not split evenly over {tasks} tasks (each task sends the same number); use {lower}-n {above}, or a -c that divides {requests}"
            ),
        });
    }
    Ok(requests / tasks)
}

/// `-q RATE -n N`: the open loop's duration that sends exactly N requests
/// (the schedule sends `floor(rate × duration)`), in whole microseconds.
fn sending_time(rate: Rate, requests: u64) -> Result<String, OneLineError> {
    let wanted = requests as f64 / rate.per_second();
    let micros = (wanted * 1e6).ceil();
    if requests == 0 || !micros.is_finite() || micros > scenario::MAX_CASE_TIME.as_micros() as f64 {
        return Err(invalid(
            "-n",
            format!(
                "{requests} requests at {rate} take longer than {}, the longest case, or are none; use -z",
                mock_server::duration::format(scenario::MAX_CASE_TIME)
            ),
        ));
    }
    let micros = micros as u64;
    for candidate in micros.saturating_sub(2)..=micros + 2 {
        let text = micros_text(candidate);
        let Ok(parsed) = mock_server::duration::parse(&text) else {
            continue;
        };
        if !parsed.is_zero() && crate::executor::plan(rate, parsed).1 == requests {
            return Ok(text);
        }
    }
    Err(invalid(
        "-n",
        format!("no duration sends exactly {requests} requests at {rate}; use -z instead"),
    ))
}

/// Whole microseconds in the duration grammar, in the largest exact unit.
fn micros_text(micros: u64) -> String {
    if micros % 1_000_000 == 0 {
        format!("{}s", micros / 1_000_000)
    } else if micros % 1_000 == 0 {
        format!("{}ms", micros / 1_000)
    } else {
        format!("{micros}us")
    }
}

/// A duration flag: a bare number means seconds (as in wrk and hey).
fn seconds(text: &str) -> String {
    let text = text.trim();
    if !text.is_empty() && text.parse::<f64>().is_ok() && text != "0" {
        format!("{text}s")
    } else {
        text.to_string()
    }
}

/// A scalar flag value kept as a number when it is one (a count), else text.
fn scalar(text: &str) -> Value {
    match text.trim().parse::<u64>() {
        Ok(n) => n.into(),
        Err(_) => text.trim().into(),
    }
}

/// The scenario being built, and which flag set each field, so a field set
/// twice, or refused by validation, is told as the flags.
#[derive(Default)]
struct Doc {
    root: Mapping,
    /// `(field as validation names it, flag)`, in the order set.
    origin: Vec<(String, String)>,
}

impl Doc {
    /// Sets `path` (from the top; `case` is the one case) to `value`. A
    /// field already set to another value by another flag is a conflict.
    fn set(&mut self, flag: &str, path: &[&str], value: Value) -> Result<(), OneLineError> {
        let field = field_name(path);
        let mut map = &mut self.root;
        let (last, parents) = match path.split_last() {
            Some(split) => split,
            None => return Ok(()),
        };
        for key in parents {
            map = child(map, key);
        }
        let key = Value::from(*last);
        if let Some(old) = map.get(&key) {
            if *old != value {
                let first = self
                    .origin
                    .iter()
                    .rev()
                    .find(|(f, _)| *f == field)
                    .map_or_else(|| "--url".to_string(), |(_, flag)| flag.clone());
                return Err(conflict(
                    &first,
                    flag,
                    &format!("both set `{field}`, to different values; give one"),
                ));
            }
        }
        map.insert(key, value);
        let recorded = match path {
            ["request", "headers", ..] => "request.headers".to_string(),
            _ => field,
        };
        self.origin.push((recorded, flag.to_string()));
        Ok(())
    }

    /// The scenario as YAML: the case block becomes `cases: [...]`, last.
    fn text(&self) -> Result<String, OneLineError> {
        let mut root = self.root.clone();
        if let Some(case) = root.remove("case") {
            root.insert("cases".into(), Value::Sequence(vec![case]));
        }
        serde_yaml::to_string(&Value::Mapping(root))
            .map(|yaml| format!("{HEADER}{yaml}"))
            .map_err(|e| invalid("--url", format!("cannot write the scenario: {e}")))
    }

    /// A validation error of the built scenario, told as the flag that set
    /// the refused field (a position in text the user never saw means
    /// nothing to them), with the credentials it could echo redacted: URL
    /// passwords and the values of sensitive `-H` headers.
    fn explain(&self, e: ScenarioError, redactor: &Redactor) -> OneLineError {
        let flag = self
            .origin
            .iter()
            .filter(|(field, _)| e.field.starts_with(field.as_str()))
            .max_by_key(|(field, _)| field.len())
            .map(|(_, flag)| flag.clone());
        let field = if e.field.is_empty() {
            String::new()
        } else {
            format!(" (scenario field {})", e.field)
        };
        invalid(
            flag.as_deref().unwrap_or("the one-line scenario"),
            redactor.text(&format!("{}{field}", e.message)),
        )
    }
}

/// The field as validation names it: `cases[0].tasks`, `request.timeout`.
fn field_name(path: &[&str]) -> String {
    match path {
        ["case"] => "cases[0]".into(),
        ["case", rest @ ..] => format!("cases[0].{}", rest.join(".")),
        _ => path.join("."),
    }
}

/// The mapping under `key`, made if missing.
fn child<'m>(map: &'m mut Mapping, key: &str) -> &'m mut Mapping {
    let entry = map
        .entry(Value::from(key))
        .or_insert_with(|| Value::Mapping(Mapping::new()));
    if !entry.is_mapping() {
        *entry = Value::Mapping(Mapping::new());
    }
    match entry {
        Value::Mapping(m) => m,
        _ => unreachable!("the entry was just made a mapping"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        scenario: Option<PathBuf>,
        #[command(flatten)]
        args: OneLineArgs,
    }

    const URL: &str = "http://127.0.0.1:9/api?x=1";

    fn args(argv: &str) -> (Option<PathBuf>, OneLineArgs) {
        let mut words = vec!["load-client".to_string()];
        words.extend(split(argv));
        let cli = Cli::try_parse_from(words).unwrap_or_else(|e| panic!("{argv}: {e}"));
        (cli.scenario, cli.args)
    }

    /// Splits on spaces, keeping 'quoted parts' whole (enough for these tests).
    fn split(argv: &str) -> Vec<String> {
        let mut out = Vec::new();
        for (i, part) in argv.split('\'').enumerate() {
            if i % 2 == 1 {
                out.push(part.to_string());
            } else {
                out.extend(part.split_whitespace().map(str::to_string));
            }
        }
        out
    }

    fn yaml(argv: &str) -> Value {
        // --insecure needs an https:// target (a plain one refuses `tls:`).
        let url = if argv.contains("--insecure") {
            URL.replacen("http://", "https://", 1)
        } else {
            URL.to_string()
        };
        let (_, a) = args(&format!("--url {url} {argv}"));
        let text = scenario_yaml(&a).unwrap_or_else(|e| panic!("{argv}: {e}"));
        serde_yaml::from_str(&text).unwrap()
    }

    fn at<'v>(value: &'v Value, path: &str) -> Option<&'v Value> {
        path.split('.')
            .try_fold(value, |v, key| match key.parse::<usize>() {
                Ok(i) => v.get(i),
                Err(_) => v.get(key),
            })
    }

    /// Every flag lands in its scenario field.
    #[test]
    fn every_flag_becomes_its_scenario_field() {
        let table: &[(&str, &[(&str, &str)])] = &[
            (
                "",
                &[
                    ("name", "oneline"),
                    ("url", URL),
                    ("cases.0.name", "tasks"),
                    ("cases.0.executor", "tasks"),
                    ("cases.0.tasks", "50"),
                    ("cases.0.requests_per_task", "4"),
                ],
            ),
            (
                "-c 4 -n 100",
                &[("cases.0.tasks", "4"), ("cases.0.requests_per_task", "25")],
            ),
            ("-c 8 -z 10s", &[("cases.0.tasks", "8"), ("cases.0.duration", "10s")]),
            ("-z 3", &[("cases.0.duration", "3s")]),
            ("--concurrency 2 --requests 6", &[("cases.0.requests_per_task", "3")]),
            (
                "-q 200 -z 5s",
                &[
                    ("cases.0.name", "rate"),
                    ("cases.0.executor", "rate"),
                    ("cases.0.rate", "200/s"),
                    ("cases.0.duration", "5s"),
                ],
            ),
            ("-q 120/m -z 1m", &[("cases.0.rate", "2/s"), ("cases.0.duration", "1m")]),
            ("-q 100 -n 250", &[("cases.0.duration", "2500ms")]),
            ("-q 100 -z 1s -c 7", &[("cases.0.max_in_flight", "7")]),
            ("-m POST", &[("request.method", "POST")]),
            (
                "-H 'Accept: text/plain' -H 'X-Trace:  a:b '",
                &[
                    ("request.headers.Accept", "text/plain"),
                    ("request.headers.X-Trace", "a:b"),
                ],
            ),
            ("-d '{\"a\": 1}'", &[("request.body", "{\"a\": 1}")]),
            ("-t 2", &[("request.timeout", "2s")]),
            ("-t 500ms", &[("request.timeout", "500ms")]),
            ("--warmup 100", &[("defaults.warmup", "100")]),
            ("--warmup 2s", &[("defaults.warmup", "2s")]),
            ("--connection per-request", &[("defaults.connection", "per_request")]),
            ("--connection reuse", &[("defaults.connection", "reuse")]),
            ("--disable-keepalive", &[("defaults.connection", "per_request")]),
            ("--http2", &[("protocol", "http2")]),
            ("--insecure", &[("tls.insecure", "true")]),
            (
                "--search-rate --objective 'p99 < 200ms, error_rate < 1%' --objective 'p50 < 100ms'",
                &[
                    ("cases.0.name", "search"),
                    ("cases.0.executor", "rate"),
                    ("cases.0.search.over", "rate"),
                    ("cases.0.search.from", "10/s"),
                    ("cases.0.search.objective.0", "p99 < 200ms"),
                    ("cases.0.search.objective.1", "error_rate < 1%"),
                    ("cases.0.search.objective.2", "p50 < 100ms"),
                ],
            ),
            (
                "--search-rate --objective 'p99 < 1s' --from 50/s --precision 2% --step-duration 2 --max-steps 12 -c 64",
                &[
                    ("cases.0.search.from", "50/s"),
                    ("cases.0.search.precision", "2%"),
                    ("cases.0.search.step_duration", "2s"),
                    ("cases.0.search.max_steps", "12"),
                    ("cases.0.max_in_flight", "64"),
                ],
            ),
            (
                "--search-tasks --objective 'error_rate < 1%' --from 4",
                &[
                    ("cases.0.executor", "tasks"),
                    ("cases.0.search.over", "tasks"),
                    ("cases.0.search.from", "4"),
                ],
            ),
            (
                "--search-tasks --objective 'error_rate < 1%'",
                &[("cases.0.search.from", "1")],
            ),
        ];
        for (argv, fields) in table {
            let doc = yaml(argv);
            for (path, want) in *fields {
                let got = at(&doc, path).unwrap_or_else(|| panic!("{argv}: no {path} in {doc:?}"));
                let got = match got {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    other => panic!("{argv}: {path} = {other:?}"),
                };
                assert_eq!(&got, want, "{argv}: {path}");
            }
        }
    }

    /// Nothing is set that no flag asked for.
    #[test]
    fn a_bare_url_sets_only_the_defaults() {
        let doc = yaml("");
        let keys: Vec<&str> = doc
            .as_mapping()
            .unwrap()
            .keys()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(keys, ["name", "url", "cases"]);
        assert_eq!(at(&doc, "cases.0").unwrap().as_mapping().unwrap().len(), 4);
    }

    #[test]
    fn a_body_file_is_read_into_the_body() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("body.json");
        std::fs::write(&file, "{\"id\": 3}\nsecond line\n").unwrap();
        let doc = yaml(&format!("-m PUT -D {}", file.display()));
        assert_eq!(
            at(&doc, "request.body").and_then(Value::as_str),
            Some("{\"id\": 3}\nsecond line\n")
        );
        std::fs::write(&file, [0x66, 0xff, 0x00]).unwrap();
        let (_, a) = args(&format!("--url {URL} -D {}", file.display()));
        let e = scenario_yaml(&a).unwrap_err().to_string();
        assert!(e.starts_with("-D: ") && e.contains("not UTF-8"), "{e}");
        let (_, a) = args(&format!(
            "--url {URL} -D {}",
            dir.path().join("nope").display()
        ));
        let e = scenario_yaml(&a).unwrap_err().to_string();
        assert!(e.starts_with("-D: cannot read"), "{e}");
    }

    /// The text loads into the case the flags describe; the open loop's
    /// `-n` is exact for rates that do not divide it.
    #[test]
    fn the_text_loads_as_the_case_the_flags_describe() {
        use crate::scenario::{Amount, Shape};
        let load = |argv: &str| {
            let (_, a) = args(&format!("--url {URL} {argv}"));
            let text = scenario_yaml(&a).unwrap();
            scenario::parse(Path::new("x.yaml"), &text, &[], &[]).unwrap()
        };
        let s = load("-c 4 -n 100 -m POST -d hello --disable-keepalive --warmup 8");
        assert_eq!(s.request.method, http::Method::POST);
        assert_eq!(s.request.path, "/api?x=1");
        assert_eq!(&s.request.body[..], b"hello");
        let case = &s.cases[0];
        assert_eq!(case.shape.planned_requests(), Some(100));
        assert!(matches!(
            case.shape,
            Shape::Tasks { tasks, per_task: Amount::Requests(n) } if tasks.get() == 4 && n.get() == 25
        ));
        assert_eq!(case.connection, scenario::ConnectionMode::PerRequest);
        for (rate, n) in [
            (30.0, 100),
            (3.0, 10),
            (7.0, 1),
            (0.5, 3),
            (999.0, 1000),
            (12345.0, 100_000),
        ] {
            let s = load(&format!("-q {rate} -n {n}"));
            let Shape::Rate {
                rate: r, duration, ..
            } = s.cases[0].shape
            else {
                panic!("not a rate case")
            };
            assert_eq!(crate::executor::plan(r, duration).1, n, "-q {rate} -n {n}");
        }
    }

    /// Conflicting or incomplete flags are refused, naming both flags.
    #[test]
    fn conflicting_flags_name_both() {
        let table: &[(&str, &[&str])] = &[
            ("-n 10 -z 1s", &["-n", "-z"]),
            ("-q 10", &["-q", "-z or -n"]),
            (
                "--search-rate --search-tasks --objective 'p99 < 1s'",
                &["--search-rate", "--search-tasks"],
            ),
            (
                "--search-rate -n 10 --objective 'p99 < 1s'",
                &["--search-rate", "-n"],
            ),
            (
                "--search-rate -z 1s --objective 'p99 < 1s'",
                &["--search-rate", "-z"],
            ),
            (
                "--search-tasks -q 5 --objective 'p99 < 1s'",
                &["--search-tasks", "-q"],
            ),
            (
                "--search-tasks -c 5 --objective 'p99 < 1s'",
                &["--search-tasks", "-c"],
            ),
            ("--search-rate", &["--search-rate", "--objective"]),
            ("--objective 'p99 < 1s'", &["--objective", "--search-rate"]),
            ("--max-steps 3", &["--max-steps", "--search-rate"]),
            ("-d x -D f", &["-d", "-D"]),
            (
                "--connection reuse --disable-keepalive",
                &["--connection", "--disable-keepalive"],
            ),
            ("-n 10 -c 3", &["-n", "-c", "-n 9", "-n 12"]),
        ];
        for (argv, named) in table {
            let (_, a) = args(&format!("--url {URL} {argv}"));
            let e = scenario_yaml(&a).expect_err(argv);
            assert_eq!(e.exit_code(), 2);
            let text = e.to_string();
            for flag in *named {
                assert!(text.contains(flag), "{argv}: {text:?} does not name {flag}");
            }
        }
    }

    /// A value that validation refuses is told as the flag that set it.
    #[test]
    fn refused_values_name_their_flag() {
        let table: &[(&str, &str)] = &[
            ("-c 0", "-c: "),
            ("-n 0 -c 1", "-n: "),
            ("-z 0", "-z: "),
            ("-z soon", "-z: "),
            ("-q fast -z 1s", "-q: "),
            ("-m 'G T'", "-m: "),
            ("-H 'Bad Name: x'", "-H: "),
            ("-H novalue", "-H: "),
            ("-H 'A: 1' -H 'a: 2'", "-H: "),
            ("-t 2h", "-t: "),
            ("--warmup forever", "--warmup: "),
            ("--connection sometimes", "--connection: "),
            ("--search-rate --objective 'p99 <'", "--objective: "),
            (
                "--search-rate --objective 'p99 < 1s' --precision 0",
                "--precision: ",
            ),
            (
                "--search-rate --objective 'p99 < 1s' --from 0/s",
                "--from: ",
            ),
            (
                "--search-tasks --objective 'p99 < 1s' --from 1.5",
                "--from: ",
            ),
            (
                "--search-rate --objective 'p99 < 1s' --max-steps 1000",
                "--max-steps: ",
            ),
            (
                "--search-rate --objective 'p99 < 1s' --step-duration 0",
                "--step-duration: ",
            ),
        ];
        for (argv, prefix) in table {
            let (_, a) = args(&format!("--url {URL} {argv}"));
            let e = scenario_yaml(&a).expect_err(argv).to_string();
            assert!(e.starts_with(prefix), "{argv}: {e:?}");
        }
        let (_, a) = args("--url ftp://127.0.0.1/");
        let e = scenario_yaml(&a).unwrap_err().to_string();
        assert!(e.starts_with("--url: "), "{e}");
    }

    /// Refusals do not echo credentials: a malformed `-H`, a sensitive
    /// header's value, a URL's password.
    #[test]
    fn refusals_do_not_echo_credentials() {
        for argv in [
            format!("--url {URL} -H 'Authorization Bearer hunter2'"),
            format!("--url {URL} -H 'X-Api-Key: hunter2\u{1}'"),
            "--url ftp://user:hunter2@127.0.0.1:9/".to_string(),
        ] {
            let (_, a) = args(&argv);
            let e = scenario_yaml(&a).unwrap_err().to_string();
            assert!(!e.contains("hunter2"), "{argv}: {e}");
        }
    }

    #[test]
    fn a_scenario_file_or_a_url_not_both() {
        let (file, a) = args(&format!("s.yaml --url {URL}"));
        let e = source(file.as_deref(), &a).unwrap_err().to_string();
        assert!(e.contains("s.yaml") && e.contains("--url"), "{e}");
        let (file, a) = args("s.yaml -c 3");
        let e = source(file.as_deref(), &a).unwrap_err().to_string();
        assert!(e.starts_with("-c: ") && e.contains("--url"), "{e}");
        let (file, a) = args("-n 3");
        let e = source(file.as_deref(), &a).unwrap_err().to_string();
        assert!(e.starts_with("-n needs --url"), "{e}");
        let (file, a) = args("");
        assert!(source(file.as_deref(), &a).is_err());
        let (file, a) = args("s.yaml");
        assert_eq!(
            source(file.as_deref(), &a),
            Ok(Source::File("s.yaml".into()))
        );
        let (file, a) = args(&format!("--url {URL}"));
        assert!(matches!(
            source(file.as_deref(), &a),
            Ok(Source::OneLine(_))
        ));
        let (file, a) = args(&format!("--url {URL} --print-scenario"));
        assert!(matches!(source(file.as_deref(), &a), Ok(Source::Print(_))));
    }

    /// Every switch is a flag of its own, and maps to a field the scenario
    /// accepts.
    #[test]
    fn every_switch_is_a_flag_that_loads() {
        for s in SWITCHES {
            let doc = yaml(&format!("--{}", s.long));
            let path = s.field.replace("case.", "cases.0.");
            assert!(at(&doc, &path).is_some(), "--{} sets {}", s.long, s.field);
        }
    }
}
