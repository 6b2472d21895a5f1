//! A lock server (guide §3.4, done right): leases with fencing tokens whose
//! counter is kept in `DIR` with `fsync`, so a restart never repeats a token.
//!
//! ```sh
//! cargo run --example lock_server -- 127.0.0.1:7000 /tmp/heddle-locks [MAX_TTL_MS]
//! ```
//!
//! `MAX_TTL_MS` (default 30000) is the longest lease granted, and how long a
//! restarted server waits before granting (leases it forgot may still run).
//!
//! Prints `listening on ADDR` on standard output once it accepts
//! connections; stop it with Ctrl-C. The shared secret is `HEDDLE_SECRET`
//! (default `heddle-demo`).

mod common;

use heddle::distributed::lock::{LockConfig, LockService, lock_service};
use heddle::distributed::rpc::{ServerConfig, serve};
use heddle::net::{Addr, Network, Tokio};
use heddle::storage::{DurableCounter, Files};
use std::process::ExitCode;

const USAGE: &str = "usage: lock_server ADDR DIR [MAX_TTL_MS]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (addr, dir, max_ttl) = match args.as_slice() {
        [addr, dir] => (addr, dir, None),
        [addr, dir, ms] => (addr, dir, Some(ms)),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let mut config = LockConfig::default();
    if let Some(ms) = max_ttl {
        match ms.parse() {
            Ok(ms) => config.max_ttl = std::time::Duration::from_millis(ms),
            Err(e) => {
                eprintln!("lock_server: MAX_TTL_MS {ms:?}: {e}\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    match run(addr, dir, config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lock_server: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(addr: &str, dir: &str, config: LockConfig) -> Result<(), Box<dyn std::error::Error>> {
    let addr: Addr = addr.parse()?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async {
            let counter = DurableCounter::open(Files::open(dir).await?, "fencing").await?;
            let service = LockService::start(counter, config).await?;
            let listener = Tokio
                .bind(&addr)
                .await
                .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
            println!("listening on {}", listener.local_addr()?);
            let stop = common::stop_on_ctrl_c();
            serve(
                listener,
                lock_service(service),
                ServerConfig::new(common::secret()),
                stop,
            )
            .await?;
            Ok(())
        })
}
