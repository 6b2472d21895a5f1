//! The JSON-RPC-over-HTTP server on a real socket, driven by a client that
//! is not ours: Python's standard library (`urllib`), through the examples
//! of the JSON-RPC 2.0 specification (section 7) and the HTTP error cases.
#![cfg(not(any(feature = "loom", feature = "shuttle")))]

use heddle::distributed::jsonrpc_http::{HttpConfig, guide_methods, serve};
use heddle::net::{Addr, Network, Tokio};
use heddle::wire::jsonrpc::{ErrorObject, Params};
use serde_json::{Value, json};
use std::process::Command;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// The spec's methods: subtract (by position or name), sum, update,
/// notify_hello, get_data; and the guide's add/echo.
fn spec_methods(method: &str, params: Option<Params>) -> Result<Value, ErrorObject> {
    let int = |v: Option<&Value>| v.and_then(Value::as_i64);
    match (method, params) {
        ("subtract", Some(Params::Array(p))) => match (int(p.first()), int(p.get(1))) {
            (Some(a), Some(b)) => Ok(json!(a - b)),
            _ => Err(ErrorObject::invalid_params("two integers")),
        },
        ("subtract", Some(Params::Object(o))) => {
            match (int(o.get("minuend")), int(o.get("subtrahend"))) {
                (Some(a), Some(b)) => Ok(json!(a - b)),
                _ => Err(ErrorObject::invalid_params("minuend and subtrahend")),
            }
        }
        ("sum", Some(Params::Array(p))) => {
            Ok(json!(p.iter().filter_map(Value::as_i64).sum::<i64>()))
        }
        ("update" | "notify_hello" | "notify_sum", _) => Ok(Value::Null),
        ("get_data", _) => Ok(json!(["hello", 5])),
        (m, p) => guide_methods(m, p),
    }
}

const CLIENT: &str = r#"
import json, sys, urllib.request, urllib.error
url = sys.argv[1]
out = []
for body in json.load(sys.stdin):
    req = urllib.request.Request(url, data=body.encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            text = r.read().decode()
            out.append([r.status, json.loads(text) if text else None])
    except urllib.error.HTTPError as e:
        out.append([e.code, None])
get = urllib.request.Request(url, method="GET")
try:
    urllib.request.urlopen(get, timeout=10)
    out.append([200, None])
except urllib.error.HTTPError as e:
    out.append([e.code, None])
print(json.dumps(out))
"#;

#[test]
fn python_client_through_the_spec_examples() {
    spec_examples(Arc::new(spec_methods));
}

/// The same check catches a server that answers bad parameters the way
/// the guide's `add` does when it unwraps them (an internal error, -32603,
/// instead of -32602).
#[test]
#[should_panic(expected = "invalid params must be -32602")]
fn the_check_catches_a_wrong_error_code() {
    spec_examples(Arc::new(|method: &str, params: Option<Params>| {
        match (method, &params) {
            ("add", Some(Params::Array(p))) if !p.iter().all(Value::is_i64) => {
                Err(ErrorObject::new(
                    heddle::wire::jsonrpc::INTERNAL_ERROR,
                    "called unwrap on None",
                ))
            }
            _ => spec_methods(method, params),
        }
    }));
}

/// Serves `handler` on a real socket and drives it with Python's urllib
/// through the spec's examples, asserting every answer.
fn spec_examples(handler: Arc<heddle::distributed::jsonrpc_http::Handler>) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let stop = CancellationToken::new();
    let (listener, port) = rt.block_on(async {
        let l = Tokio.bind(&Addr::new("127.0.0.1", 0)).await.expect("bind");
        let port = l.local_addr().expect("addr").port();
        (l, port)
    });
    let config = HttpConfig {
        max_body: 4096,
        ..HttpConfig::default()
    };
    let server = rt.spawn(serve(listener, handler, config, stop.clone()));

    let bodies = vec![
        r#"{"jsonrpc": "2.0", "method": "subtract", "params": [42, 23], "id": 1}"#.to_owned(),
        r#"{"jsonrpc": "2.0", "method": "subtract", "params": {"subtrahend": 23, "minuend": 42}, "id": 3}"#.to_owned(),
        r#"{"jsonrpc": "2.0", "method": "update", "params": [1,2,3,4,5]}"#.to_owned(),
        r#"{"jsonrpc": "2.0", "method": "foobar", "id": "1"}"#.to_owned(),
        r#"{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]"#.to_owned(),
        r#"{"jsonrpc": "2.0", "method": 1, "params": "bar"}"#.to_owned(),
        r#"[{"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},{"jsonrpc": "2.0", "method""#.to_owned(),
        "[]".to_owned(),
        "[1]".to_owned(),
        "[1,2,3]".to_owned(),
        r#"[
            {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},
            {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]},
            {"jsonrpc": "2.0", "method": "subtract", "params": [42,23], "id": "2"},
            {"foo": "boo"},
            {"jsonrpc": "2.0", "method": "foo.get", "params": {"name": "myself"}, "id": "5"},
            {"jsonrpc": "2.0", "method": "get_data", "id": "9"}
        ]"#.to_owned(),
        r#"[{"jsonrpc": "2.0", "method": "notify_sum", "params": [1,2,4]},{"jsonrpc": "2.0", "method": "notify_hello", "params": [7]}]"#.to_owned(),
        r#"{"jsonrpc": "2.0", "method": "add", "params": [2, 3], "id": 7}"#.to_owned(),
        r#"{"jsonrpc": "2.0", "method": "add", "params": ["x"], "id": 8}"#.to_owned(),
        r#"{"jsonrpc": "2.0", "method": "echo", "params": ["Hello", "World"], "id": 9}"#.to_owned(),
        format!(r#"{{"jsonrpc": "2.0", "method": "echo", "params": ["{}"], "id": 10}}"#, "x".repeat(5000)),
    ];
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(CLIENT)
        .arg(format!("http://127.0.0.1:{port}/"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 is needed for this test");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(serde_json::to_string(&bodies).expect("json").as_bytes())
            .expect("write to python");
    }
    let out = child.wait_with_output().expect("python ran");
    assert!(out.status.success(), "python client failed");
    let got: Vec<(u16, Value)> = serde_json::from_slice(&out.stdout).expect("python printed JSON");

    let err = |code: i64, id: Value| (200u16, code, id);
    let as_err = |(status, v): &(u16, Value)| {
        (
            *status,
            v["error"]["code"].as_i64().unwrap_or(0),
            v["id"].clone(),
        )
    };
    assert_eq!(
        got[0],
        (200, json!({"jsonrpc": "2.0", "result": 19, "id": 1}))
    );
    assert_eq!(
        got[1],
        (200, json!({"jsonrpc": "2.0", "result": 19, "id": 3}))
    );
    assert_eq!(got[2], (204, Value::Null), "a notification gets no body");
    assert_eq!(as_err(&got[3]), err(-32601, json!("1")));
    assert_eq!(as_err(&got[4]), err(-32700, Value::Null));
    assert_eq!(as_err(&got[5]), err(-32600, Value::Null));
    assert_eq!(as_err(&got[6]), err(-32700, Value::Null));
    assert_eq!(as_err(&got[7]), err(-32600, Value::Null));
    assert_eq!(got[8].1.as_array().map(Vec::len), Some(1));
    assert_eq!(got[9].1.as_array().map(Vec::len), Some(3));
    let batch = got[10].1.as_array().expect("a batch answer");
    assert_eq!(batch.len(), 5);
    assert_eq!(batch[0], json!({"jsonrpc": "2.0", "result": 7, "id": "1"}));
    assert_eq!(batch[1], json!({"jsonrpc": "2.0", "result": 19, "id": "2"}));
    assert_eq!(batch[2]["error"]["code"], json!(-32600));
    assert_eq!(batch[3]["error"]["code"], json!(-32601));
    assert_eq!(
        batch[4],
        json!({"jsonrpc": "2.0", "result": ["hello", 5], "id": "9"})
    );
    assert_eq!(
        got[11],
        (204, Value::Null),
        "an all-notification batch gets no body"
    );
    assert_eq!(
        got[12],
        (200, json!({"jsonrpc": "2.0", "result": 5, "id": 7}))
    );
    assert_eq!(
        as_err(&got[13]),
        err(-32602, json!(8)),
        "invalid params must be -32602"
    );
    assert_eq!(
        got[14],
        (
            200,
            json!({"jsonrpc": "2.0", "result": ["Hello", "World"], "id": 9})
        )
    );
    assert_eq!(got[15].0, 413, "a body over the limit is refused");
    assert_eq!(got[16].0, 405, "GET is refused");

    stop.cancel();
    rt.block_on(server)
        .expect("server task")
        .expect("server ran");
}
