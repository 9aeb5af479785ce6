//! The V3 content format: suite 0x0073, AES-256-GCM under a key derived with HKDF-SHA512
//! from the data key and a per-object message id, with a key commitment stored beside it
//! (spec `key-derivation.md`). The commitment is checked before any byte is decrypted, so
//! one ciphertext cannot be made to open under two data keys.

use sha2::Sha512;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::ContentKey;

pub const MESSAGE_ID_LEN: usize = 28;
pub const COMMITMENT_LEN: usize = 28;
/// Fixed: every object has its own derived key, so the IV never repeats under one key.
pub const IV: [u8; 12] = [0x01; 12];
/// The suite id, big-endian: binds the ciphertext to the algorithm.
pub const AAD: [u8; 2] = [0x00, 0x73];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "key commitment mismatch: the data key does not belong to this object (tampered metadata?)"
)]
pub struct CommitmentMismatch;

/// The content key and the commitment of `data_key` for this message id.
pub fn derive(
    data_key: &[u8; 32],
    message_id: &[u8; MESSAGE_ID_LEN],
) -> (ContentKey, [u8; COMMITMENT_LEN]) {
    let hk = hkdf::Hkdf::<Sha512>::new(Some(message_id), data_key);
    let mut key = Zeroizing::new([0u8; 32]);
    let mut commitment = [0u8; COMMITMENT_LEN];
    let mut info = [0u8; 11];
    info[..2].copy_from_slice(&AAD);
    // Both lengths are far below HKDF-SHA512's limit of 255 × 64 bytes.
    info[2..].copy_from_slice(b"DERIVEKEY");
    let _ = hk.expand(&info, key.as_mut_slice());
    info[2..].copy_from_slice(b"COMMITKEY");
    let _ = hk.expand(&info, &mut commitment);
    (
        ContentKey {
            key,
            iv: IV,
            aad: &AAD,
        },
        commitment,
    )
}

/// The content key, once the stored commitment proves `data_key` is this object's key.
pub fn open(
    data_key: &[u8; 32],
    message_id: &[u8; MESSAGE_ID_LEN],
    stored_commitment: &[u8; COMMITMENT_LEN],
) -> Result<ContentKey, CommitmentMismatch> {
    let (key, commitment) = derive(data_key, message_id);
    if bool::from(commitment.ct_eq(stored_commitment)) {
        Ok(key)
    } else {
        Err(CommitmentMismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Computed independently with Python `cryptography` 48 (HMAC-SHA512 extract,
    /// HKDFExpand(SHA512), AESGCM), following the reference notes §1.3.
    pub(crate) const PDK: [u8; 32] = {
        let mut k = [0u8; 32];
        let mut i = 0;
        while i < 32 {
            k[i] = i as u8;
            i += 1;
        }
        k
    };
    pub(crate) const MESSAGE_ID: [u8; 28] = {
        let mut k = [0u8; 28];
        let mut i = 0;
        while i < 28 {
            k[i] = 0x40 + i as u8;
            i += 1;
        }
        k
    };
    pub(crate) const PLAINTEXT: &[u8] = b"sealgate client-side encryption test vector: 53 bytes";
    const DEK: &str = "35f108bd2c11d0a8334d2c5d6e7dacb51d477b00723a49466ef1dff41ff45d52";
    pub(crate) const COMMITMENT_B64: &str = "DnQZ5c+3xg1Xp0jYfAMnh0k1DJu0yXP09Agx9A==";
    pub(crate) const SEALED: &str = "a0022b6c41ec1f44337efd28c13cbb2945ff50ff008653d6abfce973235cb1b88b966f118de08ea354a58b9fd126850205540b0c4b7368c4563a1690bc73411b64599817d4";

    #[test]
    fn derivation_and_content_match_the_vector() {
        use base64::Engine as _;
        let (key, commitment) = derive(&PDK, &MESSAGE_ID);
        assert_eq!(hex::encode(*key.key), DEK);
        assert_eq!(
            base64::engine::general_purpose::STANDARD.encode(commitment),
            COMMITMENT_B64
        );
        let mut body = PLAINTEXT.to_vec();
        let mut enc = key.encryptor();
        enc.update(&mut body).unwrap();
        body.extend_from_slice(&enc.finish());
        assert_eq!(hex::encode(&body), SEALED);

        let key = open(&PDK, &MESSAGE_ID, &commitment).unwrap();
        let sealed = hex::decode(SEALED).unwrap();
        let (ct, tag) = sealed.split_at(sealed.len() - 16);
        let mut pt = ct.to_vec();
        let mut dec = key.decryptor();
        dec.update(&mut pt).unwrap();
        dec.finish(tag).unwrap();
        assert_eq!(pt, PLAINTEXT);
    }

    #[test]
    fn a_wrong_commitment_or_data_key_is_refused_before_decryption() {
        let (_, commitment) = derive(&PDK, &MESSAGE_ID);
        let mut other = PDK;
        other[0] ^= 1;
        assert!(open(&other, &MESSAGE_ID, &commitment).is_err());
        let mut bad = commitment;
        bad[27] ^= 1;
        assert!(open(&PDK, &MESSAGE_ID, &bad).is_err());
    }
}
