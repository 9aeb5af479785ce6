//! The write path: plaintext streams in, sealed chunks stream out to a fresh blob, the
//! digests the client stated are checked, and only then one catalog transaction makes the
//! version visible; a write that fails at any step leaves its blob to the collector.

use bytes::Bytes;
use futures::StreamExt;

use super::digest::{DigestValues, Digests, Stated, md5_hex};
use super::read::{ObjectReader, ReadRange};
use super::{
    ByteStream, ChecksumAlgorithm, ObjectError, ObjectService, Result, SseRequest, random_etag,
};
use crate::blobstore::BlobStore;
use crate::bucket_settings::object_lock::{LockChange, VersionLock};
use crate::catalog::{
    CatalogError, Checksum, DeleteOutcome, NewVersion, ObjectMeta, PartRecord, Precondition, Seen,
    Sse,
};
use crate::crypto::{
    BlobCipher, CryptoError, DataKey, ObjectIdentity, SealHeader, Sealer, WrappedKey,
};
use crate::kms::Caller;

/// Sealed bytes gathered before they are handed to the blob writer.
pub const FLUSH_AT: usize = 1024 * 1024;

pub struct PutSpec {
    pub bucket: String,
    pub key: String,
    /// Exact plaintext length (Content-Length or x-amz-decoded-content-length).
    pub len: u64,
    pub meta: ObjectMeta,
    pub sse: SseRequest,
    /// Compute MD5 even where the ETag does not need it (Content-MD5 was sent).
    pub want_md5: bool,
    pub checksum: Option<ChecksumAlgorithm>,
    /// Who writes, for SSE-KMS (None: anonymous).
    pub caller: Option<Caller>,
    /// The retention and legal hold the writer asked for.
    pub lock: VersionLock,
}

/// A PUT (or a browser form upload) as the object service takes it.
pub struct PutRequest {
    pub spec: PutSpec,
    pub stated: Stated,
    pub precondition: Precondition,
    /// Written by another region's replication (the edge checked the caller may).
    pub replica: bool,
}

/// Who deletes, as far as S3's rules care.
#[derive(Debug, Clone, Copy, Default)]
pub struct Deleter {
    /// Another region's replication (the edge checked the caller may).
    pub replica: bool,
    /// The caller may bypass GOVERNANCE retention (`s3:BypassGovernanceRetention`) and
    /// asked to (`x-amz-bypass-governance-retention: true`).
    pub bypass_governance: bool,
}

/// What a committed write reports back.
#[derive(Debug, Clone)]
pub struct Written {
    pub bucket: String,
    pub key: String,
    pub version_id: String,
    pub etag: String,
    pub last_modified_ms: i64,
    pub sse: Sse,
    pub checksum: Option<Checksum>,
    /// Size and tags, as lifecycle filters see the new version.
    pub size: u64,
    pub tags: crate::tagging::TagSet,
}

impl Written {
    pub(super) fn of(version: &NewVersion, version_id: String) -> Written {
        Written {
            bucket: version.bucket.clone(),
            key: version.key.clone(),
            version_id,
            etag: version.etag.clone(),
            last_modified_ms: version.last_modified_ms,
            sse: version.sse.clone(),
            checksum: version.checksum.clone(),
            size: version.size,
            tags: version.meta.tags.clone(),
        }
    }
}

/// A sealed, durable, invisible object version.
pub(super) struct Staged {
    pub version: NewVersion,
    pub digests: DigestValues,
}

pub(super) fn new_seal_id() -> String {
    crate::crypto::random_id()
}

/// What the blob being written belongs to.
pub(super) struct BlobTarget<'a> {
    pub identity: ObjectIdentity<'a>,
    pub data_key: &'a DataKey,
    pub wrapped: WrappedKey,
}

impl ObjectService {
    /// Writes a new version: sealed, checked against the digests the client stated, then
    /// made visible (subject to `precondition`) in one transaction.
    pub async fn put_object(&self, mut req: PutRequest, body: ByteStream) -> Result<Written> {
        self.begin_conditional(&mut req.precondition, &req.spec.bucket, &req.spec.key)
            .await?;
        let mut staged = self.stage_object(req.spec, body).await?;
        staged.version.replica = req.replica;
        if let Err(e) = req.stated.verify(&staged.digests) {
            self.discard(staged).await;
            return Err(e);
        }
        self.commit(staged, req.precondition).await
    }

    /// Writes `source` (a version the caller may read, with its key unwrapped) as a new
    /// version under `spec`'s key and encryption, subject to `precondition` on that key: a
    /// copy is always re-encrypted under a fresh data key.
    pub async fn copy_object(
        &self,
        source: ObjectReader,
        spec: PutSpec,
        mut precondition: Precondition,
    ) -> Result<Written> {
        self.begin_conditional(&mut precondition, &spec.bucket, &spec.key)
            .await?;
        let body = source.stream(ReadRange::All).await?;
        let staged = self.stage_object(spec, body).await?;
        self.commit(staged, precondition).await
    }

    /// Deletes as DeleteObject does: a version id removes that version for good (unless
    /// its Object Lock forbids it); without one, a versioned bucket gets a delete marker
    /// and an unversioned one loses the object.
    pub async fn delete_object(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        deleter: Deleter,
        precondition: &Precondition,
    ) -> Result<DeleteOutcome> {
        let marker_seal_id = new_seal_id();
        Ok(self
            .catalog
            .delete_object(
                bucket,
                key,
                version_id,
                &marker_seal_id,
                deleter.replica,
                deleter.bypass_governance,
                precondition,
                self.now_ms(),
            )
            .await?)
    }

    /// PutObjectRetention or PutObjectLegalHold on the version written as `seal_id`.
    pub async fn set_lock(
        &self,
        bucket: &str,
        key: &str,
        seal_id: &str,
        change: LockChange,
    ) -> Result<VersionLock> {
        Ok(self
            .catalog
            .set_lock(bucket, key, seal_id, change, self.now_ms())
            .await?)
    }

    /// Notes what a conditional write finds as it begins.
    async fn begin_conditional(
        &self,
        precondition: &mut Precondition,
        bucket: &str,
        key: &str,
    ) -> Result<()> {
        if !precondition.is_none() {
            precondition.seen = self.observe(bucket, key).await?;
        }
        Ok(())
    }

    /// The key's latest entry as a conditional write begins, for the catalog to tell at
    /// commit whether another write changed the key meanwhile.
    pub(super) async fn observe(&self, bucket: &str, key: &str) -> Result<Seen> {
        match self.catalog.version(bucket, key, None).await {
            Ok(v) => Ok(Seen::Latest(v.seal_id)),
            Err(CatalogError::NoSuchKey) => Ok(Seen::Absent),
            Err(e) => Err(e.into()),
        }
    }

    /// Seals `body` into a new blob under a fresh data key. Nothing is visible until
    /// `commit`; a staged object that is never committed is collected.
    pub(super) async fn stage_object(&self, spec: PutSpec, body: ByteStream) -> Result<Staged> {
        let seal_id = new_seal_id();
        let (data_key, wrapped, sse) = self
            .new_data_key(&spec.sse, spec.caller.as_ref(), &spec.bucket, &spec.key)
            .await?;
        // S3 shows the plaintext MD5 as the ETag of single-part SSE-S3 objects only.
        let etag_is_md5 = matches!(spec.sse, SseRequest::S3);
        let target = BlobTarget {
            identity: ObjectIdentity {
                bucket: &spec.bucket,
                key: &spec.key,
                version: &seal_id,
                part_number: 0,
            },
            data_key: &data_key,
            wrapped,
        };
        let digests = Digests::new(etag_is_md5 || spec.want_md5, spec.checksum);
        let (mut part, digests) = self.seal_blob(target, spec.len, digests, body).await?;
        let etag = match (etag_is_md5, digests.md5) {
            (true, Some(md5)) => md5_hex(&md5),
            _ => random_etag(),
        };
        part.etag = etag.clone();
        let checksum = digests.checksum.as_ref().map(|(alg, value)| Checksum {
            algorithm: alg.as_str().to_owned(),
            value: value.clone(),
            kind: "FULL_OBJECT".to_owned(),
        });
        part.checksum = checksum.clone();
        let version = NewVersion {
            bucket: spec.bucket,
            key: spec.key,
            seal_id,
            size: spec.len,
            etag,
            last_modified_ms: part.last_modified_ms,
            meta: spec.meta,
            sse,
            checksum,
            parts_count: None,
            replica: false,
            lock: spec.lock,
            parts: vec![part],
        };
        Ok(Staged { version, digests })
    }

    /// Makes a staged version visible. On failure its blobs are collected.
    async fn commit(&self, staged: Staged, precondition: Precondition) -> Result<Written> {
        let now = self.now_ms();
        let blobs: Vec<String> = staged
            .version
            .parts
            .iter()
            .map(|p| p.blob.clone())
            .collect();
        let mut written = Written::of(&staged.version, String::new());
        match self
            .catalog
            .commit_version(staged.version, precondition, now)
            .await
        {
            Ok(out) => {
                written.version_id = out.version_id;
                Ok(written)
            }
            Err(e) => {
                self.discard_blobs(blobs).await;
                Err(e.into())
            }
        }
    }

    async fn discard(&self, staged: Staged) {
        self.discard_blobs(staged.version.parts.into_iter().map(|p| p.blob).collect())
            .await;
    }

    pub(super) async fn discard_blobs(&self, blobs: Vec<String>) {
        let now = self.now_ms();
        for blob in blobs {
            let mut queued = self.catalog.discard_blob(&blob, now).await;
            if let (Err(CatalogError::DiskFull), Some(space)) = (&queued, &self.space) {
                // The write failed because the disk is full, and recording its garbage hit
                // the same wall: give up the reserve (as any write that ran out of space
                // does) so the blob is queued now rather than after its grace period.
                space.check();
                queued = self.catalog.discard_blob(&blob, now).await;
            }
            if let Err(e) = queued {
                // Still registered as pending, so the collector removes it after the grace period.
                tracing::warn!(%blob, error = %e, "could not queue blob for collection");
            }
        }
    }

    /// Writes one sealed blob: header, then chunks as the body arrives. The blob is
    /// registered as pending first, so a crash at any point leaves it collectable.
    pub(super) async fn seal_blob(
        &self,
        target: BlobTarget<'_>,
        len: u64,
        mut digests: Digests,
        mut body: ByteStream,
    ) -> Result<(PartRecord, DigestValues)> {
        self.admit_write(len)?;
        let name = BlobStore::new_name();
        self.catalog
            .register_pending_blob(&name, self.now_ms().saturating_add(self.orphan_grace_ms))
            .await?;

        let header = SealHeader::new(len, self.chunk_size, target.wrapped);
        let encoded = header.encode();
        let cipher = BlobCipher::new(target.data_key, &header, &target.identity, self.aead);
        let mut sealer = Sealer::new(cipher, &header, FLUSH_AT);
        let mut writer = self.blobs.writer(&name, header.sealed_len());

        let written: Result<()> = async {
            writer.write(Bytes::from(encoded.clone())).await?;
            while let Some(piece) = body.next().await {
                let piece = piece?;
                digests.update(&piece);
                sealer.update(&piece).map_err(length_error)?;
                while let Some(sealed) = sealer.take_sealed() {
                    writer.write(Bytes::from(sealed)).await?;
                }
            }
            let rest = sealer.finish().map_err(length_error)?;
            writer.write(Bytes::from(rest)).await?;
            Ok(())
        }
        .await;

        let finished = match written {
            Ok(()) => writer.finish().await.map_err(ObjectError::from),
            Err(e) => {
                writer.abort().await;
                Err(e)
            }
        };
        if let Err(e) = finished {
            self.discard_blobs(vec![name]).await;
            return Err(self.out_of_space(e));
        }
        let part = PartRecord {
            part_number: target.identity.part_number,
            blob: name,
            size: len,
            etag: String::new(),
            header: encoded,
            checksum: None,
            last_modified_ms: self.now_ms(),
        };
        Ok((part, digests.finish()))
    }
}

impl ObjectService {
    /// Whether `len` more bytes of object data may be stored now: refused while the disk
    /// is full. The edge asks before it reads a body; every blob write asks again.
    pub fn admit_write(&self, len: u64) -> Result<()> {
        if let Some(space) = &self.space {
            space.admit(if self.blobs.is_local() { len } else { 0 })?;
        }
        Ok(())
    }

    /// A write that ran out of space is refused as such, and the reserve is given up so
    /// deletes can still be recorded.
    fn out_of_space(&self, e: ObjectError) -> ObjectError {
        match (&e, &self.space) {
            (ObjectError::Blob(blob), Some(space)) if crate::space::caused_by_full_disk(blob) => {
                space.check();
                ObjectError::DiskFull(crate::space::DiskFull)
            }
            _ => e,
        }
    }
}

/// The sealer counts plaintext against the declared length: too many bytes surface while
/// streaming, too few at the end.
fn length_error(e: CryptoError) -> ObjectError {
    match e {
        CryptoError::LengthMismatch { expected, got } if got > expected => ObjectError::BodyTooLong,
        CryptoError::LengthMismatch { .. } => ObjectError::IncompleteBody,
        other => ObjectError::Crypto(other),
    }
}
