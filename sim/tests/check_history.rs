//! `heddle-sim check-history`: verdicts and exit codes (0 linearizable,
//! 1 not, 2 usage or parse error with the line, 3 unknown), the view
//! written on a violation.

use std::path::PathBuf;
use std::process::{Command, Output};

fn data(rel: &str) -> String {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/data/linearizability");
    assert!(
        d.join("etcd/VERDICTS").is_file(),
        "the shared histories are missing: expected {}",
        d.display()
    );
    d.join(rel).to_string_lossy().into_owned()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "heddle-check-history-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_heddle-sim"))
        .arg("check-history")
        .args(args)
        .output()
        .expect("heddle-sim runs")
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exit code")
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn etcd_violation_prints_verdict_and_writes_the_view() {
    let dir = scratch("etcd");
    let html = dir.join("v.html");
    let o = run(&[
        "--model",
        "register",
        &data("etcd/etcd_000.log"),
        "--html",
        html.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 1, "{}{}", out(&o), err(&o));
    let s = out(&o);
    for want in [
        "NOT linearizable",
        "states explored",
        "1 partitions",
        "cannot be placed: op",
        "longest linearizable prefix",
    ] {
        assert!(s.contains(want), "missing {want:?} in {s}");
    }
    assert!(s.contains(&format!("view: {}", html.display())), "{s}");
    let page = std::fs::read_to_string(&html).expect("view written");
    assert!(page.contains("<svg") && page.contains("cannot be placed"));
}

#[test]
fn linearizable_histories_exit_zero() {
    let o = run(&["--model", "register", &data("etcd/etcd_002.log")]);
    assert_eq!(code(&o), 0, "{}{}", out(&o), err(&o));
    assert!(out(&o).contains(": linearizable"));
    let o = run(&["--model", "kv", &data("kv/c10-ok.txt")]);
    assert_eq!(code(&o), 0, "{}{}", out(&o), err(&o));
}

#[test]
fn kv_violation_with_and_without_partitions() {
    let dir = scratch("kv");
    let html = dir.join("kv.html");
    let h = html.to_str().unwrap();
    let o = run(&["--model", "kv", &data("kv/c01-bad.txt"), "--html", h]);
    assert_eq!(code(&o), 1, "{}", err(&o));
    assert!(
        out(&o).contains("smallest failing partition: \""),
        "{}",
        out(&o)
    );
    let o = run(&[
        "--model",
        "kv",
        "--no-partition",
        &data("kv/c01-bad.txt"),
        "--html",
        h,
    ]);
    assert_eq!(code(&o), 1, "{}", err(&o));
    assert!(out(&o).contains("1 partitions"), "{}", out(&o));
}

#[test]
fn budget_exhausted_exits_three() {
    let html = scratch("budget").join("v.html");
    let o = run(&[
        "--model",
        "register",
        "--steps",
        "100",
        &data("etcd/etcd_002.log"),
        "--html",
        html.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 3, "{}{}", out(&o), err(&o));
    assert!(out(&o).contains("unknown"));
    assert!(html.is_file(), "the partial view is written");
}

#[test]
fn bad_input_exits_two_with_file_and_line() {
    let dir = scratch("bad");
    let f = dir.join("bad.log");
    std::fs::write(
        &f,
        "INFO  jepsen.util - 1\t:invoke\t:write\t1\nINFO  jepsen.util - 1\t:invoke\t:read\tnil\n",
    )
    .unwrap();
    let o = run(&["--model", "register", f.to_str().unwrap()]);
    assert_eq!(code(&o), 2);
    let e = err(&o);
    assert!(
        e.contains(&format!("{}:2: client 1 invokes again", f.display())),
        "{e}"
    );
    // An EDN file as a register: a usage error.
    let o = run(&["--model", "register", &data("kv/c01-ok.txt")]);
    assert_eq!(code(&o), 2);
    assert!(
        err(&o).contains("cannot be checked as --model"),
        "{}",
        err(&o)
    );
    // A missing file, an unknown model.
    assert_eq!(
        code(&run(&[
            "--model",
            "register",
            dir.join("nope").to_str().unwrap()
        ])),
        2
    );
    assert_eq!(code(&run(&["--model", "queue", f.to_str().unwrap()])), 2);
    // JSONL with an unknown operation name.
    let j = dir.join("h.jsonl");
    std::fs::write(
        &j,
        "{\"type\":\"invoke\",\"client\":1,\"op\":{\"frob\":1}}\n",
    )
    .unwrap();
    let o = run(&["--model", "register", j.to_str().unwrap()]);
    assert_eq!(code(&o), 2);
    assert!(
        err(&o).contains("h.jsonl:1: unknown operation"),
        "{}",
        err(&o)
    );
}

#[test]
fn heddle_jsonl_is_checked() {
    let dir = scratch("jsonl");
    let j = dir.join("h.jsonl");
    let stale = "{\"type\":\"invoke\",\"client\":1,\"op\":{\"write\":1}}\n\
                 {\"type\":\"ok\",\"client\":1,\"ret\":\"written\"}\n\
                 {\"type\":\"invoke\",\"client\":2,\"op\":\"read\"}\n\
                 {\"type\":\"ok\",\"client\":2,\"ret\":{\"read\":null}}\n";
    std::fs::write(&j, stale).unwrap();
    let o = run(&[
        "--model",
        "register",
        j.to_str().unwrap(),
        "--html",
        dir.join("v.html").to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 1, "{}{}", out(&o), err(&o));
    assert!(
        out(&o).contains("cannot be placed: op 1 (client 2, invoked at 3): read() -> nil"),
        "{}",
        out(&o)
    );
    std::fs::write(&j, stale.replace("{\"read\":null}", "{\"read\":1}")).unwrap();
    assert_eq!(code(&run(&["--model", "register", j.to_str().unwrap()])), 0);
}
