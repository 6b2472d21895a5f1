//! The lone-call fast path (issue #9, part 4) keeps every frame whole: a
//! caller alone on the connection writes its own frame, others queue theirs
//! for the connection task, and a partial write is finished by the task.
//! Eight callers on a two-worker runtime over real loopback sockets, with
//! payloads up to 128 KiB (larger than the socket buffers, so writes are
//! partial) and the calls alternating between lone and crowded moments:
//! every answer must be its own call's payload. A torn or interleaved frame
//! shows up as a decode error, a lost connection or a wrong answer.
#![cfg(not(any(feature = "loom", feature = "shuttle")))]

use heddle::distributed::rpc::{Client, ClientConfig, Router, ServerConfig, serve};
use heddle::net::{Addr, Network, Tokio};
use heddle::resilience::retry::{Backoff, Policy};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const TOKEN: &[u8] = b"lone";
const CALLERS: u64 = 8;
const CALLS: u64 = 24;

/// A payload of a length and content that depend on the caller and call.
fn payload(caller: u64, call: u64) -> Vec<u8> {
    let x = (caller * 1_000 + call).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let len = match call % 4 {
        0 => (x % 64) as usize,
        1 => (x % 4_096) as usize,
        _ => (x % (128 << 10)) as usize,
    };
    (0..len).map(|i| (i as u64 ^ x) as u8).collect()
}

#[test]
fn frames_stay_whole_when_lone_and_crowded_callers_share_a_connection() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let listener = Tokio.bind(&Addr::new("127.0.0.1", 0)).await.expect("binds");
        let port = listener.local_addr().expect("addr").port();
        let router = Router::new().route(
            "echo",
            |bytes: Vec<u8>| async move { Ok::<_, String>(bytes) },
        );
        let stop = CancellationToken::new();
        let server = tokio::spawn(serve(
            listener,
            router,
            ServerConfig::new(TOKEN.to_vec()),
            stop.clone(),
        ));
        // One attempt: a retry would hide a connection that a torn frame
        // broke.
        let once = Policy::new(
            Backoff::new(Duration::from_millis(1), Duration::from_millis(1)),
            1,
        );
        let config = ClientConfig::new(TOKEN.to_vec())
            .attempt_timeout(Duration::from_secs(30))
            .retry(once);
        let client = Client::new(Tokio, Addr::new("127.0.0.1", port), config);
        let callers: Vec<_> = (0..CALLERS)
            .map(|caller| {
                let client = client.clone();
                tokio::spawn(async move {
                    for call in 0..CALLS {
                        let sent = payload(caller, call);
                        let got: Vec<u8> = if call % 2 == 0 {
                            client.call("echo", &sent).await
                        } else {
                            client.call_idempotent("echo", &sent).await
                        }
                        .unwrap_or_else(|e| panic!("caller {caller} call {call}: {e}"));
                        assert!(
                            got == sent,
                            "caller {caller} call {call}: another call's answer"
                        );
                        if call % 8 == 0 {
                            // Let the others drain, so some calls are lone.
                            tokio::task::yield_now().await;
                        }
                    }
                })
            })
            .collect();
        for c in callers {
            c.await.expect("caller panicked");
        }
        // One caller alone at the end: the lone path on a busy history.
        let alone: Vec<u8> = client
            .call("echo", &payload(99, 3))
            .await
            .expect("lone call");
        assert_eq!(alone, payload(99, 3));
        client.close().await;
        stop.cancel();
        server.await.expect("server task").expect("server");
    });
}
