//! The blob header: self-describing (format, algorithm, chunk size, plaintext length, salt,
//! and the wrapped data key with what wrapped it), and the chunk arithmetic of a blob.

use super::{CryptoError, TAG_LEN, WrappedKey, Wrapping};

pub const MAGIC: &[u8; 4] = b"SGB1";
pub const FORMAT_VERSION: u8 = 1;
/// AES-256-GCM over fixed-size chunks with STREAM nonces.
pub(super) const ALG_AES256_GCM_STREAM: u8 = 1;
pub const DEFAULT_CHUNK_SIZE: u32 = 64 * 1024;
pub const MAX_CHUNK_SIZE: u32 = 16 * 1024 * 1024;
/// The chunk index is 32 bits of the nonce.
pub const MAX_CHUNKS: u64 = 1 << 32;
/// Cap on any variable-length header field: a corrupt length cannot make us allocate much.
pub const MAX_FIELD: usize = 4096;
/// magic, version, algorithm, chunk size, plaintext length, salt, wrapping tag.
const FIXED_LEN: usize = 4 + 1 + 1 + 4 + 8 + 32 + 1;

const TAG_SSE_S3: u8 = 1;
const TAG_SSE_C: u8 = 2;
const TAG_KMS: u8 = 3;
const TAG_KMS_BUCKET_KEY: u8 = 4;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealHeader {
    pub chunk_size: u32,
    pub plaintext_len: u64,
    /// Random per blob; the content key derives from it, so every blob's key is unique.
    pub salt: [u8; 32],
    pub wrapped_key: WrappedKey,
}

/// Where a plaintext range lives in a blob.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkSpan {
    pub first_chunk: u64,
    pub last_chunk: u64,
    /// Byte range of the blob (header included in the offsets) holding those chunks.
    pub blob_start: u64,
    pub blob_end: u64,
    /// Plaintext bytes to drop from the front of the first chunk.
    pub skip: u64,
    /// Plaintext bytes to return in all.
    pub take: u64,
}

impl SealHeader {
    /// `chunk_size` 0 means [`DEFAULT_CHUNK_SIZE`].
    pub fn new(plaintext_len: u64, chunk_size: u32, wrapped_key: WrappedKey) -> SealHeader {
        let mut salt = [0u8; 32];
        super::fill_random(&mut salt);
        SealHeader::with_salt(plaintext_len, chunk_size, wrapped_key, salt)
    }

    /// A header with a given salt: for test vectors; real blobs use `new`.
    #[doc(hidden)]
    pub fn with_salt(
        plaintext_len: u64,
        chunk_size: u32,
        wrapped_key: WrappedKey,
        salt: [u8; 32],
    ) -> SealHeader {
        SealHeader {
            chunk_size: if chunk_size == 0 {
                DEFAULT_CHUNK_SIZE
            } else {
                chunk_size
            },
            plaintext_len,
            salt,
            wrapped_key,
        }
    }

    /// Whether this header can be written and read back: the chunk size within
    /// 1..=[`MAX_CHUNK_SIZE`], at most [`MAX_CHUNKS`] chunks, no field over [`MAX_FIELD`].
    /// `decode` only returns valid headers; the `Sealer` refuses to seal under an invalid one.
    pub fn validate(&self) -> Result<(), CryptoError> {
        let bad = |m: String| Err(CryptoError::Malformed(m));
        if self.chunk_size == 0 || self.chunk_size > MAX_CHUNK_SIZE {
            return bad(format!("chunk size {} out of range", self.chunk_size));
        }
        if self.chunk_count() > MAX_CHUNKS {
            return bad(format!("{} bytes need too many chunks", self.plaintext_len));
        }
        let longest = match &self.wrapped_key.wrapping {
            Wrapping::SseS3 { master_key_id } => master_key_id.len(),
            Wrapping::SseC { .. } => 0,
            Wrapping::Kms {
                key_arn,
                key_version,
            }
            | Wrapping::KmsBucketKey {
                key_arn,
                key_version,
                ..
            } => key_arn.len().max(key_version.len()),
        }
        .max(self.wrapped_key.ciphertext.len());
        if longest > MAX_FIELD {
            return bad(format!("header field of {longest} bytes is too long"));
        }
        Ok(())
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        out.extend_from_slice(MAGIC);
        out.push(FORMAT_VERSION);
        out.push(ALG_AES256_GCM_STREAM);
        out.extend_from_slice(&self.chunk_size.to_be_bytes());
        out.extend_from_slice(&self.plaintext_len.to_be_bytes());
        out.extend_from_slice(&self.salt);
        match &self.wrapped_key.wrapping {
            Wrapping::SseS3 { master_key_id } => {
                out.push(TAG_SSE_S3);
                put_field(&mut out, master_key_id.as_bytes());
            }
            Wrapping::SseC { salt, fingerprint } => {
                out.push(TAG_SSE_C);
                out.extend_from_slice(salt);
                out.extend_from_slice(fingerprint);
            }
            Wrapping::Kms {
                key_arn,
                key_version,
            } => {
                out.push(TAG_KMS);
                put_field(&mut out, key_arn.as_bytes());
                put_field(&mut out, key_version.as_bytes());
            }
            Wrapping::KmsBucketKey {
                key_arn,
                key_version,
                object_salt,
            } => {
                out.push(TAG_KMS_BUCKET_KEY);
                put_field(&mut out, key_arn.as_bytes());
                put_field(&mut out, key_version.as_bytes());
                out.extend_from_slice(object_salt);
            }
        }
        put_field(&mut out, &self.wrapped_key.ciphertext);
        out
    }

    pub fn encoded_len(&self) -> usize {
        let wrapping = match &self.wrapped_key.wrapping {
            Wrapping::SseS3 { master_key_id } => 2 + master_key_id.len(),
            Wrapping::SseC { .. } => 16 + 32,
            Wrapping::Kms {
                key_arn,
                key_version,
            } => 2 + key_arn.len() + 2 + key_version.len(),
            Wrapping::KmsBucketKey {
                key_arn,
                key_version,
                ..
            } => 2 + key_arn.len() + 2 + key_version.len() + 32,
        };
        FIXED_LEN + wrapping + 2 + self.wrapped_key.ciphertext.len()
    }

    pub fn decode(bytes: &[u8]) -> Result<(SealHeader, usize), CryptoError> {
        let mut r = Reader { bytes, pos: 0 };
        if r.take(4)? != MAGIC {
            return Err(CryptoError::Malformed(
                "not a sealgate blob (bad magic)".into(),
            ));
        }
        let version = r.u8()?;
        if version != FORMAT_VERSION {
            return Err(CryptoError::UnsupportedVersion(version));
        }
        let alg = r.u8()?;
        if alg != ALG_AES256_GCM_STREAM {
            return Err(CryptoError::Malformed(format!("unknown algorithm {alg}")));
        }
        let chunk_size = u32::from_be_bytes(r.array()?);
        let plaintext_len = u64::from_be_bytes(r.array()?);
        let salt: [u8; 32] = r.array()?;
        let wrapping = match r.u8()? {
            TAG_SSE_S3 => Wrapping::SseS3 {
                master_key_id: r.string()?,
            },
            TAG_SSE_C => Wrapping::SseC {
                salt: r.array()?,
                fingerprint: r.array()?,
            },
            TAG_KMS => Wrapping::Kms {
                key_arn: r.string()?,
                key_version: r.string()?,
            },
            TAG_KMS_BUCKET_KEY => Wrapping::KmsBucketKey {
                key_arn: r.string()?,
                key_version: r.string()?,
                object_salt: r.array()?,
            },
            other => {
                return Err(CryptoError::Malformed(format!(
                    "unknown key wrapping {other}"
                )));
            }
        };
        let ciphertext = r.field()?.to_vec();
        let header = SealHeader {
            chunk_size,
            plaintext_len,
            salt,
            wrapped_key: WrappedKey {
                wrapping,
                ciphertext,
            },
        };
        header.validate()?;
        Ok((header, r.pos))
    }

    /// The chunk size as a divisor. A zero chunk size is refused by `validate`, but the
    /// fields are public, so the arithmetic must not panic on one.
    fn chunk(&self) -> u64 {
        u64::from(self.chunk_size.max(1))
    }

    /// An empty object still has one (empty, final) chunk, so truncation to nothing shows.
    pub fn chunk_count(&self) -> u64 {
        self.plaintext_len.div_ceil(self.chunk()).max(1)
    }

    /// Plaintext bytes in chunk `index`.
    pub fn chunk_plain_len(&self, index: u64) -> u64 {
        let c = self.chunk();
        self.plaintext_len
            .saturating_sub(index.saturating_mul(c))
            .min(c)
    }

    /// Saturates instead of overflowing for headers `validate` would refuse.
    pub fn sealed_len(&self) -> u64 {
        (self.encoded_len() as u64)
            .saturating_add(self.plaintext_len)
            .saturating_add(self.chunk_count().saturating_mul(TAG_LEN as u64))
    }

    /// Blob offset of chunk `index`.
    pub(super) fn chunk_offset(&self, index: u64) -> u64 {
        let stride = self.chunk() + TAG_LEN as u64;
        (self.encoded_len() as u64).saturating_add(index.saturating_mul(stride))
    }

    /// The chunks covering plaintext `[start, end)`, meant for `start < end <= plaintext_len`.
    /// Out-of-range bounds are clamped to the object rather than trusted (`take` then says
    /// how much will come out); an empty range still covers one chunk, so even an empty
    /// object's read authenticates its chunk.
    pub fn locate(&self, start: u64, end: u64) -> ChunkSpan {
        let c = self.chunk();
        let end = end.min(self.plaintext_len);
        let start = start.min(end);
        let first_chunk = (start / c).min(self.chunk_count() - 1);
        let last_chunk = (end.saturating_sub(1) / c).max(first_chunk);
        ChunkSpan {
            first_chunk,
            last_chunk,
            blob_start: self.chunk_offset(first_chunk),
            blob_end: self
                .chunk_offset(last_chunk)
                .saturating_add(self.chunk_plain_len(last_chunk) + TAG_LEN as u64),
            skip: start - first_chunk * c,
            take: end - start,
        }
    }
}

fn put_field(out: &mut Vec<u8>, data: &[u8]) {
    // A field over u16::MAX would get a wrong length prefix, but such a header fails
    // `validate`, which the Sealer checks before a single chunk is written.
    out.extend_from_slice(&(data.len() as u16).to_be_bytes());
    out.extend_from_slice(data);
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], CryptoError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or_else(|| CryptoError::Malformed("header is truncated".into()))?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, CryptoError> {
        Ok(self.take(1)?[0])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], CryptoError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn field(&mut self) -> Result<&'a [u8], CryptoError> {
        let len = u16::from_be_bytes(self.array()?) as usize;
        if len > MAX_FIELD {
            return Err(CryptoError::Malformed(format!(
                "header field of {len} bytes is too long"
            )));
        }
        self.take(len)
    }

    fn string(&mut self) -> Result<String, CryptoError> {
        String::from_utf8(self.field()?.to_vec())
            .map_err(|_| CryptoError::Malformed("header field is not UTF-8".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(len: u64, chunk: u32) -> SealHeader {
        let wrapped = WrappedKey {
            wrapping: Wrapping::SseS3 {
                master_key_id: "abcd".into(),
            },
            ciphertext: vec![9; 60],
        };
        SealHeader::with_salt(len, chunk, wrapped, [5; 32])
    }

    #[test]
    fn encode_decode_round_trip_for_every_wrapping() {
        let mut h = header(1234, 64);
        for wrapping in [
            Wrapping::SseS3 {
                master_key_id: "id".into(),
            },
            Wrapping::SseC {
                salt: [1; 16],
                fingerprint: [2; 32],
            },
            Wrapping::Kms {
                key_arn: "arn:aws:kms:us-east-1:1:key/x".into(),
                key_version: "v1".into(),
            },
            Wrapping::KmsBucketKey {
                key_arn: "arn:aws:kms:us-east-1:1:key/x".into(),
                key_version: "v2".into(),
                object_salt: [7; 32],
            },
        ] {
            h.wrapped_key.wrapping = wrapping;
            let bytes = h.encode();
            let (back, n) =
                SealHeader::decode(&[bytes.as_slice(), b"trailing chunks"].concat()).unwrap();
            assert_eq!(back, h);
            assert_eq!(n, bytes.len());
            assert_eq!(n, h.encoded_len());
        }
    }

    #[test]
    fn decode_refuses_bad_input() {
        let good = header(10, 64).encode();
        for cut in 0..good.len() {
            assert!(
                SealHeader::decode(&good[..cut]).is_err(),
                "truncated at {cut}"
            );
        }
        let mut bad = good.clone();
        bad[0] = b'X';
        assert!(SealHeader::decode(&bad).is_err());
        let mut bad = good.clone();
        bad[4] = 9;
        assert!(matches!(
            SealHeader::decode(&bad),
            Err(CryptoError::UnsupportedVersion(9))
        ));
        let mut bad = good.clone();
        bad[5] = 2;
        assert!(SealHeader::decode(&bad).is_err());
        let mut bad = good.clone();
        bad[6..10].copy_from_slice(&0u32.to_be_bytes());
        assert!(SealHeader::decode(&bad).is_err());
        let mut bad = good;
        let at = 4 + 1 + 1 + 4 + 8 + 32 + 1;
        bad[at..at + 2].copy_from_slice(&60000u16.to_be_bytes());
        assert!(SealHeader::decode(&bad).is_err());
    }

    #[test]
    fn chunk_arithmetic() {
        let h = header(0, 16);
        assert_eq!(h.chunk_count(), 1);
        assert_eq!(h.sealed_len(), h.encoded_len() as u64 + 16);
        let h = header(33, 16);
        assert_eq!(h.chunk_count(), 3);
        assert_eq!(h.chunk_plain_len(2), 1);
        let hl = h.encoded_len() as u64;
        assert_eq!(h.sealed_len(), hl + 33 + 3 * 16);
        let s = h.locate(0, 33);
        assert_eq!(
            (s.first_chunk, s.last_chunk, s.blob_start, s.blob_end),
            (0, 2, hl, h.sealed_len())
        );
        let s = h.locate(16, 32);
        assert_eq!((s.first_chunk, s.last_chunk, s.skip, s.take), (1, 1, 0, 16));
        assert_eq!((s.blob_start, s.blob_end), (hl + 32, hl + 64));
        let s = h.locate(15, 17);
        assert_eq!((s.first_chunk, s.last_chunk, s.skip, s.take), (0, 1, 15, 2));
        let s = h.locate(31, 32);
        assert_eq!((s.first_chunk, s.last_chunk, s.skip, s.take), (1, 1, 15, 1));
        let s = h.locate(32, 33);
        assert_eq!((s.first_chunk, s.last_chunk, s.skip, s.take), (2, 2, 0, 1));
        assert_eq!((s.blob_start, s.blob_end), (hl + 64, h.sealed_len()));
    }

    #[test]
    fn locate_clamps_to_the_object_and_always_covers_a_chunk() {
        let h = header(33, 16);
        let s = h.locate(10, 1000);
        assert_eq!(
            (s.first_chunk, s.last_chunk, s.skip, s.take),
            (0, 2, 10, 23)
        );
        assert_eq!(s.blob_end, h.sealed_len());
        let s = h.locate(33, 33);
        assert_eq!((s.first_chunk, s.last_chunk, s.skip, s.take), (2, 2, 1, 0));
        let h = header(32, 16);
        let s = h.locate(40, 50);
        assert_eq!((s.first_chunk, s.last_chunk, s.skip, s.take), (1, 1, 16, 0));
        let h = header(0, 16);
        let hl = h.encoded_len() as u64;
        let s = h.locate(0, 0);
        assert_eq!((s.first_chunk, s.last_chunk, s.skip, s.take), (0, 0, 0, 0));
        assert_eq!((s.blob_start, s.blob_end), (hl, hl + TAG_LEN as u64));
    }

    #[test]
    fn decode_refuses_headers_that_validate_refuses() {
        let too_many_chunks = header(u64::MAX, 16);
        assert!(too_many_chunks.validate().is_err());
        assert!(SealHeader::decode(&too_many_chunks.encode()).is_err());
        let mut h = header(1, 16);
        h.wrapped_key.wrapping = Wrapping::Kms {
            key_arn: "a".repeat(MAX_FIELD + 1),
            key_version: "1".into(),
        };
        assert!(h.validate().is_err());
        assert!(SealHeader::decode(&h.encode()).is_err());
        let mut bad = header(1, 16).encode();
        bad[FIXED_LEN - 1] = 4;
        assert!(matches!(
            SealHeader::decode(&bad),
            Err(CryptoError::Malformed(_))
        ));
    }
}
