//! shuttle: PCT then random schedules; a failure prints the schedule and the
//! full command that replays exactly it.

use super::Model;
use super::replay::{Invocation, shell_quote};
use shuttle::scheduler::{DfsScheduler, PctScheduler, RandomScheduler, ReplayScheduler, Scheduler};
use shuttle::{Config, FailurePersistence, Runner};
use std::collections::BTreeSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

/// Replays one schedule instead of searching.
pub const REPLAY: &str = "HEDDLE_SHUTTLE_REPLAY";
/// shuttle's message for a body that spawned nothing.
const NO_CONCURRENCY: &str = "did not exercise any concurrency";

/// Checks `f` with shuttle.
pub(super) fn run<F>(model: &Model, f: F)
where
    F: Fn() + Send + Sync + 'static,
{
    if let Ok(schedule) = std::env::var(REPLAY) {
        let scheduler = ReplayScheduler::new_from_encoded(schedule.trim().trim_matches('"'));
        super::log::with_subscriber(|| Runner::new(scheduler, Config::new()).run(f));
        return;
    }
    let n = model.iterations_for(super::DEFAULT_ITERATIONS);
    let dir = schedule_dir();
    let f = Arc::new(f);
    // One search at a time in a process, so that the schedule a failure
    // leaves in the shared directory is this search's.
    let _alone = SEARCHES.lock().unwrap_or_else(PoisonError::into_inner);
    let before = schedules(dir);
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        super::log::with_subscriber(|| {
            pct_unless_sequential(model, n, dir, &f);
            search(RandomScheduler::new(n), dir, &f);
        })
    }));
    let schedule = take_new_schedule(dir, &before);
    if let Err(payload) = outcome {
        let msg = crate::panic::message(payload.as_ref());
        panic!("{}", report(&msg, schedule.as_deref()));
    }
}

/// PCT, except that its "did not exercise any concurrency" is only believed
/// when the body really has no scheduling choice. PCT sizes its search from
/// one oldest-task-first run and rejects a body in which that run never had
/// two runnable tasks at once, which happens to small bodies with real
/// concurrency (a spawn, then a barrier or a oneshot). DFS with a budget of
/// two executions tells the cases apart: one execution means no choice.
fn pct_unless_sequential<F>(model: &Model, n: usize, dir: &Path, f: &Arc<F>)
where
    F: Fn() + Send + Sync + 'static,
{
    let pct = catch_unwind(AssertUnwindSafe(|| {
        search(PctScheduler::new(model.pct_depth, n), dir, f);
    }));
    if let Err(payload) = pct {
        let sequential = crate::panic::message(payload.as_ref()).contains(NO_CONCURRENCY)
            && search(DfsScheduler::new(Some(2), false), dir, f) < 2;
        if sequential || !crate::panic::message(payload.as_ref()).contains(NO_CONCURRENCY) {
            std::panic::resume_unwind(payload);
        }
        tracing::debug!(
            "heddle::check: PCT saw no two runnable tasks in its first run; random only"
        );
    }
}

/// Runs `f` under `scheduler`; returns the number of executions.
fn search<S, F>(scheduler: S, dir: &Path, f: &Arc<F>) -> usize
where
    S: Scheduler + 'static,
    F: Fn() + Send + Sync + 'static,
{
    let mut config = Config::new();
    config.failure_persistence = FailurePersistence::File(Some(dir.to_owned()));
    let g = Arc::clone(f);
    Runner::new(scheduler, config).run(move || g())
}

/// Serialises the searches of one process (see [`schedule_dir`]).
static SEARCHES: Mutex<()> = Mutex::new(());

/// The directory shuttle writes failing schedules into: one per process.
/// shuttle installs its panic hook, which writes the schedule, once per
/// process with the configuration of the first search, so every search
/// must name the same directory: with one per search, the schedule of a
/// failure in a later test landed in the first test's directory (or
/// nowhere, once that test had removed it), and the report of the failing
/// test had no schedule to print.
fn schedule_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("heddle-shuttle-{}", std::process::id()));
        // If this fails shuttle falls back to printing the schedule to stderr.
        let _ = std::fs::create_dir_all(&dir);
        dir
    })
}

/// The schedule files in `dir` (`scheduleNNN.txt`, numbered in order).
fn schedules(dir: &Path) -> BTreeSet<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

/// The last non-empty schedule written since `before`, removed once read.
fn take_new_schedule(dir: &Path, before: &BTreeSet<PathBuf>) -> Option<String> {
    let mut schedule = None;
    for path in schedules(dir).difference(before) {
        if let Ok(text) = std::fs::read_to_string(path)
            && !text.trim().is_empty()
        {
            schedule = Some(text);
        }
        let _ = std::fs::remove_file(path);
    }
    schedule
}

fn report(msg: &str, schedule: Option<&str>) -> String {
    if msg.contains(NO_CONCURRENCY) {
        return format!(
            "heddle::check: the model body reached no scheduling point, so shuttle had no \
             schedule to explore ({msg}); typically it spawned no thread or task through \
             heddle's facade. Spawn with heddle::sync::thread, or run async code with \
             heddle::check::model_async and heddle::sync::task (tokio itself is not explored)."
        );
    }
    let cmd = Invocation::current();
    match schedule {
        Some(s) => {
            let s = s.trim();
            format!(
                "{msg}\nheddle::check: shuttle found a failing schedule:\n  {s}\nReplay exactly \
                 that schedule with:\n  {}",
                cmd.command(&format!("{REPLAY}={}", shell_quote(s)), "shuttle")
            )
        }
        None => format!(
            "{msg}\nheddle::check: shuttle found a failing schedule (printed above as \"failing \
             schedule\"). Replay exactly that schedule with:\n  {}",
            cmd.command(&format!("{REPLAY}='<schedule>'"), "shuttle")
        ),
    }
}
