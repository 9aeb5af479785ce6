//! Multipart uploads at the S3 edge: create, upload part (and part copy), list parts and
//! uploads, complete, abort.

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use futures::StreamExt as _;

use super::SealgateS3;
use super::access::DecidedWrite;
use super::listing::{Resume, paginate};
use super::object_ops::{check_key, copy_conditions, copy_source_parts, write_precondition};
use super::request::*;
use super::sse::customer_headers;
use crate::catalog::{CatalogError, KeyStart, Upload};
use crate::objects::{
    ByteStream, ChecksumAlgorithm, CompletedPart, CompletionStated, ObjectError, ReadRange,
    UploadAsked,
};
use crate::replication::REPLICA_HEADER;

const MAX_PART_SIZE: u64 = 5 * 1024 * 1024 * 1024;

fn part_number(n: i32) -> S3Result<u32> {
    if (1..=10_000).contains(&n) {
        Ok(n as u32)
    } else {
        Err(s3_error!(
            InvalidArgument,
            "Part number must be an integer between 1 and 10000, inclusive"
        ))
    }
}

/// `bytes=first-last` of UploadPartCopy, checked against the source size.
pub(crate) fn copy_range(range: Option<&str>, size: u64) -> S3Result<ReadRange> {
    let Some(r) = range else {
        return Ok(ReadRange::All);
    };
    let bad = || {
        s3_error!(
            InvalidArgument,
            "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy"
        )
    };
    let (first, last) = r
        .trim()
        .strip_prefix("bytes=")
        .and_then(|s| s.split_once('-'))
        .ok_or_else(bad)?;
    let (first, last): (u64, u64) = (
        first.parse().map_err(|_| bad())?,
        last.parse().map_err(|_| bad())?,
    );
    if first > last {
        return Err(bad());
    }
    if last >= size {
        return Err(s3_error!(
            InvalidRange,
            "The requested range is not satisfiable"
        ));
    }
    Ok(ReadRange::Bytes(first, last + 1))
}

/// The parts a CompleteMultipartUpload body names; at least one.
pub(crate) fn requested_parts(
    upload: Option<CompletedMultipartUpload>,
) -> S3Result<Vec<CompletedPart>> {
    let requested: Vec<CompletedPart> = upload
        .and_then(|m| m.parts)
        .unwrap_or_default()
        .into_iter()
        .map(|p| {
            Ok(CompletedPart {
                part_number: part_number(p.part_number.unwrap_or(0))?,
                etag: p.e_tag.map(|e| e.value().to_owned()).unwrap_or_default(),
                checksum: stated_checksum(
                    p.checksum_crc32,
                    p.checksum_crc32c,
                    p.checksum_crc64nvme,
                    p.checksum_sha1,
                    p.checksum_sha256,
                ),
            })
        })
        .collect::<S3Result<_>>()?;
    if requested.is_empty() {
        return Err(super::errors::malformed_xml());
    }
    Ok(requested)
}

/// The first checksum a part or a completion states, with its algorithm.
fn stated_checksum(
    crc32: Option<String>,
    crc32c: Option<String>,
    crc64nvme: Option<String>,
    sha1: Option<String>,
    sha256: Option<String>,
) -> Option<(ChecksumAlgorithm, String)> {
    [
        (ChecksumAlgorithm::Crc32, crc32),
        (ChecksumAlgorithm::Crc32c, crc32c),
        (ChecksumAlgorithm::Crc64Nvme, crc64nvme),
        (ChecksumAlgorithm::Sha1, sha1),
        (ChecksumAlgorithm::Sha256, sha256),
    ]
    .into_iter()
    .find_map(|(alg, v)| v.map(|v| (alg, v)))
}

impl SealgateS3 {
    pub(super) async fn create_multipart_upload_op(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let caller = self.kms_caller(&req.extensions);
        let input = req.input;
        check_key(&input.key)?;
        let acl = super::acl::acl_for_write(
            &req.extensions,
            &super::acl::asked_acl!(input),
            &self.caller_account(&req.extensions),
        )?;
        let lock = super::object_lock::lock_headers!(self, input)?;
        self.check_lock_allowed(&input.bucket, &lock).await?;
        let encryption = DecidedWrite::take(&req.extensions)?;
        let mut meta = object_meta!(input)?;
        // Kept with the upload, and the completed version's.
        meta.tags = super::tagging::header_tags(input.tagging.as_deref())?;
        meta.acl = acl;
        let checksum = match &input.checksum_algorithm {
            None => None,
            Some(a) => Some(ChecksumAlgorithm::parse(a.as_str()).ok_or_else(|| {
                s3_error!(
                    InvalidRequest,
                    "Checksum algorithm provided is unsupported."
                )
            })?),
        };
        let upload = self
            .svc
            .create_upload(
                &input.bucket,
                &input.key,
                meta,
                &encryption.sse,
                caller.as_ref(),
                UploadAsked {
                    algorithm: checksum,
                    kind: input.checksum_type.as_ref().map(ChecksumType::as_str),
                    lock,
                },
            )
            .await?;
        let s = sse_fields(Some(&upload.sse), encryption.customer_key());
        let context = kms_context_field(&upload.sse, &upload.bucket, &upload.key);
        Ok(S3Response::new(output!(CreateMultipartUploadOutput {
            bucket: Some(upload.bucket),
            key: Some(upload.key),
            upload_id: Some(upload.upload_id),
            ssekms_encryption_context: context,
            checksum_algorithm: input.checksum_algorithm,
            checksum_type: upload.checksum_type.map(ChecksumType::from),
        } sse(s) sse_c(s))))
    }

    pub(super) async fn upload_part_op(
        &self,
        mut req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let len = body_length(
            &req.headers,
            req.input.content_length,
            req.input.body.as_ref(),
        );
        let mut body = Some(body_stream(req.input.body.take()));
        let result = self.upload_part_inner(req, len, &mut body).await;
        if result.is_err()
            && let Some(unread) = body
        {
            drain_body(unread).await;
        }
        result
    }

    async fn upload_part_inner(
        &self,
        req: S3Request<UploadPartInput>,
        len: S3Result<u64>,
        body: &mut Option<ByteStream>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let customer = self.customer_key(customer_headers!(req.input), &req.extensions)?;
        let caller = self.kms_caller(&req.extensions);
        let trailers = req.trailing_headers.clone();
        let headers = req.headers;
        let input = req.input;
        let number = part_number(input.part_number)?;
        let upload = self
            .svc
            .upload_for(
                &input.upload_id,
                &input.bucket,
                &input.key,
                customer.as_ref(),
            )
            .await?;
        let len = len?;
        if len > MAX_PART_SIZE {
            return Err(s3_error!(
                EntityTooLarge,
                "Your proposed upload exceeds the maximum allowed part size."
            ));
        }
        // Refused while the body is still unread, so it is drained and the client hears why.
        self.svc.admit_write(len)?;
        let stated = stated_digests(
            input.content_md5.as_deref(),
            checksum_headers!(input),
            &headers,
            trailers,
        )?;
        let body = body
            .take()
            .unwrap_or_else(|| futures::stream::empty().boxed());
        let part = self
            .svc
            .upload_part(
                &upload,
                number,
                len,
                stated,
                customer.as_ref(),
                caller.as_ref(),
                body,
            )
            .await?;
        let s = sse_fields(Some(&upload.sse), customer.as_ref());
        let c = checksum_fields(part.checksum.as_ref());
        Ok(S3Response::new(output!(UploadPartOutput {
            e_tag: Some(etag(&part.etag)),
        } sse(s) sse_c(s) checksums(c))))
    }

    pub(super) async fn upload_part_copy_op(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        let customer = self.customer_key(customer_headers!(req.input), &req.extensions)?;
        let source_key =
            self.customer_key(customer_headers!(copy_source req.input), &req.extensions)?;
        let caller = self.kms_caller(&req.extensions);
        let input = req.input;
        let number = part_number(input.part_number)?;
        let (src_bucket, src_key, src_version) = copy_source_parts(&input.copy_source)?;
        let upload = self
            .svc
            .upload_for(
                &input.upload_id,
                &input.bucket,
                &input.key,
                customer.as_ref(),
            )
            .await?;
        let v = self
            .copy_source_version(
                &src_bucket,
                &src_key,
                src_version.as_deref(),
                copy_conditions!(input),
            )
            .await?;
        let reader = self
            .svc
            .reader(v, source_key.as_ref(), caller.as_ref(), true)
            .await?;
        let range = copy_range(input.copy_source_range.as_deref(), reader.size())?;
        let len = match range {
            ReadRange::All => reader.size(),
            ReadRange::Bytes(s, e) => e - s,
        };
        if len > MAX_PART_SIZE {
            return Err(s3_error!(
                EntityTooLarge,
                "Your proposed upload exceeds the maximum allowed part size."
            ));
        }
        let part = self
            .svc
            .upload_part_copy(
                &upload,
                number,
                reader,
                range,
                customer.as_ref(),
                caller.as_ref(),
            )
            .await?;
        let s = sse_fields(Some(&upload.sse), customer.as_ref());
        let c = checksum_fields(part.checksum.as_ref());
        Ok(S3Response::new(output!(UploadPartCopyOutput {
            copy_part_result: Some(output!(CopyPartResult {
                e_tag: Some(etag(&part.etag)),
                last_modified: Some(timestamp(part.last_modified_ms)),
            } checksums(c))),
        } sse(s) sse_c(s))))
    }

    pub(super) async fn list_parts_op(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        let input = req.input;
        // Listing parts needs no SSE-C key, as on S3.
        let upload = self
            .svc
            .upload_of(&input.upload_id, &input.bucket, &input.key)
            .await?;
        let marker = input.part_number_marker.unwrap_or(0).max(0) as u32;
        let max = input.max_parts.unwrap_or(1000).clamp(0, 1000) as usize;
        let mut parts = self.svc.list_parts(&upload, marker, max + 1).await?;
        let truncated = parts.len() > max;
        parts.truncate(max);
        let algorithm = upload
            .checksum_algorithm
            .clone()
            .map(s3s::dto::ChecksumAlgorithm::from);
        Ok(S3Response::new(ListPartsOutput {
            bucket: Some(upload.bucket),
            key: Some(upload.key),
            upload_id: Some(upload.upload_id),
            part_number_marker: Some(marker as i32),
            next_part_number_marker: parts.last().map(|p| p.part_number as i32),
            max_parts: Some(max as i32),
            is_truncated: Some(truncated),
            initiator: Some(Initiator {
                display_name: self.bucket_owner(&req.extensions).display_name,
                id: self.bucket_owner(&req.extensions).id,
            }),
            owner: Some(self.bucket_owner(&req.extensions)),
            storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
            checksum_algorithm: algorithm,
            parts: Some(
                parts
                    .iter()
                    .map(|p| {
                        let c = checksum_fields(p.checksum.as_ref());
                        output!(Part {
                            part_number: Some(p.part_number as i32),
                            e_tag: Some(etag(&p.etag)),
                            size: Some(p.size as i64),
                            last_modified: Some(timestamp(p.last_modified_ms)),
                        } checksums(c))
                    })
                    .collect(),
            ),
            ..Default::default()
        }))
    }

    pub(super) async fn list_multipart_uploads_op(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        let input = req.input;
        let prefix = input.prefix.clone().unwrap_or_default();
        let key_marker = input.key_marker.clone().unwrap_or_default();
        let id_marker = input.upload_id_marker.clone().unwrap_or_default();
        let max = input.max_uploads.unwrap_or(1000).clamp(0, 1000) as usize;
        let delimiter = input.delimiter.clone().unwrap_or_default();
        let svc = self.svc.clone();
        // Without an upload-id marker the listing starts at the key after key-marker.
        let id_marker = (!id_marker.is_empty()).then_some(id_marker);
        let page = paginate(
            &prefix,
            &delimiter,
            &key_marker,
            max,
            |u: &Upload| u.key.as_str(),
            |resume: Resume<Upload>, n| {
                let (svc, bucket) = (svc.clone(), input.bucket.clone());
                let (prefix, delimiter) = (prefix.clone(), delimiter.clone());
                let (start, id_after) = match resume {
                    Resume::Markers => (KeyStart::After(key_marker.clone()), id_marker.clone()),
                    Resume::After(u) => (KeyStart::After(u.key), Some(u.upload_id)),
                    Resume::From(key) => (KeyStart::AtOrAfter(key), None),
                };
                async move {
                    Ok(svc
                        .list_uploads(&bucket, &prefix, &delimiter, &start, id_after.as_deref(), n)
                        .await?)
                }
            },
        )
        .await?;
        let common_prefixes = page.common_prefixes(str::to_owned);
        let (uploads, truncated) = (page.entries, page.truncated);
        let last = uploads.last();
        Ok(S3Response::new(ListMultipartUploadsOutput {
            bucket: Some(input.bucket.clone()),
            prefix: input.prefix,
            key_marker: input.key_marker,
            upload_id_marker: input.upload_id_marker,
            next_key_marker: truncated.then(|| page.last.clone()).flatten(),
            next_upload_id_marker: truncated
                .then(|| last.map(|u| u.upload_id.clone()))
                .flatten(),
            delimiter: input.delimiter,
            common_prefixes,
            max_uploads: Some(max as i32),
            is_truncated: Some(truncated),
            uploads: Some(
                uploads
                    .iter()
                    .map(|u| MultipartUpload {
                        key: Some(u.key.clone()),
                        upload_id: Some(u.upload_id.clone()),
                        initiated: Some(timestamp(u.initiated_ms)),
                        initiator: Some(Initiator {
                            display_name: self.bucket_owner(&req.extensions).display_name,
                            id: self.bucket_owner(&req.extensions).id,
                        }),
                        owner: Some(self.bucket_owner(&req.extensions)),
                        storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
                        checksum_algorithm: u
                            .checksum_algorithm
                            .clone()
                            .map(s3s::dto::ChecksumAlgorithm::from),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        }))
    }

    pub(super) async fn complete_multipart_upload_op(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let customer = self.customer_key(customer_headers!(req.input), &req.extensions)?;
        // Authorized for s3:ReplicateObject when present (access hooks).
        let replica = req.headers.contains_key(REPLICA_HEADER);
        let extensions = req.extensions;
        let input = req.input;
        let upload = match self
            .svc
            .upload_for(
                &input.upload_id,
                &input.bucket,
                &input.key,
                customer.as_ref(),
            )
            .await
        {
            // S3 accepts completing an SSE-C upload without repeating the key.
            Err(ObjectError::CustomerKeyRequired) => Some(
                self.svc
                    .upload_of(&input.upload_id, &input.bucket, &input.key)
                    .await?,
            ),
            // A retry of a completion that succeeded gets the same answer, as on S3.
            Err(ObjectError::Catalog(CatalogError::NoSuchUpload)) => None,
            other => Some(other?),
        };
        let w = match upload {
            Some(upload) => {
                let requested = requested_parts(input.multipart_upload)?;
                let precondition =
                    write_precondition(input.if_match.as_ref(), input.if_none_match.as_ref())?;
                let stated = CompletionStated {
                    kind: input.checksum_type.map(|t| t.as_str().to_owned()),
                    value: stated_checksum(
                        input.checksum_crc32,
                        input.checksum_crc32c,
                        input.checksum_crc64nvme,
                        input.checksum_sha1,
                        input.checksum_sha256,
                    ),
                    size: input.mpu_object_size,
                };
                self.svc
                    .complete_upload(&upload, &requested, precondition, stated, replica)
                    .await?
            }
            None => {
                self.svc
                    .completed_upload(&input.upload_id, &input.bucket, &input.key)
                    .await?
            }
        };
        let s = sse_fields(Some(&w.sse), customer.as_ref());
        let c = checksum_fields(w.checksum.as_ref());
        let expiration = super::object_ops::written_expiration(&extensions, &w)?;
        Ok(S3Response::new(output!(CompleteMultipartUploadOutput {
            location: Some(format!("/{}/{}", w.bucket, w.key)),
            bucket: Some(w.bucket),
            key: Some(w.key),
            e_tag: Some(etag(&w.etag)),
            version_id: reported_version(&w.version_id),
            expiration: expiration,
        } sse(s) checksums(c) checksum_type(c))))
    }

    pub(super) async fn abort_multipart_upload_op(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let input = req.input;
        let upload = self
            .svc
            .upload_of(&input.upload_id, &input.bucket, &input.key)
            .await?;
        self.svc.abort_upload(&upload).await?;
        Ok(S3Response::new(AbortMultipartUploadOutput::default()))
    }
}
