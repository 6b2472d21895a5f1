//! heddle's binary RPC, one behaviour per test, on turmoil's simulated
//! network (so time is simulated and every run is the same): errors are
//! typed, limits hold, shutdown is graceful, silent clients are dropped.
#![cfg(not(any(feature = "loom", feature = "shuttle")))]

use heddle::distributed::rpc::session::HEALTH_METHOD;
use heddle::distributed::rpc::{Client, ClientConfig, Router, RpcError, ServerConfig, serve};
use heddle::net::{Addr, Network, Turmoil};
use heddle::resilience::retry::{Backoff, Policy};
use heddle::wire::binary::{Health, Refusal, RemoteError};
use heddle::wire::frame::FrameCodec;
use std::sync::Arc;
use std::sync::atomic::AtomicU32;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio_util::sync::CancellationToken;

const TOKEN: &[u8] = b"t";

fn router() -> Router {
    Router::new()
        .route(
            "add",
            |(a, b): (i64, i64)| async move { Ok::<_, String>(a + b) },
        )
        .route("slow", |ms: u64| async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok::<_, String>(ms)
        })
        .route("boom", |(): ()| async move {
            if true {
                panic!("handler bug");
            }
            Ok::<(), String>(())
        })
        .route(
            "big",
            |n: usize| async move { Ok::<_, String>(vec![7u8; n]) },
        )
}

fn sim() -> turmoil::Sim<'static> {
    turmoil::Builder::new()
        .rng_seed(7)
        .simulation_duration(Duration::from_secs(120))
        .build()
}

fn server(
    sim: &mut turmoil::Sim<'static>,
    config: impl Fn() -> ServerConfig + 'static,
    stop: CancellationToken,
) {
    sim.host("server", move || {
        let (config, stop) = (config(), stop.clone());
        async move {
            let listener = Turmoil.bind(&Addr::new("0.0.0.0", 1)).await?;
            serve(listener, router(), config, stop).await?;
            Ok(())
        }
    });
}

/// A simulation with a server of default configuration that never stops.
fn sim_with_default_server() -> turmoil::Sim<'static> {
    let mut sim = sim();
    server(
        &mut sim,
        || ServerConfig::new(TOKEN.to_vec()),
        CancellationToken::new(),
    );
    sim
}

fn client(config: ClientConfig) -> Client<Turmoil> {
    Client::new(Turmoil, Addr::new("server", 1), config)
}

#[test]
fn errors_are_typed_and_not_retried() -> turmoil::Result {
    let mut sim = sim();
    server(
        &mut sim,
        || ServerConfig::new(TOKEN.to_vec()).codec(FrameCodec::new(1024)),
        CancellationToken::new(),
    );
    sim.client("c", async {
        let c = client(ClientConfig::new(TOKEN.to_vec()).codec(FrameCodec::new(1024)));
        assert_eq!(c.call::<_, i64>("add", &(2i64, 40i64)).await?, 42);
        let e = c.call::<_, i64>("nope", &()).await.unwrap_err();
        assert_eq!(e, RpcError::Remote(RemoteError::UnknownMethod("nope".into())));
        let e = c.call::<_, i64>("add", &"not two numbers").await.unwrap_err();
        assert!(matches!(e, RpcError::Remote(RemoteError::BadArguments(_))), "{e:?}");
        let e = c.call::<_, ()>("boom", &()).await.unwrap_err();
        assert!(matches!(e, RpcError::Remote(RemoteError::Panicked(_))), "{e:?}");
        // A reply too large for a frame becomes an error reply.
        let e = c.call::<_, Vec<u8>>("big", &4096usize).await.unwrap_err();
        assert!(matches!(&e, RpcError::Remote(RemoteError::Handler(m)) if m.starts_with("reply not sent")), "{e:?}");
        // Arguments too large for a frame are refused before sending.
        let e = c.call::<_, ()>("add", &vec![0u8; 4096]).await.unwrap_err();
        assert!(matches!(e, RpcError::Encode(_)), "{e:?}");
        // The result must decode as the expected type.
        let e = c.call::<_, u64>("big", &3usize).await.unwrap_err();
        assert!(matches!(e, RpcError::Decode(_)), "{e:?}");
        // The connection survived all of that.
        assert_eq!(c.call_idempotent::<_, i64>("add", &(1i64, 1i64)).await?, 2);
        c.close().await;
        assert_eq!(c.call::<_, i64>("add", &(1i64, 1i64)).await, Err(RpcError::Closed));
        Ok(())
    });
    sim.run()
}

#[test]
fn a_wrong_token_is_refused_without_retries() -> turmoil::Result {
    let mut sim = sim_with_default_server();
    sim.client("c", async {
        let c = client(ClientConfig::new(b"wrong".to_vec()));
        let e = c.call::<_, i64>("add", &(1i64, 2i64)).await.unwrap_err();
        assert_eq!(e, RpcError::Refused(Refusal::BadToken));
        Ok(())
    });
    sim.run()
}

#[test]
fn calls_are_multiplexed_and_the_limit_holds() -> turmoil::Result {
    let mut sim = sim();
    server(
        &mut sim,
        || ServerConfig::new(TOKEN.to_vec()).max_in_flight(2),
        CancellationToken::new(),
    );
    sim.client("c", async {
        let c = client(ClientConfig::new(TOKEN.to_vec()).attempt_timeout(Duration::from_secs(5)));
        let start = tokio::time::Instant::now();
        // Two slow calls run side by side on one connection.
        let (a, b) = tokio::join!(
            c.call::<_, u64>("slow", &300u64),
            c.call::<_, u64>("slow", &300u64)
        );
        assert_eq!((a?, b?), (300, 300));
        assert!(
            start.elapsed() < Duration::from_millis(600),
            "{:?}",
            start.elapsed()
        );
        // Five at once against a limit of two: the extra ones are answered
        // Overloaded and retried with backoff until they get in.
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..5 {
            let c = c.clone();
            set.spawn(async move { c.call::<_, u64>("slow", &100u64).await });
        }
        while let Some(r) = set.join_next().await {
            assert_eq!(r??, 100);
        }
        // With no retries left, the overload shows as a typed error.
        let strict = client(
            ClientConfig::new(TOKEN.to_vec())
                .retry(Policy::new(Backoff::new(Duration::ZERO, Duration::ZERO), 1))
                .seed(1),
        );
        let results = tokio::join!(
            strict.call::<_, u64>("slow", &100u64),
            strict.call::<_, u64>("slow", &100u64),
            strict.call::<_, u64>("slow", &100u64),
        );
        let overloaded = [results.0, results.1, results.2]
            .into_iter()
            .filter(|r| *r == Err(RpcError::Remote(RemoteError::Overloaded)))
            .count();
        assert_eq!(overloaded, 1);
        Ok(())
    });
    sim.run()
}

#[test]
fn shutdown_finishes_admitted_calls_then_closes() -> turmoil::Result {
    let mut sim = sim();
    let stop = CancellationToken::new();
    server(&mut sim, || ServerConfig::new(TOKEN.to_vec()), stop.clone());
    let done = Arc::new(AtomicU32::new(0));
    let d = Arc::clone(&done);
    sim.client("c", async move {
        let c = client(ClientConfig::new(TOKEN.to_vec()).attempt_timeout(Duration::from_secs(5)));
        let stopper = async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            stop.cancel();
        };
        let (slow, ()) = tokio::join!(c.call::<_, u64>("slow", &1000u64), stopper);
        assert_eq!(
            slow?, 1000,
            "the admitted call finished after shutdown began"
        );
        d.fetch_add(1, Relaxed);
        // The server is gone: a new call cannot connect.
        let c2 = client(ClientConfig::new(TOKEN.to_vec()).retry(Policy::new(
            Backoff::new(Duration::from_millis(10), Duration::from_millis(10)),
            2,
        )));
        let e = c2.call::<_, i64>("add", &(1i64, 1i64)).await.unwrap_err();
        assert!(
            matches!(e, RpcError::Unavailable { attempts: 2, .. }),
            "{e:?}"
        );
        Ok(())
    });
    sim.run()?;
    assert_eq!(done.load(Relaxed), 1);
    Ok(())
}

#[test]
fn a_silent_client_is_dropped_at_the_handshake_timeout() -> turmoil::Result {
    let mut sim = sim();
    server(
        &mut sim,
        || ServerConfig::new(TOKEN.to_vec()).handshake_timeout(Duration::from_secs(2)),
        CancellationToken::new(),
    );
    sim.client("c", async {
        let mut s = Turmoil.connect(&Addr::new("server", 1)).await?;
        let start = tokio::time::Instant::now();
        let mut buf = [0u8; 1];
        let n = s.read(&mut buf).await.unwrap_or(0);
        assert_eq!(n, 0, "the server closes the connection");
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_secs(2) && waited < Duration::from_secs(3),
            "{waited:?}"
        );
        Ok(())
    });
    sim.run()
}

#[test]
fn a_call_timeout_bounds_the_whole_call() -> turmoil::Result {
    let mut sim = sim_with_default_server();
    sim.client("c", async {
        let c = client(
            ClientConfig::new(TOKEN.to_vec())
                .attempt_timeout(Duration::from_secs(10))
                .call_timeout(Duration::from_secs(1)),
        );
        let start = tokio::time::Instant::now();
        let e = c.call::<_, u64>("slow", &5000u64).await.unwrap_err();
        assert_eq!(e, RpcError::Timeout { attempts: 1 });
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_secs(1) && waited < Duration::from_millis(1100),
            "{waited:?}"
        );
        // The abandoned call's late reply does not disturb the next one.
        assert_eq!(c.call::<_, i64>("add", &(1i64, 2i64)).await?, 3);
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(c.call::<_, i64>("add", &(2i64, 2i64)).await?, 4);
        Ok(())
    });
    sim.run()
}

/// A crash in the middle of a keyed call, with the de-duplication window
/// kept across the restart (it stands for the server's disk): the retry
/// after the restart is answered `Interrupted`, and the call's effect
/// happened once.
#[test]
fn a_call_cut_short_by_a_crash_is_interrupted_not_rerun() -> turmoil::Result {
    use heddle::distributed::rpc::dedup::DedupStore;
    let mut sim = sim();
    let effects = Arc::new(AtomicU32::new(0));
    let store = DedupStore::new(100);
    let e = Arc::clone(&effects);
    sim.host("server", move || {
        let (e, store) = (Arc::clone(&e), store.clone());
        async move {
            let router = Router::new().route("effect_then_wait", move |(): ()| {
                let e = Arc::clone(&e);
                async move {
                    e.fetch_add(1, Relaxed);
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    Ok::<_, String>(())
                }
            });
            let config = ServerConfig::new(TOKEN.to_vec()).dedup_store(store);
            let listener = Turmoil.bind(&Addr::new("0.0.0.0", 1)).await?;
            serve(listener, router, config, CancellationToken::new()).await?;
            Ok(())
        }
    });
    sim.client("c", async {
        let c = client(
            ClientConfig::new(TOKEN.to_vec())
                .attempt_timeout(Duration::from_millis(500))
                .retry(Policy::new(
                    Backoff::new(Duration::from_millis(100), Duration::from_millis(300)),
                    20,
                )),
        );
        let e = c.call::<_, ()>("effect_then_wait", &()).await.unwrap_err();
        assert_eq!(e, RpcError::Remote(RemoteError::Interrupted));
        Ok(())
    });
    let (mut crashed, mut restarted) = (false, false);
    while !sim.step()? {
        let t = sim.elapsed();
        if !crashed && t >= Duration::from_millis(800) {
            sim.crash("server");
            crashed = true;
        }
        if !restarted && t >= Duration::from_millis(1500) {
            sim.bounce("server");
            restarted = true;
        }
    }
    assert!(restarted);
    assert_eq!(effects.load(Relaxed), 1, "the effect ran once");
    Ok(())
}

/// Issue #9: two clients built with the default configuration, each making
/// a keyed call with its own arguments, each get their own result. Failed
/// before the fix: every default client was seeded with 0, so both drew the
/// same first key, and the server's window (keyed by the bare key) answered
/// the second call with the first one's stored sum without running it.
#[test]
fn two_default_clients_never_share_a_result() -> turmoil::Result {
    let mut sim = sim_with_default_server();
    sim.client("c", async {
        let a = client(ClientConfig::new(TOKEN.to_vec()));
        let b = client(ClientConfig::new(TOKEN.to_vec()));
        assert_eq!(a.call::<_, i64>("add", &(1i64, 2i64)).await?, 3);
        assert_eq!(b.call::<_, i64>("add", &(10i64, 20i64)).await?, 30);
        Ok(())
    });
    sim.run()
}

/// Two clients given one explicit seed present the same client id and the
/// same keys: the second user of a key is refused with a typed error, never
/// answered with the other call's result. Before the fix it got the first
/// call's sum (3) for its own `add(10, 20)`.
#[test]
fn a_key_reused_with_other_arguments_is_refused() -> turmoil::Result {
    let mut sim = sim_with_default_server();
    sim.client("c", async {
        let a = client(ClientConfig::new(TOKEN.to_vec()).seed(5));
        let b = client(ClientConfig::new(TOKEN.to_vec()).seed(5));
        assert_eq!(a.call::<_, i64>("add", &(1i64, 2i64)).await?, 3);
        let e = b.call::<_, i64>("add", &(10i64, 20i64)).await.unwrap_err();
        assert_eq!(e, RpcError::Remote(RemoteError::KeyReused));
        Ok(())
    });
    sim.run()
}

/// The shared token never shows in `Debug` (it did: the configs derived
/// it, printing the token's bytes).
#[test]
fn configs_redact_the_token_in_debug() {
    let token = b"hunter2-s3cret".to_vec();
    let shown = format!(
        "{:?} {:?}",
        ClientConfig::new(token.clone()),
        ServerConfig::new(token.clone())
    );
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(!shown.contains(&format!("{token:?}")), "{shown}");
    assert!(!shown.contains("104, 117, 110"), "{shown}");
    assert!(shown.contains("Secret(<redacted>)"), "{shown}");
}

/// Tokens are compared as secrets: equal bytes pass; a token that differs
/// only in its last byte, a prefix, and a longer token are all refused.
#[test]
fn tokens_are_compared_whole() -> turmoil::Result {
    let mut sim = sim();
    server(
        &mut sim,
        || ServerConfig::new(b"abcd".to_vec()),
        CancellationToken::new(),
    );
    sim.client("c", async {
        let ok = client(ClientConfig::new(b"abcd".to_vec()));
        assert_eq!(ok.call::<_, i64>("add", &(1i64, 2i64)).await?, 3);
        for wrong in [&b"abce"[..], b"abc", b"abcde", b""] {
            let c = client(ClientConfig::new(wrong.to_vec()));
            let e = c.call::<_, i64>("add", &(1i64, 2i64)).await.unwrap_err();
            assert_eq!(e, RpcError::Refused(Refusal::BadToken), "{wrong:?}");
        }
        Ok(())
    });
    sim.run()
}

/// The built-in `health` method says serving, then draining once shutdown
/// has begun (while an admitted call is still finishing). Before issue #9
/// there was no such method (`UnknownMethod`).
#[test]
fn health_says_serving_then_draining() -> turmoil::Result {
    let mut sim = sim();
    let stop = CancellationToken::new();
    server(&mut sim, || ServerConfig::new(TOKEN.to_vec()), stop.clone());
    sim.client("c", async move {
        let c = client(ClientConfig::new(TOKEN.to_vec()).attempt_timeout(Duration::from_secs(5)));
        let health = c.call_idempotent::<_, Health>(HEALTH_METHOD, &()).await?;
        assert_eq!(health, Health::Serving);
        let probe = async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            stop.cancel();
            tokio::time::sleep(Duration::from_millis(100)).await;
            c.call_idempotent::<_, Health>(HEALTH_METHOD, &()).await
        };
        let (slow, health) = tokio::join!(c.call::<_, u64>("slow", &1000u64), probe);
        assert_eq!(health?, Health::Draining);
        assert_eq!(slow?, 1000);
        Ok(())
    });
    sim.run()
}

/// The metrics of one scripted run, through a recording exporter: a call,
/// a keyed call whose first attempt times out and whose retry joins the
/// running execution, and a client with the wrong token. (Before issue #9
/// the RPC recorded no metrics.)
#[test]
fn metrics_count_a_scripted_run() -> turmoil::Result {
    use heddle::distributed::rpc::metrics as m;
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        let mut sim = sim_with_default_server();
        sim.client("c", async {
            let c = client(
                ClientConfig::new(TOKEN.to_vec())
                    .seed(1)
                    .attempt_timeout(Duration::from_millis(500)),
            );
            assert_eq!(c.call::<_, i64>("add", &(1i64, 2i64)).await?, 3);
            assert_eq!(c.call::<_, u64>("slow", &700u64).await?, 700);
            let intruder = client(ClientConfig::new(b"wrong".to_vec()));
            assert!(intruder.call::<_, i64>("add", &(1i64, 2i64)).await.is_err());
            Ok(())
        });
        sim.run()
    })?;
    let snapshot = snapshotter.snapshot().into_vec();
    let value = |name: &str, label: Option<(&str, &str)>| -> Option<f64> {
        snapshot
            .iter()
            .find(|(k, ..)| {
                let key = k.key();
                key.name() == name
                    && label
                        .is_none_or(|(l, v)| key.labels().any(|x| x.key() == l && x.value() == v))
            })
            .map(|(.., v)| match v {
                DebugValue::Counter(n) => *n as f64,
                DebugValue::Gauge(g) => g.into_inner(),
                DebugValue::Histogram(h) => h.len() as f64,
            })
    };
    type Label<'a> = Option<(&'a str, &'a str)>;
    let expected: [(&str, Label, f64); 9] = [
        (m::CLIENT_CALLS, None, 3.0),
        (m::CLIENT_RETRIES, None, 1.0),
        (m::CLIENT_TIMEOUTS, None, 1.0),
        (m::CLIENT_CALL_SECONDS, None, 3.0),
        (m::SERVER_CALLS, None, 3.0),
        (m::SERVER_DEDUP_HITS, None, 1.0),
        (m::SERVER_REFUSALS, Some((m::REASON, "bad_token")), 1.0),
        (m::SERVER_IN_FLIGHT, None, 0.0),
        (m::SERVER_CALL_SECONDS, None, 2.0),
    ];
    for (name, label, want) in expected {
        assert_eq!(value(name, label), Some(want), "{name} {label:?}");
    }
    Ok(())
}

/// The frame limit at its exact boundary, end to end: a reply whose frame
/// payload is exactly the limit arrives; one byte more is replaced by an
/// error reply. (`Reply { id: 1, Ok(bytes) }` with the postcard encoding of
/// an n-byte vector as `bytes` is n + 7 bytes for 128 ≤ n < 16382:
/// variant, id, `Ok`, two two-byte lengths, the n bytes.)
#[test]
fn a_reply_of_exactly_the_frame_limit_arrives_and_one_byte_more_does_not() -> turmoil::Result {
    const MAX: usize = 1024;
    let mut sim = sim();
    server(
        &mut sim,
        || ServerConfig::new(TOKEN.to_vec()).codec(FrameCodec::new(MAX)),
        CancellationToken::new(),
    );
    sim.client("c", async {
        let config = || ClientConfig::new(TOKEN.to_vec()).codec(FrameCodec::new(MAX));
        // Call ids start at 1 per client: a fresh client for each, so the
        // reply's id takes one byte.
        let fits = client(config()).call_idempotent::<_, Vec<u8>>("big", &(MAX - 7)).await?;
        assert_eq!(fits.len(), MAX - 7);
        let over = client(config())
            .call_idempotent::<_, Vec<u8>>("big", &(MAX - 6))
            .await
            .unwrap_err();
        assert!(
            matches!(&over, RpcError::Remote(RemoteError::Handler(m)) if m.contains("frame of 1025 bytes exceeds the limit of 1024")),
            "{over:?}"
        );
        Ok(())
    });
    sim.run()
}
