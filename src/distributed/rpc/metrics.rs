//! The RPC's metrics, through the [`metrics`] facade: nothing is recorded
//! until the application installs a recorder (a Prometheus exporter, say:
//! `examples/rpc_prometheus.rs`), and then at the cost of the recorder.
//!
//! Each name is spelled here once. Call [`describe`] after installing a
//! recorder to give them their help texts and units.
//!
//! | name | kind | what |
//! | --- | --- | --- |
//! | `heddle_rpc_client_calls_total` | counter | calls started by clients |
//! | `heddle_rpc_client_retries_total` | counter | attempts after a call's first |
//! | `heddle_rpc_client_timeouts_total` | counter | attempts that got no reply in time |
//! | `heddle_rpc_client_call_seconds` | histogram | a call's duration, retries included |
//! | `heddle_rpc_server_calls_total` | counter | calls received by servers |
//! | `heddle_rpc_server_dedup_hits_total` | counter | keyed calls answered from, or joined to, an earlier execution |
//! | `heddle_rpc_server_refusals_total` | counter, label `reason` | handshakes and calls refused (`bad_token`, `protocol`, `overloaded`, `shutting_down`, `key_reused`) |
//! | `heddle_rpc_server_in_flight` | gauge | calls admitted and not yet answered |
//! | `heddle_rpc_server_call_seconds` | histogram | a handler's run time |
//!
//! ```
//! heddle::distributed::rpc::metrics::describe();
//! ```

use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};

/// Calls started by clients.
pub const CLIENT_CALLS: &str = "heddle_rpc_client_calls_total";
/// Attempts after a call's first.
pub const CLIENT_RETRIES: &str = "heddle_rpc_client_retries_total";
/// Attempts that got no reply within the attempt timeout.
pub const CLIENT_TIMEOUTS: &str = "heddle_rpc_client_timeouts_total";
/// A call's duration, retries and backoff included.
pub const CLIENT_CALL_SECONDS: &str = "heddle_rpc_client_call_seconds";
/// Calls received by servers (after the handshake).
pub const SERVER_CALLS: &str = "heddle_rpc_server_calls_total";
/// Keyed calls answered from, or joined to, an earlier execution.
pub const SERVER_DEDUP_HITS: &str = "heddle_rpc_server_dedup_hits_total";
/// Handshakes and calls refused, by `reason`.
pub const SERVER_REFUSALS: &str = "heddle_rpc_server_refusals_total";
/// Calls admitted and not yet answered, over all connections.
pub const SERVER_IN_FLIGHT: &str = "heddle_rpc_server_in_flight";
/// A handler's run time.
pub const SERVER_CALL_SECONDS: &str = "heddle_rpc_server_call_seconds";

/// The label of [`SERVER_REFUSALS`].
pub const REASON: &str = "reason";

/// Registers each metric's help text and unit with the installed recorder.
pub fn describe() {
    describe_counter!(CLIENT_CALLS, "RPC calls started by clients");
    describe_counter!(CLIENT_RETRIES, "RPC attempts after a call's first");
    describe_counter!(CLIENT_TIMEOUTS, "RPC attempts without a reply in time");
    describe_histogram!(
        CLIENT_CALL_SECONDS,
        Unit::Seconds,
        "RPC call duration, retries included"
    );
    describe_counter!(SERVER_CALLS, "RPC calls received");
    describe_counter!(
        SERVER_DEDUP_HITS,
        "keyed RPC calls answered from or joined to an earlier execution"
    );
    describe_counter!(
        SERVER_REFUSALS,
        "RPC handshakes and calls refused, by reason"
    );
    describe_gauge!(SERVER_IN_FLIGHT, "RPC calls admitted and not yet answered");
    describe_histogram!(SERVER_CALL_SECONDS, Unit::Seconds, "RPC handler run time");
}

/// What every RPC metric is registered with (the `metrics` macros would use
/// the calling module; recorders that filter by target see this one).
pub(crate) static METADATA: metrics::Metadata<'static> =
    metrics::Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));

/// The handle of one of the metrics above, from the installed recorder:
/// `metric!(counter, CLIENT_CALLS)`. Its key is built and hashed once; the
/// `metrics` macros do that only for literal names, and would hash these
/// on every call (two to four times per RPC call).
macro_rules! metric {
    (counter, $name:ident) => {
        $crate::distributed::rpc::metrics::metric!(@register_counter, $name)
    };
    (gauge, $name:ident) => {
        $crate::distributed::rpc::metrics::metric!(@register_gauge, $name)
    };
    (histogram, $name:ident) => {
        $crate::distributed::rpc::metrics::metric!(@register_histogram, $name)
    };
    (@$register:ident, $name:ident) => {{
        static KEY: ::metrics::Key =
            ::metrics::Key::from_static_name($crate::distributed::rpc::metrics::$name);
        ::metrics::with_recorder(|r| r.$register(&KEY, &$crate::distributed::rpc::metrics::METADATA))
    }};
}
pub(crate) use metric;

/// Counts one refusal.
pub(super) fn refused(reason: &'static str) {
    metrics::counter!(SERVER_REFUSALS, REASON => reason).increment(1);
}
