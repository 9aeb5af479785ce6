//! The object service: buckets, versions and multipart uploads on top of the catalog, with
//! every byte sealed by `crypto` on its way to the blob store and opened on its way back.

mod buckets;
mod collector;
mod crc_combine;
pub mod digest;
pub mod encryption;
mod kms_keys;
mod listing;
mod multipart;
mod read;
mod reading;
mod write;

use std::sync::Arc;

use bytes::Bytes;
use futures::stream::BoxStream;
use zeroize::Zeroizing;

use crate::blobstore::{BlobError, BlobStore};
use crate::catalog::{Catalog, CatalogError, Sse};
use crate::clock::SharedClock;
use crate::crypto::{AeadBackend, CryptoError, DataKey, RootKey, SealHeader, WrappedKey};
use crate::kms::{Caller, KmsError, KmsService};
use crate::space::DiskSpace;
use kms_keys::KmsLink;
pub use write::FLUSH_AT;

pub use collector::Collector;
pub use digest::{ChecksumAlgorithm, Digests, Mismatch, Stated, StatedChecksum, StatedValue};
pub use encryption::{EffectiveEncryption, SseAsked, WriteEncryption};
pub use kms_keys::{AWS_S3_ALIAS, KmsRequest, s3_context};
pub use multipart::{CompletedPart, CompletionStated, MIN_PART_SIZE, PartSpec, UploadAsked};
pub use read::{ObjectReader, ReadRange};
pub use reading::SOLE_READER_GRACE_SECS;
pub use write::{Deleter, PutRequest, PutSpec, Written};

#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Blob(#[from] BlobError),
    #[error("stored data failed authentication: {0}")]
    Crypto(#[from] CryptoError),
    #[error("request body: {0}")]
    Body(String),
    #[error("a chunk of the request body does not match its signature")]
    BodySignature,
    #[error("the request body does not match its signed SHA-256")]
    BodySha256,
    #[error("the request body ended before Content-Length bytes arrived")]
    IncompleteBody,
    #[error("the request body's next bytes did not arrive in time")]
    BodyTimeout,
    #[error("the request body is longer than its Content-Length")]
    BodyTooLong,
    #[error(
        "the object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object."
    )]
    CustomerKeyRequired,
    #[error("the provided customer key does not match the key the object was encrypted with")]
    CustomerKeyMismatch,
    #[error("the encryption parameters are not applicable to this object")]
    CustomerKeyNotApplicable,
    #[error("one or more of the specified parts could not be found or its ETag did not match")]
    InvalidPart,
    #[error("the list of parts was not in ascending order")]
    InvalidPartOrder,
    #[error("part {0} is smaller than the minimum allowed size of 5 MiB")]
    EntityTooSmall(u32),
    #[error("the requested part number is not satisfiable")]
    InvalidPartNumber,
    #[error("key service: {0}")]
    Kms(KmsError),
    #[error("SSE-C writes are blocked for this bucket (BlockedEncryptionTypes)")]
    SseCBlocked,
    #[error("no space left for new object data: {0}")]
    DiskFull(#[from] crate::space::DiskFull),
    #[error("the body does not match its stated {0:?}")]
    BadDigest(Mismatch),
    #[error("the stated {} value is not well formed", .0.as_str())]
    InvalidChecksumValue(ChecksumAlgorithm),
    /// A multipart request S3 refuses as invalid (its checksum or its stated size).
    #[error("{0}")]
    MultipartRequest(String),
}

pub type Result<T, E = ObjectError> = std::result::Result<T, E>;

/// A body as the service consumes it: plaintext pieces of any size.
pub type ByteStream = BoxStream<'static, Result<Bytes, ObjectError>>;

/// An SSE-C key as the client sent it, already checked against its MD5 by the edge.
#[derive(Clone)]
pub struct CustomerKey {
    pub key: Zeroizing<[u8; 32]>,
    /// Base64 MD5 of the key, echoed in responses as AWS does.
    pub key_md5: String,
}

/// How a new version is to be encrypted.
#[derive(Clone)]
pub enum SseRequest {
    S3,
    C(CustomerKey),
    Kms(KmsRequest),
}

impl SseRequest {
    pub fn customer_key(&self) -> Option<&CustomerKey> {
        match self {
            SseRequest::C(k) => Some(k),
            _ => None,
        }
    }
}

#[derive(Clone)]
pub struct ObjectService {
    pub(crate) catalog: Catalog,
    pub(crate) blobs: BlobStore,
    root: Arc<RootKey>,
    aead: AeadBackend,
    chunk_size: u32,
    pub(crate) clock: SharedClock,
    orphan_grace_ms: i64,
    kms: Option<Arc<KmsLink>>,
    /// Free space of the data directory; new object data is refused when it runs out.
    space: Option<Arc<DiskSpace>>,
    /// The blobs this process's reads hold, which the collector leaves alone.
    reading: Arc<reading::Reading>,
}

pub struct ServiceSettings {
    pub aead: AeadBackend,
    pub chunk_size: u32,
    pub orphan_grace_secs: u64,
}

impl ObjectService {
    pub fn new(
        catalog: Catalog,
        blobs: BlobStore,
        root: Arc<RootKey>,
        clock: SharedClock,
        s: ServiceSettings,
    ) -> Self {
        ObjectService {
            catalog,
            blobs,
            root,
            aead: s.aead,
            chunk_size: s.chunk_size,
            clock,
            orphan_grace_ms: (s.orphan_grace_secs as i64).saturating_mul(1000),
            kms: None,
            space: None,
            reading: Arc::default(),
        }
    }

    /// Refuses new object data when `space` runs out.
    pub fn with_disk_space(mut self, space: Arc<DiskSpace>) -> Self {
        self.space = Some(space);
        self
    }

    /// Enables SSE-KMS through this key service.
    pub fn with_kms(mut self, kms: KmsService) -> Self {
        self.kms = Some(Arc::new(KmsLink::new(kms)));
        self
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Whether the blob store answers a read.
    pub async fn storage_reachable(&self) -> std::result::Result<(), String> {
        self.blobs.reachable().await.map_err(|e| e.to_string())
    }

    /// A fresh data key wrapped as the request asks, proven to unwrap before any byte is
    /// sealed under it (a key that cannot be unwrapped later would lose the object), and
    /// how the catalog records the encryption.
    async fn new_data_key(
        &self,
        sse: &SseRequest,
        caller: Option<&Caller>,
        bucket: &str,
        key: &str,
    ) -> Result<(DataKey, WrappedKey, Sse)> {
        let (dk, wrapped, recorded) = match sse {
            SseRequest::S3 => {
                let dk = DataKey::generate();
                let w = self.root.wrap_sse_s3(&dk);
                (dk, w, Sse::S3)
            }
            SseRequest::C(k) => {
                let dk = DataKey::generate();
                let w = self.root.wrap_sse_c(&k.key, &dk);
                (dk, w, Sse::C)
            }
            // The KMS proves its own blobs open (verify_data_key); asking it to Decrypt
            // would need a permission S3 does not ask of writers.
            SseRequest::Kms(req) => return self.kms_data_key(req, caller, bucket, key).await,
        };
        let back = self.unwrap_local(&wrapped, sse.customer_key())?;
        if back.as_bytes() != dk.as_bytes() {
            return Err(ObjectError::Crypto(CryptoError::Authentication));
        }
        Ok((dk, wrapped, recorded))
    }

    /// Opens a version's (or upload's) data key with what the request brings.
    async fn unwrap_key(
        &self,
        wrapped: &WrappedKey,
        sse: Option<&Sse>,
        customer: Option<&CustomerKey>,
        caller: Option<&Caller>,
        bucket: &str,
        key: &str,
    ) -> Result<DataKey> {
        use crate::crypto::Wrapping;
        match wrapped.wrapping {
            Wrapping::Kms { .. } | Wrapping::KmsBucketKey { .. } => {
                self.kms_unwrap(wrapped, sse, caller, bucket, key).await
            }
            _ => self.unwrap_local(wrapped, customer),
        }
    }

    /// Opens a data key wrapped under the root key (SSE-S3) or a customer key (SSE-C).
    fn unwrap_local(
        &self,
        wrapped: &WrappedKey,
        customer: Option<&CustomerKey>,
    ) -> Result<DataKey> {
        use crate::crypto::Wrapping;
        match (&wrapped.wrapping, customer) {
            (Wrapping::SseS3 { .. }, _) => Ok(self.root.unwrap_sse_s3(wrapped)?),
            (Wrapping::SseC { .. }, Some(k)) => self
                .root
                .unwrap_sse_c(&k.key, wrapped)
                .map_err(customer_key_error),
            (Wrapping::SseC { .. }, None) => Err(ObjectError::CustomerKeyRequired),
            (Wrapping::Kms { .. } | Wrapping::KmsBucketKey { .. }, _) => Err(ObjectError::Crypto(
                CryptoError::Malformed("a KMS-wrapped key".into()),
            )),
        }
    }

    /// Checks that a request brings the right customer key for a version, without
    /// decrypting anything (HEAD must refuse a wrong key too).
    fn check_customer_key(
        &self,
        sse: Option<&Sse>,
        header: &[u8],
        customer: Option<&CustomerKey>,
    ) -> Result<()> {
        match (sse, customer) {
            (Some(Sse::C), None) => Err(ObjectError::CustomerKeyRequired),
            (Some(Sse::C), Some(k)) => {
                let (header, _) = SealHeader::decode(header)?;
                self.root
                    .check_sse_c(&k.key, &header.wrapped_key)
                    .map_err(customer_key_error)
            }
            (_, Some(_)) => Err(ObjectError::CustomerKeyNotApplicable),
            (_, None) => Ok(()),
        }
    }
}

/// An object service over an in-memory catalog and a temporary blob directory.
#[cfg(test)]
pub(crate) fn test_service() -> (ObjectService, tempfile::TempDir) {
    test_service_at(crate::clock::system())
}

/// The same on the given clock.
#[cfg(test)]
pub(crate) fn test_service_at(clock: SharedClock) -> (ObjectService, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let blobs = BlobStore::local(dir.path(), false).expect("blob directory");
    let svc = ObjectService::new(
        Catalog::in_memory(),
        blobs,
        Arc::new(RootKey::generate()),
        clock,
        ServiceSettings {
            aead: AeadBackend::default(),
            chunk_size: 4096,
            orphan_grace_secs: 60,
        },
    );
    (svc, dir)
}

fn customer_key_error(e: CryptoError) -> ObjectError {
    match e {
        CryptoError::WrongCustomerKey => ObjectError::CustomerKeyMismatch,
        other => ObjectError::Crypto(other),
    }
}

/// 32 hex chars, as S3 shows ETags of objects whose ETag is not an MD5.
fn random_etag() -> String {
    crate::crypto::random_id()
}
