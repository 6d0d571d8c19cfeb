//! `routes:`, `pools:` and `schedule:` of [`ServerConfig`](super::ServerConfig):
//! what the user writes ([`RouteConfig`], [`PoolConfig`], [`PhaseConfig`])
//! and what they validate into ([`RouteSettings`], [`PoolSettings`],
//! [`Phase`]), with the per-request [`Behaviour`] that routes share with
//! the top level.
//!
//! A route leaves out what it does not change: its behaviour fields fall
//! back to the top level's. Its capacity is its own (`capacity`, with
//! `queue`, `queue_timeout`, `overflow`, `reject_status` and `retry_after`
//! beside it), a named pool's (`pool: db`), or else the top level's slots.

use std::num::{NonZeroU64, NonZeroUsize};
use std::time::Duration;

use http::{HeaderValue, Method, StatusCode};
use serde::{Deserialize, Serialize};

use super::rules::{
    field, Capacity, ContentType, Every, Name, Pattern, Positive, Rate, RejectStatus,
    ResponseStatus, Rule, Size, StatusMix, Time,
};
use super::{ConfigError, Overflow, Settings};
use crate::delay::DelayModel;
use crate::duration::HumanDuration;
use crate::routes::StatusChoice;

/// One method, or several.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Methods {
    /// One method, such as `GET`.
    One(String),
    /// Any of these methods.
    Many(Vec<String>),
}

/// One rule of `routes:` as written. Fields left out take the top level's
/// value; see the README for each.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[allow(missing_docs)] // Each field is documented in the README.
pub struct RouteConfig {
    #[serde(
        deserialize_with = "field::<_, Name>",
        skip_serializing_if = "Option::is_none"
    )]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<Methods>,
    #[serde(
        deserialize_with = "field::<_, Pattern>",
        skip_serializing_if = "Option::is_none"
    )]
    pub path: Option<String>,
    #[serde(
        deserialize_with = "field::<_, Name>",
        skip_serializing_if = "Option::is_none"
    )]
    pub pool: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delay: Option<DelayModel>,
    #[serde(
        deserialize_with = "field::<_, Time>",
        skip_serializing_if = "Option::is_none"
    )]
    pub per_in_service: Option<HumanDuration>,
    #[serde(
        deserialize_with = "field::<_, StatusMix>",
        skip_serializing_if = "Option::is_none"
    )]
    pub status: Option<String>,
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
}

/// What a request gets once admitted, as written: the fields a route and
/// the top level share.
#[derive(Debug, Clone, PartialEq, Default)]
#[allow(missing_docs)] // The fields of the same names in `RouteConfig`.
pub struct BehaviourConfig {
    pub delay: Option<DelayModel>,
    pub per_in_service: Option<HumanDuration>,
    pub status: Option<String>,
    pub body_size: Option<u64>,
    pub content_type: Option<String>,
    pub error_rate: Option<f64>,
    pub error_status: Option<u16>,
    pub reset_rate: Option<f64>,
    pub slow: SlowConfig,
}

/// Slow and broken bodies and the every-Nth faults, as written (top level
/// and routes alike).
#[derive(Debug, Clone, PartialEq, Default)]
#[allow(missing_docs)] // The fields of the same names in `RouteConfig`.
pub struct SlowConfig {
    pub error_every: Option<u64>,
    pub reset_every: Option<u64>,
    pub bandwidth: Option<u64>,
    pub chunk_size: Option<u64>,
    pub chunk_interval: Option<HumanDuration>,
    pub stall_after: Option<u64>,
    pub stall_for: Option<HumanDuration>,
}

/// Capacity and queue, as written for a route of its own or a pool.
#[derive(Debug, Clone, PartialEq, Default)]
#[allow(missing_docs)] // The fields of the same names in `RouteConfig`.
pub struct AdmitConfig {
    pub capacity: Option<usize>,
    pub queue: Option<u64>,
    pub queue_timeout: Option<HumanDuration>,
    pub overflow: Option<Overflow>,
    pub reject_status: Option<u16>,
    pub retry_after: Option<HumanDuration>,
}

impl RouteConfig {
    /// The behaviour fields.
    pub fn behaviour(&self) -> BehaviourConfig {
        BehaviourConfig {
            delay: self.delay,
            per_in_service: self.per_in_service,
            status: self.status.clone(),
            body_size: self.body_size,
            content_type: self.content_type.clone(),
            error_rate: self.error_rate,
            error_status: self.error_status,
            reset_rate: self.reset_rate,
            slow: self.slow(),
        }
    }

    /// The slow-body and every-Nth fields.
    pub fn slow(&self) -> SlowConfig {
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

    /// The capacity fields.
    pub fn admit(&self) -> AdmitConfig {
        AdmitConfig {
            capacity: self.capacity,
            queue: self.queue,
            queue_timeout: self.queue_timeout,
            overflow: self.overflow,
            reject_status: self.reject_status,
            retry_after: self.retry_after,
        }
    }

    fn with(name: String, behaviour: BehaviourConfig, admit: AdmitConfig) -> RouteConfig {
        let slow = behaviour.slow;
        RouteConfig {
            name: Some(name),
            method: None,
            path: None,
            pool: None,
            delay: behaviour.delay,
            per_in_service: behaviour.per_in_service,
            status: behaviour.status,
            body_size: behaviour.body_size,
            content_type: behaviour.content_type,
            error_rate: behaviour.error_rate,
            error_status: behaviour.error_status,
            reset_rate: behaviour.reset_rate,
            error_every: slow.error_every,
            reset_every: slow.reset_every,
            bandwidth: slow.bandwidth,
            chunk_size: slow.chunk_size,
            chunk_interval: slow.chunk_interval,
            stall_after: slow.stall_after,
            stall_for: slow.stall_for,
            capacity: admit.capacity,
            queue: admit.queue,
            queue_timeout: admit.queue_timeout,
            overflow: admit.overflow,
            reject_status: admit.reject_status,
            retry_after: admit.retry_after,
        }
    }
}

/// A named pool of slots as written (`pools: {db: {capacity: 20}}`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[allow(missing_docs)] // The fields of the same names in `RouteConfig`.
pub struct PoolConfig {
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
}

impl PoolConfig {
    /// The capacity fields.
    pub fn admit(&self) -> AdmitConfig {
        AdmitConfig {
            capacity: self.capacity,
            queue: self.queue,
            queue_timeout: self.queue_timeout,
            overflow: self.overflow,
            reject_status: self.reject_status,
            retry_after: self.retry_after,
        }
    }

    /// The written form of validated limits.
    pub(crate) fn from_settings(a: &AdmitSettings) -> PoolConfig {
        let c = AdmitConfig::from_settings(a);
        PoolConfig {
            capacity: c.capacity,
            queue: c.queue,
            queue_timeout: c.queue_timeout,
            overflow: c.overflow,
            reject_status: c.reject_status,
            retry_after: c.retry_after,
        }
    }
}

/// One entry of `schedule:` as written: at `at` after the start, apply
/// `set` (a JSON merge patch of the configuration's run-time fields).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhaseConfig {
    /// When, after the server's start (or the schedule's restart).
    pub at: HumanDuration,
    /// What changes: `{capacity: 10}`, `{routes: {writes: {delay: 1s}}}`,
    /// `{pools: {db: {capacity: 5}}}`.
    pub set: serde_json::Value,
}

/// What an admitted request gets: delay, answer, faults and body pace.
#[derive(Debug, Clone, PartialEq)]
pub struct Behaviour {
    /// Delay model.
    pub delay: DelayModel,
    /// Extra delay per other request in service in the same unit.
    pub per_in_service: Duration,
    /// Status of a normal answer (one, or weighted).
    pub status: StatusChoice,
    /// Body length of a normal answer.
    pub body_size: u64,
    /// `Content-Type` of a normal answer.
    pub content_type: HeaderValue,
    /// Fraction answered with `error_status`.
    pub error_rate: f64,
    /// Status of a fault answer.
    pub error_status: StatusCode,
    /// Fraction reset instead of answered.
    pub reset_rate: f64,
    /// Every Nth request (counted per route) is answered `error_status`.
    pub error_every: Option<NonZeroU64>,
    /// Every Nth request (counted per route) is reset.
    pub reset_every: Option<NonZeroU64>,
    /// How the body is sent.
    pub pace: Pace,
}

/// How a response body is sent: as fast as the client reads, or slowly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pace {
    /// Bytes per second, at most.
    pub bandwidth: Option<NonZeroU64>,
    /// Send the body in chunks of this many bytes...
    pub chunk_size: Option<NonZeroU64>,
    /// ...with this pause before each chunk after the first.
    pub chunk_interval: Duration,
    /// Stop sending after this many body bytes...
    pub stall_after: Option<u64>,
    /// ...for this long, then reset the connection.
    pub stall_for: Duration,
}

impl Pace {
    /// Whether the body goes out as fast as the client reads it.
    pub fn is_plain(&self) -> bool {
        self.bandwidth.is_none() && self.chunk_size.is_none() && self.stall_after.is_none()
    }
}

/// Validated capacity and queue of an admission unit.
#[derive(Debug, Clone, PartialEq)]
pub struct AdmitSettings {
    /// Slots.
    pub capacity: NonZeroUsize,
    /// Queue places.
    pub queue: u64,
    /// Longest wait in the queue.
    pub queue_timeout: Duration,
    /// What happens when the queue is full.
    pub overflow: Overflow,
    /// Status of a rejection.
    pub reject_status: StatusCode,
    /// `Retry-After` of refusals.
    pub retry_after: Duration,
}

/// Where a route's requests get their slot.
#[derive(Debug, Clone, PartialEq)]
pub enum RouteCapacity {
    /// The top level's slots and queue.
    Shared,
    /// The named pool's.
    Pool(String),
    /// Its own.
    Own(AdmitSettings),
}

/// A validated route.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteSettings {
    /// Its name in `/__stats`, `/metrics` and patches.
    pub name: String,
    /// The methods it matches; empty: any.
    pub methods: Vec<Method>,
    /// The path pattern.
    pub path: String,
    /// What its requests get.
    pub behaviour: Behaviour,
    /// Where its requests get a slot.
    pub capacity: RouteCapacity,
}

/// A validated pool.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolSettings {
    /// Its name.
    pub name: String,
    /// Its capacity and queue.
    pub admit: AdmitSettings,
}

/// A validated phase.
#[derive(Debug, Clone, PartialEq)]
pub struct Phase {
    /// When, after the schedule's start.
    pub at: Duration,
    /// The merge patch it applies (checked at load against the settings
    /// the phases before it leave).
    pub set: serde_json::Value,
}

fn invalid(field: String, message: String) -> ConfigError {
    ConfigError::InvalidAt { field, message }
}

/// Applies rule `R` to an optional value at a dynamic field path.
fn check_at<R: Rule>(
    at: &str,
    name: &str,
    value: Option<&R::Value>,
) -> Result<Option<R::Valid>, ConfigError> {
    value
        .map(R::check)
        .transpose()
        .map_err(|message| invalid(format!("{at}.{name}"), message))
}

impl BehaviourConfig {
    /// This behaviour over `base` (the top level's), checked.
    pub(crate) fn validate(&self, at: &str, base: &Behaviour) -> Result<Behaviour, ConfigError> {
        let time = |v: Option<HumanDuration>, d: Duration| v.map_or(d, Duration::from);
        Ok(Behaviour {
            delay: self.delay.unwrap_or(base.delay),
            per_in_service: time(self.per_in_service, base.per_in_service),
            status: check_at::<StatusMix>(at, "status", self.status.as_ref())?
                .unwrap_or_else(|| base.status.clone()),
            body_size: self.body_size.unwrap_or(base.body_size),
            content_type: check_at::<ContentType>(at, "content_type", self.content_type.as_ref())?
                .unwrap_or_else(|| base.content_type.clone()),
            error_rate: check_at::<Rate>(at, "error_rate", self.error_rate.as_ref())?
                .unwrap_or(base.error_rate),
            error_status: check_at::<ResponseStatus>(
                at,
                "error_status",
                self.error_status.as_ref(),
            )?
            .unwrap_or(base.error_status),
            reset_rate: check_at::<Rate>(at, "reset_rate", self.reset_rate.as_ref())?
                .unwrap_or(base.reset_rate),
            error_every: check_at::<Every>(at, "error_every", self.slow.error_every.as_ref())?
                .or(base.error_every),
            reset_every: check_at::<Every>(at, "reset_every", self.slow.reset_every.as_ref())?
                .or(base.reset_every),
            pace: self.slow.pace(base.pace),
        })
    }
}

impl SlowConfig {
    /// The pace these fields set over `base` (0 turns a limit off).
    pub(crate) fn pace(&self, base: Pace) -> Pace {
        let positive = |v: Option<u64>, d: Option<NonZeroU64>| v.map_or(d, NonZeroU64::new);
        Pace {
            bandwidth: positive(self.bandwidth, base.bandwidth),
            chunk_size: positive(self.chunk_size, base.chunk_size),
            chunk_interval: self
                .chunk_interval
                .map_or(base.chunk_interval, Duration::from),
            stall_after: self.stall_after.or(base.stall_after),
            stall_for: self.stall_for.map_or(base.stall_for, Duration::from),
        }
    }

    /// The written form of a pace and every-Nth faults (for `to_config`).
    pub(crate) fn from_behaviour(b: &Behaviour) -> SlowConfig {
        SlowConfig {
            error_every: b.error_every.map(NonZeroU64::get),
            reset_every: b.reset_every.map(NonZeroU64::get),
            bandwidth: Some(b.pace.bandwidth.map_or(0, NonZeroU64::get)),
            chunk_size: Some(b.pace.chunk_size.map_or(0, NonZeroU64::get)),
            chunk_interval: Some(HumanDuration(b.pace.chunk_interval)),
            stall_after: b.pace.stall_after,
            stall_for: Some(HumanDuration(b.pace.stall_for)),
        }
    }
}

impl AdmitConfig {
    fn is_empty(&self) -> bool {
        *self == AdmitConfig::default()
    }

    /// Validated limits; unset fields take the top level's.
    fn validate(&self, at: &str, top: &Settings) -> Result<AdmitSettings, ConfigError> {
        let time = |v: Option<HumanDuration>, d: Duration| v.map_or(d, Duration::from);
        let capacity = check_at::<Capacity>(at, "capacity", self.capacity.as_ref())?
            .ok_or_else(|| {
                invalid(
                    format!("{at}.capacity"),
                    "is missing; a pool, or a route with a queue of its own, needs a capacity (an integer from 1 to 1000000)".into(),
                )
            })?;
        Ok(AdmitSettings {
            capacity,
            queue: self.queue.unwrap_or(top.queue),
            queue_timeout: time(self.queue_timeout, top.queue_timeout),
            overflow: self.overflow.unwrap_or(top.overflow),
            reject_status: check_at::<RejectStatus>(
                at,
                "reject_status",
                self.reject_status.as_ref(),
            )?
            .unwrap_or(top.reject_status),
            retry_after: time(self.retry_after, top.retry_after),
        })
    }

    /// The written form of validated limits.
    pub(crate) fn from_settings(a: &AdmitSettings) -> AdmitConfig {
        AdmitConfig {
            capacity: Some(a.capacity.get()),
            queue: Some(a.queue),
            queue_timeout: Some(HumanDuration(a.queue_timeout)),
            overflow: Some(a.overflow),
            reject_status: Some(a.reject_status.as_u16()),
            retry_after: Some(HumanDuration(a.retry_after)),
        }
    }
}

/// Validates `pools:`.
pub(crate) fn validate_pools(
    pools: &std::collections::BTreeMap<String, PoolConfig>,
    top: &Settings,
) -> Result<Vec<PoolSettings>, ConfigError> {
    pools
        .iter()
        .map(|(name, pool)| {
            let at = format!("pools.{name}");
            Name::check(name).map_err(|m| invalid(at.clone(), m))?;
            Ok(PoolSettings {
                name: name.clone(),
                admit: pool.admit().validate(&at, top)?,
            })
        })
        .collect()
}

/// Validates `routes:` against the top level and the pools.
pub(crate) fn validate_routes(
    routes: &[RouteConfig],
    top: &Settings,
    pools: &[PoolSettings],
) -> Result<Vec<RouteSettings>, ConfigError> {
    let base = top.behaviour();
    let mut out: Vec<RouteSettings> = Vec::with_capacity(routes.len());
    for (i, route) in routes.iter().enumerate() {
        let at = format!("routes[{i}]");
        let path = route.path.clone().ok_or_else(|| {
            invalid(
                format!("{at}.path"),
                "is missing; each route needs a path such as /api/*, /users/*/orders or /health"
                    .into(),
            )
        })?;
        check_at::<Pattern>(&at, "path", Some(&path))?;
        let methods = methods(&at, route.method.as_ref())?;
        let name = route
            .name
            .clone()
            .unwrap_or_else(|| default_name(&methods, &path));
        if out.iter().any(|r| r.name == name) {
            return Err(invalid(
                format!("{at}.name"),
                format!("{name:?} is taken by an earlier route; give each route its own name"),
            ));
        }
        let admit = route.admit();
        let capacity = match (&route.pool, admit.is_empty()) {
            (None, true) => RouteCapacity::Shared,
            (None, false) => RouteCapacity::Own(admit.validate(&at, top)?),
            (Some(pool), true) if pools.iter().any(|p| &p.name == pool) => {
                RouteCapacity::Pool(pool.clone())
            }
            (Some(pool), true) => {
                let known: Vec<&str> = pools.iter().map(|p| p.name.as_str()).collect();
                return Err(invalid(
                    format!("{at}.pool"),
                    format!("{pool:?} is not a pool; the pools are: {}", list(&known)),
                ));
            }
            (Some(_), false) => {
                return Err(invalid(
                    format!("{at}.pool"),
                    "a route takes its slots from a pool or has a capacity of its own, not both; set capacity and queue on the pool".into(),
                ));
            }
        };
        out.push(RouteSettings {
            name,
            methods,
            path,
            behaviour: route.behaviour().validate(&at, &base)?,
            capacity,
        });
    }
    Ok(out)
}

fn list(names: &[&str]) -> String {
    if names.is_empty() {
        "none (add one under pools:)".into()
    } else {
        names.join(", ")
    }
}

fn default_name(methods: &[Method], path: &str) -> String {
    if methods.is_empty() {
        path.to_string()
    } else {
        let names: Vec<&str> = methods.iter().map(Method::as_str).collect();
        format!("{} {path}", names.join(","))
    }
}

fn methods(at: &str, written: Option<&Methods>) -> Result<Vec<Method>, ConfigError> {
    let names: Vec<&str> = match written {
        None => return Ok(Vec::new()),
        Some(Methods::One(one)) => vec![one.as_str()],
        Some(Methods::Many(many)) => many.iter().map(String::as_str).collect(),
    };
    names
        .into_iter()
        .map(|name| {
            let valid = !name.is_empty() && name.bytes().all(|b| b.is_ascii_uppercase());
            valid
                .then(|| Method::from_bytes(name.as_bytes()).ok())
                .flatten()
                .ok_or_else(|| {
                    invalid(
                        format!("{at}.method"),
                        format!("{name:?} is not allowed; expected an upper-case HTTP method such as GET or POST, or a list of them"),
                    )
                })
        })
        .collect()
}

impl RouteSettings {
    /// The written form of a validated route (every field explicit).
    pub(crate) fn to_config(&self) -> RouteConfig {
        let b = &self.behaviour;
        let method = match self.methods.as_slice() {
            [] => None,
            [one] => Some(Methods::One(one.to_string())),
            many => Some(Methods::Many(many.iter().map(Method::to_string).collect())),
        };
        let (pool, admit) = match &self.capacity {
            RouteCapacity::Shared => (None, AdmitConfig::default()),
            RouteCapacity::Pool(name) => (Some(name.clone()), AdmitConfig::default()),
            RouteCapacity::Own(a) => (None, AdmitConfig::from_settings(a)),
        };
        let mut route = RouteConfig::with(
            self.name.clone(),
            BehaviourConfig {
                delay: Some(b.delay),
                per_in_service: Some(HumanDuration(b.per_in_service)),
                status: Some(b.status.to_string()),
                body_size: Some(b.body_size),
                content_type: b.content_type.to_str().ok().map(str::to_string),
                error_rate: Some(b.error_rate),
                error_status: Some(b.error_status.as_u16()),
                reset_rate: Some(b.reset_rate),
                slow: SlowConfig::from_behaviour(b),
            },
            admit,
        );
        route.method = method;
        route.path = Some(self.path.clone());
        route.pool = pool;
        route
    }
}
