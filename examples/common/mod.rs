//! What the example servers and clients share.
#![allow(dead_code)] // each example uses part of it

use tokio_util::sync::CancellationToken;

/// A token cancelled on Ctrl-C (spawns the watcher on the current runtime).
pub fn stop_on_ctrl_c() -> CancellationToken {
    let stop = CancellationToken::new();
    let ctrl_c = stop.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            ctrl_c.cancel();
        }
    });
    stop
}

/// The RPC examples' shared secret: `HEDDLE_SECRET`, default `heddle-demo`.
pub fn secret() -> Vec<u8> {
    std::env::var("HEDDLE_SECRET")
        .unwrap_or_else(|_| "heddle-demo".into())
        .into_bytes()
}
