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
    postcard::to_extend(msg, Appender(out))
        .map(drop)
        .map_err(|e| {
            out.truncate(start);
            WireError::Encode(e.to_string())
        })
}

/// Lets postcard append to a borrowed vector.
struct Appender<'a>(&'a mut Vec<u8>);

impl Extend<u8> for Appender<'_> {
    fn extend<I: IntoIterator<Item = u8>>(&mut self, iter: I) {
        self.0.extend(iter);
    }
}

/// The encoding of `msg` as a new vector.
pub fn to_vec<T: Serialize + ?Sized>(msg: &T) -> Result<Vec<u8>, WireError> {
    postcard::to_stdvec(msg).map_err(|e| WireError::Encode(e.to_string()))
}

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

/// One RPC message, as carried in one frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Envelope {
    /// Client → server, first message on a connection: protocol version
    /// and the shared token.
    Hello {
        /// The RPC protocol version the client speaks.
        protocol: u16,
        /// The shared secret; the server refuses the connection if it differs.
        token: Vec<u8>,
    },
    /// Server → client: handshake accepted.
    Welcome {
        /// Calls the server will run concurrently for this connection.
        max_in_flight: u32,
    },
    /// Server → client: handshake refused; the server then closes.
    Refused {
        /// Why.
        reason: String,
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
    pub idempotency_key: Option<u128>,
    /// The arguments, encoded by the caller.
    pub args: Vec<u8>,
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
}

#[cfg(all(test, not(any(feature = "loom", feature = "shuttle"))))]
mod tests {
    use super::*;

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
