//! The symmetric ciphertext blob of Encrypt and GenerateDataKey (layout in docs/FORMAT.md):
//!
//! ```text
//! 0x01 | key id (16, UUID) | material seq (u32 BE) | derivation nonce (16) | ciphertext | tag (16)
//! ```
//!
//! Each message gets its own AES-256-GCM key, HKDF-SHA256(material, salt = nonce,
//! info = label ‖ key id), so the GCM nonce can stay fixed and no random-nonce budget limits
//! how often one material is used. The header and the canonical encryption context are the
//! associated data: a blob moved to another key, material or context fails to open.

use std::collections::BTreeMap;

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use zeroize::Zeroizing;

use super::errors::KmsError;

pub const VERSION: u8 = 1;
const HEADER_LEN: usize = 1 + 16 + 4 + 16;
const TAG_LEN: usize = 16;
const DERIVE_LABEL: &[u8] = b"sealgate/kms/v1/message-key";
const AAD_LABEL: &[u8] = b"sealgate/kms/v1/aad";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobHeader {
    pub key_id: uuid::Uuid,
    pub material_seq: u32,
}

/// Unambiguous encoding of an encryption context: pairs sorted by key, each string
/// length-prefixed, so `{"a":"bc"}` and `{"ab":"c"}` differ.
pub fn canonical_context(context: &BTreeMap<String, String>) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(context.len() as u32).to_be_bytes());
    for (k, v) in context {
        for s in [k, v] {
            out.extend_from_slice(&(s.len() as u32).to_be_bytes());
            out.extend_from_slice(s.as_bytes());
        }
    }
    out
}

fn message_key(material: &[u8; 32], nonce: &[u8], key_id: &uuid::Uuid) -> Zeroizing<[u8; 32]> {
    let mut out = Zeroizing::new([0u8; 32]);
    let info = [DERIVE_LABEL, key_id.as_bytes()].concat();
    crate::crypto::hkdf_sha256(Some(nonce), material, &info, out.as_mut());
    out
}

#[allow(clippy::expect_used, reason = "AES-256 takes any 32-byte key")]
fn aead(key: &[u8; 32]) -> LessSafeKey {
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).expect("32-byte AES key"))
}

pub fn encrypt(
    header: BlobHeader,
    material: &[u8; 32],
    context: &BTreeMap<String, String>,
    plaintext: &[u8],
) -> Vec<u8> {
    let mut blob = Vec::with_capacity(HEADER_LEN + plaintext.len() + TAG_LEN);
    blob.push(VERSION);
    blob.extend_from_slice(header.key_id.as_bytes());
    blob.extend_from_slice(&header.material_seq.to_be_bytes());
    let mut nonce = [0u8; 16];
    crate::crypto::fill_random(&mut nonce);
    blob.extend_from_slice(&nonce);
    let aad = [AAD_LABEL, &blob, &canonical_context(context)].concat();
    let key = message_key(material, &nonce, &header.key_id);
    let mut body = plaintext.to_vec();
    #[allow(
        clippy::expect_used,
        reason = "GCM fails only beyond 64 GiB; KMS plaintexts are at most 4 KiB"
    )]
    aead(&key)
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key([0; 12]),
            Aad::from(aad),
            &mut body,
        )
        .expect("GCM input within limits");
    blob.extend_from_slice(&body);
    blob
}

fn invalid() -> KmsError {
    KmsError::invalid_ciphertext("")
}

/// Reads the header: which key and material made this blob.
pub fn parse_header(blob: &[u8]) -> Result<BlobHeader, KmsError> {
    if blob.len() < HEADER_LEN + TAG_LEN || blob[0] != VERSION {
        return Err(invalid());
    }
    let key_id = uuid::Uuid::from_slice(&blob[1..17]).map_err(|_| invalid())?;
    let material_seq = u32::from_be_bytes([blob[17], blob[18], blob[19], blob[20]]);
    Ok(BlobHeader {
        key_id,
        material_seq,
    })
}

pub fn decrypt(
    blob: &[u8],
    material: &[u8; 32],
    context: &BTreeMap<String, String>,
) -> Result<Zeroizing<Vec<u8>>, KmsError> {
    let header = parse_header(blob)?;
    let nonce = &blob[21..HEADER_LEN];
    let aad = [AAD_LABEL, &blob[..HEADER_LEN], &canonical_context(context)].concat();
    let key = message_key(material, nonce, &header.key_id);
    let mut body = Zeroizing::new(blob[HEADER_LEN..].to_vec());
    let len = aead(&key)
        .open_in_place(
            Nonce::assume_unique_for_key([0; 12]),
            Aad::from(aad),
            &mut body,
        )
        .map_err(|_| invalid())?
        .len();
    body.truncate(len);
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_data_key_blob_is_compact_and_round_trips() {
        let h = BlobHeader {
            key_id: crate::crypto::random_uuid(),
            material_seq: 3,
        };
        let m = [7u8; 32];
        let c = ctx(&[("aws:s3:arn", "arn:aws:s3:::b/k")]);
        let blob = encrypt(h, &m, &c, &[9u8; 32]);
        assert_eq!(blob.len(), 85);
        assert_eq!(parse_header(&blob).unwrap(), h);
        assert_eq!(*decrypt(&blob, &m, &c).unwrap(), vec![9u8; 32]);
    }

    #[test]
    fn context_material_header_and_bytes_are_all_bound() {
        let h = BlobHeader {
            key_id: crate::crypto::random_uuid(),
            material_seq: 1,
        };
        let m = [1u8; 32];
        let c = ctx(&[("a", "bc")]);
        let blob = encrypt(h, &m, &c, b"secret");
        assert!(decrypt(&blob, &m, &ctx(&[("ab", "c")])).is_err());
        assert!(decrypt(&blob, &m, &ctx(&[])).is_err());
        assert!(decrypt(&blob, &[2u8; 32], &c).is_err());
        for i in 0..blob.len() {
            let mut t = blob.clone();
            t[i] ^= 0x40;
            assert!(decrypt(&t, &m, &c).is_err(), "flip at {i}");
        }
        assert!(decrypt(&blob[..blob.len() - 1], &m, &c).is_err());
    }

    #[test]
    fn the_same_plaintext_never_gives_the_same_blob() {
        let h = BlobHeader {
            key_id: crate::crypto::random_uuid(),
            material_seq: 1,
        };
        let c = ctx(&[]);
        assert_ne!(
            encrypt(h, &[0; 32], &c, b"x"),
            encrypt(h, &[0; 32], &c, b"x")
        );
    }
}
