//! `aws-chunked` request bodies with an unsigned trailer (`STREAMING-UNSIGNED-PAYLOAD-TRAILER`):
//! the SHA-256 of the payload is computed while it streams and sent after it, so the
//! receiver verifies every byte without the sender reading the payload twice.
//!
//! The payload is cut into chunks of [`CHUNK`] bytes (the last one shorter), which makes
//! the encoded length known in advance: S3 wants a Content-Length. Pieces are split, never
//! copied.

use std::collections::VecDeque;
use std::sync::{Arc, OnceLock};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use futures::{Stream, StreamExt as _};
use sha2::Digest as _;

/// Payload bytes per chunk.
pub const CHUNK: u64 = 64 * 1024;
/// The trailer this encoder sends.
pub const TRAILER: &str = "x-amz-checksum-sha256";
/// A base64 SHA-256.
const SHA256_B64_LEN: u64 = 44;

/// Bytes on the wire for a payload of `decoded` bytes.
pub fn encoded_len(decoded: u64) -> u64 {
    let frame = |n: u64| format!("{n:x}").len() as u64 + 2 + n + 2;
    let full = decoded / CHUNK;
    let rest = decoded % CHUNK;
    let chunks = full * frame(CHUNK) + if rest > 0 { frame(rest) } else { 0 };
    // "0\r\n", then "name:value\r\n", then the empty line.
    chunks + 3 + TRAILER.len() as u64 + 1 + SHA256_B64_LEN + 2 + 2
}

/// The SHA-256 (base64) of the payload, known once the body has been sent to its end.
pub type SentChecksum = Arc<OnceLock<String>>;

struct Encoder<S> {
    payload: S,
    pieces: VecDeque<Bytes>,
    buffered: u64,
    hasher: sha2::Sha256,
    seen: u64,
    expected: u64,
    ended: bool,
    finished: bool,
    checksum: SentChecksum,
}

/// Encodes `payload`, which must be exactly `decoded_len` bytes (the body fails otherwise,
/// so a short read never reaches the receiver as a complete payload).
pub fn encode<S>(payload: S, decoded_len: u64) -> (super::http::Body, SentChecksum)
where
    S: Stream<Item = std::io::Result<Bytes>> + Send + Unpin + 'static,
{
    let checksum = SentChecksum::default();
    let encoder = Encoder {
        payload,
        pieces: VecDeque::new(),
        buffered: 0,
        hasher: sha2::Sha256::new(),
        seen: 0,
        expected: decoded_len,
        ended: false,
        finished: false,
        checksum: checksum.clone(),
    };
    let frames = futures::stream::unfold(encoder, |mut e| async move {
        let frames = e.next_frames().await?;
        Some((futures::stream::iter(frames), e))
    })
    .flatten()
    .map(|piece| piece.map(hyper::body::Frame::data));
    // The client's body must be Sync; the stream is only ever polled by one task.
    let body = http_body_util::BodyExt::boxed(http_body_util::StreamBody::new(
        sync_wrapper::SyncStream::new(frames),
    ));
    (body, checksum)
}

impl<S> Encoder<S>
where
    S: Stream<Item = std::io::Result<Bytes>> + Unpin,
{
    /// The next frames to send, or None once the trailer went out.
    async fn next_frames(&mut self) -> Option<Vec<std::io::Result<Bytes>>> {
        if self.finished {
            return None;
        }
        while !self.ended && self.buffered < CHUNK {
            match self.payload.next().await {
                Some(Ok(piece)) => {
                    self.seen += piece.len() as u64;
                    if self.seen > self.expected {
                        return Some(self.fail("the payload is longer than announced"));
                    }
                    self.hasher.update(&piece);
                    self.buffered += piece.len() as u64;
                    self.pieces.push_back(piece);
                }
                Some(Err(e)) => return Some(self.fail(&e.to_string())),
                None => self.ended = true,
            }
        }
        let take = self.buffered.min(CHUNK);
        if take > 0 {
            return Some(self.chunk(take));
        }
        if self.seen != self.expected {
            return Some(self.fail("the payload ended before its announced length"));
        }
        self.finished = true;
        let sum = BASE64.encode(std::mem::take(&mut self.hasher).finalize());
        let trailer = format!("0\r\n{TRAILER}:{sum}\r\n\r\n");
        let _ = self.checksum.set(sum);
        Some(vec![Ok(Bytes::from(trailer))])
    }

    /// One chunk of `len` buffered bytes: its size line, the pieces, the line end.
    fn chunk(&mut self, len: u64) -> Vec<std::io::Result<Bytes>> {
        let mut frames = vec![Ok(Bytes::from(format!("{len:x}\r\n")))];
        let mut left = len;
        while left > 0 {
            let Some(mut piece) = self.pieces.pop_front() else {
                break;
            };
            if piece.len() as u64 > left {
                let rest = piece.split_off(left as usize);
                self.pieces.push_front(rest);
            }
            left -= piece.len() as u64;
            frames.push(Ok(piece));
        }
        self.buffered -= len;
        frames.push(Ok(Bytes::from_static(b"\r\n")));
        frames
    }

    fn fail(&mut self, why: &str) -> Vec<std::io::Result<Bytes>> {
        self.finished = true;
        vec![Err(std::io::Error::other(why.to_owned()))]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt as _;

    fn pieces(data: &[u8], sizes: &[usize]) -> Vec<std::io::Result<Bytes>> {
        let mut out = Vec::new();
        let mut at = 0;
        for s in sizes.iter().cycle() {
            if at >= data.len() {
                break;
            }
            let end = (at + s).min(data.len());
            out.push(Ok(Bytes::copy_from_slice(&data[at..end])));
            at = end;
        }
        out
    }

    async fn encoded(
        data: &[u8],
        sizes: &[usize],
        announced: u64,
    ) -> Result<(Vec<u8>, String), String> {
        let (body, sum) = encode(futures::stream::iter(pieces(data, sizes)), announced);
        let bytes = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
        Ok((bytes.to_vec(), sum.get().cloned().unwrap_or_default()))
    }

    /// Decodes the way a receiver does: size lines, data, and the trailer.
    fn decode(wire: &[u8]) -> (Vec<u8>, String) {
        let mut data = Vec::new();
        let mut rest = wire;
        loop {
            let line_end = rest.windows(2).position(|w| w == b"\r\n").unwrap();
            let size =
                usize::from_str_radix(std::str::from_utf8(&rest[..line_end]).unwrap(), 16).unwrap();
            rest = &rest[line_end + 2..];
            if size == 0 {
                let text = std::str::from_utf8(rest).unwrap();
                assert!(text.ends_with("\r\n\r\n"), "{text:?}");
                return (data, text.trim_end().to_owned());
            }
            data.extend_from_slice(&rest[..size]);
            assert_eq!(&rest[size..size + 2], b"\r\n");
            rest = &rest[size + 2..];
        }
    }

    #[tokio::test]
    async fn any_piece_sizes_give_whole_chunks_the_predicted_length_and_the_trailer() {
        for len in [0usize, 1, 65_535, 65_536, 65_537, 200_000] {
            let data: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            for sizes in [&[1000][..], &[65_536], &[70_000, 3], &[len.max(1)]] {
                let (wire, sum) = encoded(&data, sizes, len as u64).await.unwrap();
                assert_eq!(
                    wire.len() as u64,
                    encoded_len(len as u64),
                    "len {len} sizes {sizes:?}"
                );
                let (decoded, trailer) = decode(&wire);
                assert_eq!(decoded, data);
                let want = BASE64.encode(sha2::Sha256::digest(&data));
                assert_eq!(sum, want);
                assert_eq!(trailer, format!("{TRAILER}:{want}"));
            }
        }
    }

    #[tokio::test]
    async fn a_payload_of_another_length_fails_the_body() {
        let data = vec![1u8; 1000];
        assert!(encoded(&data, &[100], 1001).await.is_err());
        assert!(encoded(&data, &[100], 999).await.is_err());
    }
}
