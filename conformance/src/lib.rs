//! The differential conformance suite: Test::Nginx-format case files run against the reference
//! nginx and against oxresty. The runner lands with the engine-core issue; the `-t` half of the
//! differential checks lives in the root package's tests (tests/config_test.rs).
