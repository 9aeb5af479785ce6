//! Key material: generation, its encoded form (sealed at rest under the root of trust), and
//! the primitive operations each kind supports. No state, no I/O.

use p256::elliptic_curve::Generate as _;
use rand_core::UnwrapErr;
use rsa::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _, EncodePublicKey as _};
use rsa::{Oaep, Pkcs1v15Sign, RsaPrivateKey, RsaPublicKey, pss::Pss};
use sha2::{Digest as _, Sha256, Sha384, Sha512};
use zeroize::Zeroizing;

use super::errors::KmsError;
use super::model::KeySpec;

pub fn rng() -> UnwrapErr<getrandom::SysRng> {
    UnwrapErr(getrandom::SysRng)
}

pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    crate::crypto::fill_random(&mut v);
    v
}

/// Unwrapped key material, in memory only.
pub enum Secret {
    Symmetric(Zeroizing<[u8; 32]>),
    Hmac(Zeroizing<Vec<u8>>),
    Rsa(Box<RsaPrivateKey>),
    P256(Box<p256::ecdsa::SigningKey>),
    P384(Box<p384::ecdsa::SigningKey>),
}

fn internal(e: impl std::fmt::Display) -> KmsError {
    KmsError::internal(format!("key material: {e}"))
}

impl Secret {
    pub fn generate(spec: KeySpec) -> Result<Secret, KmsError> {
        Ok(match spec {
            KeySpec::SymmetricDefault => {
                let mut k = Zeroizing::new([0u8; 32]);
                crate::crypto::fill_random(k.as_mut());
                Secret::Symmetric(k)
            }
            KeySpec::Hmac224 | KeySpec::Hmac256 | KeySpec::Hmac384 | KeySpec::Hmac512 => {
                Secret::Hmac(Zeroizing::new(random_bytes(hmac_key_len(spec))))
            }
            KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096 => {
                let bits = rsa_bits(spec);
                Secret::Rsa(Box::new(
                    RsaPrivateKey::new(&mut rng(), bits).map_err(internal)?,
                ))
            }
            KeySpec::EccNistP256 => Secret::P256(Box::new(
                p256::ecdsa::SigningKey::generate_from_rng(&mut rng()),
            )),
            KeySpec::EccNistP384 => Secret::P384(Box::new(
                p384::ecdsa::SigningKey::generate_from_rng(&mut rng()),
            )),
        })
    }

    /// The bytes that are sealed at rest: raw for symmetric and HMAC keys, PKCS#8 DER for
    /// key pairs.
    pub fn encode(&self) -> Result<Zeroizing<Vec<u8>>, KmsError> {
        Ok(match self {
            Secret::Symmetric(k) => Zeroizing::new(k.to_vec()),
            Secret::Hmac(k) => k.clone(),
            Secret::Rsa(k) => {
                Zeroizing::new(k.to_pkcs8_der().map_err(internal)?.as_bytes().to_vec())
            }
            Secret::P256(k) => {
                Zeroizing::new(k.to_pkcs8_der().map_err(internal)?.as_bytes().to_vec())
            }
            Secret::P384(k) => {
                Zeroizing::new(k.to_pkcs8_der().map_err(internal)?.as_bytes().to_vec())
            }
        })
    }

    pub fn decode(spec: KeySpec, bytes: &[u8]) -> Result<Secret, KmsError> {
        Ok(match spec {
            KeySpec::SymmetricDefault => {
                let k: [u8; 32] = bytes
                    .try_into()
                    .map_err(|_| internal("symmetric material is not 32 bytes"))?;
                Secret::Symmetric(Zeroizing::new(k))
            }
            s if s.is_hmac() => Secret::Hmac(Zeroizing::new(bytes.to_vec())),
            s if s.is_rsa() => Secret::Rsa(Box::new(
                RsaPrivateKey::from_pkcs8_der(bytes).map_err(internal)?,
            )),
            KeySpec::EccNistP256 => Secret::P256(Box::new(
                p256::ecdsa::SigningKey::from_pkcs8_der(bytes).map_err(internal)?,
            )),
            _ => Secret::P384(Box::new(
                p384::ecdsa::SigningKey::from_pkcs8_der(bytes).map_err(internal)?,
            )),
        })
    }

    pub fn symmetric(&self) -> Option<&[u8; 32]> {
        match self {
            Secret::Symmetric(k) => Some(k),
            _ => None,
        }
    }

    /// DER SubjectPublicKeyInfo, as GetPublicKey returns it.
    pub fn public_key_der(&self) -> Result<Vec<u8>, KmsError> {
        let der = match self {
            Secret::Rsa(k) => RsaPublicKey::from(k.as_ref()).to_public_key_der(),
            Secret::P256(k) => k.verifying_key().to_public_key_der(),
            Secret::P384(k) => k.verifying_key().to_public_key_der(),
            _ => return Err(KmsError::unsupported("this key has no public key")),
        };
        Ok(der.map_err(internal)?.as_bytes().to_vec())
    }
}

fn hmac_key_len(spec: KeySpec) -> usize {
    match spec {
        KeySpec::Hmac224 => 28,
        KeySpec::Hmac256 => 32,
        KeySpec::Hmac384 => 48,
        _ => 64,
    }
}

fn rsa_bits(spec: KeySpec) -> usize {
    match spec {
        KeySpec::Rsa2048 => 2048,
        KeySpec::Rsa3072 => 3072,
        _ => 4096,
    }
}

/// Hash of a message for signing; a DIGEST message must already have the hash's length.
fn digest_for(algorithm: &str, message: &[u8], is_digest: bool) -> Result<Vec<u8>, KmsError> {
    let hashed = if algorithm.ends_with("SHA_256") {
        Sha256::digest(message).to_vec()
    } else if algorithm.ends_with("SHA_384") {
        Sha384::digest(message).to_vec()
    } else {
        Sha512::digest(message).to_vec()
    };
    let len = hashed.len();
    if is_digest {
        if message.len() != len {
            return Err(KmsError::validation(format!(
                "Digest is invalid length for algorithm {algorithm}."
            )));
        }
        return Ok(message.to_vec());
    }
    Ok(hashed)
}

/// RSA signing and verification by AWS algorithm name; None for names that are not RSA's.
fn rsa_sign(key: &RsaPrivateKey, algorithm: &str, digest: &[u8]) -> Option<rsa::Result<Vec<u8>>> {
    Some(match algorithm {
        "RSASSA_PKCS1_V1_5_SHA_256" => key.sign(Pkcs1v15Sign::new::<Sha256>(), digest),
        "RSASSA_PKCS1_V1_5_SHA_384" => key.sign(Pkcs1v15Sign::new::<Sha384>(), digest),
        "RSASSA_PKCS1_V1_5_SHA_512" => key.sign(Pkcs1v15Sign::new::<Sha512>(), digest),
        "RSASSA_PSS_SHA_256" => key.sign_with_rng(&mut rng(), Pss::<Sha256>::new(), digest),
        "RSASSA_PSS_SHA_384" => key.sign_with_rng(&mut rng(), Pss::<Sha384>::new(), digest),
        "RSASSA_PSS_SHA_512" => key.sign_with_rng(&mut rng(), Pss::<Sha512>::new(), digest),
        _ => return None,
    })
}

fn rsa_verify(key: &RsaPublicKey, algorithm: &str, digest: &[u8], sig: &[u8]) -> Option<bool> {
    Some(
        match algorithm {
            "RSASSA_PKCS1_V1_5_SHA_256" => key.verify(Pkcs1v15Sign::new::<Sha256>(), digest, sig),
            "RSASSA_PKCS1_V1_5_SHA_384" => key.verify(Pkcs1v15Sign::new::<Sha384>(), digest, sig),
            "RSASSA_PKCS1_V1_5_SHA_512" => key.verify(Pkcs1v15Sign::new::<Sha512>(), digest, sig),
            "RSASSA_PSS_SHA_256" => key.verify(Pss::<Sha256>::new(), digest, sig),
            "RSASSA_PSS_SHA_384" => key.verify(Pss::<Sha384>::new(), digest, sig),
            "RSASSA_PSS_SHA_512" => key.verify(Pss::<Sha512>::new(), digest, sig),
            _ => return None,
        }
        .is_ok(),
    )
}

fn wrong_algorithm(algorithm: &str) -> KmsError {
    KmsError::invalid_key_usage(format!(
        "Signing algorithm {algorithm} is not compatible with this key."
    ))
}

impl Secret {
    pub fn sign(
        &self,
        algorithm: &str,
        message: &[u8],
        is_digest: bool,
    ) -> Result<Vec<u8>, KmsError> {
        use p256::ecdsa::signature::hazmat::PrehashSigner as _;
        let digest = digest_for(algorithm, message, is_digest)?;
        match (self, algorithm) {
            (Secret::Rsa(k), _) => rsa_sign(k, algorithm, &digest)
                .ok_or_else(|| wrong_algorithm(algorithm))?
                .map_err(internal),
            (Secret::P256(k), "ECDSA_SHA_256") => {
                let sig: p256::ecdsa::Signature = k.sign_prehash(&digest).map_err(internal)?;
                Ok(sig.to_der().as_bytes().to_vec())
            }
            (Secret::P384(k), "ECDSA_SHA_384") => {
                let sig: p384::ecdsa::Signature = k.sign_prehash(&digest).map_err(internal)?;
                Ok(sig.to_der().as_bytes().to_vec())
            }
            _ => Err(wrong_algorithm(algorithm)),
        }
    }

    pub fn verify(
        &self,
        algorithm: &str,
        message: &[u8],
        is_digest: bool,
        signature: &[u8],
    ) -> Result<bool, KmsError> {
        use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
        let digest = digest_for(algorithm, message, is_digest)?;
        Ok(match (self, algorithm) {
            (Secret::Rsa(k), _) => rsa_verify(
                &RsaPublicKey::from(k.as_ref()),
                algorithm,
                &digest,
                signature,
            )
            .ok_or_else(|| wrong_algorithm(algorithm))?,
            (Secret::P256(k), "ECDSA_SHA_256") => p256::ecdsa::Signature::from_der(signature)
                .is_ok_and(|sig| k.verifying_key().verify_prehash(&digest, &sig).is_ok()),
            (Secret::P384(k), "ECDSA_SHA_384") => p384::ecdsa::Signature::from_der(signature)
                .is_ok_and(|sig| k.verifying_key().verify_prehash(&digest, &sig).is_ok()),
            _ => return Err(wrong_algorithm(algorithm)),
        })
    }

    pub fn mac(&self, algorithm: &str, message: &[u8]) -> Result<Vec<u8>, KmsError> {
        use hmac::{KeyInit as _, Mac as _};
        let Secret::Hmac(key) = self else {
            return Err(KmsError::invalid_key_usage("This key is not an HMAC key."));
        };
        macro_rules! mac {
            ($h:ty) => {{
                let mut m = hmac::Hmac::<$h>::new_from_slice(key).map_err(internal)?;
                m.update(message);
                m.finalize().into_bytes().to_vec()
            }};
        }
        Ok(match algorithm {
            "HMAC_SHA_224" => mac!(sha2::Sha224),
            "HMAC_SHA_256" => mac!(Sha256),
            "HMAC_SHA_384" => mac!(Sha384),
            "HMAC_SHA_512" => mac!(Sha512),
            _ => {
                return Err(KmsError::invalid_key_usage(format!(
                    "MAC algorithm {algorithm} is not compatible with this key."
                )));
            }
        })
    }

    pub fn rsa_encrypt(&self, algorithm: &str, plaintext: &[u8]) -> Result<Vec<u8>, KmsError> {
        let Secret::Rsa(k) = self else {
            return Err(KmsError::invalid_key_usage("This key is not an RSA key."));
        };
        let public = RsaPublicKey::from(k.as_ref());
        let out = match algorithm {
            "RSAES_OAEP_SHA_1" => public.encrypt(&mut rng(), Oaep::<sha1::Sha1>::new(), plaintext),
            "RSAES_OAEP_SHA_256" => public.encrypt(&mut rng(), Oaep::<Sha256>::new(), plaintext),
            _ => {
                return Err(KmsError::invalid_key_usage(format!(
                    "Encryption algorithm {algorithm} is not compatible with this key."
                )));
            }
        };
        out.map_err(|e| KmsError::validation(format!("Plaintext is too long for this key: {e}")))
    }

    pub fn rsa_decrypt(
        &self,
        algorithm: &str,
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, KmsError> {
        let Secret::Rsa(k) = self else {
            return Err(KmsError::invalid_key_usage("This key is not an RSA key."));
        };
        rsa_oaep_decrypt(k, algorithm, ciphertext)
    }
}

/// OAEP decryption with blinding, so timing does not depend on the private key.
pub fn rsa_oaep_decrypt(
    key: &RsaPrivateKey,
    algorithm: &str,
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, KmsError> {
    let out = match algorithm {
        "RSAES_OAEP_SHA_1" => {
            key.decrypt_blinded(&mut rng(), Oaep::<sha1::Sha1>::new(), ciphertext)
        }
        "RSAES_OAEP_SHA_256" => key.decrypt_blinded(&mut rng(), Oaep::<Sha256>::new(), ciphertext),
        _ => {
            return Err(KmsError::invalid_key_usage(format!(
                "Encryption algorithm {algorithm} is not compatible with this key."
            )));
        }
    };
    out.map(Zeroizing::new)
        .map_err(|_| KmsError::invalid_ciphertext("The ciphertext could not be decrypted."))
}

pub fn rsa_generate(bits: usize) -> Result<RsaPrivateKey, KmsError> {
    RsaPrivateKey::new(&mut rng(), bits).map_err(internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spec_round_trips_through_its_encoding() {
        for spec in [
            KeySpec::SymmetricDefault,
            KeySpec::Hmac224,
            KeySpec::Hmac512,
            KeySpec::EccNistP256,
            KeySpec::EccNistP384,
        ] {
            let s = Secret::generate(spec).unwrap();
            let again = Secret::decode(spec, &s.encode().unwrap()).unwrap();
            assert_eq!(*s.encode().unwrap(), *again.encode().unwrap(), "{spec:?}");
        }
    }

    #[test]
    fn ecdsa_signatures_verify_and_reject_other_messages() {
        for (spec, alg) in [
            (KeySpec::EccNistP256, "ECDSA_SHA_256"),
            (KeySpec::EccNistP384, "ECDSA_SHA_384"),
        ] {
            let s = Secret::generate(spec).unwrap();
            let sig = s.sign(alg, b"message", false).unwrap();
            assert!(s.verify(alg, b"message", false, &sig).unwrap());
            assert!(!s.verify(alg, b"massage", false, &sig).unwrap());
            assert!(s.sign("ECDSA_SHA_512", b"m", false).is_err());
        }
    }

    #[test]
    fn digest_messages_must_have_the_hash_length() {
        let s = Secret::generate(KeySpec::EccNistP256).unwrap();
        let d = Sha256::digest(b"m").to_vec();
        let sig = s.sign("ECDSA_SHA_256", &d, true).unwrap();
        assert!(s.verify("ECDSA_SHA_256", b"m", false, &sig).unwrap());
        assert_eq!(
            s.sign("ECDSA_SHA_256", b"short", true).unwrap_err().code(),
            "ValidationException"
        );
    }

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        let s = Secret::Hmac(Zeroizing::new(b"Jefe".to_vec()));
        let mac = s
            .mac("HMAC_SHA_256", b"what do ya want for nothing?")
            .unwrap();
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
