//! The lock service as real processes on 127.0.0.1: the `lock_server`,
//! `lock_resource` and `lock_client` examples. Two clients compete for the
//! lock; every write made under a valid lease is accepted, a write with an
//! older token is refused, and after the lock server is killed (SIGKILL)
//! and restarted on the same directory its tokens keep growing.
//!
//! `cargo test` builds the examples before it runs this test (alone,
//! `cargo test --test lock_cluster` does not: `cargo build --examples`
//! first); it finds them beside its own binary
//! (`target/<profile>/examples/`).
#![cfg(all(unix, not(any(feature = "loom", feature = "shuttle"))))]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// A server process, killed when dropped.
struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn example(name: &str) -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    // target/<profile>/deps/lock_cluster-HASH → target/<profile>/examples/NAME
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .ok_or("no target directory")?;
    let path = dir.join("examples").join(name);
    if !path.exists() {
        return Err(format!(
            "{} is missing: run `cargo test` (it builds the examples)",
            path.display()
        )
        .into());
    }
    Ok(path)
}

/// Starts example `name` with `args` and waits for its `listening on ADDR`.
fn start(name: &str, args: &[&str]) -> Result<Server> {
    let mut child = Command::new(example(name)?)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .ok_or_else(|| format!("{name} said {line:?} (a stale build? `cargo build --examples`)"))?
        .to_owned();
    Ok(Server { child, addr })
}

/// Runs the client with `args` to completion; returns its output lines.
fn client(locks: &Server, resource: &Server, args: &[&str]) -> Result<Child> {
    Ok(Command::new(example("lock_client")?)
        .arg(&locks.addr)
        .arg(&resource.addr)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?)
}

fn lines(child: Child) -> Result<Vec<String>> {
    let out = child.wait_with_output()?;
    if !out.status.success() {
        return Err(format!("lock_client failed: {}", out.status).into());
    }
    Ok(String::from_utf8(out.stdout)?
        .lines()
        .map(str::to_owned)
        .collect())
}

/// The tokens in lines starting with `prefix`.
fn tokens(lines: &[String], prefix: &str) -> Vec<u64> {
    lines
        .iter()
        .filter_map(|l| l.strip_prefix(prefix)?.split(' ').next()?.parse().ok())
        .collect()
}

#[test]
fn fenced_writes_across_real_processes_and_a_restart() -> Result<()> {
    let dir = std::env::temp_dir().join(format!("heddle-lock-cluster-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let dir_arg = dir.to_str().ok_or("temp dir is not UTF-8")?;
    let locks = start("lock_server", &["127.0.0.1:0", dir_arg, "1000"])?;
    let resource = start("lock_resource", &["127.0.0.1:0"])?;

    // Two clients, three rounds each, holding the lock 50 ms per round.
    let a = client(&locks, &resource, &["cycle", "1", "3", "50"])?;
    let b = client(&locks, &resource, &["cycle", "2", "3", "50"])?;
    let (a, b) = (lines(a)?, lines(b)?);
    let mut granted: Vec<u64> = tokens(&a, "acquired ")
        .into_iter()
        .chain(tokens(&b, "acquired "))
        .collect();
    granted.sort_unstable();
    granted.dedup();
    assert_eq!(granted.len(), 6, "six distinct tokens: {a:?} {b:?}");
    // Every write made under a valid lease was accepted.
    for l in a.iter().chain(&b).filter(|l| l.starts_with("write ")) {
        assert!(l.ends_with(" accepted"), "{l}");
    }

    // A stale holder's write, with the oldest token: refused.
    let oldest = granted[0].to_string();
    let late = lines(client(&locks, &resource, &["write", &oldest, "late"])?)?;
    assert_eq!(late, [format!("write {oldest} stale {}", granted[5])]);

    // Kill the lock server (no clean shutdown) and restart it on the same
    // directory: it waits out its max TTL (1 s), then grants above the
    // tokens it handed out before.
    drop(locks);
    let locks = start("lock_server", &["127.0.0.1:0", dir_arg, "1000"])?;
    let after = lines(client(&locks, &resource, &["cycle", "3", "1", "0"])?)?;
    let token = tokens(&after, "acquired ");
    assert!(
        token.len() == 1 && token[0] > granted[5],
        "{after:?} after {granted:?}"
    );
    assert!(
        after
            .iter()
            .any(|l| *l == format!("write {} accepted", token[0])),
        "{after:?}"
    );
    drop(locks);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
