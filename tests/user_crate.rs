//! "Checking your own code", as a user does it: a scratch crate that
//! depends on heddle by path (`default-features = false`: the facade and
//! `check` only), with a correct and a buggy type (`tests/user_crate/`).
//! Under shuttle and under loom the buggy type is caught, the correct one
//! passes, and the command the failure prints, run as printed from the
//! user's crate, reproduces it. Under loom a deadlocking type fails its test
//! without aborting the binary (the other tests still report).
//!
//! The scratch crate and its target directory live in
//! `target/tmp/user-crate/` and are reused: the first run builds heddle's
//! small dependency set twice (one per engine, release), later runs only
//! relink. Plain `cargo test` only (it runs cargo itself).

#![cfg(not(any(feature = "loom", feature = "shuttle")))]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const USER_CRATE: &str = "tally";

fn scratch() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("user-crate");
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = format!(
        "[package]\nname = \"{USER_CRATE}\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n\
         [dependencies]\nheddle = {{ path = {:?}, default-features = false }}\n\n\
         [workspace]\n",
        here.display().to_string()
    );
    write_if_changed(&dir.join("Cargo.toml"), &manifest);
    let src = here.join("tests/user_crate");
    for (from, to) in [("lib.rs", "src/lib.rs"), ("tally.rs", "tests/tally.rs")] {
        let text = std::fs::read_to_string(src.join(from)).expect("read the user crate");
        write_if_changed(&dir.join(to), &text);
    }
    let lock = dir.join("Cargo.lock");
    if !lock.exists() {
        // Same versions as heddle's own build: no resolution against the index.
        std::fs::copy(here.join("Cargo.lock"), &lock).expect("copy Cargo.lock");
    }
    dir
}

/// Keeps mtimes (and so cargo's fingerprints) when nothing changed.
fn write_if_changed(path: &Path, text: &str) {
    if std::fs::read_to_string(path).ok().as_deref() != Some(text) {
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }
}

/// Runs `cargo ARGS` in the scratch crate with `env`.
fn cargo(dir: &Path, env: &[(String, String)], args: &[&str]) -> (Output, String) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(dir)
        .args(args)
        .env("CARGO_TARGET_DIR", dir.join("target"))
        .env_remove("HEDDLE_SHUTTLE_REPLAY")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("run cargo");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out, text)
}

/// The printed command line for `test` that starts with `prefix`, split as a shell
/// would (single-quoted values, `VAR=value` words before `cargo`).
fn printed_command(text: &str, prefix: &str, test: &str) -> (Vec<(String, String)>, Vec<String>) {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with(prefix) && l.ends_with(&format!(" --exact {test}")))
        .unwrap_or_else(|| panic!("no `{prefix}… cargo test` line in:\n{text}"));
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '\'' => quoted = !quoted,
            ' ' if !quoted => words.push(std::mem::take(&mut word)),
            c => word.push(c),
        }
    }
    words.push(word);
    let cargo_at = words
        .iter()
        .position(|w| w == "cargo")
        .expect("cargo in the line");
    let env = words[..cargo_at]
        .iter()
        .map(|w| {
            let (k, v) = w.split_once('=').expect("VAR=value");
            (k.to_owned(), v.to_owned())
        })
        .collect();
    (env, words[cargo_at + 1..].to_vec())
}

fn assert_outcomes(text: &str, expected: &[(&str, &str)]) {
    for (test, outcome) in expected {
        assert!(
            text.contains(&format!("test {test} ... {outcome}")),
            "`{test}` should be `{outcome}`:\n{text}"
        );
    }
}

#[test]
fn shuttle_catches_the_buggy_type_and_its_replay_command_reproduces_it() {
    let dir = scratch();
    let args = [
        "test",
        "--release",
        "--features",
        "heddle/shuttle",
        "--test",
        "tally",
    ];
    let (out, text) = cargo(&dir, &[], &args);
    assert!(!out.status.success(), "the buggy types must fail:\n{text}");
    assert_outcomes(
        &text,
        &[
            ("correct_tally", "ok"),
            ("buggy_tally", "FAILED"),
            ("opposite_transfers", "FAILED"),
        ],
    );
    assert!(text.contains("lost update"), "{text}");
    // Two failing tests in one binary: each report carries its own
    // schedule (shuttle's panic hook is process-wide; a search that read
    // its own directory found nothing when the hook wrote elsewhere).
    assert!(
        !text.contains("'<schedule>'"),
        "a failure without its schedule:\n{text}"
    );
    assert!(
        text.contains(&format!(
            "cargo test --release -p {USER_CRATE} --features heddle/shuttle --test tally -- --exact buggy_tally"
        )),
        "the replay command names the user's package and heddle's feature:\n{text}"
    );
    let (env, replay) = printed_command(&text, "HEDDLE_SHUTTLE_REPLAY=", "buggy_tally");
    let replay: Vec<&str> = replay.iter().map(String::as_str).collect();
    let (out, text) = cargo(&dir, &env, &replay);
    assert!(!out.status.success(), "the replay must fail:\n{text}");
    assert!(
        text.contains("lost update"),
        "the replay reproduces it:\n{text}"
    );
    assert!(
        !text.contains("shuttle found a failing schedule"),
        "a replay runs the one schedule, it does not search:\n{text}"
    );
}

#[test]
fn loom_catches_the_buggy_type_without_aborting_and_its_command_reproduces_it() {
    let dir = scratch();
    let args = [
        "test",
        "--release",
        "--features",
        "heddle/loom",
        "--test",
        "tally",
    ];
    let (out, text) = cargo(&dir, &[], &args);
    assert!(!out.status.success(), "the buggy types must fail:\n{text}");
    // The deadlock did not abort the binary: every test reported.
    assert_outcomes(
        &text,
        &[
            ("correct_tally", "ok"),
            ("buggy_tally", "FAILED"),
            ("opposite_transfers", "FAILED"),
        ],
    );
    assert!(text.contains("deadlock"), "{text}");
    assert!(text.contains("the failing interleaving"), "{text}");
    assert!(
        text.contains(&format!(
            "cargo test --release -p {USER_CRATE} --features heddle/loom --test tally -- --exact buggy_tally"
        )),
        "{text}"
    );
    let (env, rerun) = printed_command(&text, "HEDDLE_LOG=", "buggy_tally");
    let rerun: Vec<&str> = rerun.iter().map(String::as_str).collect();
    let (out, text) = cargo(&dir, &env, &rerun);
    assert!(!out.status.success(), "the re-run must fail:\n{text}");
    assert!(text.contains("lost update"), "{text}");
    assert!(
        text.contains("~~~~~~~~ THREAD"),
        "HEDDLE_LOG prints loom's schedule:\n{text}"
    );
}
