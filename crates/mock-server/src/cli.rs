//! The command-line flags of the `mock-server` binary: one flag per
//! [`ServerConfig`] field (same name, in kebab-case), plus `--config`,
//! `--allow-non-loopback` and `--workers`. Flags override the file.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;

use clap::Parser;

use crate::config::{
    load_config_file, AdminMode, ConfigError, Mode, Overflow, Secret, ServerConfig, Settings,
    TlsMode,
};
use crate::delay::DelayModel;
use crate::duration::HumanDuration;

/// An HTTP server whose delay, capacity and overflow behaviour you set.
///
/// Durations are written 250ms, 1.5s, 2m. Every flag can also be set in the
/// YAML file given to --config (same name, with underscores); flags win.
#[derive(Debug, Clone, Parser)]
#[command(name = "mock-server", version)]
pub struct Flags {
    /// YAML configuration file; flags given here override its fields.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Allow --listen on an address that is not loopback.
    #[arg(long)]
    pub allow_non_loopback: bool,
    /// Worker threads of the server's runtime [default: number of CPUs].
    #[arg(long, value_name = "N")]
    pub workers: Option<NonZeroUsize>,
    /// Address to listen on; port 0 picks a free port [default: 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Delay model: 200ms, uniform(10ms, 30ms), normal(20ms, 5ms),
    /// exponential(20ms), lognormal(median, p99) [default: 0].
    #[arg(long, value_name = "MODEL")]
    pub delay: Option<DelayModel>,
    /// Extra delay per other request in service when a request starts [default: 0].
    #[arg(long, value_name = "DURATION")]
    pub per_in_service: Option<HumanDuration>,
    /// Requests in service at once [default: unlimited].
    #[arg(long, value_name = "N")]
    pub capacity: Option<usize>,
    /// Requests that may wait when every slot is taken; 0 = no queue [default: 1000].
    #[arg(long, value_name = "N")]
    pub queue: Option<u64>,
    /// Longest wait in the queue before a 503 [default: 30s].
    #[arg(long, value_name = "DURATION")]
    pub queue_timeout: Option<HumanDuration>,
    /// When the queue is full: reject, close or reset [default: reject].
    #[arg(long, value_name = "POLICY")]
    pub overflow: Option<Overflow>,
    /// Status of a rejection: 503 or 429 [default: 503].
    #[arg(long, value_name = "CODE")]
    pub reject_status: Option<u16>,
    /// Retry-After of rejections and queue timeouts [default: 1s].
    #[arg(long, value_name = "DURATION")]
    pub retry_after: Option<HumanDuration>,
    /// async (timers) or blocking (capacity OS threads) [default: async].
    #[arg(long, value_name = "MODE")]
    pub mode: Option<Mode>,
    /// Seed for delay and fault draws [default: random].
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Fraction of requests answered with --error-status [default: 0].
    #[arg(long, value_name = "FRACTION")]
    pub error_rate: Option<f64>,
    /// Status of the error_rate answers [default: 500].
    #[arg(long, value_name = "CODE")]
    pub error_status: Option<u16>,
    /// Fraction of requests whose connection is reset [default: 0].
    #[arg(long, value_name = "FRACTION")]
    pub reset_rate: Option<f64>,
    /// Status of a normal answer [default: 200].
    #[arg(long, value_name = "CODE")]
    pub status: Option<u16>,
    /// Body bytes of a normal answer [default: 2].
    #[arg(long, value_name = "BYTES")]
    pub body_size: Option<u64>,
    /// Content-Type of a normal answer [default: text/plain].
    #[arg(long, value_name = "TYPE")]
    pub content_type: Option<String>,
    /// Cap for /delay/{seconds} [default: 10s].
    #[arg(long, value_name = "DURATION")]
    pub max_delay: Option<HumanDuration>,
    // Not `{n}` here: clap reads `{n}` in a help text as a line break.
    /// Cap for /bytes/N, in bytes [default: 10485760].
    #[arg(long, value_name = "BYTES")]
    pub max_body: Option<u64>,
    /// Listen backlog [default: 1024].
    #[arg(long, value_name = "N")]
    pub backlog: Option<u32>,
    /// Time a client has to send a complete request head [default: 10s].
    #[arg(long, value_name = "DURATION")]
    pub header_timeout: Option<HumanDuration>,
    /// Idle keep-alive connections are closed after this [default: 60s].
    #[arg(long, value_name = "DURATION")]
    pub idle_timeout: Option<HumanDuration>,
    /// A client that reads nothing for this long while an answer waits to
    /// be sent is cut off (connection reset) [default: 5s].
    #[arg(long, value_name = "DURATION")]
    pub write_timeout: Option<HumanDuration>,
    /// Largest request head in bytes, 8192 or more; larger gets 431 [default: 16384].
    #[arg(long, value_name = "BYTES")]
    pub max_header_size: Option<usize>,
    /// Largest request body in bytes; larger gets 413 [default: 1048576].
    #[arg(long, value_name = "BYTES")]
    pub max_request_body: Option<u64>,
    /// Longest wait for requests in flight at shutdown [default: 5s].
    #[arg(long, value_name = "DURATION")]
    pub shutdown_grace: Option<HumanDuration>,
    /// Answer every Nth request with --error-status [default: off].
    #[arg(long, value_name = "N")]
    pub error_every: Option<u64>,
    /// Reset the connection of every Nth request [default: off].
    #[arg(long, value_name = "N")]
    pub reset_every: Option<u64>,
    /// Send each response body at most this many bytes per second; 0 = off [default: 0].
    #[arg(long, value_name = "BYTES")]
    pub bandwidth: Option<u64>,
    /// Send response bodies in chunks of this many bytes; 0 = off [default: 0].
    #[arg(long, value_name = "BYTES")]
    pub chunk_size: Option<u64>,
    /// Pause before each chunk after the first [default: 0].
    #[arg(long, value_name = "DURATION")]
    pub chunk_interval: Option<HumanDuration>,
    /// Stop a response body after this many bytes, then cut it off [default: off].
    #[arg(long, value_name = "BYTES")]
    pub stall_after: Option<u64>,
    /// How long a stalled body waits before the connection is closed [default: 10s].
    #[arg(long, value_name = "DURATION")]
    pub stall_for: Option<HumanDuration>,
    /// The control API (/__admin/...): on (loopback peers) or off [default: on].
    #[arg(long, value_name = "on|off")]
    pub admin: Option<AdminMode>,
    /// Bearer token the control API requires; never logged or echoed [default: none].
    #[arg(long, value_name = "TOKEN")]
    pub admin_token: Option<String>,
    /// HTTPS with a certificate generated at start for localhost, 127.0.0.1 and ::1 [default: plain HTTP].
    #[arg(long)]
    pub tls_self_signed: bool,
    /// HTTPS with this certificate chain (PEM; needs --tls-key) [default: plain HTTP].
    #[arg(long, value_name = "PEM")]
    pub tls_cert: Option<PathBuf>,
    /// Private key of --tls-cert (PEM) [default: none].
    #[arg(long, value_name = "PEM")]
    pub tls_key: Option<PathBuf>,
    /// Write the server's certificate (PEM) here once it is known, for clients [default: none].
    #[arg(long, value_name = "PATH")]
    pub tls_write_cert: Option<PathBuf>,
    /// Require client certificates signed by these CAs (PEM): mutual TLS [default: none].
    #[arg(long, value_name = "PEM")]
    pub tls_client_ca: Option<PathBuf>,
}

impl Flags {
    /// The configuration fields set by flags.
    pub fn overrides(&self) -> ServerConfig {
        let f = self.clone();
        ServerConfig {
            listen: f.listen,
            delay: f.delay,
            per_in_service: f.per_in_service,
            capacity: f.capacity,
            queue: f.queue,
            queue_timeout: f.queue_timeout,
            overflow: f.overflow,
            reject_status: f.reject_status,
            retry_after: f.retry_after,
            mode: f.mode,
            seed: f.seed,
            error_rate: f.error_rate,
            error_status: f.error_status,
            reset_rate: f.reset_rate,
            status: f.status,
            body_size: f.body_size,
            content_type: f.content_type,
            max_delay: f.max_delay,
            max_body: f.max_body,
            backlog: f.backlog,
            header_timeout: f.header_timeout,
            idle_timeout: f.idle_timeout,
            write_timeout: f.write_timeout,
            max_header_size: f.max_header_size,
            max_request_body: f.max_request_body,
            shutdown_grace: f.shutdown_grace,
            error_every: f.error_every,
            reset_every: f.reset_every,
            bandwidth: f.bandwidth,
            chunk_size: f.chunk_size,
            chunk_interval: f.chunk_interval,
            stall_after: f.stall_after,
            stall_for: f.stall_for,
            admin: f.admin,
            admin_token: f.admin_token.map(Secret),
            routes: None,
            pools: None,
            schedule: None,
            tls: f.tls_self_signed.then_some(TlsMode::SelfSigned),
            tls_cert: f.tls_cert,
            tls_key: f.tls_key,
            tls_write_cert: f.tls_write_cert,
            tls_client_ca: f.tls_client_ca,
        }
    }

    /// Loads `--config` if given, lays the flags over it, validates, and
    /// checks the listen address against `--allow-non-loopback`.
    pub fn settings(&self) -> Result<Settings, ConfigError> {
        let file = match &self.config {
            Some(path) => load_config_file(path)?,
            None => ServerConfig::default(),
        };
        let settings = file.overlay(self.overrides()).validate()?;
        if !self.allow_non_loopback {
            settings.require_loopback()?;
        }
        Ok(settings)
    }

    /// Worker threads for the runtime: `--workers`, or one per CPU.
    pub fn worker_threads(&self) -> usize {
        self.workers
            .or_else(|| std::thread::available_parallelism().ok())
            .map_or(1, NonZeroUsize::get)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn parse(args: &[&str]) -> Result<Flags, clap::Error> {
        Flags::try_parse_from(std::iter::once("mock-server").chain(args.iter().copied()))
    }

    #[test]
    fn flags_override_the_file() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        writeln!(file, "capacity: 5\nqueue: 7\ndelay: 100ms").unwrap();
        let path = file.path().to_str().unwrap();
        let flags = parse(&[
            "--config",
            path,
            "--capacity",
            "9",
            "--delay",
            "uniform(1ms, 2ms)",
        ])
        .unwrap();
        let s = flags.settings().unwrap();
        assert_eq!(s.capacity.map(NonZeroUsize::get), Some(9));
        assert_eq!(s.queue, 7);
        assert_eq!(s.delay.to_string(), "uniform(1ms, 2ms)");
    }

    #[test]
    fn every_config_field_has_a_flag() {
        let yaml = serde_yaml::to_string(&Settings::default().listen).unwrap();
        assert!(!yaml.is_empty());
        let fields = [
            "listen",
            "delay",
            "per-in-service",
            "capacity",
            "queue",
            "queue-timeout",
            "overflow",
            "reject-status",
            "retry-after",
            "mode",
            "seed",
            "error-rate",
            "error-status",
            "reset-rate",
            "status",
            "body-size",
            "content-type",
            "max-delay",
            "max-body",
            "backlog",
            "header-timeout",
            "idle-timeout",
            "write-timeout",
            "max-header-size",
            "max-request-body",
            "shutdown-grace",
            "error-every",
            "reset-every",
            "bandwidth",
            "chunk-size",
            "chunk-interval",
            "stall-after",
            "stall-for",
            "admin",
            "admin-token",
            "tls-cert",
            "tls-key",
            "tls-write-cert",
            "tls-client-ca",
        ];
        let values = [
            "127.0.0.1:0",
            "1ms",
            "1ms",
            "1",
            "1",
            "1s",
            "close",
            "429",
            "1s",
            "blocking",
            "1",
            "0.5",
            "500",
            "0",
            "200",
            "1",
            "a/b",
            "1s",
            "1",
            "1",
            "1s",
            "1s",
            "1s",
            "8192",
            "1",
            "1s",
            "3",
            "4",
            "1000",
            "10",
            "1ms",
            "5",
            "1s",
            "off",
            "t0ken",
            "cert.pem",
            "key.pem",
            "out.pem",
            "ca.pem",
        ];
        let mut args = Vec::new();
        for (field, value) in fields.iter().zip(values) {
            args.push(format!("--{field}"));
            args.push(value.to_string());
        }
        let flags = parse(&args.iter().map(String::as_str).collect::<Vec<_>>()).unwrap();
        let set = serde_yaml::to_string(&flags.overrides()).unwrap();
        assert_eq!(set.lines().count(), fields.len(), "{set}");
        flags.settings().unwrap();
        // The one flag without a value: `tls: self_signed`.
        let flags = parse(&["--tls-self-signed"]).unwrap();
        assert_eq!(flags.overrides().tls, Some(TlsMode::SelfSigned));
        assert!(flags.settings().unwrap().tls.is_some());
    }

    /// Regression: `--help` broke the `--max-body` line in two (`{n}` in
    /// its doc comment, which clap reads as a line break). Every flag's
    /// help is one line, with its default on it.
    #[test]
    fn every_flag_help_is_one_unbroken_line() {
        use clap::CommandFactory;
        let short = Flags::command().render_help().to_string();
        let options = short.split_once("Options:\n").map_or("", |(_, o)| o);
        let broken: Vec<&str> = options
            .lines()
            .filter(|line| !line.trim_start().starts_with('-'))
            .collect();
        assert!(
            broken.is_empty(),
            "continuation lines in -h: {broken:?}\n{short}"
        );
        let long = Flags::command().render_long_help().to_string();
        let options = long.split_once("Options:\n").map_or("", |(_, o)| o);
        for block in options.split("\n\n").filter(|b| !b.trim().is_empty()) {
            let lines: Vec<&str> = block.lines().collect();
            assert_eq!(lines.len(), 2, "a flag's help is not one line:\n{block}");
            let documented_default = lines[1].contains("[default: ");
            let is_meta = ["--config", "--allow-non-loopback", "--help", "--version"]
                .iter()
                .any(|flag| lines[0].contains(flag));
            assert!(documented_default || is_meta, "no default given:\n{block}");
        }
        assert!(long.contains("Cap for /bytes/N, in bytes [default: 10485760]"));
    }

    #[test]
    fn bad_flag_values_are_usage_errors() {
        assert!(parse(&["--delay", "-5ms"]).is_err());
        assert!(parse(&["--overflow", "drop"]).is_err());
        let flags = parse(&["--capacity", "0"]).unwrap();
        assert!(flags
            .settings()
            .unwrap_err()
            .to_string()
            .starts_with("capacity: 0 is not allowed"));
        let flags = parse(&["--listen", "0.0.0.0:80"]).unwrap();
        assert!(flags.settings().is_err());
    }
}
