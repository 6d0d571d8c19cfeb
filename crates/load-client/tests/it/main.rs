//! The load client's integration tests, in one test binary (one link
//! instead of one per file): each module is one former test file, named for
//! what it drives, and `util` holds the helpers they share. A new file of
//! tests is one more `mod` line here.
//!
//! The tests of all modules run in parallel threads of this one process.
//! Those that judge timing against a baseline take [`util::alone`], so no
//! other timing test overlaps them.

mod browser;
mod client;
mod compare;
mod deploy;
mod fuzz_inputs;
mod golden;
mod http2;
mod live;
mod mix;
mod oneline;
mod outputs;
mod regression;
mod reliability;
mod report;
mod schema_errors;
mod search;
mod shard;
mod tidy;
mod tls;
mod util;
