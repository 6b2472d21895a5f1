//! Distributed patterns (guide §3–4), generic over [`crate::net::Network`]
//! so that the same code runs on real sockets and under turmoil.
//!
//! So far: [`jsonrpc_http`], JSON-RPC 2.0 over HTTP/1.1. The RPC framework,
//! master–worker, pub-sub, lock service, cache and Raft arrive with later
//! issues.

pub mod jsonrpc_http;
