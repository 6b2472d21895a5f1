//! `HEDDLE_LOG`: the engines' own schedule log, printed through heddle.
//!
//! loom and shuttle log every scheduling decision with `tracing`, but only
//! `loom::model` installs a subscriber; [`check::model`](super::model) calls
//! `loom::model::Builder::check`, so `LOOM_LOG` alone printed nothing. With
//! `HEDDLE_LOG` set to a filter (`HEDDLE_LOG=trace`, `HEDDLE_LOG=loom=trace`,
//! `HEDDLE_LOG=shuttle=trace`), `check::model` installs a `tracing` subscriber
//! for the run that writes to the test's output (captured by libtest unless
//! `--nocapture`). Under loom, `LOOM_LOG` is accepted too, as loom reads it.
//! Add `LOOM_LOCATION=1` under loom for the source line of every operation
//! (the facade's methods are `#[track_caller]`, so lines name your code).

/// The variable that turns the log on, holding a `tracing` filter.
pub const HEDDLE_LOG: &str = "HEDDLE_LOG";

/// The filter asked for, if any.
fn filter() -> Option<String> {
    let own = std::env::var(HEDDLE_LOG).ok();
    if cfg!(feature = "loom") {
        own.or_else(|| std::env::var("LOOM_LOG").ok())
    } else {
        own
    }
}

/// Whether a log was asked for.
#[cfg_attr(not(feature = "loom"), allow(dead_code))]
pub(crate) fn requested() -> bool {
    filter().is_some()
}

/// Runs `f` with the log subscriber installed, if one was asked for.
pub(crate) fn with_subscriber<R>(f: impl FnOnce() -> R) -> R {
    let Some(filter) = filter() else {
        return f();
    };
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_test_writer()
        .with_ansi(false)
        .without_time()
        .finish();
    tracing::subscriber::with_default(subscriber, f)
}
