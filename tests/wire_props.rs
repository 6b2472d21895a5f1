//! Properties of the wire codecs: round trips for arbitrary messages, and
//! arbitrary bytes never panic any decoder. The fuzz targets in `fuzz/`
//! check the same invariants with coverage guidance; `corpus_replay` runs
//! their committed seed corpora through the same functions.
#![cfg(not(any(feature = "loom", feature = "shuttle")))]

use heddle::wire::binary::{self, Call, Envelope, RemoteError, Reply};
use heddle::wire::frame::{Decoded, FrameCodec, HEADER_LEN};
use heddle::wire::jsonrpc::{self, ErrorObject, Id, Params, Request, Response, Responses};
use proptest::prelude::*;
use serde_json::{Value, json};

fn remote_error() -> impl Strategy<Value = RemoteError> {
    prop_oneof![
        any::<String>().prop_map(RemoteError::UnknownMethod),
        any::<String>().prop_map(RemoteError::BadArguments),
        any::<String>().prop_map(RemoteError::Handler),
        any::<String>().prop_map(RemoteError::Panicked),
        Just(RemoteError::ShuttingDown),
        Just(RemoteError::Overloaded),
    ]
}

fn envelope() -> impl Strategy<Value = Envelope> {
    prop_oneof![
        (any::<u16>(), any::<Vec<u8>>())
            .prop_map(|(protocol, token)| Envelope::Hello { protocol, token }),
        any::<u32>().prop_map(|max_in_flight| Envelope::Welcome { max_in_flight }),
        any::<String>().prop_map(|reason| Envelope::Refused { reason }),
        (
            any::<u64>(),
            any::<String>(),
            any::<Option<u128>>(),
            any::<Vec<u8>>()
        )
            .prop_map(|(id, method, idempotency_key, args)| Envelope::Call(Call {
                id,
                method,
                idempotency_key,
                args
            })),
        (
            any::<u64>(),
            prop::result::maybe_ok(any::<Vec<u8>>(), remote_error())
        )
            .prop_map(|(id, outcome)| Envelope::Reply(Reply { id, outcome })),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        "[a-z0-9 ]{0,8}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z]{1,4}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn id() -> impl Strategy<Value = Id> {
    prop_oneof![
        any::<i64>().prop_map(|n| Id::Number(n.into())),
        "[a-z0-9]{0,6}".prop_map(Id::String),
        Just(Id::Null),
    ]
}

proptest! {
    #[test]
    fn binary_round_trips(msg in envelope()) {
        let bytes = binary::to_vec(&msg).expect("encodes");
        prop_assert_eq!(binary::decode::<Envelope>(&bytes).expect("decodes"), msg);
    }

    #[test]
    fn frames_round_trip_in_any_chunking(payloads in prop::collection::vec(any::<Vec<u8>>(), 0..6), cut in any::<prop::sample::Index>()) {
        let codec = FrameCodec::new(1 << 16);
        let mut wire = Vec::new();
        for p in &payloads {
            codec.encode(p, &mut wire).expect("fits");
        }
        // Decoding a prefix never yields a frame that is not a prefix of the truth.
        let prefix = &wire[..cut.index(wire.len() + 1)];
        let mut at = 0;
        let mut got = Vec::new();
        loop {
            match codec.decode(&prefix[at..]).expect("valid frames") {
                Decoded::Frame { payload, consumed } => {
                    got.push(payload.to_vec());
                    at += consumed;
                }
                Decoded::NeedMore(n) => {
                    prop_assert!(n > 0);
                    prop_assert!(at + n <= wire.len() || at == wire.len(), "asks for more than exists");
                    break;
                }
            }
        }
        prop_assert_eq!(&got[..], &payloads[..got.len()]);
        if prefix.len() == wire.len() {
            prop_assert_eq!(got, payloads);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in any::<Vec<u8>>(), max in 0usize..64) {
        let codec = FrameCodec::new(max);
        if let Ok(Decoded::Frame { payload, consumed }) = codec.decode(&bytes) {
            prop_assert!(payload.len() <= max);
            prop_assert_eq!(consumed, HEADER_LEN + payload.len());
        }
        let _ = binary::decode::<Envelope>(&bytes);
        let _ = jsonrpc::parse_response(&bytes);
        let _ = jsonrpc::handle(&bytes, |_, _| Ok(Value::Null));
    }

    #[test]
    fn jsonrpc_requests_round_trip(method in "[a-z_.]{1,8}", params in prop::option::of(json_value()), id in prop::option::of(id())) {
        let params = params.and_then(|p| match p {
            Value::Array(a) => Some(Params::Array(a)),
            Value::Object(o) => Some(Params::Object(o)),
            _ => None,
        });
        let req = Request { method, params, id };
        prop_assert_eq!(Request::from_json(&req.to_json()), Ok(req));
    }

    #[test]
    fn jsonrpc_responses_round_trip(items in prop::collection::vec((id(), prop::result::maybe_ok(json_value(), (any::<i64>(), "[a-z ]{0,8}"))), 1..4), batch in any::<bool>()) {
        let rs: Vec<Response> = items.into_iter().map(|(id, o)| Response {
            id,
            outcome: o.map_err(|(code, msg)| ErrorObject::new(code, msg)),
        }).collect();
        let body = if batch || rs.len() > 1 { Responses::Batch(rs) } else { Responses::Single(rs[0].clone()) };
        prop_assert_eq!(jsonrpc::parse_response(&body.to_bytes()), Ok(body));
    }

    /// Whatever the request body, the server's answer is a valid response body
    /// (or nothing), and every answer is either the handler's or a spec error.
    #[test]
    fn server_answers_are_valid_responses(v in json_value()) {
        let input = serde_json::to_vec(&v).expect("serializes");
        if let Some(out) = jsonrpc::handle(&input, |m, _| Ok(json!(m))) {
            prop_assert!(jsonrpc::parse_response(&out).is_ok());
        }
    }
}
