//! Hand-made histories, including the classic ones from the literature.

use super::models::*;
use super::parse::{self, ParseErrorKind};
use super::*;

type RegH = History<RegisterOp<i64>, RegisterRet<i64>>;

fn reg() -> Register<i64> {
    Register::new()
}

fn w(h: &mut RegH, c: u64, v: i64, t0: u64, t1: u64) -> OpId {
    h.push_complete(c, RegisterOp::Write(v), t0, t1, RegisterRet::Written)
}

fn r(h: &mut RegH, c: u64, v: Option<i64>, t0: u64, t1: u64) -> OpId {
    h.push_complete(c, RegisterOp::Read, t0, t1, RegisterRet::Read(v))
}

fn cas(h: &mut RegH, c: u64, e: i64, n: i64, ok: bool, t0: u64, t1: u64) -> OpId {
    h.push_complete(
        c,
        RegisterOp::Cas { expect: e, new: n },
        t0,
        t1,
        RegisterRet::Cas(ok),
    )
}

#[test]
fn stale_read_after_completed_write_is_caught() {
    let mut h = RegH::new();
    let wr = w(&mut h, 1, 1, 0, 1);
    let rd = r(&mut h, 2, None, 2, 3);
    let rep = check(&reg(), &h);
    assert_eq!(rep.verdict, Verdict::NotLinearizable);
    let f = rep.failure().unwrap();
    assert_eq!(f.order, vec![wr], "longest prefix: the write");
    assert_eq!(f.unplaceable, vec![rd]);
}

#[test]
fn read_concurrent_with_write_may_see_either() {
    for seen in [None, Some(1)] {
        let mut h = RegH::new();
        w(&mut h, 1, 1, 0, 3);
        r(&mut h, 2, seen, 1, 2);
        assert_eq!(check(&reg(), &h).verdict, Verdict::Linearizable, "{seen:?}");
    }
}

#[test]
fn lost_cas_is_caught() {
    // Both clients swap 0 -> something, sequentially: the second must fail.
    let mut h = RegH::new();
    w(&mut h, 1, 0, 0, 1);
    cas(&mut h, 1, 0, 1, true, 2, 3);
    let lost = cas(&mut h, 2, 0, 2, true, 4, 5);
    let rep = check(&reg(), &h);
    assert_eq!(rep.verdict, Verdict::NotLinearizable);
    assert_eq!(rep.failure().unwrap().unplaceable, vec![lost]);
    // Concurrent, both succeeding is still impossible; one failing is fine.
    let mut h = RegH::new();
    w(&mut h, 1, 0, 0, 1);
    cas(&mut h, 1, 0, 1, true, 2, 5);
    cas(&mut h, 2, 0, 2, true, 3, 4);
    assert_eq!(check(&reg(), &h).verdict, Verdict::NotLinearizable);
    let mut h = RegH::new();
    w(&mut h, 1, 0, 0, 1);
    cas(&mut h, 1, 0, 1, true, 2, 5);
    cas(&mut h, 2, 0, 2, false, 3, 4);
    assert_eq!(check(&reg(), &h).verdict, Verdict::Linearizable);
}

/// Two concurrent writes; clients 3 and 4 read them in opposite orders.
fn two_writes_read(second_order_reversed: bool) -> RegH {
    let mut h = RegH::new();
    w(&mut h, 1, 1, 0, 10);
    w(&mut h, 2, 2, 0, 10);
    r(&mut h, 3, Some(1), 2, 3);
    r(&mut h, 3, Some(2), 4, 5);
    let (a, b) = if second_order_reversed {
        (2, 1)
    } else {
        (1, 2)
    };
    r(&mut h, 4, Some(a), 2, 3);
    r(&mut h, 4, Some(b), 4, 5);
    h
}

#[test]
fn concurrent_writes_read_in_both_orders_is_caught() {
    assert_eq!(
        check(&reg(), &two_writes_read(false)).verdict,
        Verdict::Linearizable
    );
    let rep = check(&reg(), &two_writes_read(true));
    assert_eq!(rep.verdict, Verdict::NotLinearizable);
    let f = rep.failure().unwrap();
    assert_eq!(f.unplaceable.len(), 1);
    assert!(f.order.len() < 6, "prefix {:?}", f.order);
}

#[test]
fn unknown_outcome_may_take_effect_late_or_never() {
    // write(1) never answered: reads may see it any time after invocation.
    let mut h = RegH::new();
    h.push_unknown(1, RegisterOp::Write(1), 0);
    r(&mut h, 2, None, 1, 2);
    r(&mut h, 2, Some(1), 3, 4);
    assert_eq!(check(&reg(), &h).verdict, Verdict::Linearizable);
    // Or never.
    let mut h = RegH::new();
    h.push_unknown(1, RegisterOp::Write(1), 0);
    r(&mut h, 2, None, 5, 6);
    let rep = check(&reg(), &h);
    assert_eq!(rep.verdict, Verdict::Linearizable);
    assert_eq!(rep.partitions[0].order.len(), 1, "the write took no effect");
    // But not before its invocation, and not undone.
    let mut h = RegH::new();
    r(&mut h, 2, Some(1), 0, 1);
    h.push_unknown(1, RegisterOp::Write(1), 2);
    assert_eq!(check(&reg(), &h).verdict, Verdict::NotLinearizable);
    let mut h = RegH::new();
    h.push_unknown(1, RegisterOp::Write(1), 0);
    r(&mut h, 2, Some(1), 1, 2);
    r(&mut h, 2, None, 3, 4);
    assert_eq!(check(&reg(), &h).verdict, Verdict::NotLinearizable);
}

#[test]
fn budget_exhausted_is_unknown_not_a_verdict() {
    let h = two_writes_read(true);
    let rep = Checker::new()
        .budget(Budget {
            steps: Some(2),
            time: None,
        })
        .check(&reg(), &h);
    assert_eq!(rep.verdict, Verdict::Unknown);
    assert!(rep.steps() <= 3);
}

fn kv_op(h: &mut History<KvOp, KvRet>, c: u64, op: KvOp, t0: u64, t1: u64, ret: KvRet) -> OpId {
    h.push_complete(c, op, t0, t1, ret)
}

fn put(k: &str, v: &str) -> KvOp {
    KvOp::Put {
        key: k.into(),
        value: v.into(),
    }
}

fn get(k: &str) -> KvOp {
    KvOp::Get { key: k.into() }
}

#[test]
fn kv_reports_the_smallest_failing_partition() {
    let mut h = History::new();
    // key "a": 3 ops, stale read; key "b": 2 ops, stale read; key "c": fine.
    kv_op(&mut h, 1, put("a", "1"), 0, 1, KvRet::Done);
    kv_op(&mut h, 1, put("a", "2"), 2, 3, KvRet::Done);
    kv_op(&mut h, 2, get("a"), 4, 5, KvRet::Value("1".into()));
    kv_op(&mut h, 3, put("b", "x"), 0, 1, KvRet::Done);
    let bad = kv_op(&mut h, 4, get("b"), 2, 3, KvRet::Value(String::new()));
    kv_op(
        &mut h,
        5,
        KvOp::Append {
            key: "c".into(),
            value: "y".into(),
        },
        0,
        1,
        KvRet::Done,
    );
    kv_op(&mut h, 5, get("c"), 2, 3, KvRet::Value("y".into()));
    let rep = check(&Kv, &h);
    assert_eq!(rep.verdict, Verdict::NotLinearizable);
    assert_eq!(rep.partitions_total, 3);
    let f = rep.failure().unwrap();
    assert_eq!(f.key, "b");
    assert_eq!(f.unplaceable, vec![bad]);
    let whole = Checker::new().partitioned(false).check(&Kv, &h);
    assert_eq!(whole.verdict, Verdict::NotLinearizable);
    assert_eq!(whole.partitions_total, 1);
}

#[test]
fn kv_delete_reads_empty() {
    let mut h = History::new();
    kv_op(&mut h, 1, put("a", "1"), 0, 1, KvRet::Done);
    kv_op(
        &mut h,
        1,
        KvOp::Delete { key: "a".into() },
        2,
        3,
        KvRet::Done,
    );
    kv_op(&mut h, 2, get("a"), 4, 5, KvRet::Value(String::new()));
    assert_eq!(check(&Kv, &h).verdict, Verdict::Linearizable);
}

#[test]
fn lock_tokens_must_increase_and_exclude() {
    let acq = |o| LockOp::Acquire { owner: o };
    let mut h = History::new();
    h.push_complete(1, acq(1), 0, 1, LockRet::Granted(1));
    h.push_complete(
        1,
        LockOp::Release { owner: 1, token: 1 },
        2,
        3,
        LockRet::Released,
    );
    h.push_complete(2, acq(2), 4, 5, LockRet::Granted(2));
    assert_eq!(check(&Lock::new(), &h).verdict, Verdict::Linearizable);
    // Two holders at once: a plain lock forbids it, a lease allows it with a
    // greater token, and then the stale holder's release must fail.
    let mut h = History::new();
    h.push_complete(1, acq(1), 0, 1, LockRet::Granted(1));
    h.push_complete(2, acq(2), 2, 3, LockRet::Granted(2));
    assert_eq!(check(&Lock::new(), &h).verdict, Verdict::NotLinearizable);
    assert_eq!(check(&Lock::lease(), &h).verdict, Verdict::Linearizable);
    h.push_complete(
        1,
        LockOp::Release { owner: 1, token: 1 },
        4,
        5,
        LockRet::Released,
    );
    assert_eq!(check(&Lock::lease(), &h).verdict, Verdict::NotLinearizable);
    // A lease may expire before its release, with nobody taking over: the
    // release fails and the lock is free; a plain lock forbids that.
    let mut h = History::new();
    h.push_complete(1, acq(1), 0, 1, LockRet::Granted(1));
    let release = LockOp::Release { owner: 1, token: 1 };
    h.push_complete(1, release, 2, 3, LockRet::NotHeld);
    h.push_complete(2, acq(2), 4, 5, LockRet::Granted(2));
    assert_eq!(check(&Lock::lease(), &h).verdict, Verdict::Linearizable);
    assert_eq!(check(&Lock::new(), &h).verdict, Verdict::NotLinearizable);
    // A reused token is caught even by a lease.
    let mut h = History::new();
    h.push_complete(1, acq(1), 0, 1, LockRet::Granted(1));
    h.push_complete(2, acq(2), 2, 3, LockRet::Granted(1));
    assert_eq!(check(&Lock::lease(), &h).verdict, Verdict::NotLinearizable);
}

#[test]
fn queue_is_fifo() {
    let mut h = History::new();
    h.push_complete(1, QueueOp::Enqueue(1), 0, 1, QueueRet::Enqueued);
    h.push_complete(1, QueueOp::Enqueue(2), 2, 3, QueueRet::Enqueued);
    h.push_complete(2, QueueOp::Dequeue, 4, 5, QueueRet::Dequeued(Some(2)));
    assert_eq!(check(&Queue::new(), &h).verdict, Verdict::NotLinearizable);
    let mut h = History::new();
    h.push_complete(1, QueueOp::Enqueue(1), 0, 3, QueueRet::Enqueued);
    h.push_complete(2, QueueOp::Enqueue(2), 0, 3, QueueRet::Enqueued);
    h.push_complete(3, QueueOp::Dequeue, 4, 5, QueueRet::Dequeued(Some(2)));
    h.push_complete(3, QueueOp::Dequeue, 6, 7, QueueRet::Dequeued(Some(1)));
    h.push_complete(3, QueueOp::Dequeue, 8, 9, QueueRet::Dequeued(None));
    assert_eq!(check(&Queue::new(), &h).verdict, Verdict::Linearizable);
}

#[test]
fn set_membership() {
    let mut h = History::new();
    h.push_complete(1, SetOp::Add(5u32), 0, 1, SetRet::WasPresent(false));
    h.push_complete(2, SetOp::Contains(5), 2, 3, SetRet::WasPresent(true));
    h.push_complete(2, SetOp::Contains(6), 2, 3, SetRet::WasPresent(false));
    assert_eq!(check(&Set::new(), &h).verdict, Verdict::Linearizable);
    h.push_complete(1, SetOp::Add(5), 4, 5, SetRet::WasPresent(false));
    let rep = check(&Set::new(), &h);
    assert_eq!(rep.verdict, Verdict::NotLinearizable);
    assert_eq!(rep.failure().unwrap().key, 5);
    assert_eq!(
        Checker::new()
            .partitioned(false)
            .check(&Set::new(), &h)
            .verdict,
        Verdict::NotLinearizable
    );
}

#[test]
fn recorder_from_threads_orders_by_real_time() {
    let rec: Recorder<RegisterOp<i64>, RegisterRet<i64>> = Recorder::new();
    let handles: Vec<_> = (0..4)
        .map(|c| {
            let rec = rec.clone();
            std::thread::spawn(move || {
                let h = rec.invoke(c, RegisterOp::Write(c as i64));
                rec.complete(h, RegisterRet::Written);
                rec.invoke(c, RegisterOp::Read) // never completed: unknown
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let h = rec.history();
    assert_eq!(h.len(), 8);
    assert_eq!(h.ops.iter().filter(|o| o.completed.is_none()).count(), 4);
    assert!(
        h.ops
            .iter()
            .all(|o| o.completed.as_ref().is_none_or(|c| c.at > o.invoked))
    );
    assert_eq!(check(&reg(), &h).verdict, Verdict::Linearizable);
}

#[test]
fn jsonl_round_trips() {
    let mut h = two_writes_read(true);
    h.push_unknown(1, RegisterOp::Cas { expect: 1, new: 3 }, 11);
    w(&mut h, 1, 4, 12, 13);
    let text = parse::to_jsonl(&h).unwrap();
    let back: RegH = parse::jsonl("h.jsonl", &text).unwrap();
    assert_eq!(check(&reg(), &back).verdict, Verdict::NotLinearizable);
    assert_eq!(back.len(), h.len());
    let json = serde_json::to_string(&h).unwrap();
    assert_eq!(serde_json::from_str::<RegH>(&json).unwrap(), h);
}

fn etcd_err(text: &str) -> parse::ParseError {
    parse::etcd("e.log", text).unwrap_err()
}

#[test]
fn etcd_parse_errors_name_file_line_and_kind() {
    let inv = "INFO  jepsen.util - 1\t:invoke\t:write\t4\n";
    let e = etcd_err(&format!("chatter\n{inv}{inv}"));
    assert_eq!((e.file.as_str(), e.line), ("e.log", 3));
    assert_eq!(
        e.kind,
        ParseErrorKind::TwoOpen {
            client: 1,
            open_line: 2
        }
    );
    let e = etcd_err("INFO  jepsen.util - 1\t:ok\t:write\t4\n");
    assert_eq!(
        e.kind,
        ParseErrorKind::CompletionWithoutInvocation { client: 1 }
    );
    let e = etcd_err("INFO  jepsen.util - 1\t:invoke\t:frob\t4\n");
    assert_eq!(e.kind, ParseErrorKind::UnknownOp(":frob".into()));
    let e = etcd_err("INFO  jepsen.util - 1\t:invoke\t:cas\t[1 x]\n");
    assert!(matches!(e.kind, ParseErrorKind::Malformed(_)), "{e}");
    let e = etcd_err(&format!("{inv}INFO  jepsen.util - 1\t:ok\t:read\t4\n"));
    assert!(matches!(e.kind, ParseErrorKind::Mismatch { .. }), "{e}");
    assert_eq!(
        e.to_string(),
        "e.log:2: completion `:read` does not match the open operation `:write`"
    );
}

#[test]
fn etcd_fail_and_info_semantics() {
    let log = "INFO  jepsen.util - 1\t:invoke\t:read\tnil\n\
               INFO  jepsen.util - 1\t:fail\t:read\t:timed-out\n\
               INFO  jepsen.util - 2\t:invoke\t:cas\t[1 2]\n\
               INFO  jepsen.util - 2\t:fail\t:cas\t[1 2]\n\
               INFO  jepsen.util - 3\t:invoke\t:write\t3\n\
               INFO  jepsen.util - 3\t:info\t:write\t:timed-out\n";
    let h = parse::etcd("e.log", log).unwrap();
    assert_eq!(h.len(), 2, "the failed read is dropped");
    assert_eq!(h.ops[0].ret(), Some(&RegisterRet::Cas(false)));
    assert_eq!(h.ops[1].completed, None);
}

#[test]
fn edn_parse_errors() {
    let e =
        parse::edn_kv("k.edn", "{:process 1, :type :invoke, :f :get, :key \"1\"\n").unwrap_err();
    assert_eq!(e.line, 1);
    assert!(matches!(e.kind, ParseErrorKind::Malformed(_)));
    let e = parse::edn_kv(
        "k.edn",
        "{:process 1, :type :invoke, :f :cas, :key \"1\", :value nil}",
    )
    .unwrap_err();
    assert_eq!(e.kind, ParseErrorKind::UnknownOp("cas".into()));
    let e = parse::edn_kv(
        "k.edn",
        "\n{:process 1, :type :ok, :f :get, :key \"1\", :value nil}",
    )
    .unwrap_err();
    assert_eq!(
        (e.line, e.kind),
        (2, ParseErrorKind::CompletionWithoutInvocation { client: 1 })
    );
    let e = parse::edn_kv(
        "k.edn",
        "{:process 1, :type :invoke, :f :get, :key \"1\", :value \"abc}",
    )
    .unwrap_err();
    assert!(matches!(e.kind, ParseErrorKind::Malformed(_)));
}

#[test]
fn jsonl_parse_errors() {
    let p = |t: &str| parse::jsonl::<RegisterOp<i64>, RegisterRet<i64>>("h.jsonl", t).unwrap_err();
    let e = p("{\"type\":\"invoke\",\"client\":1,\"op\":{\"frob\":1}}");
    assert!(matches!(e.kind, ParseErrorKind::UnknownOp(_)), "{e}");
    let e = p("{\"type\":\"ok\",\"client\":1,\"ret\":\"written\"}");
    assert_eq!(
        e.kind,
        ParseErrorKind::CompletionWithoutInvocation { client: 1 }
    );
    let e = p("not json");
    assert!(matches!(e.kind, ParseErrorKind::Malformed(_)));
    let e = p(
        "{\"type\":\"invoke\",\"client\":1,\"op\":\"read\",\"time\":5}\n{\"type\":\"ok\",\"client\":1,\"ret\":{\"read\":null},\"time\":4}",
    );
    assert_eq!(
        (e.line, e.kind),
        (
            2,
            ParseErrorKind::TimeBackwards {
                time: 4,
                invoked: 5
            }
        )
    );
}

/// Brute force: some permutation of the operations that respects real time
/// (unknown outcomes may be left out) explains every result.
fn brute_force<M: Model>(m: &M, h: &History<M::Op, M::Ret>) -> bool {
    fn go<M: Model>(m: &M, h: &History<M::Op, M::Ret>, done: &mut Vec<bool>, s: M::State) -> bool {
        let open: Vec<usize> = (0..h.len()).filter(|&i| !done[i]).collect();
        if open.iter().all(|&i| h.ops[i].completed.is_none()) {
            return true;
        }
        let first_return = open
            .iter()
            .filter_map(|&i| h.ops[i].completed.as_ref().map(|c| c.at))
            .min()
            .unwrap_or(u64::MAX);
        for &i in &open {
            if h.ops[i].invoked > first_return {
                continue;
            }
            if let Some(n) = m.step(&s, &h.ops[i].op, h.ops[i].ret()) {
                done[i] = true;
                let ok = go(m, h, done, n);
                done[i] = false;
                if ok {
                    return true;
                }
            }
        }
        false
    }
    go(m, h, &mut vec![false; h.len()], m.init())
}

/// The register without [`Model::read_only`]: the plain search.
struct PlainRegister;

impl Model for PlainRegister {
    type Op = RegisterOp<i64>;
    type Ret = RegisterRet<i64>;
    type State = Option<i64>;
    type Key = ();
    fn init(&self) -> Option<i64> {
        None
    }
    fn step(&self, s: &Option<i64>, op: &Self::Op, ret: Option<&Self::Ret>) -> Option<Option<i64>> {
        reg().step(s, op, ret)
    }
}

mod props {
    use super::*;
    use proptest::prelude::*;

    /// Up to 7 register operations by 3 clients on values 0..3, each with a
    /// random interval, result and maybe an unknown outcome.
    fn history() -> impl Strategy<Value = RegH> {
        let op = (
            0..3u64,
            0..3i64,
            0..3i64,
            0..3u8,
            0..20u64,
            1..8u64,
            0..4u8,
            any::<bool>(),
        );
        proptest::collection::vec(op, 0..7).prop_map(|ops| {
            let mut h = RegH::new();
            let mut free_at = [0u64; 3];
            for (c, a, b, kind, start, len, res, unknown) in ops {
                let t0 = start.max(free_at[c as usize]);
                let t1 = t0 + len;
                free_at[c as usize] = t1 + 1;
                let (op, ret) = match kind {
                    0 => (
                        RegisterOp::Read,
                        RegisterRet::Read((res < 3).then_some(res as i64)),
                    ),
                    1 => (RegisterOp::Write(a), RegisterRet::Written),
                    _ => (
                        RegisterOp::Cas { expect: a, new: b },
                        RegisterRet::Cas(res % 2 == 0),
                    ),
                };
                if unknown && kind != 0 {
                    free_at[c as usize] = u64::MAX / 2;
                    h.push_unknown(c, op, t0);
                } else {
                    h.push_complete(c, op, t0, t1, ret);
                }
            }
            h
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn checker_agrees_with_brute_force(h in history()) {
            let expected = brute_force(&reg(), &h);
            let fast = check(&reg(), &h);
            let plain = check(&PlainRegister, &h);
            prop_assert_eq!(fast.verdict == Verdict::Linearizable, expected);
            prop_assert_eq!(plain.verdict, fast.verdict);
        }
    }
}

mod parser_props {
    use super::*;
    use proptest::prelude::*;

    /// Lines made of valid fragments, shuffled and cut: the parsers answer
    /// `Ok` or a typed error, never a panic.
    fn mangled(fragments: &'static [&'static str]) -> impl Strategy<Value = String> {
        let line = (0..fragments.len(), 0..60usize, any::<bool>(), "\\PC{0,8}").prop_map(
            move |(i, cut, do_cut, junk)| {
                let f = fragments[i];
                let mut l = if do_cut {
                    f.chars().take(cut).collect()
                } else {
                    f.to_string()
                };
                if cut % 7 == 0 {
                    l.push_str(&junk);
                }
                l
            },
        );
        proptest::collection::vec(line, 0..12).prop_map(|v| v.join("\n"))
    }

    const ETCD: &[&str] = &[
        "INFO  jepsen.util - 1\t:invoke\t:write\t4",
        "INFO  jepsen.util - 1\t:ok\t:write\t4",
        "INFO  jepsen.util - 2\t:invoke\t:cas\t[1 4]",
        "INFO  jepsen.util - 2\t:fail\t:cas\t[1 4]",
        "INFO  jepsen.util - 2\t:info\t:cas\t:timed-out",
        "INFO  jepsen.util - 3\t:invoke\t:read\tnil",
        "INFO  jepsen.util - 3\t:ok\t:read\t99999999999999999999",
        "INFO  jepsen.util - :nemesis :info :start",
    ];
    const EDN: &[&str] = &[
        "{:process 1, :type :invoke, :f :put, :key \"1\", :value \"a\\\"b\"}",
        "{:process 1, :type :ok, :f :put, :key \"1\", :value \"a\"}",
        "{:process 2, :type :invoke, :f :get, :key 7, :value nil}",
        "{:process 2, :type :ok, :f :get, :key 7, :value \"\"}",
        "{:process -1, :type :info, :f :append, :key \"1\", :value \"x\"}",
    ];
    const JSONL: &[&str] = &[
        "{\"type\":\"invoke\",\"client\":1,\"op\":{\"write\":3}}",
        "{\"type\":\"ok\",\"client\":1,\"ret\":\"written\",\"time\":0}",
        "{\"type\":\"info\",\"client\":1}",
        "{\"type\":\"fail\",\"client\":2}",
        "{\"type\":\"invoke\",\"client\":2,\"op\":{\"cas\":{\"expect\":1,\"new\":2}},\"time\":18446744073709551615}",
    ];

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1000, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn parsers_never_panic(e in mangled(ETCD), k in mangled(EDN), j in mangled(JSONL)) {
            if let Ok(h) = parse::etcd("f", &e) {
                let _ = check(&reg(), &h);
            }
            if let Ok(h) = parse::edn_kv("f", &k) {
                let _ = check(&Kv, &h);
            }
            if let Ok(h) = parse::jsonl::<RegisterOp<i64>, RegisterRet<i64>>("f", &j) {
                let _ = check(&reg(), &h);
            }
        }
    }
}
