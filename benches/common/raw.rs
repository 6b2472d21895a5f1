//! The raw baseline of the network benches: a hand-written tokio client and
//! server exchanging `u32`-length-prefixed frames, the least a user could
//! write for one request and its reply.

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// Reads one length-prefixed frame into `buf`; `false` on a clean end of stream.
pub async fn read_frame<R: AsyncReadExt + Unpin>(r: &mut R, buf: &mut Vec<u8>) -> bool {
    let len = match r.read_u32_le().await {
        Ok(len) => len as usize,
        Err(_) => return false,
    };
    buf.resize(len, 0);
    r.read_exact(buf).await.is_ok()
}

/// Appends `payload` as one frame.
pub fn push_frame(out: &mut Vec<u8>, payload: &[u8]) {
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(payload);
}

/// Echoes every frame back, one write per frame.
pub async fn echo_server(listener: TcpListener) {
    while let Ok((stream, _)) = listener.accept().await {
        stream.set_nodelay(true).expect("nodelay");
        tokio::spawn(async move {
            let (r, mut w) = stream.into_split();
            let mut r = BufReader::new(r);
            let (mut req, mut out) = (Vec::new(), Vec::new());
            while read_frame(&mut r, &mut req).await {
                out.clear();
                push_frame(&mut out, &req);
                if w.write_all(&out).await.is_err() {
                    return;
                }
            }
        });
    }
}

/// The client of [`echo_server`]: one round trip is a write, then a read.
pub struct EchoClient {
    stream: BufReader<TcpStream>,
    out: Vec<u8>,
    reply: Vec<u8>,
}

impl EchoClient {
    /// Connects (with `TCP_NODELAY`).
    pub async fn connect(addr: std::net::SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        Self {
            stream: BufReader::new(stream),
            out: Vec::new(),
            reply: Vec::new(),
        }
    }

    /// Sends `payload` and waits for it to come back.
    pub async fn round_trip(&mut self, payload: &[u8]) -> &[u8] {
        self.out.clear();
        push_frame(&mut self.out, payload);
        self.stream
            .get_mut()
            .write_all(&self.out)
            .await
            .expect("write");
        assert!(read_frame(&mut self.stream, &mut self.reply).await, "eof");
        &self.reply
    }
}
