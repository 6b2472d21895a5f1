//! The compact binary encoding: serde + postcard (varint integers, no field
//! names), and heddle's RPC envelope.
//!
//! [`encode`] / [`decode`] work for any serde type. [`decode`] rejects
//! trailing bytes, so one frame holds exactly one message; it never panics
//! and allocates at most in proportion to its input (postcard reads lengths
//! against the bytes actually present, and serde caps speculative
//! preallocation), which the frame layer bounds.
//!
//! [`Envelope`] is what heddle's RPC sends in each frame: a handshake
//! (`Hello` → `Welcome` | `Refused`), then `Call`s and `Reply`s multiplexed
//! by call id. Arguments and results are opaque bytes (the caller's own
//! postcard encoding), so the envelope never needs to know user types.
//!
//! # Example
//!
//! ```
//! use heddle::wire::binary::{self, Call, Envelope};
//!
//! let call = Envelope::Call(Call {
//!     id: 7,
//!     method: "add".into(),
//!     idempotency_key: Some(42),
//!     args: binary::to_vec(&(2u32, 3u32))?,
//!     trace: None,
//! });
//! let bytes = binary::to_vec(&call)?;
//! let back: Envelope = binary::decode(&bytes)?;
//! assert_eq!(back, call);
//! let Envelope::Call(c) = back else { unreachable!() };
//! assert_eq!(binary::decode::<(u32, u32)>(&c.args)?, (2, 3));
//! # Ok::<(), heddle::wire::WireError>(())
//! ```

use super::WireError;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Appends the encoding of `msg` to `out`. On error `out` is left as it was.
pub fn encode<T: Serialize + ?Sized>(msg: &T, out: &mut Vec<u8>) -> Result<(), WireError> {
    let start = out.len();
    postcard::serialize_with_flavor(msg, Appender(out)).map_err(|e| {
        out.truncate(start);
        WireError::Encode(e.to_string())
    })
}

/// A postcard flavor that appends to a borrowed vector: whole slices with
/// one `extend_from_slice`, single bytes with one `push` (postcard's
/// `to_extend` goes through `Extend` one byte at a time, about four times
/// the instructions for an RPC envelope).
struct Appender<'a>(&'a mut Vec<u8>);

impl postcard::ser_flavors::Flavor for Appender<'_> {
    type Output = ();

    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        // Most of postcard's slices are one-byte varints (ids, lengths,
        // small numbers): a call to `memcpy` for each cost more than the
        // byte.
        if let &[byte] = data {
            self.0.push(byte);
        } else {
            self.0.extend_from_slice(data);
        }
        Ok(())
    }

    fn try_push(&mut self, data: u8) -> postcard::Result<()> {
        self.0.push(data);
        Ok(())
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

/// The encoding of `msg` as a new vector.
pub fn to_vec<T: Serialize + ?Sized>(msg: &T) -> Result<Vec<u8>, WireError> {
    // Most messages (RPC arguments and results) are a few dozen bytes: one
    // allocation that holds them, where a vector grown from empty would
    // reallocate three or four times.
    let mut out = Vec::with_capacity(SMALL);
    encode(msg, &mut out)?;
    Ok(out)
}

/// The first capacity of [`to_vec`]'s vector.
const SMALL: usize = 64;

/// Decodes exactly one `T` from `bytes`; leftover bytes are an error.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, WireError> {
    let (value, rest) =
        postcard::take_from_bytes(bytes).map_err(|e| WireError::Binary(e.to_string()))?;
    if rest.is_empty() {
        Ok(value)
    } else {
        Err(WireError::TrailingBytes(rest.len()))
    }
}

/// Appends `msg` to `out` as one frame of `codec`, encoded in place (see
/// [`FrameCodec::encode_with`](super::frame::FrameCodec::encode_with)).
pub fn encode_frame<T: Serialize + ?Sized>(
    codec: &super::frame::FrameCodec,
    msg: &T,
    out: &mut Vec<u8>,
) -> Result<(), WireError> {
    codec.encode_with(out, |buf| encode(msg, buf))
}

/// An [`Envelope::Call`] that borrows its method and arguments: it
/// encodes to exactly the bytes of the owned envelope, without copying
/// them into one first (the client's hot path).
///
/// ```
/// use heddle::wire::binary::{self, Call, CallRef, Envelope};
/// let owned = Envelope::Call(Call { id: 1, method: "add".into(), idempotency_key: Some(3), args: vec![4, 5], trace: None });
/// let borrowed = CallRef { id: 1, method: "add", idempotency_key: Some(3), args: &[4, 5], trace: None };
/// assert_eq!(binary::to_vec(&borrowed)?, binary::to_vec(&owned)?);
/// # Ok::<(), heddle::wire::WireError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallRef<'a> {
    /// As [`Call::id`].
    pub id: u64,
    /// As [`Call::method`].
    pub method: &'a str,
    /// As [`Call::idempotency_key`].
    pub idempotency_key: Option<u128>,
    /// As [`Call::args`].
    pub args: &'a [u8],
    /// As [`Call::trace`].
    pub trace: Option<TraceContext>,
}

/// A byte slice serialized with `serialize_bytes`: in postcard the same
/// bytes as a sequence of `u8` (a varint length, then the bytes), written
/// with one copy instead of one call per byte.
struct Bytes<'a>(&'a [u8]);

impl Serialize for Bytes<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.0)
    }
}

/// [`Envelope::Call`]'s variant index in the serde encoding.
const CALL_VARIANT: u32 = 3;

impl Serialize for CallRef<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        /// The fields, in `Call`'s order.
        struct Fields<'b>(&'b CallRef<'b>);
        impl Serialize for Fields<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let c = self.0;
                let mut st = s.serialize_struct("Call", 5)?;
                st.serialize_field("id", &c.id)?;
                st.serialize_field("method", c.method)?;
                st.serialize_field("idempotency_key", &fixed::Key(c.idempotency_key))?;
                st.serialize_field("args", &Bytes(c.args))?;
                st.serialize_field("trace", &c.trace)?;
                st.end()
            }
        }
        s.serialize_newtype_variant("Envelope", CALL_VARIANT, "Call", &Fields(self))
    }
}

/// One RPC message, as carried in one frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Envelope {
    /// Client → server, first message on a connection: protocol version
    /// and the shared token.
    Hello {
        /// The RPC protocol version the client speaks.
        protocol: u16,
        /// The shared secret; the server refuses the connection if it differs.
        token: Secret,
        /// Who the caller is: chosen once per client (at random) and kept
        /// across its reconnects. The server scopes idempotency keys by it,
        /// so two clients' keys never meet.
        client: u128,
    },
    /// Server → client: handshake accepted.
    Welcome {
        /// Calls the server will run concurrently for this connection.
        max_in_flight: u32,
    },
    /// Server → client: handshake refused; the server then closes.
    Refused {
        /// Why.
        reason: Refusal,
    },
    /// Client → server: invoke a method.
    Call(Call),
    /// Server → client: the outcome of a call.
    Reply(Reply),
}

/// A method invocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Call {
    /// Chosen by the client, unique among its calls in flight on this connection.
    pub id: u64,
    /// The method name.
    pub method: String,
    /// Set for non-idempotent calls: the server executes a given key at most
    /// once and answers retries from its de-duplication window.
    #[serde(with = "fixed::option_u128")]
    pub idempotency_key: Option<u128>,
    /// The arguments, encoded by the caller.
    pub args: Vec<u8>,
    /// The caller's trace context, so the call can be followed across
    /// processes (the server's span for the call names it).
    pub trace: Option<TraceContext>,
}

impl Call {
    /// The same call, borrowed.
    pub fn as_ref(&self) -> CallRef<'_> {
        CallRef {
            id: self.id,
            method: &self.method,
            idempotency_key: self.idempotency_key,
            args: &self.args,
            trace: self.trace,
        }
    }
}

/// An envelope as a server reads it: a call borrowed from its frame (its
/// method name and arguments are not copied), anything else owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming<'a> {
    /// `Envelope::Call`, borrowed.
    Call(CallRef<'a>),
    /// Any other envelope (or a call in a non-canonical encoding).
    Other(Envelope),
}

/// `Call`'s fields, borrowed, in its order.
#[derive(Deserialize)]
struct CallFields<'a> {
    id: u64,
    method: &'a str,
    #[serde(with = "fixed::option_u128")]
    idempotency_key: Option<u128>,
    #[serde(borrow)]
    args: &'a [u8],
    trace: Option<TraceContext>,
}

/// Decodes one envelope from `frame`, borrowing a call's method name and
/// arguments from it. Errors exactly where [`decode`]`::<Envelope>` does.
///
/// ```
/// use heddle::wire::binary::{self, CallRef, Incoming};
/// let call = CallRef { id: 1, method: "add", idempotency_key: None, args: &[4, 5], trace: None };
/// let bytes = binary::to_vec(&call)?;
/// assert_eq!(binary::decode_incoming(&bytes)?, Incoming::Call(call));
/// # Ok::<(), heddle::wire::WireError>(())
/// ```
pub fn decode_incoming(frame: &[u8]) -> Result<Incoming<'_>, WireError> {
    // postcard writes the variant index as a varint: `Call`'s is one byte.
    match frame.split_first() {
        Some((&tag, fields)) if u32::from(tag) == CALL_VARIANT => {
            let (c, rest) = postcard::take_from_bytes::<CallFields<'_>>(fields)
                .map_err(|e| WireError::Binary(e.to_string()))?;
            if !rest.is_empty() {
                return Err(WireError::TrailingBytes(rest.len()));
            }
            Ok(Incoming::Call(CallRef {
                id: c.id,
                method: c.method,
                idempotency_key: c.idempotency_key,
                args: c.args,
                trace: c.trace,
            }))
        }
        _ => decode(frame).map(Incoming::Other),
    }
}

/// Where a call sits in a distributed trace: the trace it belongs to and
/// the caller's span. Shaped like W3C Trace Context's `traceparent` ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceContext {
    /// The trace, shared by every span of one request across processes.
    #[serde(with = "fixed::u128")]
    pub trace_id: u128,
    /// The caller's span (the parent of the server's span for the call).
    #[serde(with = "fixed::u64")]
    pub span_id: u64,
}

/// Random identifiers (idempotency keys, trace and span ids) on the wire
/// as their little-endian bytes, not as varints: a random `u128` takes 19
/// varint bytes and a loop of shifts to write and read; as bytes it takes
/// 17 (a length byte, then 16) and one copy. Self-describing formats
/// (JSON) write them as a sequence of bytes and read them back from one.
mod fixed {
    use serde::de::{Error, SeqAccess, Visitor};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::fmt;

    /// Exactly `N` bytes, as bytes or as a sequence of `u8`.
    struct Exactly<const N: usize>;

    impl<'de, const N: usize> Visitor<'de> for Exactly<N> {
        type Value = [u8; N];

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "an id of {N} bytes")
        }

        fn visit_bytes<E: Error>(self, v: &[u8]) -> Result<[u8; N], E> {
            v.try_into().map_err(|_| E::invalid_length(v.len(), &self))
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<[u8; N], A::Error> {
            let mut out = [0; N];
            for (i, byte) in out.iter_mut().enumerate() {
                *byte = seq
                    .next_element()?
                    .ok_or_else(|| A::Error::invalid_length(i, &self))?;
            }
            match seq.next_element::<u8>()? {
                None => Ok(out),
                Some(_) => Err(A::Error::invalid_length(N + 1, &self)),
            }
        }
    }

    fn bytes<'de, D: Deserializer<'de>, const N: usize>(d: D) -> Result<[u8; N], D::Error> {
        d.deserialize_bytes(Exactly::<N>)
    }

    /// An optional `u128`, serialized as [`Self::serialize`] would.
    pub(super) struct Key(pub(super) Option<u128>);

    impl Serialize for Key {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            option_u128::serialize(&self.0, s)
        }
    }

    pub(super) mod u128 {
        use super::*;
        pub(in super::super) fn serialize<S: Serializer>(
            v: &u128,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(&v.to_le_bytes())
        }
        pub(in super::super) fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<u128, D::Error> {
            bytes(d).map(u128::from_le_bytes)
        }
    }

    pub(super) mod u64 {
        use super::*;
        pub(in super::super) fn serialize<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(&v.to_le_bytes())
        }
        pub(in super::super) fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<u64, D::Error> {
            bytes(d).map(u64::from_le_bytes)
        }
    }

    pub(super) mod option_u128 {
        use super::*;

        #[derive(Serialize, Deserialize)]
        #[serde(transparent)]
        struct Id(#[serde(with = "super::u128")] u128);

        pub(in super::super) fn serialize<S: Serializer>(
            v: &Option<u128>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            v.map(Id).serialize(s)
        }
        pub(in super::super) fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<u128>, D::Error> {
            Ok(Option::<Id>::deserialize(d)?.map(|Id(v)| v))
        }
    }
}

/// A shared secret: its `Debug` never shows it, and
/// [`ct_eq`](Secret::ct_eq) compares in time independent of where two
/// secrets of one length differ.
///
/// ```
/// use heddle::wire::binary::Secret;
/// let s = Secret::new(b"hunter2".to_vec());
/// assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
/// assert!(s.ct_eq(&Secret::new(b"hunter2".to_vec())));
/// assert!(!s.ct_eq(&Secret::new(b"hunter3".to_vec())));
/// ```
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// Wraps the secret's bytes.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// Equal, compared in constant time for equal lengths (the length
    /// itself is not hidden).
    pub fn ct_eq(&self, other: &Secret) -> bool {
        subtle::ConstantTimeEq::ct_eq(self.0.as_slice(), other.0.as_slice()).into()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Equality is [`Secret::ct_eq`]: `==` on secrets is constant time too.
impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other)
    }
}

impl Eq for Secret {}

impl From<Vec<u8>> for Secret {
    fn from(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }
}

impl From<&[u8]> for Secret {
    fn from(bytes: &[u8]) -> Self {
        Self(bytes.to_vec())
    }
}

/// Why a server refused a handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum Refusal {
    /// The client presented the wrong shared token.
    #[error("bad token")]
    BadToken,
    /// The client speaks another protocol version.
    #[error("protocol {found} not supported (the server speaks {supported})")]
    Protocol {
        /// The client's version.
        found: u16,
        /// The server's version.
        supported: u16,
    },
}

/// What the built-in `health` method answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Health {
    /// Accepting and running calls.
    Serving,
    /// Shutting down: finishing admitted calls, refusing new ones.
    Draining,
}

/// The outcome of a call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    /// The id of the call this answers.
    pub id: u64,
    /// The result bytes, or why there are none.
    pub outcome: Result<Vec<u8>, RemoteError>,
}

/// An error the server reports for one call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RemoteError {
    /// No handler is registered under this name.
    UnknownMethod(String),
    /// The arguments did not decode as the handler's argument type.
    BadArguments(String),
    /// The handler ran and returned an error.
    Handler(String),
    /// The handler panicked.
    Panicked(String),
    /// The server is shutting down and did not start the call.
    ShuttingDown,
    /// Too many calls in flight on this connection.
    Overloaded,
    /// A server crash or restart interrupted an earlier execution of this
    /// idempotency key: it may or may not have taken effect, and it will not
    /// be run again.
    Interrupted,
    /// This client already used the call's idempotency key for a call with
    /// a different method or arguments: the key was reused by mistake (two
    /// clients sharing one RNG seed, say). The call was not run, and the
    /// other call's outcome is never handed out under it.
    KeyReused,
}

#[cfg(all(test, not(any(feature = "loom", feature = "shuttle"))))]
mod tests {
    use super::*;

    /// `CallRef` and `Envelope::Call` encode alike, and the variant index
    /// is `Call`'s (it fails if a variant is inserted before `Call`).
    #[test]
    fn a_borrowed_call_encodes_as_the_owned_one() {
        let trace = Some(TraceContext {
            trace_id: u128::MAX,
            span_id: 7,
        });
        let owned = Envelope::Call(Call {
            id: u64::MAX,
            method: "mé".into(),
            idempotency_key: None,
            args: vec![0; 300],
            trace,
        });
        let borrowed = CallRef {
            id: u64::MAX,
            method: "mé",
            idempotency_key: None,
            args: &[0; 300],
            trace,
        };
        let bytes = to_vec(&borrowed).expect("encodes");
        assert_eq!(bytes, to_vec(&owned).expect("encodes"));
        assert_eq!(decode::<Envelope>(&bytes), Ok(owned));
    }

    /// Random ids travel as their bytes: 17 for a `u128`, 9 for a `u64`
    /// (varints of random values take 19 and 10), and an id of the wrong
    /// width is refused.
    #[test]
    fn random_ids_are_fixed_width_on_the_wire() {
        let trace = TraceContext {
            trace_id: u128::MAX - 1,
            span_id: u64::MAX - 1,
        };
        let call = CallRef {
            id: 1,
            method: "m",
            idempotency_key: Some(u128::MAX - 2),
            args: &[],
            trace: Some(trace),
        };
        // Variant, id, method (2), key (1 + 17), args (1), trace (1 + 17 + 9).
        let bytes = to_vec(&call).expect("encodes");
        assert_eq!(bytes.len(), 1 + 1 + 2 + 18 + 1 + 27);
        let Ok(Envelope::Call(back)) = decode::<Envelope>(&bytes) else {
            panic!("decodes");
        };
        assert_eq!(
            (back.idempotency_key, back.trace),
            (call.idempotency_key, Some(trace))
        );
        // The key claims 15 bytes instead of 16.
        let mut short = bytes.clone();
        short[5] = 15;
        short.remove(6);
        assert!(matches!(
            decode::<Envelope>(&short),
            Err(WireError::Binary(_))
        ));
    }

    /// Envelopes stay readable by self-describing formats (logs, tools).
    #[test]
    fn an_envelope_with_ids_round_trips_through_json() {
        let call = Envelope::Call(Call {
            id: 3,
            method: "m".into(),
            idempotency_key: Some(u128::MAX - 2),
            args: vec![1, 2],
            trace: Some(TraceContext {
                trace_id: 7,
                span_id: u64::MAX,
            }),
        });
        let json = serde_json::to_vec(&call).expect("encodes");
        assert_eq!(
            serde_json::from_slice::<Envelope>(&json).expect("decodes"),
            call
        );
    }

    #[test]
    fn trailing_bytes_are_an_error() {
        let mut bytes = to_vec(&5u32).expect("encodes");
        bytes.push(0);
        assert_eq!(decode::<u32>(&bytes), Err(WireError::TrailingBytes(1)));
    }

    #[test]
    fn encode_appends() {
        let mut out = vec![0xAA];
        encode(&1u8, &mut out).expect("encodes");
        assert_eq!(out, [0xAA, 1]);
    }

    #[test]
    fn a_huge_declared_length_does_not_allocate_or_panic() {
        // A Vec<u8> claiming u32::MAX elements in a 6-byte input.
        let hostile = [0xff, 0xff, 0xff, 0xff, 0x0f, 1];
        assert!(matches!(
            decode::<Vec<u8>>(&hostile),
            Err(WireError::Binary(_))
        ));
    }
}
