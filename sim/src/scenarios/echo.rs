//! `echo`: heddle's echo server ([`heddle::net::echo::serve`]) on one host,
//! three clients doing echo round-trips with application timeouts and
//! reconnects.
//!
//! - **Safety** (`echo-matches`): every reply a client accepts equals the
//!   request it sent; (`single-completion`) every operation completes at
//!   most once.
//! - **Liveness**: after every fault has healed, each client completes 3
//!   round-trips within 10 s of simulated time.
//!
//! Variants:
//! - `default`: the correct client: connect and read timeouts of 1 s; on a
//!   timeout or error it drops the connection and reconnects.
//! - `no-timeout`: the guide's client: no read timeout. A lost reply stalls
//!   the stream forever (turmoil's TCP, like a half-open connection, never
//!   retransmits), so the liveness phase fails.
//! - `reuse-after-timeout`: after a failed round-trip, tries once more on
//!   the same connection before reconnecting. A late reply (a held link) is
//!   then read as the reply to the next request: `echo-matches` fails.
//!
//! This file is the template for a new scenario: the [`Scenario`] impl
//! (names, hosts, liveness, `build`), the software of each host as plain
//! async functions over [`heddle::net`], and an [`Invariants`] type that
//! judges the recorded operations.

use crate::record::{OpEvent, OpRecord, Recorder};
use crate::scenario::{Ctx, Hosts, Invariants, Liveness, Scenario, Variant, Violation};
use heddle::net::echo::{EchoConfig, serve};
use heddle::net::{Addr, Network, Turmoil};
use rand::Rng;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::{sleep, timeout};
use tokio_util::sync::CancellationToken;

/// The echo scenario.
#[derive(Debug, Clone, Copy)]
pub struct Echo;

const PORT: u16 = 7;
const CLIENTS: usize = 3;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
const READ_TIMEOUT: Duration = Duration::from_secs(1);

static VARIANTS: &[Variant] = &[
    Variant {
        name: "default",
        about: "timeouts on connect and read; reconnect after any failure",
        expect_violation: false,
    },
    Variant {
        name: "no-timeout",
        about: "client without a read timeout: a lost reply hangs it (liveness)",
        expect_violation: true,
    },
    Variant {
        name: "reuse-after-timeout",
        about: "client retries on the same connection after a read timeout: a late reply answers the next request (safety)",
        expect_violation: true,
    },
];

impl Scenario for Echo {
    fn name(&self) -> &'static str {
        "echo"
    }

    fn about(&self) -> &'static str {
        "echo server, 3 reconnecting clients: every reply equals its request; clients make progress after faults heal"
    }

    fn variants(&self) -> &'static [Variant] {
        VARIANTS
    }

    fn hosts(&self) -> Hosts {
        Hosts::server_and_clients(CLIENTS)
    }

    fn liveness(&self) -> Liveness {
        Liveness {
            ops_per_client: 3,
            within: Duration::from_secs(10),
        }
    }

    fn build(&self, sim: &mut turmoil::Sim<'static>, ctx: &Ctx) -> Box<dyn Invariants> {
        sim.host("server", || async {
            let listener = Turmoil.bind(&Addr::new("0.0.0.0", PORT)).await?;
            let config = EchoConfig {
                idle_timeout: Duration::from_secs(3),
                max_connections: 16,
            };
            serve(listener, config, CancellationToken::new()).await?;
            Ok(())
        });
        for name in ctx.hosts.clients.clone() {
            let client = Client {
                rng: ctx.rng(&name),
                name: name.clone(),
                variant: ctx.variant,
                heal_at: ctx.heal_at,
                need: ctx.liveness.ops_per_client,
                rec: ctx.recorder.clone(),
            };
            sim.client(name, client.run());
        }
        Box::new(EchoInvariants::default())
    }
}

/// One client's workload.
struct Client {
    name: String,
    variant: &'static str,
    rng: rand::rngs::SmallRng,
    heal_at: Duration,
    need: usize,
    rec: Recorder,
}

/// Why one echo round trip failed (recorded by its message).
#[derive(Debug, thiserror::Error)]
enum RoundTripError {
    #[error("write: {0}")]
    Write(std::io::Error),
    #[error("write timeout")]
    WriteTimeout,
    #[error("read: {0}")]
    Read(std::io::Error),
    #[error("read timeout")]
    ReadTimeout,
}

impl Client {
    async fn run(mut self) -> turmoil::Result {
        let server = Addr::new("server", PORT);
        let mut conn = None;
        let mut ok_after_heal = 0;
        let mut failures_in_a_row = 0;
        for seq in 0u64.. {
            let healed = Duration::from_micros(self.rec.now_us()) >= self.heal_at;
            if healed && ok_after_heal >= self.need {
                break;
            }
            sleep(Duration::from_millis(self.rng.random_range(5..=50))).await;
            let mut stream = match conn.take() {
                Some(s) => s,
                None => match timeout(CONNECT_TIMEOUT, Turmoil.connect(&server)).await {
                    Ok(Ok(s)) => s,
                    Ok(Err(_)) | Err(_) => {
                        sleep(Duration::from_millis(self.rng.random_range(50..=250))).await;
                        continue;
                    }
                },
            };
            let request = self.payload(seq);
            let id = self.rec.invoke(&self.name, "echo", request.as_str());
            match self.round_trip(&mut stream, request.as_bytes()).await {
                Ok(reply) => {
                    self.rec.ok(&self.name, id, String::from_utf8_lossy(&reply));
                    if Duration::from_micros(self.rec.now_us()) >= self.heal_at {
                        ok_after_heal += 1;
                    }
                    conn = Some(stream);
                    failures_in_a_row = 0;
                }
                Err(e) => {
                    self.rec.err(&self.name, id, e.to_string());
                    failures_in_a_row += 1;
                    if self.variant == "reuse-after-timeout" && failures_in_a_row < 2 {
                        // The defect: one more try on the same stream, which
                        // may still carry the late reply to this request.
                        conn = Some(stream);
                    }
                }
            }
        }
        Ok(())
    }

    /// `client-1:7:` followed by 4..=40 seeded letters.
    fn payload(&mut self, seq: u64) -> String {
        let mut p = format!("{}:{seq}:", self.name);
        let n = self.rng.random_range(4..=40);
        p.extend((0..n).map(|_| char::from(b'a' + self.rng.random_range(0..26u8))));
        p
    }

    async fn round_trip(
        &self,
        stream: &mut turmoil::net::TcpStream,
        request: &[u8],
    ) -> Result<Vec<u8>, RoundTripError> {
        match timeout(READ_TIMEOUT, stream.write_all(request)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(RoundTripError::Write(e)),
            Err(_) => return Err(RoundTripError::WriteTimeout),
        }
        let mut reply = vec![0u8; request.len()];
        if self.variant == "no-timeout" {
            // The defect: nothing bounds this wait.
            return match stream.read_exact(&mut reply).await {
                Ok(_) => Ok(reply),
                Err(e) => Err(RoundTripError::Read(e)),
            };
        }
        match timeout(READ_TIMEOUT, stream.read_exact(&mut reply)).await {
            Ok(Ok(_)) => Ok(reply),
            Ok(Err(e)) => Err(RoundTripError::Read(e)),
            Err(_) => Err(RoundTripError::ReadTimeout),
        }
    }
}

/// The safety checks: replies equal requests, one completion per operation.
#[derive(Debug, Default)]
struct EchoInvariants {
    open: BTreeMap<u64, String>,
}

impl Invariants for EchoInvariants {
    fn check_during(&mut self, new: &[OpRecord]) -> Option<Violation> {
        for r in new {
            match &r.event {
                OpEvent::Invoke { input, .. } => {
                    self.open.insert(r.id, input.clone());
                }
                OpEvent::Ok { output } => match self.open.remove(&r.id) {
                    Some(input) if *output == input => {}
                    Some(input) => {
                        return Some(Violation::new(
                            "echo-matches",
                            format!("{} sent {input:?} and accepted {output:?}", r.client),
                            Some(r.id),
                        ));
                    }
                    None => return Some(twice(r)),
                },
                OpEvent::Err { .. } => {
                    if self.open.remove(&r.id).is_none() {
                        return Some(twice(r));
                    }
                }
            }
        }
        None
    }
}

fn twice(r: &OpRecord) -> Violation {
    Violation::new(
        "single-completion",
        format!("operation {} of {} completed twice", r.id, r.client),
        Some(r.id),
    )
}

/// Each invariant against a history that breaks it (`echo-matches` is also
/// broken by the `reuse-after-timeout` variant).
#[cfg(test)]
mod tests {
    use super::*;

    fn op(id: u64, event: OpEvent) -> OpRecord {
        OpRecord {
            t_us: id,
            id,
            client: "client-1".into(),
            event,
        }
    }

    fn check(history: &[OpRecord]) -> Option<String> {
        EchoInvariants::default()
            .check_during(history)
            .map(|v| v.invariant)
    }

    #[test]
    fn each_invariant_catches_its_violation() {
        let invoke = op(
            0,
            OpEvent::Invoke {
                name: "echo".into(),
                input: "a".into(),
            },
        );
        let reply = |s: &str| op(0, OpEvent::Ok { output: s.into() });
        assert_eq!(check(&[invoke.clone(), reply("a")]), None);
        assert_eq!(
            check(&[invoke.clone(), reply("b")]).as_deref(),
            Some("echo-matches")
        );
        assert_eq!(
            check(&[invoke, reply("a"), reply("a")]).as_deref(),
            Some("single-completion")
        );
    }
}
