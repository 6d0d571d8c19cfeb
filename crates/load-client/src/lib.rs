//! The load client: runs YAML scenarios against an HTTP server (the embedded
//! mock server or any other) and records HdrHistogram latencies.
//!
//! Start at [`run::run`]; the binary in `main.rs` only parses the command
//! line and maps errors to exit codes. See `ARCHITECTURE.md` for the map.

pub mod checks;
pub mod cli;
pub mod compare;
pub mod connect;
pub mod data;
pub mod executor;
pub(crate) mod h1;
pub mod html;
pub mod http;
pub(crate) mod http2;
pub(crate) mod knee;
pub mod limits;
pub mod live;
pub(crate) mod locate;
pub mod merge;
pub mod metric;
pub mod mix;
pub(crate) mod model;
pub mod oneline;
pub mod outcome;
pub(crate) mod overrides;
pub mod plot;
pub mod recorder;
pub(crate) mod redact;
pub mod report;
pub mod results;
pub mod run;
pub mod scenario;
pub mod search;
pub mod shard;
pub mod start_at;
pub mod table;

/// The load client's version, written into every result file.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
