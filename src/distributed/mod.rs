//! Distributed patterns (guide §3–4), generic over [`crate::net::Network`]
//! so that the same code runs on real sockets and under turmoil.
//!
//! So far: [`rpc`], heddle's binary RPC with retries and at-most-once
//! execution, and [`jsonrpc_http`], JSON-RPC 2.0 over HTTP/1.1.
//! Master–worker, pub-sub, lock service, cache and Raft arrive with later
//! issues.

mod id_map;
pub mod jsonrpc_http;
pub mod lock;
pub mod rpc;
