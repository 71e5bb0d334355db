//! The differential conformance suite: Test::Nginx-format case files (`cases/*.t`) run against
//! the reference nginx and against oxresty.
//!
//! The public surface is small: [`parse_file`] turns a `.t` file into blocks, [`run_block`] /
//! [`run_files`] run blocks against a binary and report per-check results. The `-t` half of the
//! differential checks lives in the root package's tests.

pub mod backend;
pub mod compare;
pub mod conf;
pub mod http;
pub mod parse;
pub mod perl;
pub mod runner;

pub use compare::{tally, FileTally};
pub use parse::{parse_file, Block, CaseFile};
pub use runner::{run_block, run_files, BlockResult, Check, Outcome, RunOptions};

/// The reference binary (Debian's nginx 1.22.1).
pub const REFERENCE: &str = "/usr/sbin/nginx";
