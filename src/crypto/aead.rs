//! One small trait over the AES-256-GCM implementation, so the fastest measured one is
//! used (BENCHMARKS.md); both produce identical bytes.

use super::{CryptoError, TAG_LEN};

pub trait ChunkAead: Send + Sync {
    /// Encrypts `buf` in place and appends the 16-byte tag.
    fn seal_in_place(&self, nonce: &[u8; 12], aad: &[u8], buf: &mut Vec<u8>) {
        let tag = self.seal_detached(nonce, aad, buf);
        buf.extend_from_slice(&tag);
    }
    /// Encrypts `buf` in place; returns the tag.
    fn seal_detached(&self, nonce: &[u8; 12], aad: &[u8], buf: &mut [u8]) -> [u8; TAG_LEN];
    /// Verifies and decrypts `buf` (ciphertext || tag) in place; returns the plaintext
    /// length (the front of `buf`). On failure `buf` holds nothing to hand out.
    fn open_in_place(
        &self,
        nonce: &[u8; 12],
        aad: &[u8],
        buf: &mut [u8],
    ) -> Result<usize, CryptoError>;
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AeadBackend {
    /// `ring` (BoringSSL's assembly): the fastest measured here.
    #[default]
    Ring,
    /// RustCrypto's `aes-gcm`.
    RustCrypto,
}

impl AeadBackend {
    pub fn parse(s: &str) -> Option<AeadBackend> {
        match s {
            "ring" => Some(AeadBackend::Ring),
            "rustcrypto" => Some(AeadBackend::RustCrypto),
            _ => None,
        }
    }

    pub fn cipher(self, key: &[u8; 32]) -> Box<dyn ChunkAead> {
        match self {
            AeadBackend::Ring => Box::new(RingAead::new(key)),
            AeadBackend::RustCrypto => Box::new(RustCryptoAead::new(key)),
        }
    }
}

pub struct RingAead(ring::aead::LessSafeKey);

impl RingAead {
    #[allow(
        clippy::expect_used,
        reason = "AES-256-GCM takes any 32-byte key; the length is fixed by the type"
    )]
    pub fn new(key: &[u8; 32]) -> RingAead {
        let unbound = ring::aead::UnboundKey::new(&ring::aead::AES_256_GCM, key)
            .expect("32-byte AES-256 key");
        RingAead(ring::aead::LessSafeKey::new(unbound))
    }
}

impl ChunkAead for RingAead {
    fn seal_detached(&self, nonce: &[u8; 12], aad: &[u8], buf: &mut [u8]) -> [u8; TAG_LEN] {
        let nonce = ring::aead::Nonce::assume_unique_for_key(*nonce);
        #[allow(
            clippy::expect_used,
            reason = "fails only beyond GCM's 64 GiB message limit; chunks are at most 16 MiB"
        )]
        let tag = self
            .0
            .seal_in_place_separate_tag(nonce, ring::aead::Aad::from(aad), buf)
            .expect("chunk within GCM limits");
        let mut out = [0u8; TAG_LEN];
        out.copy_from_slice(tag.as_ref());
        out
    }

    fn open_in_place(
        &self,
        nonce: &[u8; 12],
        aad: &[u8],
        buf: &mut [u8],
    ) -> Result<usize, CryptoError> {
        let nonce = ring::aead::Nonce::assume_unique_for_key(*nonce);
        let plain = self
            .0
            .open_in_place(nonce, ring::aead::Aad::from(aad), buf)
            .map_err(|_| CryptoError::Authentication)?;
        Ok(plain.len())
    }
}

pub struct RustCryptoAead(aes_gcm::Aes256Gcm);

impl RustCryptoAead {
    pub fn new(key: &[u8; 32]) -> RustCryptoAead {
        use aes_gcm::KeyInit as _;
        RustCryptoAead(aes_gcm::Aes256Gcm::new(&(*key).into()))
    }
}

impl ChunkAead for RustCryptoAead {
    fn seal_detached(&self, nonce: &[u8; 12], aad: &[u8], buf: &mut [u8]) -> [u8; TAG_LEN] {
        use aes_gcm::AeadInOut as _;
        #[allow(
            clippy::expect_used,
            reason = "fails only beyond GCM's 64 GiB message limit; chunks are at most 16 MiB"
        )]
        self.0
            .encrypt_inout_detached(&(*nonce).into(), aad, buf.into())
            .expect("chunk within GCM limits")
            .into()
    }

    fn open_in_place(
        &self,
        nonce: &[u8; 12],
        aad: &[u8],
        buf: &mut [u8],
    ) -> Result<usize, CryptoError> {
        use aes_gcm::AeadInOut as _;
        let len = buf
            .len()
            .checked_sub(super::TAG_LEN)
            .ok_or(CryptoError::Authentication)?;
        let (ciphertext, tag) = buf.split_at_mut(len);
        let tag = aes_gcm::Tag::try_from(&*tag).map_err(|_| CryptoError::Authentication)?;
        self.0
            .decrypt_inout_detached(&(*nonce).into(), aad, ciphertext.into(), &tag)
            .map_err(|_| CryptoError::Authentication)?;
        Ok(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backends_agree_and_detect_tampering() {
        let key = [7u8; 32];
        let nonce = [3u8; 12];
        for (a, b) in [
            (AeadBackend::Ring, AeadBackend::RustCrypto),
            (AeadBackend::RustCrypto, AeadBackend::Ring),
        ] {
            let (a, b) = (a.cipher(&key), b.cipher(&key));
            let mut buf = b"hello chunk".to_vec();
            a.seal_in_place(&nonce, b"aad", &mut buf);
            let mut other = b"hello chunk".to_vec();
            b.seal_in_place(&nonce, b"aad", &mut other);
            assert_eq!(buf, other);
            let mut opened = buf.clone();
            let len = b.open_in_place(&nonce, b"aad", &mut opened).unwrap();
            opened.truncate(len);
            assert_eq!(opened, b"hello chunk");
            let mut wrong_aad = buf.clone();
            assert!(b.open_in_place(&nonce, b"aaD", &mut wrong_aad).is_err());
            buf[0] ^= 1;
            assert!(b.open_in_place(&nonce, b"aad", &mut buf).is_err());
        }
        assert_eq!(AeadBackend::parse("ring"), Some(AeadBackend::Ring));
        assert_eq!(AeadBackend::parse("rot13"), None);
    }
}
