//! A mock HTTP server whose delay, capacity and overflow behaviour are set
//! by the user, for load tests that must know the ground truth.
//!
//! Start one in-process with [`EmbeddedServer::start`] from validated
//! [`Settings`] (usually from a [`ServerConfig`] read from YAML), or run the
//! `mock-server` binary. [`StatsSnapshot`] is what `/__stats` serves.
//!
//! Code map: [`config`] (what the user writes, and validated settings),
//! [`delay`] (delay models), [`admission`] (slots and queue), [`stats`]
//! (counters), `timer` (precise delays), [`routes`] (endpoints), [`routing`]
//! (`routes:` rules), `live` (run-time settings), `admin` (control API),
//! `schedule` (phases), [`faults`] (fault draws), [`tls`] (HTTPS),
//! [`server`] (listener, accept loop, embedded runtime), [`cli`] (the
//! binary's flags).

pub mod admission;
pub mod cli;
pub mod config;
pub mod delay;
pub mod duration;
pub mod faults;
pub mod metrics;
pub mod routes;
pub mod routing;
pub mod server;
pub mod signal;
pub mod stats;
pub mod tls;

mod admin;
mod blocking;
mod body;
mod connection;
mod live;
mod responses;
mod schedule;
mod service;
mod stream;
mod timer;
mod trim;

pub use config::{load_config_file, ConfigError, ServerConfig, Settings};
pub use server::{EmbeddedServer, StatsHandle};
pub use stats::{PhaseRecord, StatsSnapshot};
