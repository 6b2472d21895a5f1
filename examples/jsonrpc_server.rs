//! The guide's JSON-RPC server (§5): `add` and `echo` over HTTP on
//! 127.0.0.1:3030 (or the address given). Stop it with Ctrl-C.
//!
//! ```sh
//! cargo run --example jsonrpc_server
//! curl -s -d '{"jsonrpc":"2.0","method":"add","params":[2,3],"id":1}' 127.0.0.1:3030
//! ```

mod common;

use heddle::distributed::jsonrpc_http::{HttpConfig, guide_methods, serve};
use heddle::net::{Addr, Network, Tokio};
use std::sync::Arc;

/// Errors are printed as `jsonrpc_server: <what failed>` (not a `Debug` dump) and
/// the process exits with status 1.
fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("jsonrpc_server: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let addr: Addr = std::env::args()
        .nth(1)
        .as_deref()
        .unwrap_or("127.0.0.1:3030")
        .parse()
        .map_err(|e| format!("bad address: {e}"))?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async {
            let listener = Tokio
                .bind(&addr)
                .await
                .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
            // The test harness reads this line to find the port.
            eprintln!("listening on {}", listener.local_addr()?);
            let stop = common::stop_on_ctrl_c();
            serve(
                listener,
                Arc::new(guide_methods),
                HttpConfig::default(),
                stop,
            )
            .await?;
            Ok(())
        })
}
