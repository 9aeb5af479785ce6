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
pub use keys::{AuditKey, CatalogSealer, DataKey, RootKey};
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
    /// An S3 Bucket Key: the ciphertext is the KMS blob of a bucket-level key, and the data
    /// key derives from it and `object_salt` (see `keys::derive_from_bucket_key`).
    KmsBucketKey {
        key_arn: String,
        key_version: String,
        object_salt: [u8; 32],
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WrappedKey {
    pub wrapping: Wrapping,
    pub ciphertext: Vec<u8>,
}

/// Fills `buf` from the operating system's CSPRNG: every random byte sealgate uses comes
/// from here.
#[allow(
    clippy::expect_used,
    clippy::disallowed_methods,
    reason = "the one use of the OS source; without entropy no key can be made safely"
)]
pub fn fill_random(buf: &mut [u8]) {
    getrandom::fill(buf).expect("operating system random source");
}

/// HMAC-SHA256 keyed with `key`, ready for `update`.
#[allow(clippy::expect_used, reason = "HMAC takes keys of any length")]
pub fn hmac_sha256(key: &[u8]) -> hmac::Hmac<sha2::Sha256> {
    use hmac::KeyInit as _;
    hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes any key length")
}

/// HKDF-SHA256 (extract with `salt`, expand with `info`) filling `out`, at most 8160 bytes.
#[allow(
    clippy::expect_used,
    reason = "every caller asks for a fixed length far below HKDF-SHA256's 8160-byte limit"
)]
pub fn hkdf_sha256(salt: Option<&[u8]>, ikm: &[u8], info: &[u8], out: &mut [u8]) {
    hkdf::Hkdf::<sha2::Sha256>::new(salt, ikm)
        .expand(info, out)
        .expect("HKDF-SHA256 output length within 255 hash lengths");
}

/// `n` random bytes as 2n lowercase hex digits.
pub fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    fill_random(&mut b);
    hex::encode(b)
}

/// A random 128-bit identifier as 32 lowercase hex digits (version and seal ids, upload
/// ids, blob names).
pub fn random_id() -> String {
    random_hex(16)
}

/// A random (version 4) UUID: KMS key ids, request ids.
pub fn random_uuid() -> uuid::Uuid {
    let mut b = [0u8; 16];
    fill_random(&mut b);
    uuid::Builder::from_random_bytes(b).into_uuid()
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
        seal_batched(dk, header, id, data, piece, 1, be)
    }

    /// Seals as the write path does: `piece`s in, sealed bytes out `batch` at a time.
    fn seal_batched(
        dk: &DataKey,
        header: &SealHeader,
        id: &ObjectIdentity<'_>,
        data: &[u8],
        piece: usize,
        batch: usize,
        be: AeadBackend,
    ) -> Vec<u8> {
        let mut out = header.encode();
        let mut s = Sealer::new(BlobCipher::new(dk, header, id, be), header, batch);
        for p in data.chunks(piece) {
            s.update(p).unwrap();
            while let Some(sealed) = s.take_sealed() {
                out.extend_from_slice(&sealed);
            }
        }
        out.extend_from_slice(&s.finish().unwrap());
        out
    }

    fn seal(dk: &DataKey, header: &SealHeader, data: &[u8]) -> Vec<u8> {
        seal_with(dk, header, &ID, data, 7, AeadBackend::Ring)
    }

    /// Opens `[start, end)` as the read path does: the header from the front of the blob,
    /// then the blob bytes of the span (as many as there are) in pieces.
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
            BlobCipher::new(dk, &header, id, AeadBackend::RustCrypto),
            &header,
            start,
            end,
        );
        let span = o.span();
        let end_at = (span.blob_end as usize).min(blob.len());
        let mut out = Vec::new();
        for p in blob[span.blob_start as usize..end_at].chunks(piece) {
            o.update(p, &mut out)?;
        }
        o.finish(&mut out)?;
        Ok(out)
    }

    /// Opens the whole object, feeding every byte after the header, so a blob longer than
    /// its header says is noticed too.
    fn open_whole(
        dk: &DataKey,
        blob: &[u8],
        id: &ObjectIdentity<'_>,
    ) -> Result<Vec<u8>, CryptoError> {
        let (header, header_len) = SealHeader::decode(blob)?;
        let cipher = BlobCipher::new(dk, &header, id, AeadBackend::Ring);
        let mut o = Opener::new(cipher, &header, 0, header.plaintext_len);
        let mut out = Vec::new();
        for p in blob[header_len..].chunks(11) {
            o.update(p, &mut out)?;
        }
        o.finish(&mut out)?;
        Ok(out)
    }

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 % 251) as u8).collect()
    }

    fn is_auth_error<T>(r: Result<T, CryptoError>) -> bool {
        matches!(r, Err(CryptoError::Authentication))
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
            assert_eq!(a, b, "backends interoperate at {n} bytes");
            assert_eq!(a.len() as u64, h.sealed_len());
            assert_eq!(open_whole(&dk, &a, &ID).unwrap(), d);
            assert_eq!(open_range(&dk, &a, &ID, 0, n as u64, 13).unwrap(), d);
        }
    }

    #[test]
    fn the_batch_size_does_not_change_the_sealed_bytes() {
        let dk = DataKey::generate();
        let c = 64usize;
        let d = data(10 * c + 5);
        let h = SealHeader::new(d.len() as u64, c as u32, wrapped());
        let expected = seal(&dk, &h, &d);
        for batch in [0, 1, c - 1, c + TAG_LEN, 3 * c + 5, 20 * c] {
            for piece in [1, 7, c + 1, 4 * c] {
                let got = seal_batched(&dk, &h, &ID, &d, piece, batch, AeadBackend::Ring);
                assert_eq!(got, expected, "batch {batch}, pieces of {piece}");
            }
        }
    }

    #[test]
    fn each_sealed_buffer_is_allocated_once_at_its_final_size() {
        let dk = DataKey::generate();
        let c = 64usize;
        let d = data(10 * c + 5);
        let h = SealHeader::new(d.len() as u64, c as u32, wrapped());
        for batch in [0, 1, c + TAG_LEN, 3 * c + 5, 20 * c] {
            let mut s = Sealer::new(BlobCipher::new(&dk, &h, &ID, AeadBackend::Ring), &h, batch);
            let mut buffers = Vec::new();
            for p in d.chunks(c + 1) {
                s.update(p).unwrap();
                buffers.extend(std::iter::from_fn(|| s.take_sealed()));
            }
            buffers.push(s.finish().unwrap());
            for b in &buffers {
                // A buffer that had to grow would have more room than it holds.
                assert_eq!(b.capacity(), b.len(), "batch {batch}");
            }
        }
    }

    #[test]
    fn every_range_opens_to_the_right_bytes() {
        let dk = DataKey::generate();
        let d = data(70);
        let blob = seal(&dk, &SealHeader::new(70, 16, wrapped()), &d);
        for s in 0..70u64 {
            for e in s + 1..=70 {
                for piece in [1, 9, 1000] {
                    assert_eq!(
                        open_range(&dk, &blob, &ID, s, e, piece).unwrap(),
                        d[s as usize..e as usize],
                        "{s}..{e} in pieces of {piece}"
                    );
                }
            }
        }
        // Out-of-range bounds are clamped to the object, never read past it.
        assert_eq!(open_range(&dk, &blob, &ID, 60, 500, 9).unwrap(), d[60..]);
        assert_eq!(open_range(&dk, &blob, &ID, 70, 70, 9).unwrap(), b"");
    }

    #[test]
    fn an_empty_object_still_authenticates_its_chunk() {
        let dk = DataKey::generate();
        let h = SealHeader::new(0, 16, wrapped());
        let blob = seal(&dk, &h, b"");
        assert_eq!(blob.len(), h.encoded_len() + TAG_LEN);
        assert_eq!(open_range(&dk, &blob, &ID, 0, 0, 4).unwrap(), b"");
        let mut t = blob.clone();
        *t.last_mut().unwrap() ^= 1;
        assert!(is_auth_error(open_range(&dk, &t, &ID, 0, 0, 4)));
        assert!(is_auth_error(open_whole(
            &dk,
            &blob[..h.encoded_len()],
            &ID
        )));
    }

    #[test]
    fn tampering_fails_authentication_and_never_yields_bytes() {
        let dk = DataKey::generate();
        let d = data(50); // chunks of 16, 16, 16 and 2 bytes
        let h = SealHeader::new(50, 16, wrapped());
        let blob = seal(&dk, &h, &d);
        let hl = h.encoded_len();
        let whole = |b: &[u8]| open_whole(&dk, b, &ID);
        assert_eq!(whole(&blob).unwrap(), d);
        for i in 0..blob.len() {
            let mut t = blob.clone();
            t[i] ^= 0x01;
            let r = whole(&t);
            if i >= hl {
                assert!(is_auth_error(r), "flipped chunk byte {i}");
            } else {
                // A header byte: refused as malformed, or a different AAD for every chunk.
                assert!(r.is_err(), "flipped header byte {i}");
            }
        }
        let stride = 16 + TAG_LEN;
        let chunk = |i: usize| &blob[hl + i * stride..(hl + (i + 1) * stride).min(blob.len())];
        // Truncation: the last chunk dropped, or only its last byte.
        assert!(is_auth_error(whole(&blob[..hl + 3 * stride])));
        assert!(is_auth_error(whole(&blob[..blob.len() - 1])));
        // Cut to whole chunks with a matching shorter length: the new last chunk was not
        // sealed as last, and the header in the AAD differs.
        let mut short = SealHeader {
            plaintext_len: 32,
            ..h.clone()
        }
        .encode();
        short.extend_from_slice(&blob[hl..hl + 2 * stride]);
        assert!(is_auth_error(whole(&short)));
        // Reordered chunks.
        let swapped = [&blob[..hl], chunk(1), chunk(0), chunk(2), chunk(3)].concat();
        assert!(is_auth_error(whole(&swapped)));
        // A chunk appended after the final one, valid or not.
        for extra in [chunk(3), chunk(0), &[0u8; 18][..]] {
            assert!(is_auth_error(whole(&[&blob[..], extra].concat())));
        }
        // Moved to another bucket, key, version or part.
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
            assert!(is_auth_error(open_whole(&dk, &blob, &other)), "{other:?}");
            assert!(is_auth_error(open_range(&dk, &blob, &other, 20, 21, 64)));
        }
        // Opened with a header that differs in its salt (e.g. another blob's catalog copy).
        let other_salt = SealHeader {
            salt: [9; 32],
            ..h.clone()
        };
        let mut o = Opener::new(
            BlobCipher::new(&dk, &other_salt, &ID, AeadBackend::Ring),
            &other_salt,
            0,
            50,
        );
        let mut out = Vec::new();
        assert!(is_auth_error(o.update(&blob[hl..], &mut out)));
        // A caller that carries on after the failure still gets nothing.
        assert!(is_auth_error(o.update(&blob[hl..], &mut out)));
        assert!(out.is_empty());
        // Chunks of another blob sealed under the same data key, identity and position.
        let twin = seal(&dk, &SealHeader::new(50, 16, wrapped()), &d);
        let spliced = [&blob[..hl], &twin[hl..]].concat();
        assert!(is_auth_error(whole(&spliced)));
        assert!(is_auth_error(open_whole(&DataKey::generate(), &blob, &ID)));
    }

    #[test]
    fn the_sealer_holds_the_declared_length() {
        let dk = DataKey::generate();
        let h = SealHeader::new(10, 16, wrapped());
        let mut s = Sealer::new(BlobCipher::new(&dk, &h, &ID, AeadBackend::Ring), &h, 0);
        assert!(matches!(
            s.update(&[0; 11]),
            Err(CryptoError::LengthMismatch {
                expected: 10,
                got: 11
            })
        ));
        s.update(&[0; 9]).unwrap();
        assert_eq!(s.take_sealed(), None, "no partial chunk leaves the sealer");
        assert!(matches!(
            s.update(&[0; 2]),
            Err(CryptoError::LengthMismatch {
                expected: 10,
                got: 11
            })
        ));
        assert!(matches!(
            s.finish(),
            Err(CryptoError::LengthMismatch {
                expected: 10,
                got: 9
            })
        ));
    }

    #[test]
    fn the_sealer_refuses_a_header_it_could_not_read_back() {
        let dk = DataKey::generate();
        let too_long = WrappedKey {
            ciphertext: vec![0; MAX_FIELD + 1],
            ..wrapped()
        };
        for h in [
            SealHeader {
                chunk_size: 0,
                ..SealHeader::new(10, 16, wrapped())
            },
            SealHeader::new(10, MAX_CHUNK_SIZE + 1, wrapped()),
            SealHeader::new(u64::MAX, 16, wrapped()),
            SealHeader::new(10, 16, too_long),
        ] {
            let mut s = Sealer::new(BlobCipher::new(&dk, &h, &ID, AeadBackend::Ring), &h, 0);
            assert!(matches!(s.update(&[0; 3]), Err(CryptoError::Malformed(_))));
            assert!(matches!(s.finish(), Err(CryptoError::Malformed(_))));
        }
        assert_eq!(
            SealHeader::new(1, 0, wrapped()).chunk_size,
            DEFAULT_CHUNK_SIZE
        );
    }

    #[test]
    fn chunk_indices_past_the_nonce_counter_are_refused() {
        let h = SealHeader::new(0, 16, wrapped());
        let c = BlobCipher::new(&DataKey::generate(), &h, &ID, AeadBackend::Ring);
        let mut buf = vec![0; 4];
        c.seal_chunk(u64::from(u32::MAX), false, &mut buf).unwrap();
        assert!(c.seal_chunk(1 << 32, false, &mut buf).is_err());
        assert!(c.open_chunk(1 << 32, true, &mut buf).is_err());
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
        // Equal plaintext, yet no shared keystream: the content keys differ.
        assert_ne!(b1[h1.encoded_len()..][..16], b2[h2.encoded_len()..][..16]);
    }

    /// The string value of `"name": "..."`, or the number of `"name": 123`, in the flat
    /// vector file (no JSON library: the crypto module depends on nothing it doesn't need).
    fn json_field<'a>(json: &'a str, name: &str) -> &'a str {
        let key = format!("\"{name}\":");
        let at = json.find(&key).unwrap_or_else(|| panic!("{name} missing")) + key.len();
        let rest = json[at..].trim_start();
        match rest.strip_prefix('"') {
            Some(s) => &s[..s.find('"').unwrap()],
            None => rest[..rest.find([',', '\n', '}']).unwrap()].trim(),
        }
    }

    /// Format v1 test vector (docs/FORMAT.md, tests/vectors/format-v1.json, produced by an
    /// independent Python implementation): a later release must still produce and read
    /// exactly these bytes.
    #[test]
    fn format_v1_test_vector() {
        let v = include_str!("../../tests/vectors/format-v1.json");
        let text = |k: &str| json_field(v, k);
        let bytes = |k: &str| hex::decode(json_field(v, k)).unwrap();
        let num = |k: &str| json_field(v, k).parse::<u64>().unwrap();
        let dk = DataKey::from_bytes(bytes("data_key").try_into().unwrap());
        let w = WrappedKey {
            wrapping: Wrapping::SseS3 {
                master_key_id: text("master_key_id").into(),
            },
            ciphertext: bytes("wrapped_key"),
        };
        let len = num("plaintext_len");
        let plaintext: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let id = ObjectIdentity {
            bucket: text("bucket"),
            key: text("key"),
            version: text("version"),
            part_number: num("part_number") as u32,
        };
        let salt = bytes("salt").try_into().unwrap();
        let h = SealHeader::with_salt(len, num("chunk_size") as u32, w, salt);
        assert_eq!(h.chunk_count(), 2);
        for be in [AeadBackend::Ring, AeadBackend::RustCrypto] {
            let blob = seal_with(&dk, &h, &id, &plaintext, 4096, be);
            use sha2::Digest as _;
            assert_eq!(
                hex::encode(sha2::Sha256::digest(&blob)),
                text("blob_sha256")
            );
            assert_eq!(hex::encode(&blob[..h.encoded_len()]), text("header"));
            assert_eq!(hex::encode(&blob[blob.len() - TAG_LEN..]), text("last_tag"));
            assert_eq!(open_whole(&dk, &blob, &id).unwrap(), plaintext);
        }
    }
}
