//! Frames over a byte stream: [`FrameReader`] and [`write_frame`].
//!
//! The reader buffers at most one frame plus one read's worth of the next:
//! the frame header is validated (version, length ≤ limit) before any room
//! for the payload is reserved, so a peer cannot make it allocate more than
//! the configured maximum.
//!
//! # Example
//!
//! ```
//! use heddle::net::framed::{FrameReader, write_frame};
//! use heddle::wire::frame::FrameCodec;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let (a, b) = tokio::io::duplex(64);
//! let codec = FrameCodec::new(1024);
//! let (_, mut w) = tokio::io::split(a);
//! write_frame(&mut w, &codec, b"one").await?;
//! write_frame(&mut w, &codec, b"two").await?;
//! drop(w);
//! let mut r = FrameReader::new(b, codec);
//! assert_eq!(r.next().await?, Some(&b"one"[..]));
//! assert_eq!(r.next().await?, Some(&b"two"[..]));
//! # Ok::<(), heddle::net::framed::FramedError>(()) }).unwrap();
//! ```

use crate::wire::WireError;
use crate::wire::frame::{Decoded, FrameCodec};
use std::ops::Range;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Reading or writing frames failed.
#[derive(Debug, thiserror::Error)]
pub enum FramedError {
    /// The stream failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The bytes are not valid frames.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// The peer closed the stream in the middle of a frame.
    #[error("stream closed inside a frame ({buffered} bytes buffered)")]
    Truncated {
        /// Bytes of the incomplete frame that had arrived.
        buffered: usize,
    },
}

/// Writes one frame and flushes.
pub async fn write_frame<W: AsyncWrite + Unpin>(
    w: &mut W,
    codec: &FrameCodec,
    payload: &[u8],
) -> Result<(), FramedError> {
    let mut buf = Vec::new();
    codec.encode(payload, &mut buf)?;
    w.write_all(&buf).await?;
    w.flush().await?;
    Ok(())
}

/// Reads frames from a stream, one at a time.
#[derive(Debug)]
pub struct FrameReader<R> {
    inner: R,
    codec: FrameCodec,
    buf: Vec<u8>,
    /// Start of unread bytes in `buf`.
    start: usize,
    /// Bytes of the frame last handed out (borrowed from `buf`), to skip
    /// at the next call.
    lent: usize,
}

/// Bytes read from the stream at once when nothing more specific is known.
const READ_CHUNK: usize = 8 * 1024;

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// Wraps `inner`.
    pub fn new(inner: R, codec: FrameCodec) -> Self {
        Self {
            inner,
            codec,
            buf: Vec::new(),
            start: 0,
            lent: 0,
        }
    }

    /// The next frame's payload, borrowed from the reader's buffer (no
    /// copy; it is valid until the next call); `None` when the peer closed
    /// the stream cleanly between frames. Cancel-safe: dropping the future
    /// loses no bytes (they stay buffered for the next call).
    pub async fn next(&mut self) -> Result<Option<&[u8]>, FramedError> {
        loop {
            let need = match self.buffered()? {
                Ok(frame) => return Ok(Some(&self.buf[frame])),
                Err(need) => need,
            };
            // Compact before growing, so the buffer never exceeds one frame
            // plus one chunk.
            if self.start > 0 {
                self.buf.drain(..self.start);
                self.start = 0;
            }
            self.buf
                .reserve(need.max(READ_CHUNK.min(self.codec.max_frame() + 5)));
            let n = self.inner.read_buf(&mut self.buf).await?;
            if n == 0 {
                return match self.buf.len() {
                    0 => Ok(None),
                    buffered => Err(FramedError::Truncated { buffered }),
                };
            }
        }
    }

    /// The next frame if it has already been read from the stream, without
    /// reading more: lets a caller handle every frame that arrived together
    /// before it answers (and answer them with one write).
    pub fn next_buffered(&mut self) -> Result<Option<&[u8]>, FramedError> {
        Ok(self.buffered()?.ok().map(|frame| &self.buf[frame]))
    }

    /// Where the next buffered frame's payload is in `buf`, or how many
    /// more bytes one needs. Skips the frame handed out last.
    fn buffered(&mut self) -> Result<Result<Range<usize>, usize>, WireError> {
        self.start += std::mem::take(&mut self.lent);
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        match self.codec.decode(&self.buf[self.start..])? {
            Decoded::Frame { payload, consumed } => {
                // `payload` ends the frame: it starts after the header.
                let from = self.start + consumed - payload.len();
                self.lent = consumed;
                Ok(Ok(from..self.start + consumed))
            }
            Decoded::NeedMore(n) => Ok(Err(n)),
        }
    }

    /// The wrapped stream.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }
}

#[cfg(all(test, not(any(feature = "loom", feature = "shuttle"))))]
mod tests {
    use super::*;

    /// Frames written in pieces of every size from 1 to 9 bytes, read back
    /// whole, in order, each borrowed only until the next call.
    #[tokio::test]
    async fn frames_come_back_whole_and_in_order_however_the_stream_splits_them() {
        let codec = FrameCodec::new(1024);
        let frames: Vec<Vec<u8>> = (0..40u8).map(|i| vec![i; usize::from(i % 13)]).collect();
        let mut wire = Vec::new();
        for f in &frames {
            codec.encode(f, &mut wire).expect("encodes");
        }
        for piece in 1..10 {
            let (mut w, r) = tokio::io::duplex(4096);
            let chunks: Vec<Vec<u8>> = wire.chunks(piece).map(<[u8]>::to_vec).collect();
            let writer = tokio::spawn(async move {
                for c in chunks {
                    w.write_all(&c).await.expect("writes");
                    tokio::task::yield_now().await;
                }
            });
            let mut reader = FrameReader::new(r, codec);
            let mut got = Vec::new();
            while let Some(frame) = reader.next().await.expect("reads") {
                got.push(frame.to_vec());
                // Whatever else is already buffered comes without a read.
                while let Some(frame) = reader.next_buffered().expect("decodes") {
                    got.push(frame.to_vec());
                }
            }
            writer.await.expect("writer");
            assert_eq!(got, frames, "pieces of {piece} bytes");
        }
    }
}
