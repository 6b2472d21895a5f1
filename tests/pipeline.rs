//! Integration tests of the typed pipeline (guide §2.5): the guide's four
//! stages end to end (ordered and unordered, many items), error routing, a
//! panicking stage, a dying worker, early drop with an endless source, the
//! credit window, and a property test against the serial computation.
//! Nothing here sleeps: every wait is on a channel or a join.
#![cfg(not(any(feature = "loom", feature = "shuttle")))]

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::SeqCst;

use heddle::parallel::pipeline::{Output, Pipeline, PipelineError, SOURCE};
use proptest::prelude::*;

/// The guide's data item.
#[derive(Debug, Clone, PartialEq, Eq)]
struct DataItem {
    id: usize,
    value: String,
}

/// The guide's stages 2–4 (transform, validate, process) behind `source`.
fn guide_pipeline(
    items: usize,
    transform_workers: usize,
    validate_workers: usize,
) -> Pipeline<String, String> {
    Pipeline::source(0..items)
        .capacity(10)
        .map("transform", transform_workers, |id| DataItem {
            id,
            value: format!("Item-{id}"),
        })
        .stage("validate", validate_workers, |item: DataItem| {
            if item.id % 10 == 0 {
                Err(format!("validation failed: {}", item.id))
            } else {
                Ok(item)
            }
        })
        .map("process", 2, |item: DataItem| {
            format!("processed: {} - {}", item.id, item.value)
        })
}

/// What the guide's serial pipeline computes, with errors in place.
fn guide_serial(items: usize) -> Vec<Result<String, PipelineError<String>>> {
    (0..items)
        .map(|id| {
            if id % 10 == 0 {
                Err(PipelineError::Failed {
                    seq: id as u64,
                    stage: "validate",
                    error: format!("validation failed: {id}"),
                })
            } else {
                Ok(format!("processed: {id} - Item-{id}"))
            }
        })
        .collect()
}

#[test]
fn guide_four_stages_ordered() {
    const N: usize = 20_000;
    let mut out = guide_pipeline(N, 3, 2).ordered().run().expect("valid");
    let got: Vec<_> = out.by_ref().collect();
    assert_eq!(got, guide_serial(N));
    assert_eq!(out.join(), Ok(()));
}

#[test]
fn guide_four_stages_unordered_is_a_permutation() {
    const N: usize = 20_000;
    let out = guide_pipeline(N, 3, 2).unordered().run().expect("valid");
    let key = |r: &Result<String, PipelineError<String>>| match r {
        Ok(s) => s.clone(),
        Err(e) => e.to_string(),
    };
    let mut got: Vec<_> = out.map(|r| key(&r)).collect();
    let mut want: Vec<_> = guide_serial(N).iter().map(key).collect();
    got.sort();
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn one_worker_everywhere_and_rendezvous_channels() {
    let out = guide_pipeline(500, 1, 1)
        .capacity(0)
        .ordered()
        .run()
        .expect("valid");
    assert_eq!(out.collect::<Vec<_>>(), guide_serial(500));
}

#[test]
fn failed_items_skip_later_stages() {
    let later_calls = Arc::new(AtomicU64::new(0));
    let calls = Arc::clone(&later_calls);
    let out = Pipeline::source(0..100u32)
        .stage("first", 2, |x| if x % 3 == 0 { Err(x) } else { Ok(x) })
        .map("second", 2, move |x| {
            calls.fetch_add(1, SeqCst);
            x * 10
        })
        .run()
        .expect("valid");
    for (seq, r) in out.enumerate() {
        let x = seq as u32;
        if x % 3 == 0 {
            assert_eq!(
                r,
                Err(PipelineError::Failed {
                    seq: seq as u64,
                    stage: "first",
                    error: x
                })
            );
        } else {
            assert_eq!(r, Ok(x * 10));
        }
    }
    assert_eq!(later_calls.load(SeqCst), 66, "failed items skip `second`");
}

#[test]
fn panic_in_a_stage_becomes_an_error_and_the_rest_continue() {
    let mut out = Pipeline::source(0..1000u32)
        .map("fragile", 2, |x| {
            assert!(x % 100 != 7, "fragile broke on {x}");
            x
        })
        .run()
        .map_err(|e: PipelineError<String>| e.to_string())
        .expect("valid");
    let mut panicked = Vec::new();
    for (seq, r) in out.by_ref().enumerate() {
        match r {
            Ok(x) => assert_eq!(x as usize, seq),
            Err(PipelineError::Panicked {
                seq: s,
                stage: "fragile",
                message,
            }) => {
                assert_eq!(s as usize, seq);
                assert!(
                    message.contains(&format!("fragile broke on {s}")),
                    "{message}"
                );
                panicked.push(s);
            }
            Err(other) => panic!("unexpected {other}"),
        }
    }
    assert_eq!(panicked, (0..10).map(|k| k * 100 + 7).collect::<Vec<u64>>());
    assert_eq!(out.join(), Ok(()), "per-item panics do not kill workers");
}

#[test]
fn panic_in_the_source_ends_the_stream_with_an_error() {
    let items = (0..10u32).inspect(|&x| assert!(x != 4, "source broke"));
    let mut out = Pipeline::source(items)
        .map("id", 2, |x| x)
        .run()
        .map_err(|e: PipelineError<String>| e.to_string())
        .expect("valid");
    let got: Vec<_> = out.by_ref().collect();
    assert_eq!(got.len(), 5);
    assert_eq!(got[..4], [Ok(0), Ok(1), Ok(2), Ok(3)]);
    assert!(matches!(
        &got[4],
        Err(PipelineError::Panicked { seq: 4, stage, .. }) if *stage == SOURCE
    ));
    assert_eq!(out.join(), Ok(()));
}

/// A panic payload whose `Drop` panics too: the second panic escapes the
/// per-item `catch_unwind` and kills the worker thread.
struct Bomb;

impl Drop for Bomb {
    fn drop(&mut self) {
        panic!("the payload exploded");
    }
}

#[test]
fn a_dying_worker_is_reported_in_place_and_by_join() {
    // Two workers: one dies on item 3, the other carries on alone.
    let mut out = Pipeline::source(0..50u32)
        .map("doomed", 2, |x| {
            if x == 3 {
                std::panic::panic_any(Bomb);
            }
            x
        })
        .ordered()
        .run()
        .map_err(|e: PipelineError<String>| e.to_string())
        .expect("valid");
    let got: Vec<_> = out.by_ref().collect();
    assert_eq!(
        got.len(),
        50,
        "no item is lost and the output does not hang"
    );
    for (seq, r) in got.iter().enumerate() {
        if seq == 3 {
            assert_eq!(
                r,
                &Err(PipelineError::WorkerDied {
                    seq: 3,
                    stage: "doomed"
                })
            );
        } else {
            assert_eq!(r, &Ok(seq as u32));
        }
    }
    assert_eq!(
        out.join(),
        Err(PipelineError::ThreadsPanicked {
            stage: "doomed",
            count: 1
        })
    );
}

#[test]
fn the_last_worker_dying_does_not_hang_the_pipeline() {
    // One worker, which dies on item 2: the source's sends then fail and
    // the output ends after reporting the item.
    let mut out = Pipeline::source(0..1_000u32)
        .map("doomed", 1, |x| {
            if x == 2 {
                std::panic::panic_any(Bomb);
            }
            x
        })
        .run()
        .map_err(|e: PipelineError<String>| e.to_string())
        .expect("valid");
    let got: Vec<_> = out.by_ref().collect();
    assert_eq!(
        got,
        [
            Ok(0),
            Ok(1),
            Err(PipelineError::WorkerDied {
                seq: 2,
                stage: "doomed"
            })
        ]
    );
    assert!(matches!(
        out.join(),
        Err(PipelineError::ThreadsPanicked {
            stage: "doomed",
            count: 1
        })
    ));
}

/// Owned by every stage function and by the source iterator: once the
/// output is dropped, only the test's handle may remain.
fn probe_pipeline(probe: &Arc<()>, ordered: bool) -> Output<u64, String> {
    let (p1, p2, p3) = (Arc::clone(probe), Arc::clone(probe), Arc::clone(probe));
    let p = Pipeline::source((0u64..).inspect(move |_| {
        let _alive = &p1;
    }))
    .capacity(4)
    .map("a", 3, move |x| {
        let _alive = &p2;
        x + 1
    })
    .map("b", 2, move |x| {
        let _alive = &p3;
        x * 2
    });
    let p = if ordered { p.ordered() } else { p.unordered() };
    p.run().expect("valid")
}

#[test]
fn early_drop_with_an_endless_source_joins_every_thread() {
    for ordered in [true, false] {
        let probe = Arc::new(());
        let mut out = probe_pipeline(&probe, ordered);
        let first: Vec<u64> = out.by_ref().take(100).map(|r| r.expect("ok")).collect();
        if ordered {
            assert_eq!(first, (0..100).map(|x| (x + 1) * 2).collect::<Vec<_>>());
        }
        drop(out);
        assert_eq!(Arc::strong_count(&probe), 1, "ordered={ordered}");
    }
}

#[test]
fn join_without_consuming_stops_an_endless_pipeline() {
    let probe = Arc::new(());
    let out = probe_pipeline(&probe, true);
    assert_eq!(out.join(), Ok(()));
    assert_eq!(Arc::strong_count(&probe), 1);
}

#[test]
fn close_then_recv_returns_none() {
    let probe = Arc::new(());
    let mut out = probe_pipeline(&probe, true);
    assert_eq!(out.recv(), Some(Ok(2)));
    out.close();
    assert_eq!(out.recv(), None);
    assert_eq!(out.join(), Ok(()));
    assert_eq!(Arc::strong_count(&probe), 1);
}

#[test]
fn the_window_bounds_what_the_source_pulls_ahead() {
    const WINDOW: u64 = 4;
    let pulled = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&pulled);
    let mut out = Pipeline::source((0u64..).inspect(move |_| {
        counter.fetch_add(1, SeqCst);
    }))
    .capacity(16)
    .map("id", 3, |x| x)
    .window(WINDOW as usize)
    .run()
    .map_err(|e: PipelineError<String>| e.to_string())
    .expect("valid");
    for yielded in 1..=200u64 {
        assert_eq!(out.recv(), Some(Ok(yielded - 1)));
        // A credit is taken before each pull and returned on each yield.
        let ahead = pulled.load(SeqCst);
        assert!(
            ahead <= yielded + WINDOW,
            "pulled {ahead} after {yielded} yields"
        );
    }
}

#[test]
fn zero_workers_is_an_error() {
    let r = Pipeline::source(0..3u8)
        .map("ok", 1, |x| x)
        .map("empty", 0, |x| x)
        .run();
    assert_eq!(
        r.err(),
        Some(PipelineError::<String>::NoWorkers { stage: "empty" })
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Random sizes, worker counts, capacities and failure pattern: the
    /// ordered output equals the serial computation.
    #[test]
    fn ordered_output_equals_the_serial_computation(
        n in 0u32..300,
        w1 in 1usize..4,
        w2 in 1usize..4,
        cap in 0usize..4,
        modulus in 1u32..12,
    ) {
        let out = Pipeline::source(0..n)
            .capacity(cap)
            .stage("check", w1, move |x| if x % modulus == 0 { Err(x) } else { Ok(x) })
            .map("square", w2, |x| u64::from(x) * u64::from(x))
            .run()
            .expect("valid");
        let got: Vec<_> = out.collect();
        let want: Vec<_> = (0..n)
            .map(|x| {
                if x % modulus == 0 {
                    Err(PipelineError::Failed { seq: u64::from(x), stage: "check", error: x })
                } else {
                    Ok(u64::from(x) * u64::from(x))
                }
            })
            .collect();
        prop_assert_eq!(got, want);
    }
}
