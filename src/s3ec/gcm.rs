//! AES-256-GCM over a stream. The S3 Encryption Client seals a whole object as one GCM
//! message (ciphertext ‖ 16-byte tag), which the one-shot `aes-gcm` API can only do with
//! the object in memory; this is the same construction (NIST SP 800-38D, 96-bit IV) fed
//! piece by piece, so memory stays bounded whatever the object size.
//!
//! Decryption releases plaintext before the tag is checked — unavoidable when streaming —
//! so callers must keep it away from anything a user sees until [`Decryptor::finish`]
//! succeeds (the CLI writes to a temporary file and renames it only then).

use aes::Aes256;
use aes::cipher::{BlockCipherEncrypt, InnerIvInit, KeyInit, StreamCipher};
use ghash::GHash;
use ghash::universal_hash::UniversalHash;
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

pub const TAG_LEN: usize = 16;
pub const IV_LEN: usize = 12;
/// Longest plaintext one GCM message may carry: 2^39 − 256 bits.
pub const MAX_PLAINTEXT: u64 = (1 << 36) - 32;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GcmError {
    #[error("the object is larger than one AES-GCM message may be (64 GiB)")]
    TooLong,
    #[error(
        "authentication failed: the object or its metadata was altered, or the wrong key was used"
    )]
    TagMismatch,
}

type Ctr = ctr::Ctr32BE<Aes256>;

/// GHASH over a stream of bytes that arrive in arbitrary pieces.
struct Hasher {
    ghash: GHash,
    partial: [u8; 16],
    partial_len: usize,
}

impl Hasher {
    fn update(&mut self, mut data: &[u8]) {
        if self.partial_len > 0 {
            let take = (16 - self.partial_len).min(data.len());
            self.partial[self.partial_len..self.partial_len + take].copy_from_slice(&data[..take]);
            self.partial_len += take;
            data = &data[take..];
            if self.partial_len < 16 {
                return;
            }
            self.ghash.update(&[self.partial.into()]);
            self.partial_len = 0;
        }
        let whole = data.len() - data.len() % 16;
        if whole > 0 {
            self.ghash.update_padded(&data[..whole]);
        }
        let rest = &data[whole..];
        self.partial[..rest.len()].copy_from_slice(rest);
        self.partial_len = rest.len();
    }

    /// Pads what is left to a block boundary, as GHASH does between AAD and ciphertext.
    fn pad(&mut self) {
        if self.partial_len > 0 {
            self.ghash.update_padded(&self.partial[..self.partial_len]);
            self.partial_len = 0;
        }
    }
}

struct Core {
    ctr: Ctr,
    hasher: Hasher,
    /// E(K, J0), XORed into GHASH's output to make the tag.
    mask: [u8; 16],
    aad_len: u64,
    text_len: u64,
}

impl Core {
    fn new(key: &[u8; 32], iv: &[u8; IV_LEN], aad: &[u8]) -> Core {
        let cipher = Aes256::new(key.into());
        let mut h = [0u8; 16].into();
        cipher.encrypt_block(&mut h);
        let ghash = GHash::new(&h);
        h.zeroize();
        let mut j0 = [0u8; 16];
        j0[..IV_LEN].copy_from_slice(iv);
        j0[15] = 1;
        let mut mask = j0.into();
        cipher.encrypt_block(&mut mask);
        // The first block of text uses J0 + 1.
        j0[15] = 2;
        let ctr = Ctr::from_core(ctr::CtrCore::inner_iv_init(cipher, &j0.into()));
        let mut hasher = Hasher {
            ghash,
            partial: [0; 16],
            partial_len: 0,
        };
        hasher.update(aad);
        hasher.pad();
        Core {
            ctr,
            hasher,
            mask: mask.into(),
            aad_len: aad.len() as u64,
            text_len: 0,
        }
    }

    fn count(&mut self, n: usize) -> Result<(), GcmError> {
        self.text_len = self
            .text_len
            .checked_add(n as u64)
            .filter(|&l| l <= MAX_PLAINTEXT)
            .ok_or(GcmError::TooLong)?;
        Ok(())
    }

    fn tag(mut self) -> [u8; TAG_LEN] {
        self.hasher.pad();
        let mut lengths = [0u8; 16];
        lengths[..8].copy_from_slice(&(self.aad_len * 8).to_be_bytes());
        lengths[8..].copy_from_slice(&(self.text_len * 8).to_be_bytes());
        self.hasher.ghash.update(&[lengths.into()]);
        let mut tag: [u8; 16] = self.hasher.ghash.clone().finalize().into();
        for (t, m) in tag.iter_mut().zip(self.mask.iter()) {
            *t ^= m;
        }
        self.mask.zeroize();
        tag
    }
}

/// Encrypts in place, piece by piece; [`Encryptor::finish`] gives the tag to append.
pub struct Encryptor(Core);

impl Encryptor {
    pub fn new(key: &[u8; 32], iv: &[u8; IV_LEN], aad: &[u8]) -> Encryptor {
        Encryptor(Core::new(key, iv, aad))
    }

    pub fn update(&mut self, buf: &mut [u8]) -> Result<(), GcmError> {
        self.0.count(buf.len())?;
        self.0.ctr.apply_keystream(buf);
        self.0.hasher.update(buf);
        Ok(())
    }

    pub fn finish(self) -> [u8; TAG_LEN] {
        self.0.tag()
    }
}

/// Decrypts ciphertext (without its tag) in place; [`Decryptor::finish`] checks the tag.
pub struct Decryptor(Core);

impl Decryptor {
    pub fn new(key: &[u8; 32], iv: &[u8; IV_LEN], aad: &[u8]) -> Decryptor {
        Decryptor(Core::new(key, iv, aad))
    }

    pub fn update(&mut self, buf: &mut [u8]) -> Result<(), GcmError> {
        self.0.count(buf.len())?;
        self.0.hasher.update(buf);
        self.0.ctr.apply_keystream(buf);
        Ok(())
    }

    pub fn finish(self, tag: &[u8]) -> Result<(), GcmError> {
        let expected = self.0.tag();
        if tag.len() == TAG_LEN && bool::from(expected.ct_eq(tag)) {
            Ok(())
        } else {
            Err(GcmError::TagMismatch)
        }
    }
}

/// Splits a stream of `ciphertext ‖ tag` into the ciphertext, released as it comes, and
/// the last [`TAG_LEN`] bytes, held back until the end.
#[derive(Default)]
pub struct TagSplitter {
    held: Vec<u8>,
}

impl TagSplitter {
    /// Returns the bytes now known not to belong to the tag.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        self.held.extend_from_slice(chunk);
        let release = self.held.len().saturating_sub(TAG_LEN);
        let rest = self.held.split_off(release);
        std::mem::replace(&mut self.held, rest)
    }

    /// The tag, or `None` when the stream was shorter than a tag.
    pub fn finish(self) -> Option<[u8; TAG_LEN]> {
        self.held.try_into().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aes_gcm::aead::{Aead, Payload};

    fn one_shot(key: &[u8; 32], iv: &[u8; 12], aad: &[u8], pt: &[u8]) -> Vec<u8> {
        aes_gcm::Aes256Gcm::new(key.into())
            .encrypt(iv.into(), Payload { msg: pt, aad })
            .unwrap()
    }

    fn streamed(key: &[u8; 32], iv: &[u8; 12], aad: &[u8], pt: &[u8], piece: usize) -> Vec<u8> {
        let mut e = Encryptor::new(key, iv, aad);
        let mut out = pt.to_vec();
        for c in out.chunks_mut(piece) {
            e.update(c).unwrap();
        }
        out.extend_from_slice(&e.finish());
        out
    }

    #[test]
    fn matches_one_shot_gcm_for_any_piece_size() {
        let key = [7u8; 32];
        let iv = [9u8; 12];
        for len in [0usize, 1, 15, 16, 17, 31, 32, 33, 100, 1000] {
            let pt: Vec<u8> = (0..len).map(|i| i as u8).collect();
            for aad in [&b""[..], b"\x00\x73", b"seventeen bytes!!"] {
                let expect = one_shot(&key, &iv, aad, &pt);
                for piece in [1, 3, 16, 17, 64, 4096] {
                    assert_eq!(
                        streamed(&key, &iv, aad, &pt, piece),
                        expect,
                        "{len} {piece}"
                    );
                }
            }
        }
    }

    #[test]
    fn decrypts_in_pieces_and_rejects_any_flipped_bit() {
        let key = [1u8; 32];
        let iv = [2u8; 12];
        let pt: Vec<u8> = (0..77).collect();
        let sealed = one_shot(&key, &iv, b"ad", &pt);
        let open = |sealed: &[u8], piece: usize| -> Result<Vec<u8>, GcmError> {
            let mut d = Decryptor::new(&key, &iv, b"ad");
            let mut split = TagSplitter::default();
            let mut out = Vec::new();
            for c in sealed.chunks(piece) {
                let mut ct = split.push(c);
                d.update(&mut ct)?;
                out.extend_from_slice(&ct);
            }
            d.finish(&split.finish().ok_or(GcmError::TagMismatch)?)?;
            Ok(out)
        };
        for piece in [1, 5, 16, 200] {
            assert_eq!(open(&sealed, piece).unwrap(), pt);
        }
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x10;
            assert_eq!(open(&bad, 7), Err(GcmError::TagMismatch), "byte {i}");
        }
        assert_eq!(open(&sealed[..10], 4), Err(GcmError::TagMismatch));
    }
}
