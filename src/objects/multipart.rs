//! Multipart uploads: one data key per upload, one blob per part attempt. Each blob has its
//! own random salt and so its own content key: re-uploading a part number never repeats a
//! (key, nonce) pair.

use s3s::crypto::{Checksum as _, Md5};

use super::digest::{
    COMPOSITE, DigestValues, Digests, FULL_OBJECT, Mismatch, Stated, b64, b64_decode, md5_hex,
};
use super::read::{ObjectReader, ReadRange};
use super::write::{BlobTarget, Written, new_seal_id};
use super::{
    ByteStream, ChecksumAlgorithm, CustomerKey, ObjectError, ObjectService, Result, SseRequest,
    random_etag,
};
use crate::bucket_settings::object_lock::VersionLock;
use crate::catalog::{
    CatalogError, Checksum, NewVersion, ObjectMeta, PartRecord, Precondition, Sse, Upload,
};
use crate::crypto::{ObjectIdentity, SealHeader};
use crate::kms::Caller;

/// S3's minimum size of every part but the last.
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
pub(super) const MAX_PART_NUMBER: u32 = 10_000;

#[derive(Debug, Clone)]
pub struct CompletedPart {
    pub part_number: u32,
    pub etag: String,
    /// The checksum the client states for the part, if any: algorithm and base64 value.
    pub checksum: Option<(ChecksumAlgorithm, String)>,
}

/// What a CreateMultipartUpload asks of the object: its checksum and its lock.
#[derive(Debug, Clone, Copy, Default)]
pub struct UploadAsked<'a> {
    pub algorithm: Option<ChecksumAlgorithm>,
    /// `x-amz-checksum-type`.
    pub kind: Option<&'a str>,
    /// The retention and legal hold the completed version gets.
    pub lock: VersionLock,
}

/// What a CompleteMultipartUpload states about the whole object.
#[derive(Debug, Clone, Default)]
pub struct CompletionStated {
    /// `x-amz-checksum-type`: must be the upload's.
    pub kind: Option<String>,
    /// `x-amz-checksum-ALGORITHM`: the object's checksum, checked against the one computed.
    pub value: Option<(ChecksumAlgorithm, String)>,
    /// `x-amz-mp-object-size`: the object's size, checked against the chosen parts'.
    pub size: Option<i64>,
}

/// One part as UploadPart or UploadPartCopy delivers it.
pub struct PartSpec {
    pub part_number: u32,
    /// Exact plaintext length.
    pub len: u64,
    /// Compute MD5 even where the ETag does not need it (Content-MD5 was sent).
    pub want_md5: bool,
    pub checksum: Option<ChecksumAlgorithm>,
}

struct StagedPart {
    upload_id: String,
    part: PartRecord,
    digests: DigestValues,
}

impl ObjectService {
    pub async fn create_upload(
        &self,
        bucket: &str,
        key: &str,
        meta: ObjectMeta,
        sse: &SseRequest,
        caller: Option<&Caller>,
        asked: UploadAsked<'_>,
    ) -> Result<Upload> {
        let checksum = asked.algorithm;
        let checksum_type = match (checksum, asked.kind) {
            (Some(alg), asked) => Some(alg.upload_checksum_type(asked)?),
            (None, None) => None,
            (None, Some(_)) => {
                return Err(ObjectError::MultipartRequest(
                    "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header.".to_owned(),
                ));
            }
        };
        let seen = self.observe(bucket, key).await?;
        let (_, wrapped, recorded) = self.new_data_key(sse, caller, bucket, key).await?;
        // The wrapped upload key is kept as a header template: the encoding every part repeats.
        let template = SealHeader::new(0, self.chunk_size, wrapped).encode();
        let upload = Upload {
            upload_id: crate::crypto::random_id(),
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            seal_id: new_seal_id(),
            initiated_ms: self.now_ms(),
            meta,
            sse: recorded,
            wrapped_key: template,
            checksum_algorithm: checksum.map(|a| a.as_str().to_owned()),
            checksum_type: checksum_type.map(str::to_owned),
            seen,
            lock: asked.lock,
        };
        self.catalog.create_upload(upload.clone()).await?;
        Ok(upload)
    }

    /// The upload, if it belongs to this bucket and key.
    pub async fn upload_of(&self, upload_id: &str, bucket: &str, key: &str) -> Result<Upload> {
        let upload = self.catalog.upload(upload_id).await?;
        if upload.bucket != bucket || upload.key != key {
            return Err(crate::catalog::CatalogError::NoSuchUpload.into());
        }
        Ok(upload)
    }

    /// The upload, if it belongs to this bucket and key and the caller brings its key.
    pub async fn upload_for(
        &self,
        upload_id: &str,
        bucket: &str,
        key: &str,
        customer: Option<&CustomerKey>,
    ) -> Result<Upload> {
        let upload = self.upload_of(upload_id, bucket, key).await?;
        self.check_customer_key(Some(&upload.sse), &upload.wrapped_key, customer)?;
        Ok(upload)
    }

    /// Writes one part: sealed under the upload's data key, checked against the digests
    /// the client stated, then listed. Parts of an upload with a checksum algorithm carry
    /// that checksum.
    #[allow(
        clippy::too_many_arguments,
        reason = "what UploadPart carries, each its own thing"
    )]
    pub async fn upload_part(
        &self,
        upload: &Upload,
        part_number: u32,
        len: u64,
        stated: Stated,
        customer: Option<&CustomerKey>,
        caller: Option<&Caller>,
        body: ByteStream,
    ) -> Result<PartRecord> {
        let expected = upload_algorithm(upload);
        if let (Some(expected), Some(actual)) = (expected, stated.algorithm())
            && expected != actual
        {
            return Err(ObjectError::MultipartRequest(format!(
                "Checksum Type mismatch occurred, expected checksum Type: {}, actual checksum Type: {}",
                expected.as_str().to_ascii_lowercase(),
                actual.as_str().to_ascii_lowercase()
            )));
        }
        let spec = PartSpec {
            part_number,
            len,
            want_md5: stated.wants_md5(),
            checksum: stated.algorithm().or(expected),
        };
        let staged = self
            .stage_part(upload, spec, customer, caller, body)
            .await?;
        if let Err(e) = stated.verify(&staged.digests) {
            self.discard_blobs(vec![staged.part.blob]).await;
            return Err(e);
        }
        self.commit_part(staged).await
    }

    /// Writes `range` of `source` (a version the caller may read) as one part.
    pub async fn upload_part_copy(
        &self,
        upload: &Upload,
        part_number: u32,
        source: ObjectReader,
        range: ReadRange,
        customer: Option<&CustomerKey>,
        caller: Option<&Caller>,
    ) -> Result<PartRecord> {
        let len = match range {
            ReadRange::All => source.size(),
            ReadRange::Bytes(s, e) => e - s,
        };
        let spec = PartSpec {
            part_number,
            len,
            want_md5: false,
            checksum: upload_algorithm(upload),
        };
        let body = source.stream(range).await?;
        let staged = self
            .stage_part(upload, spec, customer, caller, body)
            .await?;
        self.commit_part(staged).await
    }

    /// Seals one part under the upload's data key. Visible to ListParts only after `commit_part`.
    async fn stage_part(
        &self,
        upload: &Upload,
        spec: PartSpec,
        customer: Option<&CustomerKey>,
        caller: Option<&Caller>,
        body: ByteStream,
    ) -> Result<StagedPart> {
        let PartSpec {
            part_number,
            len,
            want_md5,
            checksum,
        } = spec;
        let (template, _) = SealHeader::decode(&upload.wrapped_key)?;
        let data_key = self
            .unwrap_key(
                &template.wrapped_key,
                Some(&upload.sse),
                customer,
                caller,
                &upload.bucket,
                &upload.key,
            )
            .await?;
        let etag_is_md5 = upload.sse == Sse::S3;
        let target = BlobTarget {
            identity: ObjectIdentity {
                bucket: &upload.bucket,
                key: &upload.key,
                version: &upload.seal_id,
                part_number,
            },
            data_key: &data_key,
            wrapped: template.wrapped_key,
        };
        let (mut part, digests) = self
            .seal_blob(
                target,
                len,
                Digests::new(etag_is_md5 || want_md5, checksum),
                body,
            )
            .await?;
        part.etag = match (etag_is_md5, digests.md5) {
            (true, Some(md5)) => md5_hex(&md5),
            _ => random_etag(),
        };
        part.checksum = digests.checksum.as_ref().map(|(alg, value)| Checksum {
            algorithm: alg.as_str().to_owned(),
            value: value.clone(),
            kind: "PART".to_owned(),
        });
        Ok(StagedPart {
            upload_id: upload.upload_id.clone(),
            part,
            digests,
        })
    }

    async fn commit_part(&self, staged: StagedPart) -> Result<PartRecord> {
        let blob = staged.part.blob.clone();
        match self
            .catalog
            .put_part(&staged.upload_id, staged.part.clone(), self.now_ms())
            .await
        {
            Ok(()) => Ok(staged.part),
            Err(e) => {
                self.discard_blobs(vec![blob]).await;
                Err(e.into())
            }
        }
    }

    /// Checks the client's part list against what was uploaded and commits the version.
    pub async fn complete_upload(
        &self,
        upload: &Upload,
        requested: &[CompletedPart],
        mut precondition: Precondition,
        stated: CompletionStated,
        replica: bool,
    ) -> Result<Written> {
        let algorithm = upload_algorithm(upload);
        if let (Some(asked), Some(kind)) = (&stated.kind, &upload.checksum_type)
            && asked != kind
        {
            return Err(ObjectError::MultipartRequest(format!(
                "The upload was created using the {kind} checksum mode. The complete request must use the same checksum mode."
            )));
        }
        // S3 counts the whole upload as the conditional write: a change to the key since
        // it began is a conflict, and the client starts over.
        precondition.seen = upload.seen.clone();
        if requested
            .windows(2)
            .any(|w| w[0].part_number >= w[1].part_number)
        {
            return Err(ObjectError::InvalidPartOrder);
        }
        let uploaded = self
            .catalog
            .list_parts(&upload.upload_id, 0, MAX_PART_NUMBER as usize)
            .await?;
        let mut chosen = Vec::with_capacity(requested.len());
        for want in requested {
            let part = uploaded
                .iter()
                .find(|p| {
                    p.part_number == want.part_number && p.etag == want.etag.trim_matches('"')
                })
                .ok_or(ObjectError::InvalidPart)?;
            let composite = upload.checksum_type.as_deref() == Some(COMPOSITE);
            match (&want.checksum, algorithm) {
                (None, Some(alg)) if composite => {
                    return Err(ObjectError::MultipartRequest(format!(
                        "The upload was created using a {} checksum. The complete request must include the checksum for each part. It was missing for part {} in the request.",
                        alg.as_str().to_ascii_lowercase(),
                        want.part_number
                    )));
                }
                (Some((alg, value)), _) => {
                    let stored = part.checksum.as_ref();
                    if stored.is_none_or(|c| c.algorithm != alg.as_str() || c.value != value.trim())
                    {
                        return Err(ObjectError::InvalidPart);
                    }
                }
                _ => {}
            }
            chosen.push(part.clone());
        }
        // S3 reports a missing part before a small one.
        if let Some(small) = chosen[..chosen.len().saturating_sub(1)]
            .iter()
            .find(|p| p.size < MIN_PART_SIZE)
        {
            return Err(ObjectError::EntityTooSmall(small.part_number));
        }

        let mut md5s = Md5::new();
        for p in &chosen {
            md5s.update(&hex::decode(&p.etag).map_err(|_| ObjectError::InvalidPart)?);
        }
        let n = chosen.len();
        let etag = format!("{}-{n}", md5_hex(&md5s.finalize()));
        let checksum = multipart_checksum(upload, &chosen);
        if let Some((alg, value)) = &stated.value {
            check_object_checksum(*alg, value, checksum.as_ref())?;
        }
        let size: u64 = chosen.iter().map(|p| p.size).sum();
        if let Some(expected) = stated.size
            && u64::try_from(expected).ok() != Some(size)
        {
            return Err(ObjectError::MultipartRequest(format!(
                "The provided 'x-amz-mp-object-size' header value {expected} does not match the size of the object: {size}."
            )));
        }
        let version = NewVersion {
            bucket: upload.bucket.clone(),
            key: upload.key.clone(),
            seal_id: upload.seal_id.clone(),
            size,
            etag,
            last_modified_ms: self.now_ms(),
            meta: upload.meta.clone(),
            sse: upload.sse.clone(),
            checksum,
            parts_count: Some(n as u32),
            replica,
            lock: upload.lock,
            parts: chosen,
        };
        let mut written = Written::of(&version, String::new());
        written.version_id = self
            .catalog
            .complete_upload(&upload.upload_id, version, precondition, self.now_ms())
            .await?
            .version_id;
        Ok(written)
    }

    /// What a completed upload of this bucket and key became, answered again to a repeated
    /// completion; NoSuchUpload once its version is gone.
    pub async fn completed_upload(
        &self,
        upload_id: &str,
        bucket: &str,
        key: &str,
    ) -> Result<Written> {
        let v = self
            .catalog
            .completed_upload(upload_id)
            .await?
            .filter(|v| v.bucket == bucket && v.key == key)
            .ok_or(CatalogError::NoSuchUpload)?;
        Ok(Written {
            bucket: v.bucket,
            key: v.key,
            version_id: v.version_id,
            etag: v.etag,
            last_modified_ms: v.last_modified_ms,
            sse: v.sse.ok_or_else(|| {
                CatalogError::Corrupt(format!("version {} has no encryption", v.row))
            })?,
            checksum: v.checksum,
            size: v.size,
            tags: v.meta.tags,
        })
    }

    /// Aborts an upload; its parts' blobs are collected.
    pub async fn abort_upload(&self, upload: &Upload) -> Result<()> {
        Ok(self
            .catalog
            .abort_upload(&upload.upload_id, self.now_ms())
            .await?)
    }
}

fn upload_algorithm(upload: &Upload) -> Option<ChecksumAlgorithm> {
    upload
        .checksum_algorithm
        .as_deref()
        .and_then(ChecksumAlgorithm::parse)
}

/// The object checksum of an upload with a checksum algorithm, from the checksums its
/// parts got as they arrived (only when every part has one): FULL_OBJECT, the CRC of the
/// whole object, combined from the parts' CRCs and lengths; COMPOSITE, the checksum of the
/// concatenated raw part checksums, with "-N".
fn multipart_checksum(upload: &Upload, parts: &[PartRecord]) -> Option<Checksum> {
    let alg = upload_algorithm(upload)?;
    let raw = parts
        .iter()
        .map(|p| {
            let c = p
                .checksum
                .as_ref()
                .filter(|c| c.algorithm == alg.as_str())?;
            b64_decode(&c.value).filter(|r| r.len() == alg.digest_len())
        })
        .collect::<Option<Vec<_>>>()?;
    let (value, kind) = if upload.checksum_type.as_deref() == Some(FULL_OBJECT) {
        let crc = alg.crc()?;
        let whole = parts.iter().zip(&raw).fold(None, |acc, (p, r)| {
            let value = r.iter().fold(0u64, |v, b| (v << 8) | u64::from(*b));
            Some(match acc {
                None => value,
                Some(acc) => crc.combine(acc, value, p.size),
            })
        })?;
        let bytes = whole.to_be_bytes();
        (b64(&bytes[bytes.len() - alg.digest_len()..]), FULL_OBJECT)
    } else {
        (
            format!("{}-{}", alg.digest_of(&raw.concat()), parts.len()),
            COMPOSITE,
        )
    };
    Some(Checksum {
        algorithm: alg.as_str().to_owned(),
        value,
        kind: kind.to_owned(),
    })
}

/// Checks the object checksum a completion states against the one computed; a composite
/// one may be stated with or without its "-N".
fn check_object_checksum(
    alg: ChecksumAlgorithm,
    stated: &str,
    computed: Option<&Checksum>,
) -> Result<()> {
    let Some(computed) = computed.filter(|c| c.algorithm == alg.as_str()) else {
        return Err(ObjectError::MultipartRequest(format!(
            "The upload was not created with the {} checksum algorithm.",
            alg.as_str().to_ascii_lowercase()
        )));
    };
    let stated = stated.trim();
    let bare = computed.value.split('-').next().unwrap_or_default();
    if stated != computed.value && stated != bare {
        return Err(ObjectError::BadDigest(Mismatch::Checksum(alg)));
    }
    Ok(())
}
