//! Client-side encryption in the AWS S3 Encryption Client's formats (docs/FORMAT.md,
//! "Client-side encryption"): the object is encrypted before it leaves the machine, under
//! a data key from KMS, and only the ciphertext and its envelope reach the server.
//!
//! `format` maps metadata to envelopes, `v3`/`v2` derive content keys, `gcm` is the
//! streaming AES-256-GCM they share.

pub mod credentials;
pub mod format;
pub mod gcm;
pub mod http;
pub mod kms;
pub mod object;
pub mod v2;
pub mod v3;

use zeroize::Zeroizing;

/// The AES-256-GCM key, IV and associated data of one object's content.
pub struct ContentKey {
    key: Zeroizing<[u8; 32]>,
    iv: [u8; gcm::IV_LEN],
    aad: &'static [u8],
}

impl ContentKey {
    pub fn encryptor(&self) -> gcm::Encryptor {
        gcm::Encryptor::new(&self.key, &self.iv, self.aad)
    }

    pub fn decryptor(&self) -> gcm::Decryptor {
        gcm::Decryptor::new(&self.key, &self.iv, self.aad)
    }
}
