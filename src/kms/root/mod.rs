//! The root of trust: what guards the 32-byte root secret every other key derives from
//! (SSE-S3 master key, catalog sealer, KMS material sealing, audit MAC key).
//!
//! - `file` (default): `<data_dir>/root.key`, mode 0600 (see `setup`).
//! - `pkcs11`: the secret rests only as `<data_dir>/root.key.sealed`, encrypted inside an
//!   HSM by a non-extractable AES-256 key; without the HSM (module, token, PIN, key) the
//!   gateway does not start.

pub mod pkcs11;

/// `root.key.sealed`: magic, version, GCM IV, ciphertext ‖ tag of the 32-byte secret.
pub const SEALED_FILE: &str = "root.key.sealed";
const MAGIC: &[u8; 4] = b"SGR1";
const VERSION: u8 = 1;
pub const IV_LEN: usize = 12;
const SEALED_LEN: usize = 4 + 1 + IV_LEN + 32 + 16;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RootError(pub String);

/// The parts of a sealed root secret file.
#[derive(Debug, PartialEq, Eq)]
pub struct SealedRoot {
    pub iv: [u8; IV_LEN],
    pub ciphertext: Vec<u8>,
}

impl SealedRoot {
    pub fn encode(&self) -> Vec<u8> {
        [MAGIC.as_slice(), &[VERSION], &self.iv, &self.ciphertext].concat()
    }

    pub fn decode(bytes: &[u8]) -> Result<SealedRoot, RootError> {
        if bytes.len() != SEALED_LEN || &bytes[..4] != MAGIC {
            return Err(RootError(format!(
                "{SEALED_FILE} is not a sealed root key (expected {SEALED_LEN} bytes starting with SGR1)"
            )));
        }
        if bytes[4] != VERSION {
            return Err(RootError(format!(
                "{SEALED_FILE} has version {}, this build reads version {VERSION}",
                bytes[4]
            )));
        }
        let mut iv = [0u8; IV_LEN];
        iv.copy_from_slice(&bytes[5..5 + IV_LEN]);
        Ok(SealedRoot {
            iv,
            ciphertext: bytes[5 + IV_LEN..].to_vec(),
        })
    }
}

/// Associated data of the HSM's GCM seal: the file cannot be moved to another key label.
pub fn seal_aad(key_label: &str) -> Vec<u8> {
    format!("sealgate/v1/root-key-seal|{key_label}").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_files_round_trip_and_bad_ones_are_named() {
        let s = SealedRoot {
            iv: [3; IV_LEN],
            ciphertext: vec![9; 48],
        };
        let bytes = s.encode();
        assert_eq!(bytes.len(), SEALED_LEN);
        assert_eq!(SealedRoot::decode(&bytes).unwrap(), s);
        assert!(
            SealedRoot::decode(&bytes[1..])
                .unwrap_err()
                .0
                .contains("not a sealed root key")
        );
        let mut other = bytes.clone();
        other[0] = b'X';
        assert!(SealedRoot::decode(&other).is_err());
        let mut v2 = bytes;
        v2[4] = 2;
        assert!(SealedRoot::decode(&v2).unwrap_err().0.contains("version 2"));
    }
}
