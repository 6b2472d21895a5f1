//! JSON-RPC 2.0 (<https://www.jsonrpc.org/specification>): requests,
//! responses, batches, notifications and the spec's error codes, as pure
//! functions of bytes.
//!
//! Server side, [`handle`] takes a request body and a handler and returns the
//! response body, exactly as the spec prescribes:
//!
//! | input | answer |
//! | --- | --- |
//! | not JSON | one error `-32700` (parse error), id `null` |
//! | JSON but not a request (`{"method": 1}`, `[]`, `1`) | one error `-32600` (invalid request), id `null` |
//! | unknown method | error `-32601` |
//! | params the handler cannot use | error `-32602` (the handler returns [`ErrorObject::invalid_params`]) |
//! | a notification (no `id`) | nothing, even when it fails |
//! | a batch | an array with one answer per non-notification, or nothing at all |
//!
//! Client side, [`Request::to_json`] builds requests and [`parse_response`]
//! reads single or batch responses (a malformed response is a
//! [`WireError::JsonRpc`]).
//!
//! The input is bounded by the caller (the frame layer or the HTTP body
//! limit); `serde_json` allocates in proportion to it and stops at 128
//! levels of nesting, so hostile input costs at most its own size.
//!
//! # Example
//!
//! ```
//! use heddle::wire::jsonrpc::{ErrorObject, Params, handle};
//! use serde_json::{Value, json};
//!
//! let add = |method: &str, params: Option<Params>| match (method, params) {
//!     ("add", Some(Params::Array(p))) => match (p.first().and_then(Value::as_i64), p.get(1).and_then(Value::as_i64)) {
//!         (Some(a), Some(b)) => Ok(json!(a + b)),
//!         _ => Err(ErrorObject::invalid_params("expected two integers")),
//!     },
//!     ("add", _) => Err(ErrorObject::invalid_params("expected an array")),
//!     (other, _) => Err(ErrorObject::method_not_found(other)),
//! };
//! let out = handle(br#"{"jsonrpc":"2.0","method":"add","params":[2,3],"id":1}"#, add).unwrap();
//! assert_eq!(serde_json::from_slice::<Value>(&out)?, json!({"jsonrpc":"2.0","result":5,"id":1}));
//! assert!(handle(br#"{"jsonrpc":"2.0","method":"add","params":[1,1]}"#, add).is_none()); // notification
//! # Ok::<(), serde_json::Error>(())
//! ```

use super::WireError;
use serde_json::{Map, Number, Value, json};

/// `-32700`: invalid JSON was received.
pub const PARSE_ERROR: i64 = -32700;
/// `-32600`: the JSON sent is not a valid request object.
pub const INVALID_REQUEST: i64 = -32600;
/// `-32601`: the method does not exist.
pub const METHOD_NOT_FOUND: i64 = -32601;
/// `-32602`: invalid method parameters.
pub const INVALID_PARAMS: i64 = -32602;
/// `-32603`: internal JSON-RPC error.
pub const INTERNAL_ERROR: i64 = -32603;

/// A request id: a string, a number, or `null`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Id {
    /// A numeric id.
    Number(Number),
    /// A string id.
    String(String),
    /// `null` (used in responses when the request's id could not be read).
    Null,
}

impl Id {
    fn to_json(&self) -> Value {
        match self {
            Id::Number(n) => Value::Number(n.clone()),
            Id::String(s) => Value::String(s.clone()),
            Id::Null => Value::Null,
        }
    }

    fn from_json(v: &Value) -> Option<Self> {
        match v {
            Value::Number(n) => Some(Id::Number(n.clone())),
            Value::String(s) => Some(Id::String(s.clone())),
            Value::Null => Some(Id::Null),
            _ => None,
        }
    }
}

impl From<u64> for Id {
    fn from(n: u64) -> Self {
        Id::Number(n.into())
    }
}

/// Structured parameters: by position or by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Params {
    /// Positional.
    Array(Vec<Value>),
    /// Named.
    Object(Map<String, Value>),
}

/// A request, or a notification when `id` is `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method name.
    pub method: String,
    /// The parameters, if any.
    pub params: Option<Params>,
    /// `None` makes this a notification: the server sends no response.
    pub id: Option<Id>,
}

impl Request {
    /// The request as a JSON value.
    pub fn to_json(&self) -> Value {
        let mut obj = Map::new();
        obj.insert("jsonrpc".into(), "2.0".into());
        obj.insert("method".into(), self.method.clone().into());
        match &self.params {
            Some(Params::Array(a)) => {
                obj.insert("params".into(), Value::Array(a.clone()));
            }
            Some(Params::Object(o)) => {
                obj.insert("params".into(), Value::Object(o.clone()));
            }
            None => {}
        }
        if let Some(id) = &self.id {
            obj.insert("id".into(), id.to_json());
        }
        Value::Object(obj)
    }

    /// Reads one request object. On failure, the error response to send:
    /// `-32600` with whatever id could be recovered (else `null`).
    pub fn from_json(v: &Value) -> Result<Self, Response> {
        let invalid = |id: Id, why: &str| Response {
            id,
            outcome: Err(ErrorObject::new(INVALID_REQUEST, "Invalid Request").with_data(why)),
        };
        let Value::Object(obj) = v else {
            return Err(invalid(Id::Null, "a request must be an object"));
        };
        let id = match obj.get("id") {
            None => None,
            Some(raw) => match Id::from_json(raw) {
                Some(id) => Some(id),
                None => return Err(invalid(Id::Null, "id must be a string, number or null")),
            },
        };
        let err_id = id.clone().unwrap_or(Id::Null);
        if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
            return Err(invalid(err_id, "jsonrpc must be exactly \"2.0\""));
        }
        let Some(method) = obj.get("method").and_then(Value::as_str) else {
            return Err(invalid(err_id, "method must be a string"));
        };
        let params = match obj.get("params") {
            None => None,
            Some(Value::Array(a)) => Some(Params::Array(a.clone())),
            Some(Value::Object(o)) => Some(Params::Object(o.clone())),
            Some(_) => return Err(invalid(err_id, "params must be an array or an object")),
        };
        Ok(Request {
            method: method.to_owned(),
            params,
            id,
        })
    }
}

/// The error member of a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorObject {
    /// One of the codes above, or an application code.
    pub code: i64,
    /// A short description.
    pub message: String,
    /// Optional detail.
    pub data: Option<Value>,
}

impl ErrorObject {
    /// An error with `code` and `message` and no data.
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            data: None,
        }
    }

    /// Attaches `data`.
    pub fn with_data(mut self, data: impl Into<Value>) -> Self {
        self.data = Some(data.into());
        self
    }

    /// `-32601`, naming the method.
    pub fn method_not_found(method: &str) -> Self {
        Self::new(METHOD_NOT_FOUND, "Method not found").with_data(method)
    }

    /// `-32602`, with a reason.
    pub fn invalid_params(why: &str) -> Self {
        Self::new(INVALID_PARAMS, "Invalid params").with_data(why)
    }

    fn to_json(&self) -> Value {
        let mut obj = Map::new();
        obj.insert("code".into(), self.code.into());
        obj.insert("message".into(), self.message.clone().into());
        if let Some(d) = &self.data {
            obj.insert("data".into(), d.clone());
        }
        Value::Object(obj)
    }

    fn from_json(v: &Value) -> Result<Self, WireError> {
        let bad = |why: &str| WireError::JsonRpc(why.to_owned());
        let obj = v
            .as_object()
            .ok_or_else(|| bad("error must be an object"))?;
        Ok(Self {
            code: obj
                .get("code")
                .and_then(Value::as_i64)
                .ok_or_else(|| bad("error.code must be an integer"))?,
            message: obj
                .get("message")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("error.message must be a string"))?
                .to_owned(),
            data: obj.get("data").cloned(),
        })
    }
}

/// A response: the id it answers and a result or an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The request's id (`null` if it could not be read).
    pub id: Id,
    /// `result` or `error`.
    pub outcome: Result<Value, ErrorObject>,
}

impl Response {
    /// The response as a JSON value.
    pub fn to_json(&self) -> Value {
        match &self.outcome {
            Ok(result) => json!({"jsonrpc": "2.0", "result": result, "id": self.id.to_json()}),
            Err(e) => json!({"jsonrpc": "2.0", "error": e.to_json(), "id": self.id.to_json()}),
        }
    }

    fn from_json(v: &Value) -> Result<Self, WireError> {
        let bad = |why: &str| WireError::JsonRpc(why.to_owned());
        let obj = v
            .as_object()
            .ok_or_else(|| bad("a response must be an object"))?;
        if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
            return Err(bad("jsonrpc must be exactly \"2.0\""));
        }
        let id = obj
            .get("id")
            .and_then(Id::from_json)
            .ok_or_else(|| bad("id must be a string, number or null"))?;
        let outcome = match (obj.get("result"), obj.get("error")) {
            (Some(r), None) => Ok(r.clone()),
            (None, Some(e)) => Err(ErrorObject::from_json(e)?),
            _ => return Err(bad("exactly one of result and error must be present")),
        };
        Ok(Self { id, outcome })
    }
}

/// A response body: one response or a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Responses {
    /// A single response.
    Single(Response),
    /// A batch (never empty).
    Batch(Vec<Response>),
}

impl Responses {
    /// The body as JSON bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let v = match self {
            Responses::Single(r) => r.to_json(),
            Responses::Batch(rs) => Value::Array(rs.iter().map(Response::to_json).collect()),
        };
        // Serializing a `Value` cannot fail: its maps have string keys.
        serde_json::to_vec(&v).unwrap_or_default()
    }
}

/// Parses a response body.
pub fn parse_response(input: &[u8]) -> Result<Responses, WireError> {
    let v: Value =
        serde_json::from_slice(input).map_err(|e| WireError::JsonRpc(format!("not JSON: {e}")))?;
    match &v {
        Value::Array(items) if items.is_empty() => {
            Err(WireError::JsonRpc("an empty batch response".into()))
        }
        Value::Array(items) => Ok(Responses::Batch(
            items
                .iter()
                .map(Response::from_json)
                .collect::<Result<_, _>>()?,
        )),
        _ => Ok(Responses::Single(Response::from_json(&v)?)),
    }
}

/// Answers a request body: parses it (single or batch), calls `handler` for
/// every valid request, and returns the response body, or `None` when
/// nothing is to be sent back (only notifications). See the module docs for
/// the exact rules.
///
/// A server that runs its calls some other way (concurrently, with a
/// timeout) uses the two halves: [`read_body`], then [`write_answers`].
pub fn handle<H>(input: &[u8], handler: H) -> Option<Vec<u8>>
where
    H: Fn(&str, Option<Params>) -> Result<Value, ErrorObject>,
{
    match read_body(input) {
        Body::Answered(out) => Some(out),
        Body::Calls { batch, items } => {
            let answers = items.into_iter().filter_map(|item| match item {
                Err(invalid) => Some(invalid),
                Ok(req) => {
                    let outcome = handler(&req.method, req.params);
                    req.id.map(|id| Response { id, outcome })
                }
            });
            write_answers(batch, answers.collect())
        }
    }
}

/// A request body, read by [`read_body`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// Nothing to run: answer with these bytes (not JSON, or an empty batch).
    Answered(Vec<u8>),
    /// A single request (`batch: false`, one item) or a batch; each item is
    /// a request to run, or the error response it already earned.
    Calls {
        /// Whether the body was an array.
        batch: bool,
        /// In order: a valid request, or its `-32600` response.
        items: Vec<Result<Request, Response>>,
    },
}

/// Reads a request body into the calls to run (first half of [`handle`]).
pub fn read_body(input: &[u8]) -> Body {
    let v: Value = match serde_json::from_slice(input) {
        Ok(v) => v,
        Err(e) => {
            let parse_error = Response {
                id: Id::Null,
                outcome: Err(ErrorObject::new(PARSE_ERROR, "Parse error").with_data(e.to_string())),
            };
            return Body::Answered(Responses::Single(parse_error).to_bytes());
        }
    };
    match &v {
        Value::Array(items) if items.is_empty() => {
            let invalid = Response {
                id: Id::Null,
                outcome: Err(
                    ErrorObject::new(INVALID_REQUEST, "Invalid Request").with_data("empty batch")
                ),
            };
            Body::Answered(Responses::Single(invalid).to_bytes())
        }
        Value::Array(items) => Body::Calls {
            batch: true,
            items: items.iter().map(Request::from_json).collect(),
        },
        single => Body::Calls {
            batch: false,
            items: vec![Request::from_json(single)],
        },
    }
}

/// The response body for the answers to a [`Body::Calls`] (notifications
/// left out): `None` when there are none (second half of [`handle`]).
pub fn write_answers(batch: bool, mut answers: Vec<Response>) -> Option<Vec<u8>> {
    match (batch, answers.pop()) {
        (_, None) => None,
        (false, Some(one)) => Some(Responses::Single(one).to_bytes()),
        (true, Some(last)) => {
            answers.push(last);
            Some(Responses::Batch(answers).to_bytes())
        }
    }
}

#[cfg(all(test, not(any(feature = "loom", feature = "shuttle"))))]
mod tests {
    use super::*;

    fn subtract(method: &str, params: Option<Params>) -> Result<Value, ErrorObject> {
        let nums = |a: Option<&Value>, b: Option<&Value>| match (
            a.and_then(Value::as_i64),
            b.and_then(Value::as_i64),
        ) {
            (Some(a), Some(b)) => Ok(json!(a - b)),
            _ => Err(ErrorObject::invalid_params("two integers")),
        };
        match (method, params) {
            ("subtract", Some(Params::Array(p))) => nums(p.first(), p.get(1)),
            ("subtract", Some(Params::Object(o))) => nums(o.get("minuend"), o.get("subtrahend")),
            ("subtract", None) => Err(ErrorObject::invalid_params("missing")),
            ("update" | "notify_hello", _) => Ok(Value::Null),
            ("sum", Some(Params::Array(p))) => {
                Ok(json!(p.iter().filter_map(Value::as_i64).sum::<i64>()))
            }
            ("get_data", _) => Ok(json!(["hello", 5])),
            (m, _) => Err(ErrorObject::method_not_found(m)),
        }
    }

    fn call(input: &str) -> Option<Value> {
        handle(input.as_bytes(), subtract)
            .map(|b| serde_json::from_slice(&b).expect("handle emits JSON"))
    }

    fn code(v: &Value) -> i64 {
        v["error"]["code"].as_i64().expect("an error response")
    }

    // The examples of section 7 of the specification.
    #[test]
    fn spec_examples() {
        assert_eq!(
            call(r#"{"jsonrpc": "2.0", "method": "subtract", "params": [42, 23], "id": 1}"#),
            Some(json!({"jsonrpc": "2.0", "result": 19, "id": 1}))
        );
        assert_eq!(
            call(
                r#"{"jsonrpc": "2.0", "method": "subtract", "params": {"subtrahend": 23, "minuend": 42}, "id": 3}"#
            ),
            Some(json!({"jsonrpc": "2.0", "result": 19, "id": 3}))
        );
        assert_eq!(
            call(r#"{"jsonrpc": "2.0", "method": "update", "params": [1,2,3,4,5]}"#),
            None
        );
        let v = call(r#"{"jsonrpc": "2.0", "method": "foobar", "id": "1"}"#).expect("answer");
        assert_eq!((code(&v), &v["id"]), (METHOD_NOT_FOUND, &json!("1")));
        let v = call(r#"{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]"#)
            .expect("answer");
        assert_eq!((code(&v), &v["id"]), (PARSE_ERROR, &Value::Null));
        let v = call(r#"{"jsonrpc": "2.0", "method": 1, "params": "bar"}"#).expect("answer");
        assert_eq!((code(&v), &v["id"]), (INVALID_REQUEST, &Value::Null));
        let v = call(r#"[{"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"}, {"jsonrpc": "2.0", "method""#).expect("answer");
        assert_eq!(code(&v), PARSE_ERROR);
        let v = call("[]").expect("answer");
        assert_eq!(code(&v), INVALID_REQUEST);
        let v = call("[1]").expect("answer");
        assert_eq!(v.as_array().map(Vec::len), Some(1));
        assert_eq!(code(&v[0]), INVALID_REQUEST);
        let v = call("[1,2,3]").expect("answer");
        assert_eq!(v.as_array().map(Vec::len), Some(3));
        let v = call(
            r#"[
            {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},
            {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]},
            {"jsonrpc": "2.0", "method": "subtract", "params": [42,23], "id": "2"},
            {"foo": "boo"},
            {"jsonrpc": "2.0", "method": "foo.get", "params": {"name": "myself"}, "id": "5"},
            {"jsonrpc": "2.0", "method": "get_data", "id": "9"}
        ]"#,
        )
        .expect("answer");
        let v = v.as_array().expect("batch");
        assert_eq!(v.len(), 5);
        assert_eq!(v[0], json!({"jsonrpc": "2.0", "result": 7, "id": "1"}));
        assert_eq!(v[1], json!({"jsonrpc": "2.0", "result": 19, "id": "2"}));
        assert_eq!((code(&v[2]), &v[2]["id"]), (INVALID_REQUEST, &Value::Null));
        assert_eq!((code(&v[3]), &v[3]["id"]), (METHOD_NOT_FOUND, &json!("5")));
        assert_eq!(
            v[4],
            json!({"jsonrpc": "2.0", "result": ["hello", 5], "id": "9"})
        );
        assert_eq!(
            call(
                r#"[{"jsonrpc": "2.0", "method": "notify_sum", "params": [1,2,4]}, {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]}]"#
            ),
            None
        );
    }

    #[test]
    fn invalid_params_code() {
        let v = call(r#"{"jsonrpc": "2.0", "method": "subtract", "params": ["a"], "id": 4}"#)
            .expect("answer");
        assert_eq!(code(&v), INVALID_PARAMS);
    }

    #[test]
    fn responses_round_trip() {
        let body = Responses::Batch(vec![
            Response {
                id: 1u64.into(),
                outcome: Ok(json!({"a": [1, 2]})),
            },
            Response {
                id: Id::Null,
                outcome: Err(ErrorObject::new(-32000, "x").with_data(3)),
            },
        ]);
        assert_eq!(parse_response(&body.to_bytes()), Ok(body));
        assert!(parse_response(b"[]").is_err());
        assert!(parse_response(br#"{"jsonrpc":"2.0","id":1}"#).is_err());
        assert!(
            parse_response(
                br#"{"jsonrpc":"2.0","id":1,"result":1,"error":{"code":1,"message":""}}"#
            )
            .is_err()
        );
    }
}
