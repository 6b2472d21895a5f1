//! Every shared history (Jepsen etcd logs, Jepsen/Porcupine key-value
//! histories) gets the verdict its source asserts, with and without
//! partitioning by key, and never "unknown".
#![cfg(not(any(feature = "loom", feature = "shuttle")))]

#[path = "common/linearizability.rs"]
#[allow(dead_code)]
mod data;

use heddle::check::history::models::{Kv, Register};
use heddle::check::history::{Checker, Verdict, parse};

fn expected(linearizable: bool) -> Verdict {
    if linearizable {
        Verdict::Linearizable
    } else {
        Verdict::NotLinearizable
    }
}

#[test]
fn etcd_histories_get_their_verdicts() {
    for c in data::etcd() {
        let h = parse::etcd(&c.name, &data::read(&c)).unwrap_or_else(|e| panic!("{e}"));
        let rep = Checker::new().check(&Register::<i64>::new(), &h);
        assert_eq!(rep.verdict, expected(c.linearizable), "{}", c.name);
        if let Some(f) = rep.failure() {
            assert_eq!(
                f.unplaceable.len(),
                1,
                "{}: names the op that cannot be placed",
                c.name
            );
        }
    }
}

#[test]
fn kv_histories_get_their_verdicts_partitioned() {
    for c in data::kv() {
        let h = parse::edn_kv(&c.name, &data::read(&c)).unwrap_or_else(|e| panic!("{e}"));
        let rep = Checker::new().check(&Kv, &h);
        assert_eq!(rep.verdict, expected(c.linearizable), "{}", c.name);
        assert!(rep.partitions_total > 1, "{}: split by key", c.name);
    }
}

#[test]
fn small_kv_histories_get_their_verdicts_unpartitioned() {
    for c in data::kv().into_iter().filter(|c| c.name.starts_with("c01")) {
        let h = parse::edn_kv(&c.name, &data::read(&c)).unwrap_or_else(|e| panic!("{e}"));
        let rep = Checker::new().partitioned(false).check(&Kv, &h);
        assert_eq!(rep.verdict, expected(c.linearizable), "{}", c.name);
    }
}
