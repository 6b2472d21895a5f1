//! Message types and their encoders/decoders: the surface that is fuzzed.
//!
//! Three layers, each a pure function of bytes (no I/O):
//!
//! - [`frame`]: length-prefixed frames with a version byte and a maximum
//!   size. The decoder checks the declared length against the limit *before*
//!   anything is buffered, so a hostile peer cannot make it allocate.
//! - [`binary`]: the compact binary encoding (serde + postcard) of heddle's
//!   RPC envelope and of any serde type.
//! - [`jsonrpc`]: JSON-RPC 2.0 requests and responses, including batches,
//!   notifications and the spec's error codes.
//!
//! Decoders never panic, never allocate more than the input they were given
//! (which the frame layer bounds), and return a [`WireError`] for every
//! malformed input. `fuzz/` holds one cargo-fuzz target per decoder.

pub mod binary;
#[doc(hidden)]
pub mod checks;
pub mod frame;
pub mod jsonrpc;

/// Everything that can be wrong with bytes on the wire.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// A frame declared a payload larger than the configured maximum.
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    FrameTooLarge {
        /// Declared (or attempted) payload length.
        len: u64,
        /// The configured limit.
        max: usize,
    },
    /// A frame carried a version byte this build does not speak.
    #[error("unsupported frame version {found} (expected {expected})")]
    UnsupportedVersion {
        /// The version byte received.
        found: u8,
        /// The version this build speaks.
        expected: u8,
    },
    /// The binary payload is not a valid encoding of the expected type.
    #[error("malformed binary message: {0}")]
    Binary(String),
    /// The binary payload decoded, but bytes were left over.
    #[error("{0} trailing bytes after a binary message")]
    TrailingBytes(usize),
    /// Encoding a message failed (for example a map with non-string keys in JSON).
    #[error("cannot encode message: {0}")]
    Encode(String),
    /// The JSON is not a valid JSON-RPC 2.0 response (requests are answered
    /// with JSON-RPC error objects instead, see [`jsonrpc`]).
    #[error("malformed JSON-RPC response: {0}")]
    JsonRpc(String),
}
