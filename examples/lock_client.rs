//! A client of the lock service: takes the lock, writes to the resource
//! under it with its fencing token, and releases it.
//!
//! ```sh
//! # 3 rounds: acquire, write "owner-7:N", hold for 200 ms, release
//! cargo run --example lock_client -- 127.0.0.1:7000 127.0.0.1:7001 cycle 7 3 200
//! # one raw write with a given token (what a paused, stale holder does)
//! cargo run --example lock_client -- 127.0.0.1:7000 127.0.0.1:7001 write 5 late
//! ```
//!
//! Prints one line per event on standard output: `acquired TOKEN`,
//! `write TOKEN accepted`, `write TOKEN stale SEEN`, `lost TOKEN`,
//! `released TOKEN`. The shared secret is `HEDDLE_SECRET` (default
//! `heddle-demo`).

mod common;

use heddle::distributed::lock::{LockClient, LockClientConfig, Token, protocol};
use heddle::distributed::rpc::{Client, ClientConfig};
use heddle::net::{Addr, Tokio};
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "usage: lock_client LOCKS RESOURCE cycle OWNER ROUNDS HOLD_MS\n       lock_client LOCKS RESOURCE write TOKEN VALUE";
const KEY: &str = "report";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Into::into)
        .and_then(|rt| rt.block_on(run(&args)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lock_client: {e}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

async fn run(args: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    let [locks, resource, mode, rest @ ..] = args else {
        return Err("missing arguments".into());
    };
    let rpc = |addr: Addr| Client::new(Tokio, addr, ClientConfig::new(common::secret()));
    let resource = rpc(resource.parse()?);
    match (mode.as_str(), rest) {
        ("cycle", [owner, rounds, hold_ms]) => {
            let locks = LockClient::new(
                rpc(locks.parse()?),
                owner.parse()?,
                LockClientConfig::default(),
            );
            let hold = Duration::from_millis(hold_ms.parse()?);
            for round in 0..rounds.parse::<u32>()? {
                let lease = locks.acquire(KEY).await?;
                println!("acquired {}", lease.token());
                tokio::time::sleep(hold).await;
                if lease.is_valid() {
                    write(&resource, lease.token(), &format!("owner-{owner}:{round}")).await?;
                } else {
                    println!("lost {}", lease.token());
                }
                let token = lease.token();
                locks.release(lease).await?;
                println!("released {token}");
            }
            Ok(())
        }
        ("write", [token, value]) => write(&resource, token.parse()?, value).await,
        _ => Err(format!("unknown mode {mode:?} or wrong arguments").into()),
    }
}

async fn write(
    resource: &Client<Tokio>,
    token: Token,
    value: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    let w = protocol::Write {
        key: KEY.into(),
        token,
        value: value.as_bytes().to_vec(),
    };
    match resource
        .call::<_, protocol::WriteResult>(protocol::WRITE, &w)
        .await?
    {
        Ok(()) => println!("write {token} accepted"),
        Err(heddle::distributed::lock::Fenced::Stale { seen, .. }) => {
            println!("write {token} stale {seen}")
        }
    }
    Ok(())
}
