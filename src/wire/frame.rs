//! Length-prefixed framing with a version byte and a maximum frame size.
//!
//! ```text
//! +---------+------------------+---------------------+
//! | version | length (u32, BE) | payload (length B)  |
//! +---------+------------------+---------------------+
//!   1 byte       4 bytes
//! ```
//!
//! [`FrameCodec::decode`] is incremental: given the bytes received so far it
//! returns a complete frame (borrowed, with how many bytes it used), or how
//! many more bytes it needs, or an error. The length is checked against the
//! limit as soon as the 5-byte header is in, so a peer announcing a 4 GiB
//! frame is refused before a single payload byte is buffered.
//!
//! # Example
//!
//! ```
//! use heddle::wire::frame::{Decoded, FrameCodec};
//!
//! let codec = FrameCodec::new(1024);
//! let mut wire = Vec::new();
//! codec.encode(b"hello", &mut wire)?;
//! codec.encode(b"", &mut wire)?;
//!
//! let Decoded::Frame { payload, consumed } = codec.decode(&wire)? else { unreachable!() };
//! assert_eq!(payload, b"hello");
//! let Decoded::Frame { payload, .. } = codec.decode(&wire[consumed..])? else { unreachable!() };
//! assert!(payload.is_empty());
//! assert_eq!(codec.decode(&wire[..3])?, Decoded::NeedMore(2)); // header incomplete
//! # Ok::<(), heddle::wire::WireError>(())
//! ```

use super::WireError;

/// The version byte this build writes and accepts.
pub const VERSION: u8 = 1;
/// Bytes before the payload: version + length.
pub const HEADER_LEN: usize = 5;
/// The default maximum payload: 1 MiB.
pub const DEFAULT_MAX_FRAME: usize = 1 << 20;

/// Encoder/decoder for frames no larger than a configured maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameCodec {
    max_frame: usize,
}

impl Default for FrameCodec {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_FRAME)
    }
}

/// The outcome of [`FrameCodec::decode`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// A whole frame: its payload, and how many input bytes it occupied.
    Frame {
        /// The payload, borrowed from the input.
        payload: &'a [u8],
        /// Header plus payload length: where the next frame starts.
        consumed: usize,
    },
    /// The input ends inside a frame; at least this many more bytes are needed.
    NeedMore(usize),
}

impl FrameCodec {
    /// A codec accepting payloads of at most `max_frame` bytes (capped at
    /// `u32::MAX`, the largest length the header can carry).
    pub const fn new(max_frame: usize) -> Self {
        let cap = u32::MAX as usize;
        Self {
            max_frame: if max_frame > cap { cap } else { max_frame },
        }
    }

    /// The largest payload this codec accepts.
    pub const fn max_frame(&self) -> usize {
        self.max_frame
    }

    /// Appends the frame for `payload` to `out`.
    pub fn encode(&self, payload: &[u8], out: &mut Vec<u8>) -> Result<(), WireError> {
        let len = self.check_len(payload.len() as u64)?;
        out.reserve(HEADER_LEN + payload.len());
        out.push(VERSION);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(payload);
        Ok(())
    }

    /// Appends one frame whose payload `write` appends to `out` itself, so
    /// a message is encoded straight into the frame buffer (no payload
    /// vector, no copy). On any error — `write`'s own, or a payload over
    /// the limit — `out` is left as it was.
    ///
    /// ```
    /// use heddle::wire::frame::{Decoded, FrameCodec};
    /// let codec = FrameCodec::new(8);
    /// let mut out = Vec::new();
    /// codec.encode_with(&mut out, |buf| {
    ///     buf.extend_from_slice(b"abc");
    ///     Ok(())
    /// })?;
    /// assert!(matches!(codec.decode(&out)?, Decoded::Frame { payload: b"abc", .. }));
    /// # Ok::<(), heddle::wire::WireError>(())
    /// ```
    pub fn encode_with(
        &self,
        out: &mut Vec<u8>,
        write: impl FnOnce(&mut Vec<u8>) -> Result<(), WireError>,
    ) -> Result<(), WireError> {
        let start = out.len();
        out.extend_from_slice(&[VERSION, 0, 0, 0, 0]);
        let len = write(out).and_then(|()| self.check_len((out.len() - start - HEADER_LEN) as u64));
        match len {
            Ok(len) => {
                out[start + 1..start + HEADER_LEN].copy_from_slice(&len.to_be_bytes());
                Ok(())
            }
            Err(e) => {
                out.truncate(start);
                Err(e)
            }
        }
    }

    /// Decodes the frame at the start of `buf`.
    pub fn decode<'a>(&self, buf: &'a [u8]) -> Result<Decoded<'a>, WireError> {
        let Some(header) = buf.first_chunk::<HEADER_LEN>() else {
            if let Some(&v) = buf.first() {
                check_version(v)?;
            }
            return Ok(Decoded::NeedMore(HEADER_LEN - buf.len()));
        };
        check_version(header[0])?;
        let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]);
        let len = self.check_len(u64::from(len))? as usize;
        let body = &buf[HEADER_LEN..];
        match body.get(..len) {
            Some(payload) => Ok(Decoded::Frame {
                payload,
                consumed: HEADER_LEN + len,
            }),
            None => Ok(Decoded::NeedMore(len - body.len())),
        }
    }

    /// Checks a length against the limit; `Ok` carries it as the header's u32.
    fn check_len(&self, len: u64) -> Result<u32, WireError> {
        if len > self.max_frame as u64 {
            return Err(WireError::FrameTooLarge {
                len,
                max: self.max_frame,
            });
        }
        // max_frame <= u32::MAX, so this cannot fail once the check passed.
        u32::try_from(len).map_err(|_| WireError::FrameTooLarge {
            len,
            max: self.max_frame,
        })
    }
}

fn check_version(found: u8) -> Result<(), WireError> {
    if found == VERSION {
        Ok(())
    } else {
        Err(WireError::UnsupportedVersion {
            found,
            expected: VERSION,
        })
    }
}

#[cfg(all(test, not(any(feature = "loom", feature = "shuttle"))))]
mod tests {
    use super::*;

    #[test]
    fn oversized_frames_are_refused_both_ways() {
        let codec = FrameCodec::new(4);
        let mut out = Vec::new();
        assert_eq!(
            codec.encode(b"12345", &mut out),
            Err(WireError::FrameTooLarge { len: 5, max: 4 })
        );
        assert!(out.is_empty(), "nothing written on error");
        // A header announcing u32::MAX bytes is refused from the header alone.
        let hostile = [VERSION, 0xff, 0xff, 0xff, 0xff];
        assert_eq!(
            codec.decode(&hostile),
            Err(WireError::FrameTooLarge {
                len: u64::from(u32::MAX),
                max: 4
            })
        );
    }

    #[test]
    fn bad_version_is_refused_from_the_first_byte() {
        let codec = FrameCodec::default();
        assert_eq!(
            codec.decode(&[9]),
            Err(WireError::UnsupportedVersion {
                found: 9,
                expected: VERSION
            })
        );
        assert_eq!(codec.decode(&[]), Ok(Decoded::NeedMore(HEADER_LEN)));
    }

    #[test]
    fn partial_payload_asks_for_the_rest() {
        let codec = FrameCodec::default();
        let mut out = Vec::new();
        codec.encode(b"abcdef", &mut out).expect("fits");
        assert_eq!(codec.decode(&out[..7]), Ok(Decoded::NeedMore(4)));
    }

    /// The limit at its exact boundary, both ways: a payload of exactly
    /// `max_frame` bytes is encoded and decoded; one byte more is refused
    /// by the encoder and, from the header alone, by the decoder.
    #[test]
    fn the_limit_holds_at_its_exact_boundary() {
        for max in [0, 1, 4, 1000] {
            let codec = FrameCodec::new(max);
            let mut out = Vec::new();
            codec
                .encode(&vec![7; max], &mut out)
                .expect("exactly the limit fits");
            assert_eq!(
                codec.decode(&out),
                Ok(Decoded::Frame {
                    payload: &vec![7; max][..],
                    consumed: HEADER_LEN + max
                })
            );
            let too_big = (max + 1) as u64;
            let mut none = Vec::new();
            assert_eq!(
                codec.encode(&vec![7; max + 1], &mut none),
                Err(WireError::FrameTooLarge { len: too_big, max })
            );
            assert!(none.is_empty());
            let mut header = vec![VERSION];
            header.extend_from_slice(&u32::try_from(max + 1).expect("small").to_be_bytes());
            assert_eq!(
                codec.decode(&header),
                Err(WireError::FrameTooLarge { len: too_big, max })
            );
        }
    }

    /// The largest limit the header can carry: `u32::MAX` is kept, anything
    /// above it is capped to it.
    #[test]
    fn the_limit_is_capped_at_the_headers_range() {
        let max = u32::MAX as usize;
        assert_eq!(FrameCodec::new(max).max_frame(), max);
        assert_eq!(FrameCodec::new(usize::MAX).max_frame(), max);
        // A header announcing exactly u32::MAX bytes is accepted (it asks
        // for the payload) under that limit.
        let header = [VERSION, 0xff, 0xff, 0xff, 0xff];
        assert_eq!(
            FrameCodec::new(max).decode(&header),
            Ok(Decoded::NeedMore(max))
        );
    }

    /// `encode_with` holds the same limit at the same boundary, and leaves
    /// the buffer as it was on an error.
    #[test]
    fn encode_with_matches_encode_at_the_boundary() {
        let codec = FrameCodec::new(4);
        let mut a = vec![9];
        let mut b = vec![9];
        codec.encode(b"1234", &mut a).expect("fits");
        codec
            .encode_with(&mut b, |o| {
                o.extend_from_slice(b"1234");
                Ok(())
            })
            .expect("fits");
        assert_eq!(a, b);
        let over = codec.encode_with(&mut b, |o| {
            o.extend_from_slice(b"12345");
            Ok(())
        });
        assert_eq!(over, Err(WireError::FrameTooLarge { len: 5, max: 4 }));
        assert_eq!(a, b, "nothing left behind");
    }
}
