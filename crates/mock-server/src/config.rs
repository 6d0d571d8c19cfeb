//! The server's configuration: what the user wrote ([`ServerConfig`]) and the
//! validated settings the server runs with ([`Settings`]).
//!
//! [`ServerConfig`] is the one definition of the YAML shape; the same block is
//! embedded as `server:` in the load client's scenarios, and every field is
//! also a command-line flag. Every field is optional; [`ServerConfig::validate`]
//! fills in defaults and checks cross-field rules. The per-field rules live in
//! [`rules`](self) and run twice: while deserializing (so a YAML error carries
//! its line and column) and again in `validate` (so a config built in code or
//! from flags is held to the same rules, with the same messages).

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::num::{NonZeroU64, NonZeroUsize};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use http::{HeaderValue, StatusCode};
use serde::{Deserialize, Serialize};

use crate::delay::DelayModel;
use crate::duration::HumanDuration;

pub(crate) mod patch;
pub mod routes;
pub(crate) mod rules;

pub use routes::{
    AdmitSettings, Behaviour, Methods, Pace, Phase, PhaseConfig, PoolConfig, PoolSettings,
    RouteCapacity, RouteConfig, RouteSettings,
};
pub use rules::TlsMode;

use routes::SlowConfig;
use rules::{
    field, Backlog, Capacity, ContentType, Every, FilePath, HeaderSize, Listen, Positive, Rate,
    RejectStatus, ResponseStatus, Rule, Size, Time, Tls,
};

/// The most blocking-mode threads a server may start.
pub const MAX_BLOCKING_THREADS: usize = 10_000;

/// What happens to a request that finds the wait queue full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Overflow {
    /// Answer at once with `reject_status` and a `Retry-After` header.
    #[default]
    Reject,
    /// Close the connection without an answer.
    Close,
    /// Reset the connection (TCP RST, via a zero linger time).
    Reset,
}

/// How a request's delay is spent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// A timer per request; no OS thread is held while waiting.
    #[default]
    Async,
    /// A pool of `capacity` OS threads, each blocked for the whole delay.
    Blocking,
}

/// Whether the control API (`/__admin/...`) answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AdminMode {
    /// It answers loopback peers (with the token, if one is set).
    #[default]
    On,
    /// It does not exist (404).
    Off,
}

/// A credential: never shown by `Debug`, never written back by `Serialize`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("<redacted>")
    }
}

/// The server configuration as written by the user, in YAML or as flags.
/// `None` means "use the default"; see the README for each field.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[allow(missing_docs)] // Each field is documented in the README's table.
pub struct ServerConfig {
    #[serde(
        deserialize_with = "field::<_, Listen>",
        skip_serializing_if = "Option::is_none"
    )]
    pub listen: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delay: Option<DelayModel>,
    #[serde(
        deserialize_with = "field::<_, Time>",
        skip_serializing_if = "Option::is_none"
    )]
    pub per_in_service: Option<HumanDuration>,
    #[serde(
        deserialize_with = "field::<_, Capacity>",
        skip_serializing_if = "Option::is_none"
    )]
    pub capacity: Option<usize>,
    #[serde(
        deserialize_with = "field::<_, Size>",
        skip_serializing_if = "Option::is_none"
    )]
    pub queue: Option<u64>,
    #[serde(
        deserialize_with = "field::<_, Time>",
        skip_serializing_if = "Option::is_none"
    )]
    pub queue_timeout: Option<HumanDuration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overflow: Option<Overflow>,
    #[serde(
        deserialize_with = "field::<_, RejectStatus>",
        skip_serializing_if = "Option::is_none"
    )]
    pub reject_status: Option<u16>,
    #[serde(
        deserialize_with = "field::<_, Time>",
        skip_serializing_if = "Option::is_none"
    )]
    pub retry_after: Option<HumanDuration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    #[serde(
        deserialize_with = "field::<_, Rate>",
        skip_serializing_if = "Option::is_none"
    )]
    pub error_rate: Option<f64>,
    #[serde(
        deserialize_with = "field::<_, ResponseStatus>",
        skip_serializing_if = "Option::is_none"
    )]
    pub error_status: Option<u16>,
    #[serde(
        deserialize_with = "field::<_, Rate>",
        skip_serializing_if = "Option::is_none"
    )]
    pub reset_rate: Option<f64>,
    #[serde(
        deserialize_with = "field::<_, ResponseStatus>",
        skip_serializing_if = "Option::is_none"
    )]
    pub status: Option<u16>,
    #[serde(
        deserialize_with = "field::<_, Size>",
        skip_serializing_if = "Option::is_none"
    )]
    pub body_size: Option<u64>,
    #[serde(
        deserialize_with = "field::<_, ContentType>",
        skip_serializing_if = "Option::is_none"
    )]
    pub content_type: Option<String>,
    #[serde(
        deserialize_with = "field::<_, Time>",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_delay: Option<HumanDuration>,
    #[serde(
        deserialize_with = "field::<_, Size>",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_body: Option<u64>,
    #[serde(
        deserialize_with = "field::<_, Backlog>",
        skip_serializing_if = "Option::is_none"
    )]
    pub backlog: Option<u32>,
    #[serde(
        deserialize_with = "field::<_, Positive>",
        skip_serializing_if = "Option::is_none"
    )]
    pub header_timeout: Option<HumanDuration>,
    #[serde(
        deserialize_with = "field::<_, Positive>",
        skip_serializing_if = "Option::is_none"
    )]
    pub idle_timeout: Option<HumanDuration>,
    #[serde(
        deserialize_with = "field::<_, Positive>",
        skip_serializing_if = "Option::is_none"
    )]
    pub write_timeout: Option<HumanDuration>,
    #[serde(
        deserialize_with = "field::<_, HeaderSize>",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_header_size: Option<usize>,
    #[serde(
        deserialize_with = "field::<_, Size>",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_request_body: Option<u64>,
    #[serde(
        deserialize_with = "field::<_, Time>",
        skip_serializing_if = "Option::is_none"
    )]
    pub shutdown_grace: Option<HumanDuration>,
    #[serde(
        deserialize_with = "field::<_, Every>",
        skip_serializing_if = "Option::is_none"
    )]
    pub error_every: Option<u64>,
    #[serde(
        deserialize_with = "field::<_, Every>",
        skip_serializing_if = "Option::is_none"
    )]
    pub reset_every: Option<u64>,
    #[serde(
        deserialize_with = "field::<_, Size>",
        skip_serializing_if = "Option::is_none"
    )]
    pub bandwidth: Option<u64>,
    #[serde(
        deserialize_with = "field::<_, Size>",
        skip_serializing_if = "Option::is_none"
    )]
    pub chunk_size: Option<u64>,
    #[serde(
        deserialize_with = "field::<_, Time>",
        skip_serializing_if = "Option::is_none"
    )]
    pub chunk_interval: Option<HumanDuration>,
    #[serde(
        deserialize_with = "field::<_, Size>",
        skip_serializing_if = "Option::is_none"
    )]
    pub stall_after: Option<u64>,
    #[serde(
        deserialize_with = "field::<_, Positive>",
        skip_serializing_if = "Option::is_none"
    )]
    pub stall_for: Option<HumanDuration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routes: Option<Vec<RouteConfig>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pools: Option<BTreeMap<String, PoolConfig>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Vec<PhaseConfig>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin: Option<AdminMode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_token: Option<Secret>,
    #[serde(
        deserialize_with = "field::<_, Tls>",
        skip_serializing_if = "Option::is_none"
    )]
    pub tls: Option<TlsMode>,
    #[serde(
        deserialize_with = "field::<_, FilePath>",
        skip_serializing_if = "Option::is_none"
    )]
    pub tls_cert: Option<PathBuf>,
    #[serde(
        deserialize_with = "field::<_, FilePath>",
        skip_serializing_if = "Option::is_none"
    )]
    pub tls_key: Option<PathBuf>,
    #[serde(
        deserialize_with = "field::<_, FilePath>",
        skip_serializing_if = "Option::is_none"
    )]
    pub tls_write_cert: Option<PathBuf>,
    #[serde(
        deserialize_with = "field::<_, FilePath>",
        skip_serializing_if = "Option::is_none"
    )]
    pub tls_client_ca: Option<PathBuf>,
}

/// Where a TLS server's certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsIdentity {
    /// Generated at start (`tls: self_signed`).
    SelfSigned,
    /// Read from PEM files (`tls_cert`, `tls_key`).
    Files {
        /// Certificate chain, leaf first.
        cert: PathBuf,
        /// Its private key.
        key: PathBuf,
    },
}

/// Validated TLS settings: the server speaks HTTPS (HTTP/1.1 and HTTP/2,
/// chosen by ALPN).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// The server's certificate.
    pub identity: TlsIdentity,
    /// Where to write the certificate (PEM) for clients, once it is known.
    pub write_cert: Option<PathBuf>,
    /// When set, clients must present a certificate signed by one of these
    /// CAs (PEM): mutual TLS.
    pub client_ca: Option<PathBuf>,
}

/// Validated settings: every default filled in, every rule checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Delay model for ordinary requests.
    pub delay: DelayModel,
    /// Extra delay per other request in service when a request starts.
    pub per_in_service: Duration,
    /// Requests in service at once; `None` is unlimited.
    pub capacity: Option<NonZeroUsize>,
    /// Requests that may wait for a slot when all are taken.
    pub queue: u64,
    /// Longest wait in the queue before a 503.
    pub queue_timeout: Duration,
    /// What happens when the queue is full.
    pub overflow: Overflow,
    /// Status of a rejection (503 or 429).
    pub reject_status: StatusCode,
    /// Value of the `Retry-After` header on rejections, rounded up to seconds.
    pub retry_after: Duration,
    /// How delays are spent.
    pub mode: Mode,
    /// Seed for delay and fault draws; `None` picks one at random.
    pub seed: Option<u64>,
    /// Fraction of requests answered with `error_status`.
    pub error_rate: f64,
    /// Status of a fault answer.
    pub error_status: StatusCode,
    /// Fraction of requests whose connection is reset instead of answered.
    pub reset_rate: f64,
    /// Status of a normal answer.
    pub status: StatusCode,
    /// Body length of a normal answer, in bytes.
    pub body_size: u64,
    /// `Content-Type` of a normal answer.
    pub content_type: HeaderValue,
    /// Cap for `/delay/{seconds}`.
    pub max_delay: Duration,
    /// Cap for `/bytes/{n}`.
    pub max_body: u64,
    /// Listen backlog.
    pub backlog: u32,
    /// Time a client has to send a complete request head.
    pub header_timeout: Duration,
    /// Time an idle connection is kept open.
    pub idle_timeout: Duration,
    /// Longest time writes may make no progress (the client reads
    /// nothing) before the connection is reset.
    pub write_timeout: Duration,
    /// Largest request head, in bytes (431 above it).
    pub max_header_size: usize,
    /// Largest request body, in bytes (413 above it).
    pub max_request_body: u64,
    /// Longest time shutdown waits for requests in flight.
    pub shutdown_grace: Duration,
    /// Every Nth unmatched request is answered `error_status`.
    pub error_every: Option<NonZeroU64>,
    /// Every Nth unmatched request is reset.
    pub reset_every: Option<NonZeroU64>,
    /// How bodies of unmatched requests are sent.
    pub pace: Pace,
    /// Rules matched in order by method and path.
    pub routes: Vec<RouteSettings>,
    /// Named pools of slots, by name order.
    pub pools: Vec<PoolSettings>,
    /// Run-time changes at fixed times after the start.
    pub schedule: Vec<Phase>,
    /// Whether the control API answers.
    pub admin: AdminMode,
    /// The bearer token the control API asks for, if any.
    pub admin_token: Option<Secret>,
    /// HTTPS instead of plain HTTP; `None` for plain.
    pub tls: Option<TlsSettings>,
}

/// Why a configuration could not be loaded or validated.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {}: {error}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error (part of the message, so not a `source`).
        error: std::io::Error,
    },
    /// The file is not valid YAML for a [`ServerConfig`]; the message names
    /// the field, the line and the column.
    #[error("{}: {error}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The YAML error, with its location (part of the message).
        error: serde_yaml::Error,
    },
    /// A value inside `routes:`, `pools:` or `schedule:` breaks a rule.
    #[error("{field}: {message}")]
    InvalidAt {
        /// The field's path, such as `routes[1].capacity`.
        field: String,
        /// The bad value and what is allowed.
        message: String,
    },
    /// A run-time change (`PATCH /__admin/config`, a phase's `set`) is not
    /// valid JSON for the configuration; the message names the field.
    #[error("{0}")]
    Patch(String),
    /// A value breaks a rule.
    #[error("{field}: {message}")]
    Invalid {
        /// The field (or flag) name.
        field: &'static str,
        /// The bad value and what is allowed.
        message: String,
    },
}

/// Reads and parses a YAML configuration file (no validation beyond the
/// per-field rules; call [`ServerConfig::validate`] next).
pub fn load_config_file(path: &Path) -> Result<ServerConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
        path: path.to_path_buf(),
        error,
    })?;
    if text.trim().is_empty() {
        return Ok(ServerConfig::default());
    }
    serde_yaml::from_str(&text).map_err(|error| ConfigError::Parse {
        path: path.to_path_buf(),
        error,
    })
}

impl ServerConfig {
    /// Returns this configuration with every field that `top` sets replaced
    /// by `top`'s value (flags over a file, a scenario over defaults).
    pub fn overlay(self, top: ServerConfig) -> ServerConfig {
        macro_rules! pick {
            ($($f:ident),*) => { ServerConfig { $($f: top.$f.or(self.$f)),* } };
        }
        pick!(
            listen,
            delay,
            per_in_service,
            capacity,
            queue,
            queue_timeout,
            overflow,
            reject_status,
            retry_after,
            mode,
            seed,
            error_rate,
            error_status,
            reset_rate,
            status,
            body_size,
            content_type,
            max_delay,
            max_body,
            backlog,
            header_timeout,
            idle_timeout,
            write_timeout,
            max_header_size,
            max_request_body,
            shutdown_grace,
            error_every,
            reset_every,
            bandwidth,
            chunk_size,
            chunk_interval,
            stall_after,
            stall_for,
            routes,
            pools,
            schedule,
            admin,
            admin_token,
            tls,
            tls_cert,
            tls_key,
            tls_write_cert,
            tls_client_ca
        )
    }

    /// Fills in defaults and checks every rule, returning settings that
    /// cannot be invalid.
    pub fn validate(&self) -> Result<Settings, ConfigError> {
        let d = Settings::default();
        let settings = Settings {
            listen: self.listen.unwrap_or(d.listen),
            delay: self.delay.unwrap_or(d.delay),
            per_in_service: time(self.per_in_service, d.per_in_service),
            capacity: check::<Capacity>("capacity", self.capacity.as_ref())?,
            queue: self.queue.unwrap_or(d.queue),
            queue_timeout: time(self.queue_timeout, d.queue_timeout),
            overflow: self.overflow.unwrap_or(d.overflow),
            reject_status: check::<RejectStatus>("reject_status", self.reject_status.as_ref())?
                .unwrap_or(d.reject_status),
            retry_after: time(self.retry_after, d.retry_after),
            mode: self.mode.unwrap_or(d.mode),
            seed: self.seed,
            error_rate: check::<Rate>("error_rate", self.error_rate.as_ref())?
                .unwrap_or(d.error_rate),
            error_status: check::<ResponseStatus>("error_status", self.error_status.as_ref())?
                .unwrap_or(d.error_status),
            reset_rate: check::<Rate>("reset_rate", self.reset_rate.as_ref())?
                .unwrap_or(d.reset_rate),
            status: check::<ResponseStatus>("status", self.status.as_ref())?.unwrap_or(d.status),
            body_size: self.body_size.unwrap_or(d.body_size),
            content_type: check::<ContentType>("content_type", self.content_type.as_ref())?
                .unwrap_or(d.content_type),
            max_delay: time(self.max_delay, d.max_delay),
            max_body: self.max_body.unwrap_or(d.max_body),
            backlog: check::<Backlog>("backlog", self.backlog.as_ref())?.unwrap_or(d.backlog),
            header_timeout: check::<Positive>("header_timeout", self.header_timeout.as_ref())?
                .unwrap_or(d.header_timeout),
            idle_timeout: check::<Positive>("idle_timeout", self.idle_timeout.as_ref())?
                .unwrap_or(d.idle_timeout),
            write_timeout: check::<Positive>("write_timeout", self.write_timeout.as_ref())?
                .unwrap_or(d.write_timeout),
            max_header_size: check::<HeaderSize>("max_header_size", self.max_header_size.as_ref())?
                .unwrap_or(d.max_header_size),
            max_request_body: self.max_request_body.unwrap_or(d.max_request_body),
            shutdown_grace: time(self.shutdown_grace, d.shutdown_grace),
            error_every: check::<Every>("error_every", self.error_every.as_ref())?,
            reset_every: check::<Every>("reset_every", self.reset_every.as_ref())?,
            pace: self.slow().pace(d.pace),
            routes: Vec::new(),
            pools: Vec::new(),
            schedule: Vec::new(),
            admin: self.admin.unwrap_or_default(),
            admin_token: self.admin_token.clone(),
            tls: self.tls_settings()?,
        };
        let mut settings = settings;
        settings.pools =
            routes::validate_pools(self.pools.as_ref().unwrap_or(&BTreeMap::new()), &settings)?;
        settings.routes = routes::validate_routes(
            self.routes.as_deref().unwrap_or(&[]),
            &settings,
            &settings.pools,
        )?;
        check_mode(&settings)?;
        if let Some(schedule) = &self.schedule {
            settings.schedule = patch::validate_schedule(&settings, schedule)?;
        }
        Ok(settings)
    }

    /// The slow-body and every-Nth fields of the top level.
    fn slow(&self) -> SlowConfig {
        SlowConfig {
            error_every: self.error_every,
            reset_every: self.reset_every,
            bandwidth: self.bandwidth,
            chunk_size: self.chunk_size,
            chunk_interval: self.chunk_interval,
            stall_after: self.stall_after,
            stall_for: self.stall_for,
        }
    }
}

impl ServerConfig {
    /// The TLS fields together: `tls: self_signed` or `tls_cert` with
    /// `tls_key` (not both), and the fields that need TLS only with it.
    fn tls_settings(&self) -> Result<Option<TlsSettings>, ConfigError> {
        let invalid = |field: &'static str, message: &str| ConfigError::Invalid {
            field,
            message: message.to_string(),
        };
        let paths = [
            ("tls_cert", &self.tls_cert),
            ("tls_key", &self.tls_key),
            ("tls_write_cert", &self.tls_write_cert),
            ("tls_client_ca", &self.tls_client_ca),
        ];
        for (name, value) in paths {
            check::<FilePath>(name, value.as_ref())?;
        }
        let identity = match (self.tls, &self.tls_cert, &self.tls_key) {
            (Some(TlsMode::SelfSigned), None, None) => Some(TlsIdentity::SelfSigned),
            (Some(_), _, _) => {
                return Err(invalid(
                    "tls",
                    "give either tls: self_signed or tls_cert and tls_key, not both",
                ))
            }
            (None, Some(cert), Some(key)) => Some(TlsIdentity::Files {
                cert: cert.clone(),
                key: key.clone(),
            }),
            (None, Some(_), None) => {
                return Err(invalid(
                    "tls_key",
                    "tls_cert needs tls_key (the certificate's private key, PEM)",
                ))
            }
            (None, None, Some(_)) => {
                return Err(invalid(
                    "tls_cert",
                    "tls_key needs tls_cert (the certificate chain, PEM)",
                ))
            }
            (None, None, None) => None,
        };
        let Some(identity) = identity else {
            for (name, value) in [
                ("tls_write_cert", &self.tls_write_cert),
                ("tls_client_ca", &self.tls_client_ca),
            ] {
                if value.is_some() {
                    return Err(invalid(
                        name,
                        "needs TLS: set tls: self_signed, or tls_cert and tls_key",
                    ));
                }
            }
            return Ok(None);
        };
        Ok(Some(TlsSettings {
            identity,
            write_cert: self.tls_write_cert.clone(),
            client_ca: self.tls_client_ca.clone(),
        }))
    }
}

fn time(value: Option<HumanDuration>, default: Duration) -> Duration {
    value.map_or(default, Duration::from)
}

/// Applies a field rule to an optional value, naming the field on failure.
fn check<R: Rule>(
    name: &'static str,
    value: Option<&R::Value>,
) -> Result<Option<R::Valid>, ConfigError> {
    value
        .map(R::check)
        .transpose()
        .map_err(|message| ConfigError::Invalid {
            field: name,
            message,
        })
}

/// Cross-field rules of the blocking mode.
fn check_mode(s: &Settings) -> Result<(), ConfigError> {
    if s.mode != Mode::Blocking {
        return Ok(());
    }
    let invalid = |message: String| ConfigError::Invalid {
        field: "mode",
        message,
    };
    if !s.routes.is_empty() || !s.pools.is_empty() {
        return Err(invalid(
            "blocking mode has one thread pool for the whole server; routes and pools need mode: async".into(),
        ));
    }
    match s.capacity {
        None => Err(invalid(
            "blocking mode needs a capacity (the number of worker threads); set capacity, or use mode: async".into(),
        )),
        Some(n) if n.get() > MAX_BLOCKING_THREADS => Err(invalid(format!(
            "blocking mode starts one thread per slot; capacity {n} is above the allowed {MAX_BLOCKING_THREADS}"
        ))),
        Some(_) => Ok(()),
    }
}

impl Settings {
    /// What unmatched requests get.
    pub fn behaviour(&self) -> Behaviour {
        Behaviour {
            delay: self.delay,
            per_in_service: self.per_in_service,
            status: crate::routes::StatusChoice::One(self.status),
            body_size: self.body_size,
            content_type: self.content_type.clone(),
            error_rate: self.error_rate,
            error_status: self.error_status,
            reset_rate: self.reset_rate,
            error_every: self.error_every,
            reset_every: self.reset_every,
            pace: self.pace,
        }
    }

    /// The written form of these settings, every field explicit except
    /// `schedule` and `admin_token` (never shown); validating it gives
    /// these settings back (durations to the microsecond). `GET
    /// /__admin/config` serves it, and patches apply to it.
    pub fn to_config(&self) -> ServerConfig {
        let h = HumanDuration;
        let slow = SlowConfig::from_behaviour(&self.behaviour());
        ServerConfig {
            listen: Some(self.listen),
            delay: Some(self.delay),
            per_in_service: Some(h(self.per_in_service)),
            capacity: self.capacity.map(NonZeroUsize::get),
            queue: Some(self.queue),
            queue_timeout: Some(h(self.queue_timeout)),
            overflow: Some(self.overflow),
            reject_status: Some(self.reject_status.as_u16()),
            retry_after: Some(h(self.retry_after)),
            mode: Some(self.mode),
            seed: self.seed,
            error_rate: Some(self.error_rate),
            error_status: Some(self.error_status.as_u16()),
            reset_rate: Some(self.reset_rate),
            status: Some(self.status.as_u16()),
            body_size: Some(self.body_size),
            content_type: self.content_type.to_str().ok().map(str::to_string),
            max_delay: Some(h(self.max_delay)),
            max_body: Some(self.max_body),
            backlog: Some(self.backlog),
            header_timeout: Some(h(self.header_timeout)),
            idle_timeout: Some(h(self.idle_timeout)),
            write_timeout: Some(h(self.write_timeout)),
            max_header_size: Some(self.max_header_size),
            max_request_body: Some(self.max_request_body),
            shutdown_grace: Some(h(self.shutdown_grace)),
            error_every: slow.error_every,
            reset_every: slow.reset_every,
            bandwidth: slow.bandwidth,
            chunk_size: slow.chunk_size,
            chunk_interval: slow.chunk_interval,
            stall_after: slow.stall_after,
            stall_for: slow.stall_for,
            routes: (!self.routes.is_empty())
                .then(|| self.routes.iter().map(RouteSettings::to_config).collect()),
            pools: (!self.pools.is_empty()).then(|| {
                self.pools
                    .iter()
                    .map(|p| (p.name.clone(), PoolConfig::from_settings(&p.admit)))
                    .collect()
            }),
            schedule: None,
            admin: Some(self.admin),
            admin_token: None,
            tls: self.tls.as_ref().and_then(|t| match t.identity {
                TlsIdentity::SelfSigned => Some(TlsMode::SelfSigned),
                TlsIdentity::Files { .. } => None,
            }),
            tls_cert: self.tls.as_ref().and_then(|t| match &t.identity {
                TlsIdentity::Files { cert, .. } => Some(cert.clone()),
                TlsIdentity::SelfSigned => None,
            }),
            tls_key: self.tls.as_ref().and_then(|t| match &t.identity {
                TlsIdentity::Files { key, .. } => Some(key.clone()),
                TlsIdentity::SelfSigned => None,
            }),
            tls_write_cert: self.tls.as_ref().and_then(|t| t.write_cert.clone()),
            tls_client_ca: self.tls.as_ref().and_then(|t| t.client_ca.clone()),
        }
    }

    /// The mean of the delay model (for a fixed delay, the delay itself).
    /// `per_in_service` is not included: it depends on the load.
    pub fn mean_delay(&self) -> Duration {
        self.delay.mean()
    }

    /// Fails unless the listen address is a loopback address; the binary
    /// calls this unless `--allow-non-loopback` is given.
    pub fn require_loopback(&self) -> Result<(), ConfigError> {
        if self.listen.ip().is_loopback() {
            return Ok(());
        }
        Err(ConfigError::Invalid {
            field: "listen",
            message: format!(
                "{} is not a loopback address; pass --allow-non-loopback to listen on it",
                self.listen
            ),
        })
    }
}

impl Default for Settings {
    /// The defaults documented in the README.
    fn default() -> Self {
        Settings {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            delay: DelayModel::default(),
            per_in_service: Duration::ZERO,
            capacity: None,
            queue: 1000,
            queue_timeout: Duration::from_secs(30),
            overflow: Overflow::Reject,
            reject_status: StatusCode::SERVICE_UNAVAILABLE,
            retry_after: Duration::from_secs(1),
            mode: Mode::Async,
            seed: None,
            error_rate: 0.0,
            error_status: StatusCode::INTERNAL_SERVER_ERROR,
            reset_rate: 0.0,
            status: StatusCode::OK,
            body_size: 2,
            content_type: HeaderValue::from_static("text/plain"),
            max_delay: Duration::from_secs(10),
            max_body: 10 * 1024 * 1024,
            backlog: 1024,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            write_timeout: Duration::from_secs(5),
            max_header_size: 16 * 1024,
            max_request_body: 1024 * 1024,
            shutdown_grace: Duration::from_secs(5),
            error_every: None,
            reset_every: None,
            pace: Pace {
                stall_for: Duration::from_secs(10),
                ..Pace::default()
            },
            routes: Vec::new(),
            pools: Vec::new(),
            schedule: Vec::new(),
            admin: AdminMode::On,
            admin_token: None,
            tls: None,
        }
    }
}

impl fmt::Display for Overflow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Overflow::Reject => "reject",
            Overflow::Close => "close",
            Overflow::Reset => "reset",
        })
    }
}

impl FromStr for Overflow {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "reject" => Ok(Overflow::Reject),
            "close" => Ok(Overflow::Close),
            "reset" => Ok(Overflow::Reset),
            _ => Err(format!(
                "{s:?} is not an overflow policy; expected reject, close or reset"
            )),
        }
    }
}

impl FromStr for AdminMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "on" => Ok(AdminMode::On),
            "off" => Ok(AdminMode::Off),
            _ => Err(format!("{s:?} is not allowed; expected on or off")),
        }
    }
}

impl FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "async" => Ok(Mode::Async),
            "blocking" => Ok(Mode::Blocking),
            _ => Err(format!("{s:?} is not a mode; expected async or blocking")),
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Async => "async",
            Mode::Blocking => "blocking",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Result<ServerConfig, String> {
        serde_yaml::from_str(text).map_err(|e| e.to_string())
    }

    #[test]
    fn empty_config_gives_the_defaults() {
        assert_eq!(
            ServerConfig::default().validate().unwrap(),
            Settings::default()
        );
    }

    #[test]
    fn full_example_parses_and_validates() {
        let config = yaml(
            "listen: 127.0.0.1:0\ndelay: lognormal(20ms, 100ms)\nper_in_service: 0.2ms\ncapacity: 50\n\
             queue: 10\nqueue_timeout: 5s\noverflow: reset\nreject_status: 429\nretry_after: 2s\n\
             mode: blocking\nseed: 42\nerror_rate: 0.1\nerror_status: 502\nreset_rate: 0\nstatus: 201\n\
             body_size: 0\ncontent_type: application/json\nmax_delay: 1s\nmax_body: 100\nbacklog: 16\n\
             header_timeout: 1s\nidle_timeout: 2s\nwrite_timeout: 3s\nmax_header_size: 8192\nmax_request_body: 0\nshutdown_grace: 0\n\
             tls: self_signed\ntls_write_cert: out.pem\ntls_client_ca: ca.pem\n",
        )
        .unwrap();
        let s = config.validate().unwrap();
        assert_eq!(s.capacity, NonZeroUsize::new(50));
        assert_eq!(s.reject_status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(s.overflow, Overflow::Reset);
        assert_eq!(s.per_in_service, Duration::from_micros(200));
        assert_eq!(s.content_type, "application/json");
        // Serializing and parsing again gives the same configuration.
        let again = yaml(&serde_yaml::to_string(&config).unwrap()).unwrap();
        assert_eq!(again, config);
    }

    #[test]
    fn field_errors_carry_line_and_column() {
        let err = yaml("delay: 1s\ncapacity: 0\n").unwrap_err();
        assert!(err.starts_with("capacity: 0 is not allowed"), "{err}");
        assert!(err.ends_with("at line 2 column 11"), "{err}");
        let err = yaml("queue_timeout: -5s\n").unwrap_err();
        assert!(err.contains("durations cannot be negative"), "{err}");
        assert!(err.ends_with("at line 1 column 16"), "{err}");
    }

    #[test]
    fn validate_applies_the_same_rules_to_values_built_in_code() {
        let bad = ServerConfig {
            error_rate: Some(f64::NAN),
            ..ServerConfig::default()
        };
        let err = bad.validate().unwrap_err().to_string();
        assert!(err.starts_with("error_rate: NaN is not allowed"), "{err}");
        let bad = ServerConfig {
            capacity: Some(0),
            ..ServerConfig::default()
        };
        assert!(bad.validate().is_err());
    }

    #[test]
    fn blocking_mode_needs_a_capacity() {
        let config = ServerConfig {
            mode: Some(Mode::Blocking),
            ..ServerConfig::default()
        };
        let err = config.validate().unwrap_err().to_string();
        assert!(
            err.starts_with("mode: blocking mode needs a capacity"),
            "{err}"
        );
    }

    #[test]
    fn overlay_prefers_the_top_layer() {
        let file = ServerConfig {
            capacity: Some(5),
            queue: Some(7),
            ..ServerConfig::default()
        };
        let flags = ServerConfig {
            capacity: Some(9),
            ..ServerConfig::default()
        };
        let merged = file.overlay(flags);
        assert_eq!(merged.capacity, Some(9));
        assert_eq!(merged.queue, Some(7));
    }

    #[test]
    fn non_loopback_needs_permission() {
        let mut s = Settings::default();
        assert!(s.require_loopback().is_ok());
        s.listen = "0.0.0.0:80".parse().unwrap();
        assert!(s.require_loopback().is_err());
    }
}
