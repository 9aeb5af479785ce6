//! Sealing and opening the chunks of one blob. Content key and nonce prefix derive from the
//! data key and the blob's random salt; the nonce carries the chunk index and a last-chunk
//! flag (STREAM); the associated data binds the header and the object's identity.

use std::collections::VecDeque;

use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use super::aead::{AeadBackend, ChunkAead};
use super::format::{ChunkSpan, DEFAULT_CHUNK_SIZE, SealHeader};
use super::{CryptoError, DataKey, TAG_LEN};

const CONTENT_LABEL: &[u8] = b"sealgate/v1/content";
const AAD_LABEL: &[u8] = b"sealgate/v1/aad";

/// Which object a blob belongs to; bound into every chunk.
#[derive(Clone, Copy, Debug)]
pub struct ObjectIdentity<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
    /// The version's unique seal id.
    pub version: &'a str,
    /// 0 for a single-part object.
    pub part_number: u32,
}

pub struct BlobCipher {
    aead: Box<dyn ChunkAead>,
    nonce_prefix: [u8; 7],
    aad: [u8; 32],
}

impl std::fmt::Debug for BlobCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BlobCipher(..)")
    }
}

fn push_field(h: &mut Sha256, data: &[u8]) {
    h.update((data.len() as u32).to_be_bytes());
    h.update(data);
}

impl BlobCipher {
    pub fn new(
        dk: &DataKey,
        header: &SealHeader,
        id: &ObjectIdentity<'_>,
        aead: AeadBackend,
    ) -> BlobCipher {
        let mut okm = Zeroizing::new([0u8; 39]);
        super::hkdf_sha256(
            Some(&header.salt),
            dk.as_bytes(),
            CONTENT_LABEL,
            okm.as_mut(),
        );
        let mut key = Zeroizing::new([0u8; 32]);
        key.copy_from_slice(&okm[..32]);
        let mut nonce_prefix = [0u8; 7];
        nonce_prefix.copy_from_slice(&okm[32..]);

        let mut h = Sha256::new();
        h.update(AAD_LABEL);
        push_field(&mut h, &header.encode());
        push_field(&mut h, id.bucket.as_bytes());
        push_field(&mut h, id.key.as_bytes());
        push_field(&mut h, id.version.as_bytes());
        h.update(id.part_number.to_be_bytes());
        BlobCipher {
            aead: aead.cipher(&key),
            nonce_prefix,
            aad: h.finalize().into(),
        }
    }

    fn nonce(&self, index: u64, last: bool) -> Result<[u8; 12], CryptoError> {
        let index = u32::try_from(index)
            .map_err(|_| CryptoError::Malformed("chunk index exceeds 2^32".into()))?;
        let mut n = [0u8; 12];
        n[..7].copy_from_slice(&self.nonce_prefix);
        n[7..11].copy_from_slice(&index.to_be_bytes());
        n[11] = u8::from(last);
        Ok(n)
    }

    pub fn seal_chunk(&self, index: u64, last: bool, buf: &mut Vec<u8>) -> Result<(), CryptoError> {
        let nonce = self.nonce(index, last)?;
        self.aead.seal_in_place(&nonce, &self.aad, buf);
        Ok(())
    }

    /// Seals the chunk in `buf` in place; returns its tag.
    fn seal_chunk_detached(
        &self,
        index: u64,
        last: bool,
        buf: &mut [u8],
    ) -> Result<[u8; TAG_LEN], CryptoError> {
        let nonce = self.nonce(index, last)?;
        Ok(self.aead.seal_detached(&nonce, &self.aad, buf))
    }

    pub fn open_chunk(&self, index: u64, last: bool, buf: &mut Vec<u8>) -> Result<(), CryptoError> {
        let len = self.open_chunk_in_place(index, last, buf)?;
        buf.truncate(len);
        Ok(())
    }

    /// Opens a sealed chunk held in `buf`; returns the plaintext length at its front.
    pub fn open_chunk_in_place(
        &self,
        index: u64,
        last: bool,
        buf: &mut [u8],
    ) -> Result<usize, CryptoError> {
        let nonce = self.nonce(index, last)?;
        self.aead.open_in_place(&nonce, &self.aad, buf)
    }
}

/// Seals a stream of plaintext of a known length into chunks. Plaintext is copied once,
/// into the sealer's buffer, and each chunk is sealed where it lies. A buffer is handed out
/// once it holds a batch of sealed chunks, and ends at a chunk boundary: no plaintext leaves
/// the sealer.
#[derive(Debug)]
pub struct Sealer {
    cipher: BlobCipher,
    header: SealHeader,
    /// Why the header cannot be sealed under, reported by the first call: `new` cannot fail.
    invalid: Option<String>,
    /// Sealed chunks, then the plaintext of the chunk being filled.
    buf: Vec<u8>,
    /// Length of the sealed front of `buf`.
    sealed: usize,
    /// Sealed bytes a buffer holds before it is handed out.
    batch: usize,
    /// Full buffers not yet taken.
    ready: VecDeque<Vec<u8>>,
    index: u64,
    fed: u64,
}

impl Sealer {
    /// A sealer that hands out sealed bytes `batch` or more at a time.
    pub fn new(cipher: BlobCipher, header: &SealHeader, batch: usize) -> Sealer {
        let invalid = header.validate().err().map(|e| e.to_string());
        Sealer {
            cipher,
            header: header.clone(),
            invalid,
            buf: batch_buffer(header, batch, 0),
            sealed: 0,
            batch,
            ready: VecDeque::new(),
            index: 0,
            fed: 0,
        }
    }

    fn check_header(&self) -> Result<(), CryptoError> {
        match &self.invalid {
            Some(why) => Err(CryptoError::Malformed(why.clone())),
            None => Ok(()),
        }
    }

    /// Takes in plaintext, sealing every chunk it completes.
    pub fn update(&mut self, mut plaintext: &[u8]) -> Result<(), CryptoError> {
        self.check_header()?;
        let expected = self.header.plaintext_len;
        let got = self.fed + plaintext.len() as u64;
        if got > expected {
            return Err(CryptoError::LengthMismatch { expected, got });
        }
        self.fed = got;
        while !plaintext.is_empty() {
            let chunk_len = self.header.chunk_plain_len(self.index) as usize;
            let filled = self.buf.len() - self.sealed;
            let n = (chunk_len - filled).min(plaintext.len());
            self.buf.extend_from_slice(&plaintext[..n]);
            plaintext = &plaintext[n..];
            if filled + n == chunk_len {
                self.seal_current()?;
            }
        }
        Ok(())
    }

    fn seal_current(&mut self) -> Result<(), CryptoError> {
        let last = self.index + 1 == self.header.chunk_count();
        let tag =
            self.cipher
                .seal_chunk_detached(self.index, last, &mut self.buf[self.sealed..])?;
        self.buf.extend_from_slice(&tag);
        self.sealed = self.buf.len();
        self.index += 1;
        if self.sealed >= self.batch {
            let fresh = batch_buffer(&self.header, self.batch, self.index);
            let full = std::mem::replace(&mut self.buf, fresh);
            self.ready.push_back(full);
            self.sealed = 0;
        }
        Ok(())
    }

    /// The next batch of sealed bytes, once there is one.
    pub fn take_sealed(&mut self) -> Option<Vec<u8>> {
        self.ready.pop_front()
    }

    /// Seals what is left; returns the sealed bytes not yet taken.
    pub fn finish(mut self) -> Result<Vec<u8>, CryptoError> {
        self.check_header()?;
        if self.fed != self.header.plaintext_len {
            return Err(CryptoError::LengthMismatch {
                expected: self.header.plaintext_len,
                got: self.fed,
            });
        }
        // Only an empty object reaches here with its (empty, final) chunk unsealed.
        if self.index < self.header.chunk_count() {
            self.seal_current()?;
        }
        if self.ready.is_empty() {
            return Ok(self.buf);
        }
        self.ready.push_back(self.buf);
        Ok(self.ready.into_iter().collect::<Vec<_>>().concat())
    }
}

/// A buffer for the sealed chunks of one batch starting at chunk `index`, or for all that
/// is left: sized once, because growing a buffer of megabytes copies it and touches fresh
/// pages, which costs as much as sealing it.
fn batch_buffer(header: &SealHeader, batch: usize, index: u64) -> Vec<u8> {
    // An invalid chunk size must not become a huge allocation before it is reported.
    let stride = header.chunk_size.min(DEFAULT_CHUNK_SIZE) as usize + TAG_LEN;
    let size = batch.div_ceil(stride).max(1) * stride;
    let left = header
        .sealed_len()
        .saturating_sub(header.chunk_offset(index));
    Vec::with_capacity(size.min(usize::try_from(left).unwrap_or(usize::MAX)))
}

/// Opens the chunks covering a plaintext range, fed with the blob bytes of its span.
#[derive(Debug)]
pub struct Opener {
    cipher: BlobCipher,
    header: SealHeader,
    span: ChunkSpan,
    index: u64,
    pending: Vec<u8>,
    skip: u64,
    left: u64,
    /// Set by a chunk that failed to open: nothing after it may come out either.
    failed: bool,
}

impl Opener {
    pub fn new(cipher: BlobCipher, header: &SealHeader, start: u64, end: u64) -> Opener {
        let span = header.locate(start, end);
        Opener {
            cipher,
            header: header.clone(),
            span,
            index: span.first_chunk,
            pending: Vec::with_capacity(
                header.chunk_size.min(DEFAULT_CHUNK_SIZE) as usize + TAG_LEN,
            ),
            skip: span.skip,
            left: span.take,
            failed: false,
        }
    }

    pub fn span(&self) -> ChunkSpan {
        self.span
    }

    /// Appends the requested plaintext of every chunk completed by `sealed` to `out`; only
    /// authenticated bytes ever reach it.
    pub fn update(&mut self, mut sealed: &[u8], out: &mut Vec<u8>) -> Result<(), CryptoError> {
        if self.failed {
            return Err(CryptoError::Authentication);
        }
        // Room for all it can yield, reserved once: growing a large output copies it.
        out.reserve(self.pending.len() + sealed.len());
        while !sealed.is_empty() {
            // Bytes past the span: when reading to the end, a blob longer than its
            // authenticated length says (an appended chunk).
            if self.index > self.span.last_chunk {
                return Err(CryptoError::Authentication);
            }
            let chunk_len = self.header.chunk_plain_len(self.index) as usize + TAG_LEN;
            let last = self.index + 1 == self.header.chunk_count();
            if self.pending.is_empty() && sealed.len() >= chunk_len {
                // The whole chunk is at hand: open it where it lands in `out`, one copy.
                let start = out.len();
                out.extend_from_slice(&sealed[..chunk_len]);
                sealed = &sealed[chunk_len..];
                let plain =
                    match self
                        .cipher
                        .open_chunk_in_place(self.index, last, &mut out[start..])
                    {
                        Ok(n) => n,
                        Err(e) => {
                            out.truncate(start);
                            self.failed = true;
                            return Err(e);
                        }
                    };
                let from = (self.skip as usize).min(plain);
                let to = (from as u64 + self.left).min(plain as u64) as usize;
                out.truncate(start + to);
                out.drain(start..start + from);
                self.advance(to - from);
                continue;
            }
            let n = (chunk_len - self.pending.len()).min(sealed.len());
            self.pending.extend_from_slice(&sealed[..n]);
            sealed = &sealed[n..];
            if self.pending.len() == chunk_len {
                if let Err(e) = self.cipher.open_chunk(self.index, last, &mut self.pending) {
                    self.failed = true;
                    return Err(e);
                }
                let from = (self.skip as usize).min(self.pending.len());
                let to = (from as u64 + self.left).min(self.pending.len() as u64) as usize;
                out.extend_from_slice(&self.pending[from..to]);
                self.pending.clear();
                self.advance(to - from);
            }
        }
        Ok(())
    }

    /// Moves past a chunk that yielded `taken` bytes of the range.
    fn advance(&mut self, taken: usize) {
        self.left -= taken as u64;
        self.skip = 0;
        self.index += 1;
    }

    /// Fails if the blob ended before the range was covered (truncation).
    pub fn finish(self, _out: &mut Vec<u8>) -> Result<(), CryptoError> {
        if self.failed || self.index <= self.span.last_chunk || self.left != 0 {
            return Err(CryptoError::Authentication);
        }
        Ok(())
    }
}
