//! The echo server and framed I/O under turmoil: the same code as on real
//! sockets, on simulated hosts, with latency and a partition.
#![cfg(not(any(feature = "loom", feature = "shuttle")))]

use heddle::net::echo::{EchoConfig, serve};
use heddle::net::framed::{FrameReader, write_frame};
use heddle::net::{Addr, Network, Turmoil};
use heddle::wire::frame::FrameCodec;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

fn sim(seed: u64) -> turmoil::Sim<'static> {
    turmoil::Builder::new()
        .min_message_latency(Duration::from_millis(1))
        .max_message_latency(Duration::from_millis(20))
        .rng_seed(seed)
        .simulation_duration(Duration::from_secs(60))
        .build()
}

#[test]
fn echo_round_trips_under_turmoil() -> turmoil::Result {
    for seed in 0..8 {
        let mut sim = sim(seed);
        sim.host("server", || async {
            let listener = Turmoil.bind(&Addr::new("0.0.0.0", 7)).await?;
            let config = EchoConfig {
                idle_timeout: Duration::from_secs(5),
                max_connections: 4,
            };
            serve(listener, config, CancellationToken::new()).await?;
            Ok(())
        });
        sim.client("client", async {
            let mut s = Turmoil.connect(&Addr::new("server", 7)).await?;
            for round in 0..3u8 {
                let msg = [round; 100];
                s.write_all(&msg).await?;
                let mut back = [0u8; 100];
                s.read_exact(&mut back).await?;
                assert_eq!(back, msg);
            }
            Ok(())
        });
        sim.run()?;
    }
    Ok(())
}

/// A client that connects and stays silent: the server must close the
/// connection at its idle timeout (2 s), so the client's read ends.
fn silent_client_is_closed<F, Fut>(server: F) -> turmoil::Result
where
    F: Fn() -> Fut + 'static,
    Fut: std::future::Future<Output = turmoil::Result> + 'static,
{
    let mut sim = turmoil::Builder::new()
        .min_message_latency(Duration::from_millis(1))
        .max_message_latency(Duration::from_millis(20))
        .rng_seed(1)
        .simulation_duration(Duration::from_secs(30))
        .build();
    sim.host("server", server);
    sim.client("client", async {
        let mut s = Turmoil.connect(&Addr::new("server", 7)).await?;
        let start = tokio::time::Instant::now();
        let mut buf = [0u8; 1];
        // The server closes the silent connection: the read ends (EOF or reset).
        let n = s.read(&mut buf).await.unwrap_or(0);
        assert_eq!(n, 0);
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_secs(2),
            "closed too early: {waited:?}"
        );
        assert!(
            waited < Duration::from_secs(3),
            "closed too late: {waited:?}"
        );
        Ok(())
    });
    sim.run()
}

#[test]
fn silent_client_is_disconnected_at_the_idle_timeout() -> turmoil::Result {
    silent_client_is_closed(|| async {
        let listener = Turmoil.bind(&Addr::new("0.0.0.0", 7)).await?;
        let config = EchoConfig {
            idle_timeout: Duration::from_secs(2),
            max_connections: 1,
        };
        serve(listener, config, CancellationToken::new()).await?;
        Ok(())
    })
}

/// The guide's echo server (no idle timeout) keeps the silent client's
/// connection forever: the same check fails (the simulation runs out of time).
#[test]
fn the_guides_untimed_echo_server_is_caught() {
    let outcome = silent_client_is_closed(|| async {
        let listener = Turmoil.bind(&Addr::new("0.0.0.0", 7)).await?;
        loop {
            let (mut socket, _) = heddle::net::Listener::accept(&listener).await?;
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                while let Ok(n) = socket.read(&mut buf).await {
                    if n == 0 || socket.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    assert!(
        outcome.is_err(),
        "a server without an idle timeout passed the idle-timeout check"
    );
}

#[test]
fn frames_cross_the_simulated_network() -> turmoil::Result {
    let mut sim = sim(3);
    sim.host("server", || async {
        let listener = Turmoil.bind(&Addr::new("0.0.0.0", 9)).await?;
        let (s, _) = heddle::net::Listener::accept(&listener).await?;
        let (r, mut w) = tokio::io::split(s);
        let codec = FrameCodec::new(1 << 16);
        let mut reader = FrameReader::new(r, codec);
        while let Some(frame) = reader.next().await? {
            write_frame(&mut w, &codec, frame).await?;
        }
        Ok(())
    });
    sim.client("client", async {
        let s = Turmoil.connect(&Addr::new("server", 9)).await?;
        let (r, mut w) = tokio::io::split(s);
        let codec = FrameCodec::new(1 << 16);
        let mut reader = FrameReader::new(r, codec);
        for len in [0usize, 1, 1000, 40_000] {
            let payload = vec![7u8; len];
            write_frame(&mut w, &codec, &payload).await?;
            assert_eq!(reader.next().await?, Some(&payload[..]));
        }
        Ok(())
    });
    sim.run()
}
