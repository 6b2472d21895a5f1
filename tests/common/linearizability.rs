//! The Jepsen/Porcupine linearizability histories (`tests/data/linearizability/`,
//! a copy of the project's shared data, MIT-licensed, see its LICENSE) and
//! their verdicts; used by `tests/history_data.rs` and `benches/history.rs`.

use std::path::PathBuf;

/// The data directory. Panics with a clear message when it is missing: a
/// verdict test that silently checks nothing is worse than none.
pub fn dir() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/linearizability");
    assert!(
        d.join("etcd/VERDICTS").is_file(),
        "the histories are missing: expected {} (with etcd/VERDICTS and kv/)",
        d.display()
    );
    d
}

/// One history file and whether it is linearizable.
pub struct Case {
    pub name: String,
    pub path: PathBuf,
    pub linearizable: bool,
}

/// Every etcd log listed in `etcd/VERDICTS`.
pub fn etcd() -> Vec<Case> {
    let d = dir().join("etcd");
    let verdicts = std::fs::read_to_string(d.join("VERDICTS")).expect("read VERDICTS");
    let cases: Vec<Case> = verdicts
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut it = l.split_whitespace();
            let (name, v) = (it.next().expect("file"), it.next().expect("verdict"));
            assert!(
                matches!(v, "linearizable" | "not-linearizable"),
                "bad verdict line {l:?}"
            );
            Case {
                name: name.to_string(),
                path: d.join(name),
                linearizable: v == "linearizable",
            }
        })
        .collect();
    assert!(!cases.is_empty(), "etcd/VERDICTS lists no history");
    cases
}

/// Every kv history (`-ok` linearizable, `-bad` not).
pub fn kv() -> Vec<Case> {
    let d = dir().join("kv");
    let mut cases: Vec<Case> = std::fs::read_dir(&d)
        .expect("read kv/")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .map(|path| {
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            let linearizable = name.ends_with("-ok");
            assert!(
                linearizable || name.ends_with("-bad"),
                "kv history {name} is neither -ok nor -bad"
            );
            Case {
                name,
                path,
                linearizable,
            }
        })
        .collect();
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    assert!(!cases.is_empty(), "kv/ holds no history");
    cases
}

/// The text of a case.
pub fn read(c: &Case) -> String {
    std::fs::read_to_string(&c.path).unwrap_or_else(|e| panic!("read {}: {e}", c.path.display()))
}
