//! Legacy `AES/CBC/PKCS5Padding` content (S3 Encryption Client v1 "encryption only"),
//! decrypted as a stream. Nothing authenticates it: a changed ciphertext decrypts to changed
//! plaintext, so it is read only when the user asks for it explicitly. Never written.

use aes::Aes256;
use cipher::{BlockModeDecrypt, KeyIvInit};

const BLOCK: usize = 16;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "decryption failed: the ciphertext is not whole blocks or its padding is wrong (wrong key or altered object)"
)]
pub struct CbcError;

pub struct Decryptor {
    mode: cbc::Decryptor<Aes256>,
    /// Ciphertext not yet decrypted: always the last 1..=16 bytes seen, since the final
    /// block holds the padding.
    held: Vec<u8>,
}

impl Decryptor {
    pub fn new(key: &[u8; 32], iv: &[u8; BLOCK]) -> Decryptor {
        Decryptor {
            mode: cbc::Decryptor::new(key.into(), iv.into()),
            held: Vec::new(),
        }
    }

    fn decrypt(&mut self, blocks: &mut [u8]) {
        for block in blocks.chunks_exact_mut(BLOCK) {
            let mut whole = [0u8; BLOCK];
            whole.copy_from_slice(block);
            self.mode.decrypt_block((&mut whole).into());
            block.copy_from_slice(&whole);
        }
    }

    /// Plaintext of every whole block before the last one held.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        self.held.extend_from_slice(chunk);
        if self.held.len() <= BLOCK {
            return Vec::new();
        }
        let release = (self.held.len() - 1) / BLOCK * BLOCK;
        let rest = self.held.split_off(release);
        let mut out = std::mem::replace(&mut self.held, rest);
        self.decrypt(&mut out);
        out
    }

    /// The last block's plaintext without its PKCS#7 padding.
    pub fn finish(mut self) -> Result<Vec<u8>, CbcError> {
        if self.held.len() != BLOCK {
            return Err(CbcError);
        }
        let mut last = std::mem::take(&mut self.held);
        self.decrypt(&mut last);
        let pad = last[BLOCK - 1] as usize;
        if !(1..=BLOCK).contains(&pad) || last[BLOCK - pad..].iter().any(|&b| b as usize != pad) {
            return Err(CbcError);
        }
        last.truncate(BLOCK - pad);
        Ok(last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Computed independently with Python `cryptography` 48 (AES-256-CBC, PKCS7 padding).
    const KEY: [u8; 32] = [0x11; 32];
    const IV: [u8; 16] = [0x22; 16];
    const PLAINTEXT: &[u8] = b"sealgate legacy CBC test vector, 46 bytes long";
    const SEALED: &str = "3166f0ce6cc5e5361bf1a5736346d99c41449fc18556591e86e9a96eb505c6b8af15fa1e5945666eb5c77600c85b34d9";

    fn open(sealed: &[u8], piece: usize) -> Result<Vec<u8>, CbcError> {
        let mut d = Decryptor::new(&KEY, &IV);
        let mut out = Vec::new();
        for c in sealed.chunks(piece) {
            out.extend(d.push(c));
        }
        out.extend(d.finish()?);
        Ok(out)
    }

    #[test]
    fn decrypts_the_vector_in_any_pieces() {
        let sealed = hex::decode(SEALED).unwrap();
        for piece in [1, 7, 16, 17, 48, 100] {
            assert_eq!(open(&sealed, piece).unwrap(), PLAINTEXT, "{piece}");
        }
    }

    #[test]
    fn bad_lengths_and_padding_are_refused() {
        let sealed = hex::decode(SEALED).unwrap();
        assert_eq!(open(&sealed[..sealed.len() - 1], 5), Err(CbcError));
        assert_eq!(open(&[], 5), Err(CbcError));
        // Flipping the last byte of the second-to-last block changes the padding byte.
        let mut bad = sealed.clone();
        let i = sealed.len() - BLOCK - 1;
        bad[i] ^= 0x40;
        assert_eq!(open(&bad, 16), Err(CbcError));
    }
}
