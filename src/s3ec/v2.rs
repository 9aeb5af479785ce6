//! The V2 content format (`AES/GCM/NoPadding`): the KMS data key itself is the AES-256-GCM
//! key, with a random 12-byte IV stored in `x-amz-iv` and no associated data.

use zeroize::Zeroizing;

use super::ContentKey;

pub fn content_key(data_key: &[u8; 32], iv: &[u8; 12]) -> ContentKey {
    ContentKey {
        key: Zeroizing::new(*data_key),
        iv: *iv,
        aad: &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Computed independently with Python `cryptography` 48 (AESGCM, no AAD).
    const PDK: [u8; 32] = {
        let mut k = [0u8; 32];
        let mut i = 0;
        while i < 32 {
            k[i] = i as u8;
            i += 1;
        }
        k
    };
    const IV: [u8; 12] = [
        0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab,
    ];
    const PLAINTEXT: &[u8] = b"sealgate client-side encryption test vector: 53 bytes";
    const SEALED: &str = "957d1d4122aa76da4206ebba6214b4f303c53d75b2d22c0fee7756f216c41b21a613348b8f54365e2bf376f2294fb0d92562322d1153b708b97b2a22af414e56aabcb8dc18";

    #[test]
    fn content_matches_the_vector() {
        let sealed = hex::decode(SEALED).unwrap();
        let (ct, tag) = sealed.split_at(sealed.len() - 16);
        let mut pt = ct.to_vec();
        let mut dec = content_key(&PDK, &IV).decryptor();
        dec.update(&mut pt).unwrap();
        dec.finish(tag).unwrap();
        assert_eq!(pt, PLAINTEXT);

        let mut body = PLAINTEXT.to_vec();
        let mut enc = content_key(&PDK, &IV).encryptor();
        enc.update(&mut body).unwrap();
        body.extend_from_slice(&enc.finish());
        assert_eq!(body, sealed);
    }
}
