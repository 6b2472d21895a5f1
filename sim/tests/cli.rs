//! The `heddle-sim` binary: exit codes (0 pass, 1 violation, 2 usage),
//! determinism across processes, failure files and replay.

// Not under `--features shuttle`: the binary runs heddle's RPC server,
// whose de-duplication window is on the task facade (shuttle's there, which
// runs only inside a model). These run in the default build.
#![cfg(not(feature = "shuttle"))]

use std::path::PathBuf;
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_heddle-sim"))
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("heddle-sim-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("heddle-sim runs")
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exit code")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn list_names_every_variant() {
    let o = run(&["list"]);
    assert_eq!(code(&o), 0);
    let out = stdout(&o);
    for v in [
        "echo:default",
        "echo:no-timeout",
        "echo:reuse-after-timeout",
    ] {
        assert!(out.contains(v), "{out}");
    }
}

#[test]
fn exit_codes() {
    let dir = scratch("codes");
    let out = dir.to_str().expect("utf-8 path");
    assert_eq!(code(&run(&["run", "echo", "--seed", "1"])), 0);
    assert_eq!(
        code(&run(&["run", "echo:reuse-after-timeout", "--seed", "3"])),
        1
    );
    assert_eq!(
        code(&run(&[
            "sweep",
            "echo",
            "--seeds",
            "3",
            "--recheck",
            "1",
            "--out",
            out
        ])),
        0
    );
    let failing = run(&[
        "sweep",
        "echo:reuse-after-timeout",
        "--seeds",
        "3..4",
        "--no-shrink",
        "--out",
        out,
    ]);
    assert_eq!(code(&failing), 1);
    let text = stdout(&failing);
    assert!(
        text.contains("run echo:reuse-after-timeout --seed 3"),
        "{text}"
    );
    assert!(text.contains("echo-matches"), "{text}");
    for usage in [
        vec!["run", "nope", "--seed", "1"],
        vec!["run", "echo:nope", "--seed", "1"],
        vec!["run", "echo"],
        vec![
            "run",
            "echo",
            "--seed",
            "1",
            "--faults",
            "crash(client-1)@1ms+1ms",
        ],
        vec!["sweep", "echo", "--seeds", "5..2"],
        vec!["sweep", "echo", "--shard", "3/2"],
        vec!["frobnicate"],
        vec!["replay", "/nonexistent/failure.json"],
    ] {
        assert_eq!(code(&run(&usage)), 2, "{usage:?}");
    }
}

#[test]
fn the_same_seed_gives_the_same_trace_bytes_in_separate_processes() {
    let dir = scratch("det");
    for seed in ["4", "55"] {
        let mut traces = Vec::new();
        for i in 0..2 {
            let path = dir.join(format!("s{seed}-{i}.jsonl"));
            let o = run(&[
                "run",
                "echo",
                "--seed",
                seed,
                "--trace",
                path.to_str().expect("utf-8"),
            ]);
            assert_eq!(code(&o), 0, "{}", stdout(&o));
            traces.push(std::fs::read(&path).expect("trace written"));
            for ext in ["svg", "chrome.json"] {
                assert!(path.with_extension(ext).exists(), "{ext} view written");
            }
        }
        assert!(!traces[0].is_empty());
        assert!(
            traces[0] == traces[1],
            "seed {seed}: traces differ between processes"
        );
    }
}

#[test]
fn a_failing_sweep_saves_a_failure_that_replays() {
    let dir = scratch("replay");
    let o = run(&[
        "sweep",
        "echo:reuse-after-timeout",
        "--seeds",
        "3..4",
        "--out",
        dir.to_str().expect("utf-8"),
    ]);
    assert_eq!(code(&o), 1);
    assert!(stdout(&o).contains("replay shrunk:"), "{}", stdout(&o));
    let file = dir.join("failures/echo-reuse-after-timeout-seed3.json");
    for ext in ["jsonl", "svg", "chrome.json"] {
        assert!(file.with_extension(ext).exists(), "{ext} written");
    }
    let chrome: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(file.with_extension("chrome.json")).expect("read"),
    )
    .expect("valid JSON");
    assert!(
        chrome["traceEvents"]
            .as_array()
            .is_some_and(|e| !e.is_empty())
    );
    let svg = std::fs::read_to_string(file.with_extension("svg")).expect("read");
    assert!(
        svg.starts_with("<svg") && svg.contains("#e00000"),
        "violating op in red"
    );
    let replay = run(&["replay", file.to_str().expect("utf-8")]);
    assert_eq!(code(&replay), 1);
    assert!(
        stdout(&replay).contains("reproduced: same invariant"),
        "{}",
        stdout(&replay)
    );
    assert!(
        stdout(&o).contains(&format!(
            "(replay: cargo run --release -p heddle-sim -- replay '{}')",
            file.display()
        )),
        "the saved line is a full command: {}",
        stdout(&o)
    );
    // The same failure file pointed at the correct variant does not
    // reproduce: that must not exit 0 (it did before).
    let text = std::fs::read_to_string(&file).expect("read");
    let moved = dir.join("not-reproduced.json");
    std::fs::write(
        &moved,
        text.replace("\"reuse-after-timeout\"", "\"default\""),
    )
    .expect("write");
    let replay = run(&["replay", moved.to_str().expect("utf-8")]);
    assert!(
        stdout(&replay).contains("NOT reproduced as saved"),
        "{}",
        stdout(&replay)
    );
    assert_eq!(code(&replay), 3, "not reproduced: exit 3");
}

/// The arguments of a printed `cargo run … -- ARGS` command, as a shell
/// would split them (single quotes only, which is what `heddle-sim` prints).
fn args_of(command: &str) -> Vec<String> {
    let (_, args) = command
        .split_once(" -- ")
        .expect("a `cargo run ... -- args` command");
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    for c in args.trim().chars() {
        match c {
            '\'' => quoted = !quoted,
            ' ' if !quoted => {
                if !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    assert!(!quoted, "unbalanced quote in {command}");
    if !word.is_empty() {
        out.push(word);
    }
    out
}

/// The text after `label` on the first line that starts with it.
fn line_after<'a>(text: &'a str, label: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.trim_start().strip_prefix(label))
        .unwrap_or_else(|| panic!("no `{label}` line in:\n{text}"))
        .trim()
}

/// Runs `args`, expects a violation of `invariant`, then runs the printed
/// replay command in a fresh process and expects the same result line.
/// Returns the first run's output.
fn caught_and_replayed(args: &[&str], invariant: &str) -> String {
    let o = run(args);
    let text = stdout(&o);
    assert_eq!(code(&o), 1, "{text}");
    let result = line_after(&text, "result:");
    assert!(result.contains(&format!("`{invariant}`")), "{text}");
    let replay = run_words(&args_of(line_after(&text, "replay:")));
    assert_eq!(code(&replay), 1, "{}", stdout(&replay));
    assert_eq!(line_after(&stdout(&replay), "result:"), result);
    text
}

fn run_words(args: &[String]) -> Output {
    bin().args(args).output().expect("heddle-sim runs")
}

#[test]
fn list_names_the_rpc_variants() {
    let out = stdout(&run(&["list"]));
    for v in [
        "rpc:default",
        "rpc:no-dedup",
        "rpc:no-timeout",
        "rpc:shared-seed",
        "rpc:join-wrong-id",
        "rpc:join-leak",
    ] {
        assert!(out.contains(v), "{out}");
    }
}

#[test]
fn rpc_without_dedup_is_caught_and_its_replay_commands_reproduce_it() {
    let text = caught_and_replayed(
        &["run", "rpc:no-dedup", "--seed", "1", "--shrink"],
        "at-most-once",
    );
    assert!(
        text.contains("replay:  cargo run --release -p heddle-sim -- run rpc:no-dedup --seed 1"),
        "{text}"
    );
    // The shrunk plan's command reproduces the same invariant too.
    let shrunk = args_of(line_after(&text, "replay shrunk:"));
    assert!(shrunk.iter().any(|a| a.contains("clients=")), "{shrunk:?}");
    let again = run_words(&shrunk);
    assert_eq!(code(&again), 1, "{}", stdout(&again));
    assert!(
        line_after(&stdout(&again), "result:").contains("`at-most-once`"),
        "{}",
        stdout(&again)
    );
}

#[test]
fn rpc_without_timeouts_is_caught_and_its_replay_command_reproduces_it() {
    caught_and_replayed(&["run", "rpc:no-timeout", "--seed", "1"], "call-ends");
}
