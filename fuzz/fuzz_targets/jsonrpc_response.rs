//! Fuzzes the `jsonrpc_response` decoder: the invariants are in
//! `heddle::wire::checks::jsonrpc_response`, which `tests/fuzz_corpus.rs` also runs
//! over the committed corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| heddle::wire::checks::jsonrpc_response(data));
