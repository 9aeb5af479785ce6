//! The sealed object format and the keys around it. Pure: bytes and keys in, bytes out; no
//! I/O, no clocks. The byte layout is specified in docs/FORMAT.md.

mod aead;
mod format;
mod keys;
mod stream;

pub use aead::{AeadBackend, ChunkAead, RingAead, RustCryptoAead};
pub use format::{
    ChunkSpan, DEFAULT_CHUNK_SIZE, FORMAT_VERSION, MAGIC, MAX_CHUNK_SIZE, MAX_CHUNKS, MAX_FIELD,
    SealHeader,
};
pub use keys::{CatalogSealer, DataKey, RootKey};
pub use stream::{BlobCipher, ObjectIdentity, Opener, Sealer};

pub const TAG_LEN: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("malformed sealed data: {0}")]
    Malformed(String),
    #[error("unsupported sealed format version {0}")]
    UnsupportedVersion(u8),
    #[error("sealed data failed authentication (tampered, truncated, reordered or misplaced)")]
    Authentication,
    #[error("expected {expected} plaintext bytes, got {got}")]
    LengthMismatch { expected: u64, got: u64 },
    #[error("the customer-provided key does not match the key the object was written with")]
    WrongCustomerKey,
}

/// What wrapped a data key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Wrapping {
    SseS3 {
        master_key_id: String,
    },
    SseC {
        salt: [u8; 16],
        fingerprint: [u8; 32],
    },
    /// A KMS key version; the ciphertext is then the KMS ciphertext blob.
    Kms {
        key_arn: String,
        key_version: String,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WrappedKey {
    pub wrapping: Wrapping,
    pub ciphertext: Vec<u8>,
}

/// Fills `buf` from the operating system's CSPRNG.
pub(crate) fn fill_random(buf: &mut [u8]) {
    // Without an entropy source no key can be made safely; there is no fallback to take.
    getrandom::fill(buf).expect("operating system random source");
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: ObjectIdentity<'static> = ObjectIdentity {
        bucket: "b",
        key: "k",
        version: "v1",
        part_number: 0,
    };

    fn wrapped() -> WrappedKey {
        WrappedKey {
            wrapping: Wrapping::SseS3 {
                master_key_id: "0011223344556677".into(),
            },
            ciphertext: vec![0xAB; 60],
        }
    }

    fn seal_with(
        dk: &DataKey,
        header: &SealHeader,
        id: &ObjectIdentity<'_>,
        data: &[u8],
        piece: usize,
        be: AeadBackend,
    ) -> Vec<u8> {
        let mut out = header.encode();
        let mut s = Sealer::new(BlobCipher::new(dk, header, id, be), header);
        for p in data.chunks(piece.max(1)) {
            s.update(p, &mut out).unwrap();
        }
        s.finish(&mut out).unwrap();
        out
    }

    fn open_range(
        dk: &DataKey,
        blob: &[u8],
        id: &ObjectIdentity<'_>,
        start: u64,
        end: u64,
        piece: usize,
    ) -> Result<Vec<u8>, CryptoError> {
        let (header, _) = SealHeader::decode(blob)?;
        let mut o = Opener::new(
            BlobCipher::new(dk, &header, id, AeadBackend::Ring),
            &header,
            start,
            end,
        );
        let span = o.span();
        let end_at = (span.blob_end as usize).min(blob.len());
        let mut out = Vec::new();
        for p in blob[span.blob_start as usize..end_at].chunks(piece.max(1)) {
            o.update(p, &mut out)?;
        }
        o.finish(&mut out)?;
        Ok(out)
    }

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[test]
    fn round_trips_at_every_boundary_with_both_backends() {
        let dk = DataKey::generate();
        let c = 64usize;
        for n in [0, 1, c - 1, c, c + 1, 3 * c + 5] {
            let d = data(n);
            let h = SealHeader::new(n as u64, c as u32, wrapped());
            let a = seal_with(&dk, &h, &ID, &d, 7, AeadBackend::Ring);
            let b = seal_with(&dk, &h, &ID, &d, 100, AeadBackend::RustCrypto);
            assert_eq!(a, b, "backends interoperate");
            assert_eq!(a.len() as u64, h.sealed_len());
            if n > 0 {
                assert_eq!(open_range(&dk, &a, &ID, 0, n as u64, 13).unwrap(), d);
            }
        }
    }

    #[test]
    fn every_range_opens_to_the_right_bytes() {
        let dk = DataKey::generate();
        let d = data(70);
        let h = SealHeader::new(70, 16, wrapped());
        let blob = seal_with(&dk, &h, &ID, &d, 5, AeadBackend::Ring);
        for s in 0..70u64 {
            for e in s + 1..=70 {
                assert_eq!(
                    open_range(&dk, &blob, &ID, s, e, 9).unwrap(),
                    d[s as usize..e as usize],
                    "{s}..{e}"
                );
            }
        }
    }

    #[test]
    fn tampering_truncation_reordering_and_swapping_fail() {
        let dk = DataKey::generate();
        let d = data(50);
        let h = SealHeader::new(50, 16, wrapped());
        let blob = seal_with(&dk, &h, &ID, &d, 50, AeadBackend::Ring);
        let hl = h.encoded_len();
        let whole = |b: &[u8]| open_range(&dk, b, &ID, 0, 50, 64);
        for i in hl..blob.len() {
            let mut t = blob.clone();
            t[i] ^= 0x01;
            assert!(whole(&t).is_err(), "flipped byte {i}");
        }
        // A header byte changed in the blob changes the AAD (and offsets).
        let mut t = blob.clone();
        t[hl - 1] ^= 1;
        assert!(whole(&t).is_err());
        // Truncation: the last chunk dropped, or its last byte.
        let last_chunk = 50 - 48 + TAG_LEN;
        assert!(whole(&blob[..blob.len() - last_chunk]).is_err());
        assert!(whole(&blob[..blob.len() - 1]).is_err());
        // A blob cut to whole chunks claims fewer bytes: the new last chunk lacks the final flag.
        let mut short = SealHeader {
            plaintext_len: 32,
            ..h.clone()
        }
        .encode();
        short.extend_from_slice(&blob[hl..hl + 2 * (16 + TAG_LEN)]);
        assert!(open_range(&dk, &short, &ID, 0, 32, 64).is_err());
        // Swapped chunks.
        let mut t = blob.clone();
        let (c0, c1) = (hl..hl + 32, hl + 32..hl + 64);
        let (a, b) = (blob[c0.clone()].to_vec(), blob[c1.clone()].to_vec());
        t[c0].copy_from_slice(&b);
        t[c1].copy_from_slice(&a);
        assert!(whole(&t).is_err());
        // Another identity, or another data key.
        for other in [
            ObjectIdentity { bucket: "b2", ..ID },
            ObjectIdentity { key: "k2", ..ID },
            ObjectIdentity {
                version: "v2",
                ..ID
            },
            ObjectIdentity {
                part_number: 1,
                ..ID
            },
        ] {
            assert!(matches!(
                open_range(&dk, &blob, &other, 0, 50, 64),
                Err(CryptoError::Authentication)
            ));
        }
        assert!(open_range(&DataKey::generate(), &blob, &ID, 0, 50, 64).is_err());
    }

    #[test]
    fn the_sealer_holds_the_declared_length() {
        let dk = DataKey::generate();
        let h = SealHeader::new(10, 16, wrapped());
        let mut out = Vec::new();
        let mut s = Sealer::new(BlobCipher::new(&dk, &h, &ID, AeadBackend::Ring), &h);
        assert!(matches!(
            s.update(&[0; 11], &mut out),
            Err(CryptoError::LengthMismatch {
                expected: 10,
                got: 11
            })
        ));
        s.update(&[0; 9], &mut out).unwrap();
        assert!(matches!(
            s.finish(&mut out),
            Err(CryptoError::LengthMismatch {
                expected: 10,
                got: 9
            })
        ));
    }

    #[test]
    fn re_uploaded_parts_never_share_a_content_key() {
        // Same data key, identity and part number, as when a part is uploaded twice.
        let dk = DataKey::generate();
        let id = ObjectIdentity {
            part_number: 3,
            ..ID
        };
        let (h1, h2) = (
            SealHeader::new(16, 16, wrapped()),
            SealHeader::new(16, 16, wrapped()),
        );
        let b1 = seal_with(&dk, &h1, &id, &[0; 16], 16, AeadBackend::Ring);
        let b2 = seal_with(&dk, &h2, &id, &[0; 16], 16, AeadBackend::Ring);
        assert_ne!(h1.salt, h2.salt);
        assert_ne!(b1[h1.encoded_len()..], b2[h2.encoded_len()..]);
    }

    /// Format v1 test vector (docs/FORMAT.md, tests/vectors/format-v1.json): a later release
    /// must still produce and read exactly these bytes.
    #[test]
    fn format_v1_test_vector() {
        let v: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/vectors/format-v1.json")).unwrap();
        let hexf = |k: &str| hex::decode(v[k].as_str().unwrap()).unwrap();
        let dk = DataKey::from_bytes(hexf("data_key").try_into().unwrap());
        let salt: [u8; 32] = hexf("salt").try_into().unwrap();
        let w = WrappedKey {
            wrapping: Wrapping::SseS3 {
                master_key_id: v["master_key_id"].as_str().unwrap().into(),
            },
            ciphertext: hexf("wrapped_key"),
        };
        let len = v["plaintext_len"].as_u64().unwrap();
        let plaintext: Vec<u8> = (0..len).map(|i| (i % 256) as u8).collect();
        let id = ObjectIdentity {
            bucket: v["bucket"].as_str().unwrap(),
            key: v["key"].as_str().unwrap(),
            version: v["version"].as_str().unwrap(),
            part_number: v["part_number"].as_u64().unwrap() as u32,
        };
        let h = SealHeader::with_salt(len, v["chunk_size"].as_u64().unwrap() as u32, w, salt);
        let blob = seal_with(&dk, &h, &id, &plaintext, 4096, AeadBackend::Ring);
        use sha2::Digest as _;
        assert_eq!(
            hex::encode(sha2::Sha256::digest(&blob)),
            v["blob_sha256"].as_str().unwrap()
        );
        assert_eq!(
            hex::encode(&blob[..h.encoded_len()]),
            v["header"].as_str().unwrap()
        );
        assert_eq!(
            hex::encode(&blob[blob.len() - 16..]),
            v["last_tag"].as_str().unwrap()
        );
        assert_eq!(
            open_range(&dk, &blob, &id, 0, len, 10_000).unwrap(),
            plaintext
        );
    }
}
