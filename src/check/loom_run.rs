//! loom, isolated in a child process.
//!
//! loom reports a deadlock (and some leaks) by panicking while threads are
//! still suspended; unwinding then drops their stacks, a destructor panics
//! again, and the process aborts (SIGABRT): every other test in the binary
//! loses its result. That is upstream loom behaviour, not something a
//! `catch_unwind` can stop. So [`run`] re-executes the current test binary
//! for just this test (`TEST --exact`) with `HEDDLE_LOOM_CHILD=1`; the
//! child runs the models in-process and prints one pass marker per model.
//! A missing marker is a failure, whether the child panicked, aborted or was
//! killed; the parent then panics with the child's panic message, the
//! interleaving that led there (the last loom iteration, re-run with loom's
//! tracing on) and the command that reproduces it.
//!
//! Falls back to running in-process when the test's name is unknown (doc
//! tests, a `main`) or with `HEDDLE_LOOM_ISOLATE=0` (e.g. under
//! cargo-nextest, which already runs each test in its own process).

use super::Model;
use super::replay::{Invocation, current_test};
use std::cell::RefCell;
use std::process::{Command, ExitStatus};

/// Set in the child process.
const CHILD: &str = "HEDDLE_LOOM_CHILD";
/// `0` turns isolation off.
const ISOLATE: &str = "HEDDLE_LOOM_ISOLATE";
/// Printed by the child after each model that passed.
const PASSED: &str = "heddle-loom-model-passed";
/// At most this many lines of the failing interleaving are shown.
const TRACE_LINES: usize = 400;
/// Printed by the child when a model panics, with loom's iteration count.
const ITERATIONS: &str = "heddle-loom-iterations";
/// A failure found after more iterations than this is not re-run with the
/// trace log (the log of every iteration would be huge): the report says how
/// to get it instead.
const MAX_TRACED_ITERATIONS: usize = 5_000;

/// In the child: loom iterations run so far.
static ITERATION: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

thread_local! {
    /// In the parent: the child's verdict for this test, once it ran.
    static VERDICT: RefCell<Option<ChildVerdict>> = const { RefCell::new(None) };
    /// Models run so far on this test thread.
    static CALLS: RefCell<usize> = const { RefCell::new(0) };
}

#[derive(Clone, Debug)]
struct ChildVerdict {
    /// Models that passed, in order.
    passed: usize,
    /// The child's exit status and stderr, read only if a model failed (a
    /// model can fail inside a `#[should_panic]` test that the child then
    /// counts as passed: the markers decide, not the exit status).
    status: ExitStatus,
    stderr: String,
}

/// Checks `f` with loom (isolated unless the test can't be named).
pub(super) fn run<F>(model: &Model, f: F)
where
    F: Fn() + Send + Sync + 'static,
{
    let index = CALLS.with(|c| {
        let mut c = c.borrow_mut();
        *c += 1;
        *c - 1
    });
    let isolate = std::env::var(ISOLATE).map_or(true, |v| v != "0");
    match current_test() {
        Some(test) if isolate && std::env::var_os(CHILD).is_none() => {
            let verdict = VERDICT.with(|v| v.borrow().clone());
            let verdict = match verdict {
                Some(v) => v,
                None => match run_child(&test) {
                    Some(v) => {
                        VERDICT.with(|slot| *slot.borrow_mut() = Some(v.clone()));
                        v
                    }
                    // The child did not find the test: run here.
                    None => return in_process(model, f, None),
                },
            };
            if index >= verdict.passed {
                let failure = describe_failure(&test, &verdict);
                panic!("{}", report(&test, &failure));
            }
        }
        _ => in_process(model, f, Some(index)),
    }
}

/// Runs loom here, with heddle's log subscriber when asked for.
fn in_process<F>(model: &Model, f: F, index: Option<usize>)
where
    F: Fn() + Send + Sync + 'static,
{
    let mut builder = loom::model::Builder::new();
    // `Builder::new` already read LOOM_MAX_PREEMPTIONS; the env var wins.
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(
            model
                .preemption_bound
                .unwrap_or(super::DEFAULT_PREEMPTION_BOUND),
        );
    }
    tracing::debug!(bound = ?builder.preemption_bound, "heddle::check: loom run");
    if std::env::var_os(CHILD).is_some() {
        count_iterations();
    }
    super::log::with_subscriber(|| {
        builder.check(move || {
            ITERATION.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            f();
        });
    });
    if let (Some(i), true) = (index, std::env::var_os(CHILD).is_some()) {
        signal(&mut std::io::stdout(), format_args!("{PASSED} {i}"));
    }
}

/// Writes one line of the child-to-parent protocol (not a log line: the
/// parent process parses it from the child's stdout or stderr, the only
/// channels a test binary has). A failed write only costs the parent its
/// marker, which it reports as a failure.
fn signal(to: &mut impl std::io::Write, line: std::fmt::Arguments<'_>) {
    let _ = writeln!(to, "{line}");
}

/// In the child: the first panic also prints how many iterations loom ran,
/// so the parent knows whether re-running with the trace log is affordable.
fn count_iterations() {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let n = ITERATION.load(std::sync::atomic::Ordering::Relaxed);
            signal(&mut std::io::stderr(), format_args!("{ITERATIONS} {n}"));
            previous(info);
        }));
    });
}

fn child_command(test: &str) -> Option<Command> {
    let exe = std::env::current_exe().ok()?;
    let mut cmd = Command::new(exe);
    cmd.args([
        test,
        "--exact",
        "--nocapture",
        "--include-ignored",
        "--test-threads=1",
    ])
    .env(CHILD, "1")
    .env("RUST_BACKTRACE", "0");
    Some(cmd)
}

/// Runs `test` in a child; `None` if the child could not run it.
fn run_child(test: &str) -> Option<ChildVerdict> {
    let out = child_command(test)?.output().ok()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if stdout.contains("running 0 tests") {
        return None;
    }
    // libtest may print `test NAME ... ` on the same line first.
    let passed = stdout.matches(PASSED).count();
    if super::log::requested() {
        // With `HEDDLE_LOG`/`LOOM_LOG` set the child's log is what the user
        // asked to see: harness output, on the channel libtest captures.
        eprint!("{stdout}");
    }
    Some(ChildVerdict {
        passed,
        status: out.status,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// The child's panic message, and the interleaving that led there.
fn describe_failure(test: &str, out: &ChildVerdict) -> String {
    let stderr = &out.stderr;
    let mut msg = first_panic(stderr).unwrap_or_else(|| {
        format!(
            "the loom child exited with {} and printed no panic:\n{stderr}",
            out.status
        )
    });
    if !out.status.success() && out.status.code().is_none() {
        msg.push_str(
            "\n(loom aborted the child process while cleaning up after this failure: \
             an upstream loom limitation; heddle's isolation kept this test binary alive)",
        );
    }
    let iterations = stderr
        .lines()
        .find_map(|l| l.strip_prefix(ITERATIONS))
        .and_then(|n| n.trim().parse::<usize>().ok())
        .unwrap_or(0);
    if iterations > MAX_TRACED_ITERATIONS {
        msg.push_str(&format!(
            "\n(found after {iterations} loom iterations: too many to re-run with the trace \
             log here; run the command below to see the interleaving)"
        ));
    } else if let Some((trace, located)) = interleaving(test) {
        if let Some(located) = located.filter(|l| l.contains("Location(Some")) {
            // The same failure with LOOM_LOCATION=1: where each thread is
            // blocked, as lines of the caller's code (`#[track_caller]`).
            msg.push_str("\nwith locations (LOOM_LOCATION=1):\n");
            msg.push_str(&located);
        }
        msg.push_str("\nthe failing interleaving (loom's last iteration, most recent last):\n");
        msg.push_str(&trace);
    }
    msg
}

/// The first panic in a child's stderr: `thread '…' panicked at FILE:LINE:`
/// and its message.
fn first_panic(stderr: &str) -> Option<String> {
    let mut lines = stderr.lines().skip_while(|l| !l.contains("panicked at"));
    let head = lines.next()?;
    let body: Vec<&str> = lines
        .take_while(|l| {
            !l.starts_with("note:") && !l.contains("panicked at") && !l.starts_with(ITERATIONS)
        })
        .collect();
    Some(format!("{head}\n{}", body.join("\n").trim_end()))
}

/// Re-runs the child with loom's trace log and keeps the last iteration.
/// Also returns that run's first panic, which carries loom's locations.
fn interleaving(test: &str) -> Option<(String, Option<String>)> {
    let mut cmd = child_command(test)?;
    cmd.env(super::log::HEDDLE_LOG, "loom=trace")
        .env("LOOM_LOCATION", "1");
    let out = cmd.output().ok()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    // loom's own bookkeeping (DPOR branches) says nothing to a reader.
    let last: Vec<&str> = last_iteration(&stdout)
        .into_iter()
        .filter(|l| !l.contains("Object::branch") && !l.contains("loom::rt: branch"))
        .collect();
    let skip = last.len().saturating_sub(TRACE_LINES);
    let located = first_panic(&String::from_utf8_lossy(&out.stderr));
    (!last.is_empty()).then(|| (last[skip..].join("\n"), located))
}

/// The log lines of the highest `iter{N}` span (loom's iteration).
fn last_iteration(log: &str) -> Vec<&str> {
    let iter_of = |l: &str| -> Option<u64> {
        let rest = l.split("iter{").nth(1)?;
        rest.split('}').next()?.parse().ok()
    };
    let last = log.lines().filter_map(iter_of).max();
    log.lines()
        .filter(|l| last.is_some() && iter_of(l) == last)
        .collect()
}

/// The panic message of a failed loom model.
fn report(test: &str, failure: &str) -> String {
    let cmd = Invocation::current().command("HEDDLE_LOG=loom=trace LOOM_LOCATION=1", "loom");
    format!(
        "{failure}\nheddle::check: loom found a failing interleaving in `{test}`. loom's search \
         is deterministic: re-running the test reproduces it; with the log:\n  {cmd}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_the_last_iteration() {
        let log = "a iter{1}: x\nb iter{2}: y\nc iter{2}: z\n";
        assert_eq!(last_iteration(log), ["b iter{2}: y", "c iter{2}: z"]);
    }

    #[test]
    fn finds_the_first_panic() {
        let err = "junk\nthread 't' panicked at src/x.rs:1:2:\ndeadlock; threads = []\nnote: bt\n\
                   thread 't' panicked at y:\nagain\n";
        assert_eq!(
            first_panic(err).as_deref(),
            Some("thread 't' panicked at src/x.rs:1:2:\ndeadlock; threads = []")
        );
    }
}
