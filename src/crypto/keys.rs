//! Data keys and the root key with everything derived from it: the SSE-S3 master key,
//! SSE-C key fingerprints and wraps, the key sealing catalog metadata and the audit log key.

use hmac::Mac as _;
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

use super::aead::{ChunkAead as _, RingAead};
use super::{CryptoError, WrappedKey, Wrapping, fill_random};

const SSE_S3_MASTER: &[u8] = b"sealgate/v1/sse-s3 master";
const SSE_S3_KEY_ID: &[u8] = b"sealgate/v1/sse-s3 key id";
const SSE_S3_WRAP: &[u8] = b"sealgate/v1/sse-s3 wrap";
const SSE_C_FINGERPRINT: &[u8] = b"sealgate/v1/sse-c fingerprint";
const SSE_C_WRAP: &[u8] = b"sealgate/v1/sse-c wrap";
const CATALOG_SEAL: &[u8] = b"sealgate/v1/catalog metadata";
const KMS_MATERIAL_SEAL: &[u8] = b"sealgate/v1/kms key material";
const KMS_TOKEN_MAC: &[u8] = b"sealgate/v1/kms token mac";
const AUDIT_MAC: &[u8] = b"sealgate/v1/audit log mac";
const IAM_SEAL: &[u8] = b"sealgate/v1/iam state";
const BUCKET_KEY_DATA_KEY: &[u8] = b"sealgate/v1/s3 bucket key data key ";
const NONCE_LEN: usize = 12;

/// A 256-bit object data key; zeroized on drop, never printed.
#[derive(Clone)]
pub struct DataKey(Zeroizing<[u8; 32]>);

impl DataKey {
    pub fn generate() -> DataKey {
        let mut k = Zeroizing::new([0u8; 32]);
        fill_random(k.as_mut());
        DataKey(k)
    }

    pub fn from_bytes(b: [u8; 32]) -> DataKey {
        DataKey(Zeroizing::new(b))
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The data key of one object under an S3 Bucket Key: HKDF-SHA256 of the bucket key
    /// with the object's random salt, the bucket name in the label so a bucket key taken
    /// to another bucket derives nothing that bucket's objects use.
    pub fn derive_from_bucket_key(
        bucket_key: &[u8; 32],
        object_salt: &[u8; 32],
        bucket: &str,
    ) -> DataKey {
        let label = [BUCKET_KEY_DATA_KEY, bucket.as_bytes()].concat();
        DataKey(derive(bucket_key, Some(object_salt), &label))
    }
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(..)")
    }
}

/// The gateway's root of trust; zeroized on drop, never printed.
pub struct RootKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for RootKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RootKey(..)")
    }
}

fn derive(ikm: &[u8], salt: Option<&[u8]>, label: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut out = Zeroizing::new([0u8; 32]);
    super::hkdf_sha256(salt, ikm, label, out.as_mut());
    out
}

/// AES-256-GCM with a random nonce: nonce || ciphertext || tag.
fn seal_random_nonce(key: &[u8; 32], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let mut nonce = [0u8; NONCE_LEN];
    fill_random(&mut nonce);
    let mut buf = plaintext.to_vec();
    RingAead::new(key).seal_in_place(&nonce, aad, &mut buf);
    [nonce.as_slice(), &buf].concat()
}

fn open_random_nonce(
    key: &[u8; 32],
    aad: &[u8],
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let Some((nonce, body)) = sealed
        .split_first_chunk::<NONCE_LEN>()
        .filter(|(_, body)| body.len() >= super::TAG_LEN)
    else {
        return Err(CryptoError::Malformed("sealed value is too short".into()));
    };
    let mut buf = Zeroizing::new(body.to_vec());
    let len = RingAead::new(key).open_in_place(nonce, aad, &mut buf)?;
    buf.truncate(len);
    Ok(buf)
}

fn data_key_from(plain: &[u8]) -> Result<DataKey, CryptoError> {
    let b: [u8; 32] = plain
        .try_into()
        .map_err(|_| CryptoError::Malformed("wrapped key is not 32 bytes".into()))?;
    Ok(DataKey::from_bytes(b))
}

impl RootKey {
    pub fn generate() -> RootKey {
        let mut k = Zeroizing::new([0u8; 32]);
        fill_random(k.as_mut());
        RootKey(k)
    }

    pub fn from_bytes(b: [u8; 32]) -> RootKey {
        RootKey(Zeroizing::new(b))
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Public id of the SSE-S3 master key (16 hex chars); reveals nothing of the key.
    pub fn sse_s3_key_id(&self) -> String {
        hex::encode(&derive(self.0.as_ref(), None, SSE_S3_KEY_ID)[..8])
    }

    fn sse_s3_aad(key_id: &str) -> Vec<u8> {
        [SSE_S3_WRAP, key_id.as_bytes()].concat()
    }

    pub fn wrap_sse_s3(&self, dk: &DataKey) -> WrappedKey {
        let master_key_id = self.sse_s3_key_id();
        let master = derive(self.0.as_ref(), None, SSE_S3_MASTER);
        let ciphertext =
            seal_random_nonce(&master, &Self::sse_s3_aad(&master_key_id), dk.as_bytes());
        WrappedKey {
            wrapping: Wrapping::SseS3 { master_key_id },
            ciphertext,
        }
    }

    pub fn unwrap_sse_s3(&self, w: &WrappedKey) -> Result<DataKey, CryptoError> {
        let Wrapping::SseS3 { master_key_id } = &w.wrapping else {
            return Err(CryptoError::Malformed("not an SSE-S3 wrapped key".into()));
        };
        if *master_key_id != self.sse_s3_key_id() {
            return Err(CryptoError::Malformed(format!(
                "data key is wrapped under SSE-S3 master key {master_key_id}, not this root key's"
            )));
        }
        let master = derive(self.0.as_ref(), None, SSE_S3_MASTER);
        data_key_from(&open_random_nonce(
            &master,
            &Self::sse_s3_aad(master_key_id),
            &w.ciphertext,
        )?)
    }

    fn sse_c_fingerprint(&self, customer_key: &[u8; 32], salt: &[u8; 16]) -> [u8; 32] {
        let fp_key = derive(self.0.as_ref(), None, SSE_C_FINGERPRINT);
        let mut mac = super::hmac_sha256(fp_key.as_ref());
        mac.update(salt);
        mac.update(customer_key);
        mac.finalize().into_bytes().into()
    }

    fn sse_c_kek_and_aad(
        customer_key: &[u8; 32],
        salt: &[u8; 16],
        fingerprint: &[u8; 32],
    ) -> (Zeroizing<[u8; 32]>, Vec<u8>) {
        let kek = derive(customer_key, Some(salt), SSE_C_WRAP);
        (kek, [SSE_C_WRAP, salt, fingerprint].concat())
    }

    pub fn wrap_sse_c(&self, customer_key: &[u8; 32], dk: &DataKey) -> WrappedKey {
        let mut salt = [0u8; 16];
        fill_random(&mut salt);
        let fingerprint = self.sse_c_fingerprint(customer_key, &salt);
        let (kek, aad) = Self::sse_c_kek_and_aad(customer_key, &salt, &fingerprint);
        let ciphertext = seal_random_nonce(&kek, &aad, dk.as_bytes());
        WrappedKey {
            wrapping: Wrapping::SseC { salt, fingerprint },
            ciphertext,
        }
    }

    pub fn check_sse_c(&self, customer_key: &[u8; 32], w: &WrappedKey) -> Result<(), CryptoError> {
        let Wrapping::SseC { salt, fingerprint } = &w.wrapping else {
            return Err(CryptoError::Malformed("not an SSE-C wrapped key".into()));
        };
        let computed = self.sse_c_fingerprint(customer_key, salt);
        if bool::from(computed.ct_eq(fingerprint)) {
            Ok(())
        } else {
            Err(CryptoError::WrongCustomerKey)
        }
    }

    pub fn unwrap_sse_c(
        &self,
        customer_key: &[u8; 32],
        w: &WrappedKey,
    ) -> Result<DataKey, CryptoError> {
        self.check_sse_c(customer_key, w)?;
        let Wrapping::SseC { salt, fingerprint } = &w.wrapping else {
            return Err(CryptoError::Malformed("not an SSE-C wrapped key".into()));
        };
        let (kek, aad) = Self::sse_c_kek_and_aad(customer_key, salt, fingerprint);
        data_key_from(&open_random_nonce(&kek, &aad, &w.ciphertext)?)
    }

    /// The key that seals metadata the catalog keeps (user metadata, content headers).
    pub fn catalog_sealer(&self) -> CatalogSealer {
        CatalogSealer(derive(self.0.as_ref(), None, CATALOG_SEAL))
    }

    /// The key that seals KMS key material at rest.
    pub fn kms_material_sealer(&self) -> CatalogSealer {
        CatalogSealer(derive(self.0.as_ref(), None, KMS_MATERIAL_SEAL))
    }

    /// The key that seals the IAM state (users, access key secrets, policies) at rest.
    pub fn iam_sealer(&self) -> CatalogSealer {
        CatalogSealer(derive(self.0.as_ref(), None, IAM_SEAL))
    }

    /// The MAC key that makes KMS grant and import tokens unforgeable.
    pub fn kms_token_key(&self) -> Zeroizing<[u8; 32]> {
        derive(self.0.as_ref(), None, KMS_TOKEN_MAC)
    }

    /// The key of the audit log's HMAC chain (docs/AUDIT.md).
    pub fn audit_key(&self) -> AuditKey {
        AuditKey(derive(self.0.as_ref(), None, AUDIT_MAC))
    }
}

/// Authenticates audit log records. It lives here rather than in `audit` so that `crypto`
/// keeps depending on nothing above it; zeroized on drop, never printed.
pub struct AuditKey(Zeroizing<[u8; 32]>);

impl AuditKey {
    pub(crate) fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditKey(..)")
    }
}

/// Seals small catalog values at rest, bound to the record they belong to.
pub struct CatalogSealer(Zeroizing<[u8; 32]>);

impl CatalogSealer {
    pub fn seal(&self, context: &[u8], plaintext: &[u8]) -> Vec<u8> {
        seal_random_nonce(&self.0, context, plaintext)
    }

    pub fn open(&self, context: &[u8], sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        Ok(open_random_nonce(&self.0, context, sealed)?.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_key_data_keys_depend_on_salt_and_bucket() {
        let bk = [3u8; 32];
        let a = DataKey::derive_from_bucket_key(&bk, &[1; 32], "b1");
        assert_eq!(
            a.as_bytes(),
            DataKey::derive_from_bucket_key(&bk, &[1; 32], "b1").as_bytes()
        );
        assert_ne!(
            a.as_bytes(),
            DataKey::derive_from_bucket_key(&bk, &[2; 32], "b1").as_bytes()
        );
        assert_ne!(
            a.as_bytes(),
            DataKey::derive_from_bucket_key(&bk, &[1; 32], "b2").as_bytes()
        );
        assert_ne!(a.as_bytes(), &bk);
    }

    #[test]
    fn sse_s3_wraps_round_trip_only_under_the_same_root() {
        let root = RootKey::generate();
        let dk = DataKey::generate();
        let w = root.wrap_sse_s3(&dk);
        assert_eq!(w.ciphertext.len(), 60);
        assert_eq!(root.unwrap_sse_s3(&w).unwrap().as_bytes(), dk.as_bytes());
        assert!(RootKey::generate().unwrap_sse_s3(&w).is_err());
        let mut tampered = w.clone();
        tampered.ciphertext[20] ^= 1;
        assert!(matches!(
            root.unwrap_sse_s3(&tampered),
            Err(CryptoError::Authentication)
        ));
        assert_eq!(root.sse_s3_key_id().len(), 16);
        assert_eq!(
            root.sse_s3_key_id(),
            RootKey::from_bytes(*root.as_bytes()).sse_s3_key_id()
        );
    }

    #[test]
    fn sse_c_needs_the_same_customer_key() {
        let root = RootKey::generate();
        let dk = DataKey::generate();
        let (k1, k2) = ([1u8; 32], [2u8; 32]);
        let w = root.wrap_sse_c(&k1, &dk);
        root.check_sse_c(&k1, &w).unwrap();
        assert_eq!(
            root.unwrap_sse_c(&k1, &w).unwrap().as_bytes(),
            dk.as_bytes()
        );
        assert!(matches!(
            root.check_sse_c(&k2, &w),
            Err(CryptoError::WrongCustomerKey)
        ));
        assert!(matches!(
            root.unwrap_sse_c(&k2, &w),
            Err(CryptoError::WrongCustomerKey)
        ));
        // Two wraps under one customer key share no salt, so fingerprints differ.
        assert_ne!(root.wrap_sse_c(&k1, &dk).wrapping, w.wrapping);
        let mut tampered = w.clone();
        tampered.ciphertext[30] ^= 1;
        assert!(matches!(
            root.unwrap_sse_c(&k1, &tampered),
            Err(CryptoError::Authentication)
        ));
        // The salt and fingerprint are checked before anything is decrypted.
        for i in [0, 47] {
            let mut tampered = w.clone();
            let Wrapping::SseC { salt, fingerprint } = &mut tampered.wrapping else {
                unreachable!("wrapped as SSE-C above")
            };
            if i < 16 {
                salt[i] ^= 1
            } else {
                fingerprint[i - 16] ^= 1
            }
            assert!(matches!(
                root.unwrap_sse_c(&k1, &tampered),
                Err(CryptoError::WrongCustomerKey)
            ));
        }
        // Another gateway (root key) cannot vouch for the customer key either.
        assert!(matches!(
            RootKey::generate().check_sse_c(&k1, &w),
            Err(CryptoError::WrongCustomerKey)
        ));
        assert!(root.unwrap_sse_s3(&w).is_err());
        assert!(root.unwrap_sse_c(&k1, &root.wrap_sse_s3(&dk)).is_err());
    }

    #[test]
    fn catalog_values_are_bound_to_their_context() {
        let root = RootKey::generate();
        let s = root.catalog_sealer();
        let sealed = s.seal(b"bucket/key/1", b"{\"user\":{}}");
        assert_eq!(s.open(b"bucket/key/1", &sealed).unwrap(), b"{\"user\":{}}");
        assert!(s.open(b"bucket/key/2", &sealed).is_err());
        assert!(s.open(b"x", b"short").is_err());
    }
}
