//! The invariants the fuzz targets check, one function per decoder. Each
//! takes arbitrary bytes and panics if (and only if) a decoder misbehaves:
//! `fuzz/fuzz_targets/*.rs` call them under libFuzzer, and
//! `tests/fuzz_corpus.rs` replays the committed corpora through them in
//! `cargo test`. Not an API for anything else.

use super::binary::{self, Envelope};
use super::frame::{Decoded, FrameCodec, HEADER_LEN};
use super::jsonrpc::{self, Params, Responses};
use serde_json::Value;

/// Frames: byte 0 scales the limit (`4 × byte`), the rest is the stream.
/// Every accepted frame respects the limit, re-encodes to exactly the bytes
/// it came from, and `NeedMore` never asks past one maximal frame.
pub fn frame(data: &[u8]) {
    let Some((&scale, input)) = data.split_first() else {
        return;
    };
    let max = usize::from(scale) * 4;
    let codec = FrameCodec::new(max);
    let mut at = 0;
    loop {
        match codec.decode(&input[at..]) {
            Ok(Decoded::Frame { payload, consumed }) => {
                assert!(payload.len() <= max, "frame over the limit accepted");
                assert_eq!(
                    consumed,
                    HEADER_LEN + payload.len(),
                    "consumed != header + payload"
                );
                let mut again = Vec::new();
                codec
                    .encode(payload, &mut again)
                    .expect("a decoded frame re-encodes");
                assert_eq!(
                    again,
                    input[at..at + consumed],
                    "frame does not re-encode to its bytes"
                );
                at += consumed;
            }
            Ok(Decoded::NeedMore(n)) => {
                assert!(n > 0, "NeedMore(0)");
                assert!(n <= HEADER_LEN + max, "asks for more than one frame");
                return;
            }
            Err(_) => return,
        }
    }
}

/// Binary envelopes: whatever decodes re-encodes, no longer than its input,
/// and decodes back to the same value; the server's borrowed decoder
/// ([`binary::decode_incoming`]) accepts exactly the same inputs and reads
/// the same envelope.
pub fn binary_message(data: &[u8]) {
    let owned = binary::decode::<Envelope>(data);
    match (binary::decode_incoming(data), &owned) {
        (Ok(binary::Incoming::Call(call)), Ok(Envelope::Call(c))) => {
            assert_eq!(call, c.as_ref(), "the borrowed decoder read another call");
        }
        (Ok(binary::Incoming::Other(e)), Ok(o)) => {
            assert_eq!(&e, o, "the borrowed decoder read another envelope");
        }
        (Err(_), Err(_)) => {}
        (incoming, owned) => {
            panic!("the decoders disagree: borrowed {incoming:?}, owned {owned:?}")
        }
    }
    if let Ok(msg) = owned {
        let again = binary::to_vec(&msg).expect("a decoded envelope re-encodes");
        assert!(again.len() <= data.len(), "re-encoding grew");
        assert_eq!(
            binary::decode::<Envelope>(&again).as_ref(),
            Ok(&msg),
            "round trip changed the message"
        );
    }
}

/// JSON-RPC server: any body gets nothing (all notifications) or a valid
/// response body, with at most one response per request in a batch.
pub fn jsonrpc_request(data: &[u8]) {
    let echo = |method: &str, params: Option<Params>| -> Result<Value, jsonrpc::ErrorObject> {
        match params {
            Some(Params::Array(a)) => Ok(Value::Array(a)),
            Some(Params::Object(o)) => Ok(Value::Object(o)),
            None => Ok(Value::String(method.to_owned())),
        }
    };
    let Some(out) = jsonrpc::handle(data, echo) else {
        return;
    };
    let answered = jsonrpc::parse_response(&out).expect("the server emitted an invalid response");
    if let (Responses::Batch(rs), Ok(Value::Array(reqs))) =
        (&answered, serde_json::from_slice::<Value>(data))
    {
        assert!(rs.len() <= reqs.len(), "more responses than requests");
    }
}

/// JSON-RPC responses: whatever parses re-encodes and parses back equal.
pub fn jsonrpc_response(data: &[u8]) {
    if let Ok(r) = jsonrpc::parse_response(data) {
        let again =
            jsonrpc::parse_response(&r.to_bytes()).expect("a parsed response re-encodes validly");
        assert_eq!(again, r, "round trip changed the response");
    }
}
