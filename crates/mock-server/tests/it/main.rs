//! The mock server's integration tests, in one test binary: `server` drives
//! a real server on port 0 with real HTTP; `control` covers routes, pools,
//! the control API, phases and slow bodies. The hostile-client tests are a
//! binary of their own (`tests/hostile.rs`): they raise this process's
//! RLIMIT_NOFILE and measure memory and latency, so they run alone, one at a
//! time. `util` is shared by both.

mod control;
mod server;
mod tls;
#[path = "../util/mod.rs"]
mod util;
