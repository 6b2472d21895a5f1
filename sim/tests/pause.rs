//! The `pause` fault has its effect: while a host is paused nothing it
//! sends leaves and nothing reaches it, so no client completes an
//! operation against a paused server; after it resumes they do again.

use heddle_sim::faults::FaultPlan;
use heddle_sim::runner::{Outcome, RunOptions, Verdict, run};
use heddle_sim::scenario::Scenario;
use heddle_sim::scenarios::echo::Echo;

const KNOBS: &str = "latency=1..10ms; repair=1; order=fixed";
/// The pause: from 1 s to 3 s.
const FROM_US: u64 = 1_000_000;
const TO_US: u64 = 3_000_000;
/// A reply already on the wire when the pause starts (at most 10 ms away)
/// still arrives: judge from a little later.
const SLACK_US: u64 = 50_000;

fn echo(spec: &str) -> Outcome {
    let plan = FaultPlan::parse(spec, &Echo.hosts()).expect("spec parses");
    run(
        &Echo,
        Echo.default_variant(),
        1,
        plan,
        RunOptions { net_trace: false },
    )
}

/// Completed operations in `[from, to)`, µs.
fn completed(o: &Outcome, from: u64, to: u64) -> usize {
    o.trace
        .events
        .iter()
        .filter(|e| e.kind == "ok" && (from..to).contains(&e.t_us))
        .count()
}

#[test]
fn nothing_completes_against_a_paused_server() {
    let paused = echo(&format!("{KNOBS}; pause(server)@1000ms+2000ms"));
    assert_eq!(paused.verdict, Verdict::Pass);
    assert_eq!(
        completed(&paused, FROM_US + SLACK_US, TO_US),
        0,
        "an operation completed while the server was paused"
    );
    assert!(
        completed(&paused, TO_US, TO_US + 1_000_000) > 0,
        "operations complete again after the resume"
    );
    // The control: without the pause, operations complete in that window.
    let control = echo(&format!("{KNOBS}; partition(server,client-1)@5000ms+1ms"));
    assert!(completed(&control, FROM_US + SLACK_US, TO_US) > 0);
}

/// The trace records the pause and the resume on the paused host.
#[test]
fn the_trace_shows_the_pause() {
    let o = echo(&format!("{KNOBS}; pause(client-1)@1000ms+2000ms"));
    let marks: Vec<(u64, &str, &str)> = o
        .trace
        .events
        .iter()
        .filter(|e| matches!(e.kind.as_str(), "pause" | "resume"))
        .map(|e| (e.t_us, e.kind.as_str(), e.host.as_str()))
        .collect();
    assert_eq!(
        marks,
        [
            (FROM_US, "pause", "client-1"),
            (TO_US, "resume", "client-1")
        ]
    );
    let svg = heddle_sim::views::svg(&o);
    assert!(svg.contains("<title>paused</title>"), "the SVG shades it");
}

/// The pause is a freeze, not a cut link (patched turmoil,
/// `vendor/turmoil/HEDDLE.md`): a host whose software wakes every 100 ms
/// does not wake at all while paused; after the resume its overdue timer
/// fires at once, and its own clock has jumped by the pause, as a process
/// waking from a GC pause sees. With the links merely held (the pause
/// before the patch) it went on waking every 100 ms throughout.
#[test]
fn a_paused_host_runs_nothing_and_wakes_with_its_clock_jumped() {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;
    // (world time, the host's own clock since it started), per wake.
    let wakes: Arc<Mutex<Vec<(Duration, Duration)>>> = Arc::default();
    let mut sim = turmoil::Builder::new()
        .simulation_duration(Duration::from_secs(10))
        .tick_duration(Duration::from_millis(1))
        .build();
    let log = Arc::clone(&wakes);
    sim.host("sleeper", move || {
        let log = Arc::clone(&log);
        async move {
            let start = tokio::time::Instant::now();
            loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
                let world = turmoil::sim_elapsed().unwrap_or_default();
                log.lock().expect("log").push((world, start.elapsed()));
            }
        }
    });
    let ms = Duration::from_millis;
    while sim.elapsed() < ms(1000) {
        sim.step().expect("steps");
    }
    sim.pause("sleeper");
    assert!(sim.is_host_paused("sleeper"));
    while sim.elapsed() < ms(3000) {
        sim.step().expect("steps");
    }
    sim.resume("sleeper");
    while sim.elapsed() < ms(3500) {
        sim.step().expect("steps");
    }
    let wakes = wakes.lock().expect("log").clone();
    let during: Vec<_> = wakes
        .iter()
        .filter(|(w, _)| *w > ms(1001) && *w < ms(3000))
        .collect();
    assert!(during.is_empty(), "woke while paused: {during:?}");
    let (world, own) = *wakes
        .iter()
        .find(|(w, _)| *w >= ms(3000))
        .expect("wakes after the resume");
    assert!(
        world <= ms(3002),
        "the overdue timer fires at once: {world:?}"
    );
    // Its clock jumped with the world's: no lag, no skew.
    assert!(
        own.abs_diff(world) <= ms(2),
        "own clock {own:?} vs world {world:?}"
    );
    assert!(wakes.len() >= 10 + 4, "it runs before and after: {wakes:?}");
}

/// A task woken while its host is paused runs, at the resume, inside the
/// simulation as its host (the clock jump yields to it). Before the fix it
/// ran outside the world: `sim_elapsed` was `None` there, and turmoil's
/// networking panicked ("cannot access a scoped thread local variable",
/// seed 313 of `lock:ttl-only`).
#[test]
fn a_task_woken_during_a_pause_runs_inside_the_simulation() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
    use std::time::Duration;
    use tokio::sync::Notify;
    let (inside, outside) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let wake = Arc::new(Notify::new());
    let mut sim = turmoil::Builder::new()
        .simulation_duration(Duration::from_secs(10))
        .tick_duration(Duration::from_millis(1))
        .build();
    let (i, o, w) = (Arc::clone(&inside), Arc::clone(&outside), Arc::clone(&wake));
    sim.host("sleeper", move || {
        let (i, o, w) = (Arc::clone(&i), Arc::clone(&o), Arc::clone(&w));
        async move {
            // A task of the host's runtime (as `tokio::spawn` makes them in
            // heddle's clients), not of its local set.
            tokio::spawn(async move {
                loop {
                    w.notified().await;
                    let seen = if turmoil::sim_elapsed().is_some() {
                        &i
                    } else {
                        &o
                    };
                    seen.fetch_add(1, Relaxed);
                }
            });
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    });
    let ms = Duration::from_millis;
    while sim.elapsed() < ms(10) {
        sim.step().expect("steps");
    }
    sim.pause("sleeper");
    while sim.elapsed() < ms(20) {
        sim.step().expect("steps");
    }
    // Woken from outside while paused (as a message or a timer might have
    // left it ready): it must not run before the resume, nor outside.
    wake.notify_one();
    sim.step().expect("steps");
    assert_eq!(
        inside.load(Relaxed) + outside.load(Relaxed),
        0,
        "ran while paused"
    );
    sim.resume("sleeper");
    while sim.elapsed() < ms(30) {
        sim.step().expect("steps");
    }
    assert_eq!(
        outside.load(Relaxed),
        0,
        "the task ran outside the simulation"
    );
    assert_eq!(
        inside.load(Relaxed),
        1,
        "the task did not run once after the resume"
    );
}
