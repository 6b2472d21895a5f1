//! A resource server guarded by the lock service: it stores writes and
//! refuses any whose fencing token is older than one it has accepted.
//!
//! ```sh
//! cargo run --example lock_resource -- 127.0.0.1:7001
//! ```
//!
//! Prints `listening on ADDR` on standard output; stop it with Ctrl-C. The
//! shared secret is `HEDDLE_SECRET` (default `heddle-demo`). Its store is
//! in memory: a real resource keeps its highest token with its data.

mod common;

use heddle::distributed::lock::{FencedStore, resource};
use heddle::distributed::rpc::{ServerConfig, serve};
use heddle::net::{Addr, Network, Tokio};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [addr] = args.as_slice() else {
        eprintln!("usage: lock_resource ADDR");
        return ExitCode::from(2);
    };
    match run(addr) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lock_resource: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(addr: &str) -> Result<(), Box<dyn std::error::Error>> {
    let addr: Addr = addr.parse()?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async {
            let listener = Tokio
                .bind(&addr)
                .await
                .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
            println!("listening on {}", listener.local_addr()?);
            let stop = common::stop_on_ctrl_c();
            let store = Arc::new(Mutex::new(FencedStore::default()));
            serve(
                listener,
                resource(store),
                ServerConfig::new(common::secret()),
                stop,
            )
            .await?;
            Ok(())
        })
}
