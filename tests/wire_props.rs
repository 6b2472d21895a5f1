//! Properties of the wire codecs: round trips for arbitrary messages, and
//! arbitrary bytes never panic any decoder. The fuzz targets in `fuzz/`
//! check the same invariants with coverage guidance; `corpus_replay` runs
//! their committed seed corpora through the same functions.
#![cfg(not(any(feature = "loom", feature = "shuttle")))]

mod common;

use heddle::wire::WireError;
use heddle::wire::binary::{self, Call, Envelope, Refusal, RemoteError, Reply, TraceContext};
use heddle::wire::frame::{Decoded, FrameCodec, HEADER_LEN};
use heddle::wire::jsonrpc::{self, ErrorObject, Id, Params, Request, Response, Responses};
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use serde_json::{Value, json};

fn remote_error() -> impl Strategy<Value = RemoteError> {
    prop_oneof![
        any::<String>().prop_map(RemoteError::UnknownMethod),
        any::<String>().prop_map(RemoteError::BadArguments),
        any::<String>().prop_map(RemoteError::Handler),
        any::<String>().prop_map(RemoteError::Panicked),
        Just(RemoteError::ShuttingDown),
        Just(RemoteError::Overloaded),
        Just(RemoteError::Interrupted),
        Just(RemoteError::KeyReused),
    ]
}

fn envelope() -> impl Strategy<Value = Envelope> {
    prop_oneof![
        (any::<u16>(), any::<Vec<u8>>(), any::<u128>()).prop_map(|(protocol, token, client)| {
            Envelope::Hello {
                protocol,
                token: token.into(),
                client,
            }
        }),
        any::<u32>().prop_map(|max_in_flight| Envelope::Welcome { max_in_flight }),
        prop_oneof![
            Just(Refusal::BadToken),
            (any::<u16>(), any::<u16>())
                .prop_map(|(found, supported)| Refusal::Protocol { found, supported }),
        ]
        .prop_map(|reason| Envelope::Refused { reason }),
        (
            any::<u64>(),
            any::<String>(),
            any::<Option<u128>>(),
            any::<Vec<u8>>(),
            any::<Option<(u128, u64)>>(),
        )
            .prop_map(
                |(id, method, idempotency_key, args, trace)| Envelope::Call(Call {
                    id,
                    method,
                    idempotency_key,
                    args,
                    trace: trace.map(|(trace_id, span_id)| TraceContext { trace_id, span_id }),
                })
            ),
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

type FrameDecoder = for<'a> fn(&FrameCodec, &'a [u8]) -> Result<Decoded<'a>, WireError>;

fn payloads() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(any::<Vec<u8>>(), 0..6)
}

/// Frames written back to back decode to the same payloads from any prefix
/// of the stream, and a prefix never yields a frame that is not the truth.
fn frames_round_trip(
    decode: FrameDecoder,
    payloads: &[Vec<u8>],
    cut: prop::sample::Index,
) -> Result<(), TestCaseError> {
    let codec = FrameCodec::new(1 << 16);
    let mut wire = Vec::new();
    for p in payloads {
        codec.encode(p, &mut wire).expect("fits");
    }
    let prefix = &wire[..cut.index(wire.len() + 1)];
    let mut at = 0;
    let mut got = Vec::new();
    loop {
        match decode(&codec, &prefix[at..]) {
            Ok(Decoded::Frame { payload, consumed }) => {
                prop_assert!(consumed > 0, "a frame consumed nothing");
                got.push(payload.to_vec());
                at += consumed;
            }
            Ok(Decoded::NeedMore(n)) => {
                prop_assert!(n > 0);
                prop_assert!(
                    at + n <= wire.len() || at == wire.len(),
                    "asks for more than exists"
                );
                break;
            }
            Err(e) => prop_assert!(false, "valid frames rejected: {e}"),
        }
    }
    prop_assert!(got.len() <= payloads.len(), "more frames than were written");
    prop_assert_eq!(&got[..], &payloads[..got.len()]);
    if prefix.len() == wire.len() {
        prop_assert_eq!(got, payloads);
    }
    Ok(())
}

/// Arbitrary bytes: the decoder returns (never panics), and a frame it
/// accepts respects the limit and its own header.
fn frame_respects_limit(
    decode: FrameDecoder,
    bytes: &[u8],
    max: usize,
) -> Result<(), TestCaseError> {
    let codec = FrameCodec::new(max);
    if let Ok(Decoded::Frame { payload, consumed }) = decode(&codec, bytes) {
        prop_assert!(payload.len() <= max, "frame over the limit accepted");
        prop_assert_eq!(consumed, HEADER_LEN + payload.len());
    }
    Ok(())
}

/// Broken decoders: each must make one of the properties above fail.
mod broken {
    use super::*;

    /// Forgets the header when reporting how much it consumed.
    pub fn forgets_header<'a>(c: &FrameCodec, buf: &'a [u8]) -> Result<Decoded<'a>, WireError> {
        match c.decode(buf)? {
            Decoded::Frame { payload, .. } => Ok(Decoded::Frame {
                payload,
                consumed: payload.len(),
            }),
            other => Ok(other),
        }
    }

    /// Trusts the declared length: no limit check, slices without bounds checks.
    pub fn trusts_length<'a>(_: &FrameCodec, buf: &'a [u8]) -> Result<Decoded<'a>, WireError> {
        if buf.len() < HEADER_LEN {
            return Ok(Decoded::NeedMore(HEADER_LEN - buf.len()));
        }
        let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
        Ok(Decoded::Frame {
            payload: &buf[HEADER_LEN..HEADER_LEN + len],
            consumed: HEADER_LEN + len,
        })
    }
}

fn fails(property: impl Fn(&mut TestRunner) -> Result<(), String>) -> bool {
    property(&mut common::deterministic_runner(512)).is_err()
}

#[test]
fn the_frame_properties_catch_broken_decoders() {
    let round_trip = |decode: FrameDecoder| {
        move |r: &mut TestRunner| {
            r.run(&(payloads(), any::<prop::sample::Index>()), |(p, cut)| {
                frames_round_trip(decode, &p, cut)
            })
            .map_err(|e| e.to_string())
        }
    };
    let limit = |decode: FrameDecoder| {
        move |r: &mut TestRunner| {
            // Headers that announce more than the limit, followed by plenty of bytes.
            let hostile = (
                0u8..4,
                1u32..200,
                prop::collection::vec(any::<u8>(), 200..300),
            )
                .prop_map(|(v, len, tail)| {
                    let mut b = vec![v.min(1) * heddle::wire::frame::VERSION];
                    b.extend_from_slice(&len.to_be_bytes());
                    b.extend(tail);
                    b
                });
            r.run(&(hostile, 0usize..64), |(b, max)| {
                frame_respects_limit(decode, &b, max)
            })
            .map_err(|e| e.to_string())
        }
    };
    assert!(
        !fails(round_trip(FrameCodec::decode)),
        "the real decoder must pass"
    );
    assert!(
        !fails(limit(FrameCodec::decode)),
        "the real decoder must pass"
    );
    assert!(
        fails(round_trip(broken::forgets_header)),
        "round trip missed a decoder that forgets the header"
    );
    assert!(
        fails(limit(broken::trusts_length)),
        "limit property missed a decoder without a limit"
    );
}

proptest! {
    #[test]
    fn binary_round_trips(msg in envelope()) {
        let bytes = binary::to_vec(&msg).expect("encodes");
        prop_assert_eq!(binary::decode::<Envelope>(&bytes).expect("decodes"), msg);
    }

    #[test]
    fn frames_round_trip_in_any_chunking(payloads in payloads(), cut in any::<prop::sample::Index>()) {
        frames_round_trip(FrameCodec::decode, &payloads, cut)?;
    }

    /// The server's borrowed decoder and the owned one agree on every
    /// envelope, and on every envelope with a byte changed or one added
    /// (`wire::checks::binary_message` panics when they do not).
    #[test]
    fn the_borrowed_decoder_agrees_with_the_owned_one(
        msg in envelope(),
        flip in any::<Option<(prop::sample::Index, u8)>>(),
        extra in any::<Option<u8>>(),
    ) {
        let mut bytes = binary::to_vec(&msg).expect("encodes");
        if let Some((at, b)) = flip {
            let i = at.index(bytes.len());
            bytes[i] ^= b;
        }
        bytes.extend(extra);
        heddle::wire::checks::binary_message(&bytes);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in any::<Vec<u8>>(), max in 0usize..64) {
        frame_respects_limit(FrameCodec::decode, &bytes, max)?;
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
