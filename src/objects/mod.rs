//! The object service: buckets, versions and multipart uploads on top of the catalog, with
//! every byte sealed by `crypto` on its way to the blob store and opened on its way back.

mod collector;
pub mod digest;
mod multipart;
mod read;
mod write;

use std::sync::Arc;

use bytes::Bytes;
use futures::stream::BoxStream;
use zeroize::Zeroizing;

use crate::blobstore::{BlobError, BlobStore};
use crate::catalog::{Catalog, CatalogError, Sse};
use crate::clock::SharedClock;
use crate::crypto::{AeadBackend, CryptoError, DataKey, RootKey, SealHeader, WrappedKey};

pub use collector::Collector;
pub use digest::{ChecksumAlgorithm, Digests};
pub use multipart::{CompletedPart, MIN_PART_SIZE, PartSpec};
pub use read::{ObjectReader, ReadRange};
pub use write::{PutSpec, Staged};

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
    #[error("the request body ended before Content-Length bytes arrived")]
    IncompleteBody,
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
}

impl SseRequest {
    pub fn customer_key(&self) -> Option<&CustomerKey> {
        match self {
            SseRequest::S3 => None,
            SseRequest::C(k) => Some(k),
        }
    }

    fn catalog_sse(&self) -> Sse {
        match self {
            SseRequest::S3 => Sse::S3,
            SseRequest::C(_) => Sse::C,
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
        }
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// A fresh data key wrapped as the request asks, proven to unwrap before any byte is
    /// sealed under it (a key that cannot be unwrapped later would lose the object).
    fn new_data_key(&self, sse: &SseRequest) -> Result<(DataKey, WrappedKey)> {
        let dk = DataKey::generate();
        let wrapped = match sse {
            SseRequest::S3 => self.root.wrap_sse_s3(&dk),
            SseRequest::C(k) => self.root.wrap_sse_c(&k.key, &dk),
        };
        let back = self.unwrap_key(
            &wrapped,
            match sse {
                SseRequest::S3 => None,
                SseRequest::C(k) => Some(k),
            },
        )?;
        if back.as_bytes() != dk.as_bytes() {
            return Err(ObjectError::Crypto(CryptoError::Authentication));
        }
        Ok((dk, wrapped))
    }

    fn unwrap_key(&self, wrapped: &WrappedKey, customer: Option<&CustomerKey>) -> Result<DataKey> {
        use crate::crypto::Wrapping;
        match (&wrapped.wrapping, customer) {
            (Wrapping::SseS3 { .. }, _) => Ok(self.root.unwrap_sse_s3(wrapped)?),
            (Wrapping::SseC { .. }, Some(k)) => self
                .root
                .unwrap_sse_c(&k.key, wrapped)
                .map_err(customer_key_error),
            (Wrapping::SseC { .. }, None) => Err(ObjectError::CustomerKeyRequired),
            (Wrapping::Kms { .. }, _) => Err(ObjectError::Crypto(CryptoError::Malformed(
                "KMS-wrapped data keys are not readable by this build".into(),
            ))),
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

fn customer_key_error(e: CryptoError) -> ObjectError {
    match e {
        CryptoError::WrongCustomerKey => ObjectError::CustomerKeyMismatch,
        other => ObjectError::Crypto(other),
    }
}

/// 32 hex chars, as S3 shows ETags of objects whose ETag is not an MD5.
fn random_etag() -> String {
    let mut b = [0u8; 16];
    // getrandom only fails when the OS has no entropy source; there is no sensible fallback.
    getrandom::fill(&mut b).expect("operating system random source");
    hex::encode(b)
}
