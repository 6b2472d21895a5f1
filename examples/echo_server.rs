//! The guide's async TCP echo server (§4) over `heddle::net`, on real
//! sockets. `cargo run --example echo_server [ADDR]` (default
//! 127.0.0.1:8080); stop it with Ctrl-C. Try it with `nc 127.0.0.1 8080`.

mod common;

use heddle::net::echo::{EchoConfig, serve};
use heddle::net::{Addr, Network, Tokio};

/// Errors are printed as `echo_server: <what failed>` (not a `Debug` dump) and
/// the process exits with status 1.
fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("echo_server: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let addr: Addr = std::env::args()
        .nth(1)
        .as_deref()
        .unwrap_or("127.0.0.1:8080")
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
            eprintln!("echo server listening on {}", listener.local_addr()?);
            let stop = common::stop_on_ctrl_c();
            serve(listener, EchoConfig::default(), stop).await?;
            Ok(())
        })
}
