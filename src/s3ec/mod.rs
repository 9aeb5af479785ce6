//! Client-side encryption in the AWS S3 Encryption Client's formats (docs/FORMAT.md,
//! "Client-side encryption"): the object is encrypted before it leaves the machine, under
//! a data key from KMS, and only the ciphertext and its envelope reach the server.
//!
//! `format` maps metadata to envelopes, `v3`/`v2` derive content keys, `gcm` is the
//! streaming AES-256-GCM they share, `cbc` reads the legacy unauthenticated content;
//! `put`, `get` and `kms` move them over S3 and KMS through [`crate::client`].

pub mod cbc;
pub mod format;
pub mod gcm;
pub mod get;
pub mod kms;
pub mod object;
pub mod put;
pub mod rfc2047;
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

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ContentError {
    #[error(transparent)]
    Gcm(#[from] gcm::GcmError),
    #[error(transparent)]
    Cbc(#[from] cbc::CbcError),
}

/// Turns an object's body, received piece by piece, into plaintext.
pub enum Opener {
    Gcm {
        dec: Box<gcm::Decryptor>,
        split: gcm::TagSplitter,
    },
    Cbc(Box<cbc::Decryptor>),
}

impl Opener {
    pub fn gcm(key: &ContentKey) -> Opener {
        Opener::Gcm {
            dec: Box::new(key.decryptor()),
            split: gcm::TagSplitter::default(),
        }
    }

    /// Plaintext so far. With GCM it is not yet authenticated: nothing may use it before
    /// [`Opener::finish`] succeeds.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<u8>, ContentError> {
        match self {
            Opener::Gcm { dec, split } => {
                let mut text = split.push(chunk);
                dec.update(&mut text)?;
                Ok(text)
            }
            Opener::Cbc(dec) => Ok(dec.push(chunk)),
        }
    }

    /// The last plaintext, once the whole body has checked out.
    pub fn finish(self) -> Result<Vec<u8>, ContentError> {
        match self {
            Opener::Gcm { dec, split } => {
                let tag = split.finish().ok_or(gcm::GcmError::TagMismatch)?;
                dec.finish(&tag)?;
                Ok(Vec::new())
            }
            Opener::Cbc(dec) => Ok(dec.finish()?),
        }
    }
}
