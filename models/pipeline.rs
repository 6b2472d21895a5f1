//! Model: the typed pipeline (guide §2.5).
//!
//! Every model is a source thread, one stage with one or two workers, and
//! the caller as the sink: at most 4 threads, loom-sized. Channels have
//! capacity 1, so backpressure (a full channel blocking its sender) is part
//! of every schedule.
//!
//! Invariants:
//! - ordered output: with two workers racing on one stage, the items come
//!   out in source order, each exactly once, and the pipeline then ends and
//!   joins cleanly;
//! - errors are routed: a failing item comes out as `Failed` with its
//!   sequence number and stage name, in its place, and the other items
//!   continue;
//! - a panic in a stage comes out as `Panicked` for that item; the worker
//!   survives and the join is clean;
//! - shutdown: dropping the output after one item (with an endless source)
//!   terminates, and every thread has exited when the drop returns;
//! - backpressure: with a window of 8 (credits returned in batches of 2,
//!   shuttle only) the pipeline never stalls.
//!
//! Broken variants, caught by loom and by shuttle: a reorder buffer that
//! emits on arrival ("order violated"), a worker that stops at the first
//! error ("item lost").

use heddle::check::Model;
use heddle::parallel::pipeline::{Output, Pipeline, PipelineError};
use heddle::sync::Arc;

type Out = Output<u32, String>;
type Item = Option<Result<u32, PipelineError<String>>>;

/// Preemption bound 2 keeps loom's search to seconds; shuttle ignores it.
fn model() -> Model {
    Model::new().preemption_bound(2)
}

/// Source `0..ITEMS`, stage "double" with two workers, ordered, read with
/// `recv`.
fn ordered_model(recv: fn(&mut Out) -> Item) {
    const ITEMS: u32 = 2;
    model().check(move || {
        let mut out = Pipeline::source(0..ITEMS)
            .capacity(1)
            .stage("double", 2, |x: u32| Ok::<_, String>(x * 2))
            .ordered()
            .run()
            .expect("valid pipeline");
        let mut got = Vec::new();
        while let Some(item) = recv(&mut out) {
            got.push(item.expect("no stage fails"));
        }
        let want: Vec<u32> = (0..ITEMS).map(|x| x * 2).collect();
        let mut sorted = got.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, want, "item lost or duplicated");
        assert_eq!(got, want, "order violated");
        assert_eq!(out.join(), Ok(()), "a thread died");
    });
}

#[test]
fn ordered_output_keeps_source_order() {
    ordered_model(Output::recv);
}

type Stage = fn(Pipeline<u32, String>) -> Pipeline<u32, String>;

/// Item 1 of `0..3` fails in stage "check" (one worker).
fn check_stage(p: Pipeline<u32, String>) -> Pipeline<u32, String> {
    p.stage("check", 1, fails_on_one)
}

fn fails_on_one(x: u32) -> Result<u32, String> {
    if x == 1 {
        Err(format!("bad {x}"))
    } else {
        Ok(x)
    }
}

fn errors_model(add_stage: Stage) {
    model().check(move || {
        let out = add_stage(Pipeline::source(0..3u32).capacity(1))
            .ordered()
            .run()
            .expect("valid pipeline");
        let got: Vec<_> = out.collect();
        assert_eq!(got.len(), 3, "item lost: {got:?}");
        assert_eq!(
            got,
            [
                Ok(0),
                Err(PipelineError::Failed {
                    seq: 1,
                    stage: "check",
                    error: "bad 1".to_owned(),
                }),
                Ok(2),
            ],
            "error not routed in place"
        );
    });
}

#[test]
fn errors_are_routed_and_the_rest_continue() {
    errors_model(check_stage);
}

#[test]
fn panic_in_a_stage_is_an_error_item() {
    model().check(|| {
        let mut out = Pipeline::source(0..2u32)
            .capacity(1)
            .map("explode", 1, |x: u32| {
                assert!(x != 0, "boom on {x}");
                x
            })
            .run()
            .expect("valid pipeline");
        let first: Vec<Result<u32, PipelineError<String>>> = out.by_ref().collect();
        assert!(
            matches!(
                &first[..],
                [Err(PipelineError::Panicked { seq: 0, stage: "explode", message }), Ok(1)]
                    if message.contains("boom on 0")
            ),
            "panic not surfaced as an error item: {first:?}"
        );
        assert_eq!(out.join(), Ok(()), "the worker survives a panicking item");
    });
}

/// An endless source and two workers; the caller takes one item and drops
/// the output. The drop must return (loom and shuttle report a deadlock
/// otherwise) with every thread gone: the only other owner of `probe` is
/// the stage function, which the workers drop when they exit.
///
/// `window: None` is the default window (5 here: several items in flight,
/// so loom explores it with one preemption); `Some(1)` keeps one item in
/// flight, small enough for loom with two preemptions.
fn early_drop_model(window: Option<usize>, bound: usize) {
    Model::new().preemption_bound(bound).check(move || {
        let probe = Arc::new(());
        let held = Arc::clone(&probe);
        let pipeline = Pipeline::source(0u32..).capacity(1);
        let pipeline = match window {
            Some(w) => pipeline.window(w),
            None => pipeline,
        };
        let mut out = pipeline
            .stage("hold", 2, move |x: u32| {
                let _alive = &held;
                Ok::<_, String>(x)
            })
            .run()
            .expect("valid pipeline");
        assert_eq!(out.recv(), Some(Ok(0)), "first item in order");
        drop(out);
        assert_eq!(
            Arc::strong_count(&probe),
            1,
            "a stage thread outlived the output"
        );
    });
}

#[test]
fn early_drop_terminates_and_joins_every_thread() {
    early_drop_model(None, 1);
}

#[test]
fn early_drop_with_one_item_in_flight() {
    early_drop_model(Some(1), 2);
}

/// Shuttle-sized (6 threads, over loom's limit): two stages of two
/// workers each, a failing item in the first, a panicking one in the
/// second, in source order.
#[cfg(not(feature = "loom"))]
#[test]
fn two_stages_of_two_workers_keep_order_and_route_errors() {
    model().check(|| {
        let out = Pipeline::source(0..6u32)
            .capacity(1)
            .stage("a", 2, fails_on_one)
            .map("b", 2, |x: u32| {
                assert!(x != 4, "b broke on {x}");
                x * 10
            })
            .ordered()
            .run()
            .expect("valid pipeline");
        let got: Vec<_> = out.collect();
        assert_eq!(got.len(), 6, "item lost or duplicated: {got:?}");
        assert_eq!(
            got[..2],
            [
                Ok(0),
                Err(PipelineError::Failed {
                    seq: 1,
                    stage: "a",
                    error: "bad 1".to_owned(),
                })
            ],
            "order violated: {got:?}"
        );
        assert_eq!(got[2..4], [Ok(20), Ok(30)], "order violated: {got:?}");
        assert!(
            matches!(
                &got[4],
                Err(PipelineError::Panicked {
                    seq: 4,
                    stage: "b",
                    ..
                })
            ),
            "panic not routed: {got:?}"
        );
        assert_eq!(got[5], Ok(50), "order violated: {got:?}");
    });
}

/// Shuttle-sized: a window of 8 so the caller returns credits in batches
/// of 2 (the loom-sized models have windows under 8, batches of 1). The
/// window binds whenever the caller lags; holding credits back must never
/// stall the source while the caller waits.
#[cfg(not(feature = "loom"))]
#[test]
fn batched_credits_never_stall_the_window() {
    model().check(|| {
        let out = Pipeline::source(0..16u32)
            .capacity(1)
            .stage("double", 2, |x: u32| Ok::<_, String>(x * 2))
            .window(8)
            .ordered()
            .run()
            .expect("valid pipeline");
        let got: Vec<u32> = out.map(|r| r.expect("no stage fails")).collect();
        assert_eq!(
            got,
            (0..16).map(|x| x * 2).collect::<Vec<_>>(),
            "order violated or item lost"
        );
    });
}

#[cfg(any(feature = "loom", feature = "shuttle"))]
mod broken {
    use super::*;
    use heddle::parallel::pipeline::broken;

    #[test]
    #[should_panic(expected = "order violated")]
    fn reorder_buffer_emitting_on_arrival_is_caught() {
        ordered_model(broken::recv_on_arrival);
    }

    #[test]
    #[should_panic(expected = "item lost")]
    fn worker_stopping_at_first_error_is_caught() {
        errors_model(|p| broken::stage_stopping_at_first_error(p, "check", 1, fails_on_one));
    }
}
