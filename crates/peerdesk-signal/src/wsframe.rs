//! The server's end of RFC 6455, kept small: nothing is buffered between messages.
//!
//! A signaling connection sits idle for hours between a few kilobyte-sized messages. A general
//! WebSocket library keeps its read and write buffers at the size of the largest frame the
//! connection ever carried (an SDP: several KiB), for every idle connection. Here a frame's
//! payload is read into a buffer of exactly its size, handed over and freed; a frame is written
//! from a buffer made for it and freed. See docs/PERFORMANCE.md.
//!
//! [`parse_header`] is pure (fuzzed: fuzz/fuzz_targets/ws_frame.rs); [`Reader`] and
//! [`Writer`] do the I/O.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The GUID of RFC 6455 section 1.3, for `Sec-WebSocket-Accept`.
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Close codes (RFC 6455 section 7.4.1).
pub const CLOSE_NORMAL: u16 = 1000;
/// A frame or message over the limit.
pub const CLOSE_TOO_BIG: u16 = 1009;
/// Broken framing.
pub const CLOSE_PROTOCOL: u16 = 1002;

const OP_CONTINUATION: u8 = 0x0;
const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;

/// The `Sec-WebSocket-Accept` value for a client's `Sec-WebSocket-Key`.
pub fn accept_key(key: &str) -> String {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY);
    ctx.update(key.trim().as_bytes());
    ctx.update(GUID.as_bytes());
    crate::ice::base64_std(ctx.finish().as_ref())
}

/// A frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Last frame of its message.
    pub fin: bool,
    /// The opcode.
    pub opcode: u8,
    /// The client's masking key (every client frame has one).
    pub mask: [u8; 4],
    /// Payload length.
    pub len: u64,
}

/// Why a connection's framing is broken.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Reserved bits set (no extension was agreed).
    #[error("reserved bits set")]
    Reserved,
    /// An opcode RFC 6455 does not define.
    #[error("unknown opcode {0:#x}")]
    Opcode(u8),
    /// A frame from a client without a mask.
    #[error("a client frame without a mask")]
    Unmasked,
    /// A control frame that is fragmented or over 125 bytes.
    #[error("a bad control frame")]
    Control,
    /// A 64-bit length with its top bit set, or a length in more bytes than it needs.
    #[error("a bad length")]
    Length,
    /// A frame over the limit.
    #[error("a frame of {0} bytes is over the limit")]
    TooBig(u64),
    /// A message (all its fragments) over the limit.
    #[error("a message over the limit")]
    MessageTooBig,
    /// A continuation with no message to continue, or a new message before the last ended.
    #[error("fragments out of order")]
    Fragments,
    /// A text message that is not UTF-8.
    #[error("text that is not UTF-8")]
    Utf8,
}

/// Parses a client frame's header from the start of `b`: the header and its length in bytes,
/// `None` when `b` is too short to tell, or why it is not acceptable.
pub fn parse_header(b: &[u8], max_frame: u64) -> Result<Option<(Header, usize)>, FrameError> {
    if b.len() < 2 {
        return Ok(None);
    }
    if b[0] & 0x70 != 0 {
        return Err(FrameError::Reserved);
    }
    let fin = b[0] & 0x80 != 0;
    let opcode = b[0] & 0x0F;
    if !matches!(opcode, OP_CONTINUATION | OP_TEXT | OP_BINARY | OP_CLOSE | OP_PING | OP_PONG) {
        return Err(FrameError::Opcode(opcode));
    }
    if b[1] & 0x80 == 0 {
        return Err(FrameError::Unmasked);
    }
    let (len, at) = match b[1] & 0x7F {
        126 => {
            let Some(x) = b.get(2..4) else { return Ok(None) };
            let len = u64::from(u16::from_be_bytes([x[0], x[1]]));
            if len < 126 {
                return Err(FrameError::Length);
            }
            (len, 4)
        }
        127 => {
            let Some(x) = b.get(2..10) else { return Ok(None) };
            let mut raw = [0u8; 8];
            raw.copy_from_slice(x);
            let len = u64::from_be_bytes(raw);
            if len >> 63 != 0 || len <= 0xFFFF {
                return Err(FrameError::Length);
            }
            (len, 10)
        }
        n => (u64::from(n), 2),
    };
    if opcode >= OP_CLOSE && (!fin || len > 125) {
        return Err(FrameError::Control);
    }
    if len > max_frame {
        return Err(FrameError::TooBig(len));
    }
    let Some(m) = b.get(at..at + 4) else { return Ok(None) };
    let mask = [m[0], m[1], m[2], m[3]];
    Ok(Some((Header { fin, opcode, mask, len }, at + 4)))
}

/// What a client sent.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming {
    /// A whole text message.
    Text(String),
    /// A whole binary message (only its size is kept: the protocol has none).
    Binary(usize),
    /// A ping, to answer with a pong carrying the same bytes.
    Ping(Vec<u8>),
    /// A pong.
    Pong,
    /// The client closes, with its code if it gave one.
    Close(Option<u16>),
}

/// Why reading stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The connection ended or failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The client broke the framing rules or a limit.
    #[error("{0}")]
    Frame(#[from] FrameError),
}

/// Reads whole messages from a client, holding nothing between them but a message's fragments
/// while it arrives.
pub struct Reader<R> {
    io: R,
    max_frame: u64,
    max_message: usize,
    partial: Option<(u8, Vec<u8>)>,
}

impl<R> std::fmt::Debug for Reader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader").field("max_frame", &self.max_frame).finish_non_exhaustive()
    }
}

impl<R: AsyncRead + Unpin> Reader<R> {
    /// Reads from `io`; frames over `max_frame` bytes and messages over `max_message` are errors.
    pub fn new(io: R, max_frame: usize, max_message: usize) -> Self {
        Self { io, max_frame: max_frame as u64, max_message, partial: None }
    }

    /// The next message or control frame.
    pub async fn next(&mut self) -> Result<Incoming, ReadError> {
        loop {
            let mut head = [0u8; 14];
            self.io.read_exact(&mut head[..2]).await?;
            let extra = match head[1] & 0x7F {
                126 => 2,
                127 => 8,
                _ => 0,
            } + 4;
            // The first two bytes alone can already be refused (reserved bits, opcode, mask).
            if let Err(e) = parse_header(&head[..2], self.max_frame) {
                return Err(e.into());
            }
            self.io.read_exact(&mut head[2..2 + extra]).await?;
            let Some((h, _)) = parse_header(&head[..2 + extra], self.max_frame)? else {
                return Err(FrameError::Length.into());
            };
            let len = usize::try_from(h.len).map_err(|_| FrameError::TooBig(h.len))?;
            let mut payload = vec![0u8; len];
            self.io.read_exact(&mut payload).await?;
            for (i, b) in payload.iter_mut().enumerate() {
                *b ^= h.mask[i % 4];
            }
            if let Some(m) = self.message(h, payload)? {
                return Ok(m);
            }
        }
    }

    /// Takes one unmasked frame; a message once it is whole.
    fn message(&mut self, h: Header, payload: Vec<u8>) -> Result<Option<Incoming>, FrameError> {
        match h.opcode {
            OP_PING => return Ok(Some(Incoming::Ping(payload))),
            OP_PONG => return Ok(Some(Incoming::Pong)),
            OP_CLOSE => {
                let code = (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]]));
                return Ok(Some(Incoming::Close(code)));
            }
            _ => {}
        }
        let (opcode, data) = match (h.opcode, self.partial.take()) {
            (OP_CONTINUATION, Some((op, mut data))) => {
                if data.len() + payload.len() > self.max_message {
                    return Err(FrameError::MessageTooBig);
                }
                data.extend_from_slice(&payload);
                (op, data)
            }
            (OP_TEXT | OP_BINARY, None) => (h.opcode, payload),
            _ => return Err(FrameError::Fragments),
        };
        if data.len() > self.max_message {
            return Err(FrameError::MessageTooBig);
        }
        if !h.fin {
            self.partial = Some((opcode, data));
            return Ok(None);
        }
        Ok(Some(if opcode == OP_TEXT {
            Incoming::Text(String::from_utf8(data).map_err(|_| FrameError::Utf8)?)
        } else {
            Incoming::Binary(data.len())
        }))
    }
}

/// Writes frames to a client; nothing kept between them.
pub struct Writer<W> {
    io: W,
}

impl<W> std::fmt::Debug for Writer<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer").finish_non_exhaustive()
    }
}

impl<W: AsyncWrite + Unpin> Writer<W> {
    /// Writes to `io`.
    pub fn new(io: W) -> Self {
        Self { io }
    }

    async fn frame(&mut self, opcode: u8, payload: &[u8]) -> std::io::Result<()> {
        let mut head = [0u8; 10];
        head[0] = 0x80 | opcode;
        let n = match payload.len() {
            n @ 0..=125 => {
                head[1] = n as u8;
                2
            }
            n @ 126..=0xFFFF => {
                head[1] = 126;
                head[2..4].copy_from_slice(&(n as u16).to_be_bytes());
                4
            }
            n => {
                head[1] = 127;
                head[2..10].copy_from_slice(&(n as u64).to_be_bytes());
                10
            }
        };
        // One write: a header and its payload in separate segments would meet Nagle's delay.
        let mut frame = Vec::with_capacity(n + payload.len());
        frame.extend_from_slice(&head[..n]);
        frame.extend_from_slice(payload);
        self.io.write_all(&frame).await?;
        self.io.flush().await
    }

    /// A text message.
    pub async fn text(&mut self, text: &str) -> std::io::Result<()> {
        self.frame(OP_TEXT, text.as_bytes()).await
    }

    /// A ping.
    pub async fn ping(&mut self) -> std::io::Result<()> {
        self.frame(OP_PING, &[]).await
    }

    /// A pong answering a ping's bytes.
    pub async fn pong(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.frame(OP_PONG, &data[..data.len().min(125)]).await
    }

    /// A close frame with `code` and a short reason, then the end of the stream.
    pub async fn close(&mut self, code: u16, reason: &str) -> std::io::Result<()> {
        let mut body = code.to_be_bytes().to_vec();
        let mut cut = reason.len().min(123);
        while !reason.is_char_boundary(cut) {
            cut -= 1;
        }
        body.extend_from_slice(&reason.as_bytes()[..cut]);
        self.frame(OP_CLOSE, &body).await?;
        self.io.shutdown().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A masked client frame.
    fn client_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [1, 2, 3, 4];
        let mut out = vec![(if fin { 0x80 } else { 0 }) | opcode];
        match payload.len() {
            n @ 0..=125 => out.push(0x80 | n as u8),
            n @ 126..=0xFFFF => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(0x80 | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        out
    }

    async fn read_all(bytes: Vec<u8>, max: usize) -> Vec<Result<Incoming, String>> {
        let mut r = Reader::new(&bytes[..], max, max);
        let mut out = Vec::new();
        loop {
            match r.next().await {
                Ok(m) => out.push(Ok(m)),
                Err(ReadError::Io(_)) => return out,
                Err(ReadError::Frame(e)) => {
                    out.push(Err(e.to_string()));
                    return out;
                }
            }
        }
    }

    #[test]
    fn the_accept_key_is_the_rfc_example() {
        assert_eq!(accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[tokio::test]
    async fn messages_whole_and_in_fragments_with_control_frames_between() {
        let long = "x".repeat(300);
        let mut bytes = client_frame(true, OP_TEXT, b"hello");
        bytes.extend(client_frame(false, OP_TEXT, b"frag"));
        bytes.extend(client_frame(true, OP_PING, b"p"));
        bytes.extend(client_frame(true, OP_CONTINUATION, b"ment"));
        bytes.extend(client_frame(true, OP_TEXT, long.as_bytes()));
        bytes.extend(client_frame(true, OP_BINARY, &[0, 1, 2]));
        bytes.extend(client_frame(true, OP_CLOSE, &1000u16.to_be_bytes()));
        let got = read_all(bytes, 1024).await;
        assert_eq!(
            got,
            vec![
                Ok(Incoming::Text("hello".into())),
                Ok(Incoming::Ping(b"p".to_vec())),
                Ok(Incoming::Text("fragment".into())),
                Ok(Incoming::Text(long)),
                Ok(Incoming::Binary(3)),
                Ok(Incoming::Close(Some(1000))),
            ]
        );
    }

    #[tokio::test]
    async fn broken_framing_and_limits_are_refused() {
        let unmasked = vec![0x81, 0x01, b'a'];
        assert_eq!(read_all(unmasked, 100).await, vec![Err("a client frame without a mask".into())]);
        let big = client_frame(true, OP_TEXT, &[b'a'; 200]);
        assert_eq!(read_all(big, 100).await, vec![Err("a frame of 200 bytes is over the limit".into())]);
        let mut pieces = client_frame(false, OP_TEXT, &[b'a'; 80]);
        pieces.extend(client_frame(true, OP_CONTINUATION, &[b'a'; 80]));
        assert_eq!(read_all(pieces, 100).await, vec![Err("a message over the limit".into())]);
        let orphan = client_frame(true, OP_CONTINUATION, b"x");
        assert_eq!(read_all(orphan, 100).await, vec![Err("fragments out of order".into())]);
        let bad_utf8 = client_frame(true, OP_TEXT, &[0xC3, 0x28]);
        assert_eq!(read_all(bad_utf8, 100).await, vec![Err("text that is not UTF-8".into())]);
        let long_ping = client_frame(true, OP_PING, &[0; 126]);
        assert_eq!(read_all(long_ping, 1000).await, vec![Err("a bad control frame".into())]);
        let reserved = vec![0xC1, 0x80, 0, 0, 0, 0];
        assert_eq!(read_all(reserved, 100).await, vec![Err("reserved bits set".into())]);
        let opcode = vec![0x83, 0x80, 0, 0, 0, 0];
        assert_eq!(read_all(opcode, 100).await, vec![Err("unknown opcode 0x3".into())]);
        // A 10 MB frame is refused from its header alone, before any of it is read.
        let mut huge = vec![0x81, 0x80 | 127];
        huge.extend_from_slice(&10_000_000u64.to_be_bytes());
        huge.extend_from_slice(&[0; 4]);
        assert_eq!(
            read_all(huge, 1 << 20).await,
            vec![Err("a frame of 10000000 bytes is over the limit".into())]
        );
        // Lengths in more bytes than they need.
        let mut padded = vec![0x81, 0x80 | 126, 0, 5];
        padded.extend_from_slice(&[0; 4]);
        assert_eq!(read_all(padded, 100).await, vec![Err("a bad length".into())]);
    }

    #[tokio::test]
    async fn written_frames_read_back_as_a_client_sees_them() {
        let mut out = Vec::new();
        let mut w = Writer::new(&mut out);
        w.text("hi").await.unwrap();
        w.text(&"y".repeat(70_000)).await.unwrap();
        w.ping().await.unwrap();
        w.close(1008, "too many").await.unwrap();
        assert_eq!(&out[..4], &[0x81, 2, b'h', b'i']);
        assert_eq!(&out[4..14], &[0x81, 127, 0, 0, 0, 0, 0, 1, 0x11, 0x70]);
        let rest = &out[14 + 70_000..];
        assert_eq!(&rest[..2], &[0x89, 0]);
        assert_eq!(&rest[2..6], &[0x88, 10, 0x03, 0xF0]);
        assert_eq!(&rest[6..], b"too many");
    }
}
