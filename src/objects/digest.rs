//! Digests of plaintext computed while it streams in: MD5 only where S3 exposes it or the
//! client sent Content-MD5 (it is the slowest step of a PUT), plus one flexible checksum.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use s3s::checksum::ChecksumHasher;
use s3s::crypto::{Checksum as _, Crc32, Crc32c, Crc64Nvme, Md5, Sha1, Sha256};

pub const FULL_OBJECT: &str = "FULL_OBJECT";
pub const COMPOSITE: &str = "COMPOSITE";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumAlgorithm {
    Crc32,
    Crc32c,
    Crc64Nvme,
    Sha1,
    Sha256,
}

impl ChecksumAlgorithm {
    pub fn parse(s: &str) -> Option<ChecksumAlgorithm> {
        match s.to_ascii_uppercase().as_str() {
            "CRC32" => Some(ChecksumAlgorithm::Crc32),
            "CRC32C" => Some(ChecksumAlgorithm::Crc32c),
            "CRC64NVME" => Some(ChecksumAlgorithm::Crc64Nvme),
            "SHA1" => Some(ChecksumAlgorithm::Sha1),
            "SHA256" => Some(ChecksumAlgorithm::Sha256),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ChecksumAlgorithm::Crc32 => "CRC32",
            ChecksumAlgorithm::Crc32c => "CRC32C",
            ChecksumAlgorithm::Crc64Nvme => "CRC64NVME",
            ChecksumAlgorithm::Sha1 => "SHA1",
            ChecksumAlgorithm::Sha256 => "SHA256",
        }
    }

    /// The header that carries this checksum, e.g. `x-amz-checksum-crc32`.
    pub fn header_name(self) -> String {
        format!("x-amz-checksum-{}", self.as_str().to_ascii_lowercase())
    }

    /// The raw digest length, to check a client-sent base64 value is well formed.
    pub fn digest_len(self) -> usize {
        match self {
            ChecksumAlgorithm::Crc32 | ChecksumAlgorithm::Crc32c => 4,
            ChecksumAlgorithm::Crc64Nvme => 8,
            ChecksumAlgorithm::Sha1 => 20,
            ChecksumAlgorithm::Sha256 => 32,
        }
    }

    /// The CRC whose values combine, for the algorithms that have a FULL_OBJECT multipart
    /// checksum.
    pub(super) fn crc(self) -> Option<super::crc_combine::Crc> {
        use super::crc_combine::{CRC32, CRC32C, CRC64_NVME};
        match self {
            ChecksumAlgorithm::Crc32 => Some(CRC32),
            ChecksumAlgorithm::Crc32c => Some(CRC32C),
            ChecksumAlgorithm::Crc64Nvme => Some(CRC64_NVME),
            ChecksumAlgorithm::Sha1 | ChecksumAlgorithm::Sha256 => None,
        }
    }

    /// The checksum type of a multipart upload: the one asked for, else S3's default for
    /// the algorithm. CRC64NVME has no composite form, SHA-1 and SHA-256 no full-object one.
    pub fn upload_checksum_type(
        self,
        asked: Option<&str>,
    ) -> Result<&'static str, super::ObjectError> {
        let refused = |kind: &str| {
            super::ObjectError::MultipartRequest(format!(
                "The {kind} checksum type cannot be used with the {} checksum algorithm.",
                self.as_str().to_ascii_lowercase()
            ))
        };
        match (asked, self.crc()) {
            (None, _) if self == ChecksumAlgorithm::Crc64Nvme => Ok(FULL_OBJECT),
            (None, _) => Ok(COMPOSITE),
            (Some(FULL_OBJECT), Some(_)) => Ok(FULL_OBJECT),
            (Some(FULL_OBJECT), None) => Err(refused(FULL_OBJECT)),
            (Some(COMPOSITE), _) if self == ChecksumAlgorithm::Crc64Nvme => Err(refused(COMPOSITE)),
            (Some(COMPOSITE), _) => Ok(COMPOSITE),
            (Some(_), _) => Err(super::ObjectError::MultipartRequest(
                "Value for x-amz-checksum-type header is invalid.".to_owned(),
            )),
        }
    }

    /// Checksum of a sequence of raw digests (multipart "composite" checksums).
    pub fn digest_of(self, data: &[u8]) -> String {
        let mut d = Digests::new(false, Some(self));
        d.update(data);
        d.finish().checksum.map(|(_, v)| v).unwrap_or_default()
    }
}

/// Streaming MD5 and/or flexible checksum of one body.
pub struct Digests {
    md5: Option<Md5>,
    algorithm: Option<ChecksumAlgorithm>,
    hasher: ChecksumHasher,
}

#[derive(Debug, Clone, Default)]
pub struct DigestValues {
    pub md5: Option<[u8; 16]>,
    /// Algorithm and base64 value.
    pub checksum: Option<(ChecksumAlgorithm, String)>,
}

impl Digests {
    pub fn new(md5: bool, algorithm: Option<ChecksumAlgorithm>) -> Digests {
        let mut hasher = ChecksumHasher::default();
        match algorithm {
            Some(ChecksumAlgorithm::Crc32) => hasher.crc32 = Some(Crc32::new()),
            Some(ChecksumAlgorithm::Crc32c) => hasher.crc32c = Some(Crc32c::new()),
            Some(ChecksumAlgorithm::Crc64Nvme) => hasher.crc64nvme = Some(Crc64Nvme::new()),
            Some(ChecksumAlgorithm::Sha1) => hasher.sha1 = Some(Sha1::new()),
            Some(ChecksumAlgorithm::Sha256) => hasher.sha256 = Some(Sha256::new()),
            None => {}
        }
        Digests {
            md5: md5.then(Md5::new),
            algorithm,
            hasher,
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        if let Some(m) = &mut self.md5 {
            m.update(data);
        }
        if self.algorithm.is_some() {
            self.hasher.update(data);
        }
    }

    pub fn finish(self) -> DigestValues {
        let md5 = self.md5.map(Md5::finalize);
        let checksum = self.algorithm.and_then(|alg| {
            let c = self.hasher.finalize();
            let value = match alg {
                ChecksumAlgorithm::Crc32 => c.checksum_crc32,
                ChecksumAlgorithm::Crc32c => c.checksum_crc32c,
                ChecksumAlgorithm::Crc64Nvme => c.checksum_crc64nvme,
                ChecksumAlgorithm::Sha1 => c.checksum_sha1,
                ChecksumAlgorithm::Sha256 => c.checksum_sha256,
            };
            value.map(|v| (alg, v))
        });
        DigestValues { md5, checksum }
    }
}

/// What a client stated about a body, checked before the write becomes visible.
#[derive(Default)]
pub struct Stated {
    /// `Content-MD5`.
    pub content_md5: Option<[u8; 16]>,
    pub checksum: Option<StatedChecksum>,
}

/// A flexible checksum the client stated, or will state in the body's trailer.
pub struct StatedChecksum {
    pub algorithm: ChecksumAlgorithm,
    pub value: StatedValue,
}

pub enum StatedValue {
    /// From a header, already checked to be well formed.
    Header(String),
    /// Read once the body has been consumed (an aws-chunked trailer); `None` when the
    /// trailer does not carry it, and then nothing is checked, as on S3.
    Trailer(Box<dyn FnOnce() -> Option<String> + Send + Sync>),
}

/// A stated digest that the body does not match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mismatch {
    ContentMd5,
    Checksum(ChecksumAlgorithm),
}

impl ChecksumAlgorithm {
    /// Whether a base64 value has this algorithm's digest length.
    pub fn well_formed(self, value: &str) -> bool {
        b64_decode(value).is_some_and(|raw| raw.len() == self.digest_len())
    }
}

impl Stated {
    /// Compares what was received with what the client stated.
    pub fn verify(self, computed: &DigestValues) -> Result<(), super::ObjectError> {
        use super::ObjectError;
        if let Some(md5) = self.content_md5
            && computed.md5 != Some(md5)
        {
            return Err(ObjectError::BadDigest(Mismatch::ContentMd5));
        }
        let Some(stated) = self.checksum else {
            return Ok(());
        };
        let alg = stated.algorithm;
        let value = match stated.value {
            StatedValue::Header(v) => v,
            StatedValue::Trailer(read) => match read() {
                Some(v) => v.trim().to_owned(),
                None => return Ok(()),
            },
        };
        if !alg.well_formed(&value) {
            return Err(ObjectError::InvalidChecksumValue(alg));
        }
        if computed.checksum.as_ref().map(|(_, v)| v.as_str()) != Some(value.as_str()) {
            return Err(ObjectError::BadDigest(Mismatch::Checksum(alg)));
        }
        Ok(())
    }

    /// Whether MD5 must be computed for this body even where the ETag needs none.
    pub fn wants_md5(&self) -> bool {
        self.content_md5.is_some()
    }

    pub fn algorithm(&self) -> Option<ChecksumAlgorithm> {
        self.checksum.as_ref().map(|c| c.algorithm)
    }
}

pub fn md5_hex(md5: &[u8; 16]) -> String {
    hex::encode(md5)
}

pub fn b64(data: &[u8]) -> String {
    B64.encode(data)
}

pub fn b64_decode(s: &str) -> Option<Vec<u8>> {
    B64.decode(s.trim()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digests() {
        let mut d = Digests::new(true, Some(ChecksumAlgorithm::Crc32));
        d.update(b"hello ");
        d.update(b"world");
        let v = d.finish();
        assert_eq!(md5_hex(&v.md5.unwrap()), "5eb63bbbe01eeed093cb22bb8f5acdc3");
        assert_eq!(v.checksum.unwrap().1, "DUoRhQ==");
        let mut d = Digests::new(false, Some(ChecksumAlgorithm::Sha256));
        d.update(b"");
        assert_eq!(
            d.finish().checksum.unwrap().1,
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
        assert!(Digests::new(false, None).finish().md5.is_none());
        assert_eq!(
            ChecksumAlgorithm::parse("crc64nvme"),
            Some(ChecksumAlgorithm::Crc64Nvme)
        );
    }

    #[test]
    fn stated_digests_are_verified() {
        use super::super::ObjectError;
        let mut d = Digests::new(true, Some(ChecksumAlgorithm::Crc32));
        d.update(b"hello world");
        let v = d.finish();
        let md5 = v.md5.unwrap();
        let crc = |value: StatedValue| Stated {
            content_md5: Some(md5),
            checksum: Some(StatedChecksum {
                algorithm: ChecksumAlgorithm::Crc32,
                value,
            }),
        };
        assert!(
            crc(StatedValue::Header("DUoRhQ==".into()))
                .verify(&v)
                .is_ok()
        );
        assert!(
            crc(StatedValue::Trailer(Box::new(|| None)))
                .verify(&v)
                .is_ok()
        );
        assert!(matches!(
            crc(StatedValue::Trailer(Box::new(|| Some("AAAAAA==".into())))).verify(&v),
            Err(ObjectError::BadDigest(Mismatch::Checksum(
                ChecksumAlgorithm::Crc32
            )))
        ));
        assert!(matches!(
            crc(StatedValue::Trailer(Box::new(|| Some("x".into())))).verify(&v),
            Err(ObjectError::InvalidChecksumValue(_))
        ));
        let wrong_md5 = Stated {
            content_md5: Some([0; 16]),
            checksum: None,
        };
        assert!(matches!(
            wrong_md5.verify(&v),
            Err(ObjectError::BadDigest(Mismatch::ContentMd5))
        ));
    }
}
