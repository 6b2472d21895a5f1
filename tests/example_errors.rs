//! The example servers report a failure to start as one line naming what
//! failed (exit status 1), not a `Debug` dump of the error (which is what
//! `main() -> Result<…>` printed before: `Error: Os { code: 98, kind:
//! AddrInUse, … }`; this test failed on that code). A plain `cargo test`
//! builds the examples next to the tests; with `--test example_errors` alone,
//! run `cargo build --examples` first (cargo does not rebuild them then).

#![cfg(not(any(feature = "loom", feature = "shuttle")))]

use std::path::PathBuf;
use std::process::Command;

fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary");
    // target/<profile>/deps/<test> -> target/<profile>/examples/<name>
    let dir = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target/<profile>");
    dir.join("examples").join(name)
}

#[test]
fn a_busy_port_is_one_clear_line() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a port");
    let addr = busy.local_addr().expect("local addr").to_string();
    for name in ["echo_server", "jsonrpc_server"] {
        let out = Command::new(example(name))
            .arg(&addr)
            .output()
            .unwrap_or_else(|e| panic!("run {name} (built by cargo test): {e}"));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {err}");
        assert!(
            err.starts_with(&format!("{name}: cannot listen on {addr}: ")),
            "{name}: {err}"
        );
        assert!(!err.contains("Os {"), "{name}: a Debug dump: {err}");
    }
}

#[test]
fn a_bad_address_is_one_clear_line() {
    let out = Command::new(example("echo_server"))
        .arg("not-an-address")
        .output()
        .expect("run echo_server");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.starts_with("echo_server: bad address: "), "{err}");
}
