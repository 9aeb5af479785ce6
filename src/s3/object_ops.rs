//! PutObject (and form uploads), GetObject, HeadObject, GetObjectAttributes, DeleteObject(s)
//! and CopyObject: S3's inputs parsed and checked, the object service called, S3's outputs
//! and headers answered.

use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};
use sync_wrapper::SyncStream;

use futures::StreamExt as _;

use super::SealgateS3;
use super::access::DecidedWrite;
use super::request::*;
use super::sse::{CustomerHeaders, customer_headers};
use crate::catalog::{Condition, ObjectVersion, Precondition};
use crate::kms::Caller;
use crate::objects::{
    ByteStream, CustomerKey, Deleter, ObjectReader, PutRequest, PutSpec, ReadRange,
};
use crate::replication::REPLICA_HEADER;

/// S3's longest object key, in bytes.
const MAX_KEY_LEN: usize = 1024;
const MAX_DELETE_KEYS: usize = 1000;
/// S3 copies at most 5 GiB in one CopyObject; larger objects are copied part by part.
const MAX_COPY_SIZE: u64 = 5 * 1024 * 1024 * 1024;

pub(super) fn check_key(key: &str) -> S3Result<()> {
    if key.is_empty() {
        return Err(s3_error!(InvalidArgument, "Object key must not be empty"));
    }
    if key.len() > MAX_KEY_LEN {
        return Err(s3_error!(KeyTooLongError, "Your key is too long"));
    }
    Ok(())
}

/// The answer S3 gives for a delete marker: 404 for the latest, 405 when named.
fn delete_marker_error(v: &ObjectVersion, named: bool) -> S3Error {
    let mut err = if named {
        s3_error!(
            MethodNotAllowed,
            "The specified method is not allowed against this resource."
        )
    } else {
        s3_error!(NoSuchKey, "The specified key does not exist.")
    };
    let mut headers = http::HeaderMap::new();
    headers.insert(
        "x-amz-delete-marker",
        http::HeaderValue::from_static("true"),
    );
    if let Ok(id) = http::HeaderValue::from_str(&v.version_id) {
        headers.insert("x-amz-version-id", id);
    }
    err.set_headers(headers);
    err
}

fn etag_matches(cond: &ETagCondition, etag: &str) -> bool {
    match cond {
        ETagCondition::Any => true,
        ETagCondition::ETag(e) => e.value() == etag,
    }
}

/// RFC 9110 conditional request evaluation, as S3 applies it to GET and HEAD.
pub(super) fn check_read_conditions(
    v: &ObjectVersion,
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
    if_modified_since: Option<&Timestamp>,
    if_unmodified_since: Option<&Timestamp>,
) -> S3Result<()> {
    let modified = seconds(v.last_modified_ms);
    match if_match {
        Some(c) if !etag_matches(c, &v.etag) => return Err(precondition_failed()),
        Some(_) => {}
        None => {
            if let Some(t) = if_unmodified_since
                && modified > timestamp_seconds(t)
            {
                return Err(precondition_failed());
            }
        }
    }
    match if_none_match {
        Some(c) if etag_matches(c, &v.etag) => return Err(not_modified(v)),
        Some(_) => {}
        None => {
            if let Some(t) = if_modified_since
                && modified <= timestamp_seconds(t)
            {
                return Err(not_modified(v));
            }
        }
    }
    Ok(())
}

fn precondition_failed() -> S3Error {
    s3_error!(
        PreconditionFailed,
        "At least one of the pre-conditions you specified did not hold"
    )
}

fn not_modified(v: &ObjectVersion) -> S3Error {
    let mut err = S3Error::new(S3ErrorCode::NotModified);
    let mut headers = http::HeaderMap::new();
    if let Ok(etag) = http::HeaderValue::from_str(&format!("\"{}\"", v.etag)) {
        headers.insert(http::header::ETAG, etag);
    }
    err.set_headers(headers);
    err
}

/// Which bytes a GET or HEAD asks for, and the Content-Range to answer with.
fn read_range(
    reader: &ObjectReader,
    part_number: Option<i32>,
    range: Option<&Range>,
) -> S3Result<(ReadRange, Option<String>)> {
    let size = reader.size();
    match (part_number, range) {
        (Some(_), Some(_)) => Err(s3_error!(
            InvalidRequest,
            "Cannot specify both Range header and partNumber query parameter"
        )),
        (Some(n), None) => {
            if !(1..=10_000).contains(&n) {
                return Err(s3_error!(
                    InvalidArgument,
                    "Part number must be an integer between 1 and 10000, inclusive"
                ));
            }
            let r = reader
                .part_range(n as u32)
                .ok_or(crate::objects::ObjectError::InvalidPartNumber)?;
            if reader.version.parts_count.is_none() {
                return Ok((ReadRange::All, None));
            }
            let content_range =
                (r.start < r.end).then(|| format!("bytes {}-{}/{size}", r.start, r.end - 1));
            Ok((ReadRange::Bytes(r.start, r.end), content_range))
        }
        (None, Some(r)) => byte_range(r, size).map(|(range, content)| (range, Some(content))),
        (None, None) => Ok((ReadRange::All, None)),
    }
}

/// The bytes a `Range` header asks of an object of `size` bytes, and the Content-Range
/// to answer with. A range of no bytes (a suffix range of an empty object, which the
/// protocol crate lets through) is not satisfiable either: S3 answers any range of an
/// empty object with InvalidRange.
pub(crate) fn byte_range(r: &Range, size: u64) -> S3Result<(ReadRange, String)> {
    let unsatisfiable = || {
        let mut e = s3_error!(InvalidRange, "The requested range is not satisfiable");
        if let Ok(v) = http::HeaderValue::from_str(&format!("bytes */{size}")) {
            let mut h = http::HeaderMap::new();
            h.insert(http::header::CONTENT_RANGE, v);
            e.set_headers(h);
        }
        e
    };
    let r = r
        .check(size)
        .ok()
        .filter(|r| r.start < r.end)
        .ok_or_else(unsatisfiable)?;
    Ok((
        ReadRange::Bytes(r.start, r.end),
        format!("bytes {}-{}/{size}", r.start, r.end - 1),
    ))
}

/// A DeleteObjects body S3 refuses as a whole, before deleting anything.
pub(crate) fn check_delete(delete: &Delete) -> S3Result<()> {
    if delete.objects.len() > MAX_DELETE_KEYS {
        return Err(s3_error!(
            MalformedXML,
            "The request may contain at most 1000 keys"
        ));
    }
    Ok(())
}

fn range_len(range: ReadRange, size: u64) -> u64 {
    match range {
        ReadRange::All => size,
        ReadRange::Bytes(s, e) => e - s,
    }
}

/// The read-relevant fields of GetObject and HeadObject inputs.
struct ReadRequest<'a> {
    bucket: &'a str,
    key: &'a str,
    version_id: Option<&'a str>,
    if_match: Option<&'a ETagCondition>,
    if_none_match: Option<&'a ETagCondition>,
    if_modified_since: Option<&'a Timestamp>,
    if_unmodified_since: Option<&'a Timestamp>,
    part_number: Option<i32>,
    range: Option<&'a Range>,
    checksum_mode: Option<&'a ChecksumMode>,
    customer: Option<CustomerKey>,
    caller: Option<Caller>,
    /// Whether the bucket has (or had) versioning, so a null version is named as such.
    versioned: bool,
}

macro_rules! read_request {
    ($input:expr, $customer:expr, $caller:expr, $ext:expr) => {
        ReadRequest {
            bucket: &$input.bucket,
            key: &$input.key,
            version_id: $input.version_id.as_deref(),
            if_match: $input.if_match.as_ref(),
            if_none_match: $input.if_none_match.as_ref(),
            if_modified_since: $input.if_modified_since.as_ref(),
            if_unmodified_since: $input.if_unmodified_since.as_ref(),
            part_number: $input.part_number,
            range: $input.range.as_ref(),
            checksum_mode: $input.checksum_mode.as_ref(),
            customer: $customer,
            caller: $caller,
            versioned: $ext
                .get::<super::access::BucketVersioning>()
                .is_some_and(|v| v.0 != crate::catalog::Versioning::Unversioned),
        }
    };
}

struct ReadPlan {
    reader: ObjectReader,
    range: ReadRange,
    content_range: Option<String>,
    with_checksum: bool,
    part_count: Option<i32>,
    customer: Option<CustomerKey>,
    versioned: bool,
}

/// The headers GetObject and HeadObject answer alike, plus `extra` fields.
macro_rules! read_output {
    ($ty:ident, $v:expr, $plan:expr, { $($field:ident: $value:expr),* $(,)? }) => {{
        let s = sse_fields($v.sse.as_ref(), $plan.customer.as_ref());
        let c = checksum_fields($v.checksum.as_ref().filter(|_| $plan.with_checksum));
        let l = super::object_lock::lock_fields(&$v.lock);
        output!($ty {
            $($field: $value,)*
            content_length: Some(range_len($plan.range, $v.size) as i64),
            content_range: $plan.content_range,
            accept_ranges: Some("bytes".into()),
            e_tag: Some(etag(&$v.etag)),
            last_modified: Some(timestamp($v.last_modified_ms)),
            version_id: shown_version(&$v.version_id, $plan.versioned),
            parts_count: $plan.part_count,
            content_type: $v.meta.content_type.clone(),
            content_encoding: $v.meta.content_encoding.clone(),
            content_disposition: $v.meta.content_disposition.clone(),
            content_language: $v.meta.content_language.clone(),
            cache_control: $v.meta.cache_control.clone(),
            expires: $v.meta.expires.as_deref().and_then(parse_http_date),
            website_redirect_location: $v.meta.website_redirect_location.clone(),
            metadata: user_metadata(&$v.meta),
            replication_status: $v.replication_status.clone().map(ReplicationStatus::from),
            object_lock_mode: l.mode,
            object_lock_retain_until_date: l.until,
            object_lock_legal_hold_status: l.legal_hold,
        } sse(s) sse_c(s) checksums(c) checksum_type(c))
    }};
}

/// `x-amz-expiration` for a version just written (always the current one).
pub(super) fn written_expiration(
    ext: &http::Extensions,
    w: &crate::objects::Written,
) -> S3Result<Option<String>> {
    super::lifecycle::expiration_header(ext, &w.key, w.size, &w.tags, w.last_modified_ms)
}

/// `x-amz-expiration` for a version read: only the current version has one.
fn read_expiration(ext: &http::Extensions, v: &ObjectVersion) -> S3Result<Option<String>> {
    if !v.is_latest {
        return Ok(None);
    }
    super::lifecycle::expiration_header(ext, &v.key, v.size, &v.meta.tags, v.last_modified_ms)
}

impl SealgateS3 {
    pub(super) fn customer_key(
        &self,
        h: CustomerHeaders<'_>,
        ext: &http::Extensions,
    ) -> S3Result<Option<CustomerKey>> {
        self.sse.customer_key(h, transport(ext))
    }

    /// Looks up a version for a read, answering delete markers as S3 does.
    pub(super) async fn live_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> S3Result<ObjectVersion> {
        check_version_id(version_id)?;
        let v = self.svc.lookup(bucket, key, version_id).await?;
        if v.delete_marker {
            return Err(delete_marker_error(&v, version_id.is_some()));
        }
        Ok(v)
    }

    pub(super) async fn put_object_op(
        &self,
        mut req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let is_form = req.method == http::Method::POST;
        let len = body_length(
            &req.headers,
            req.input.content_length,
            req.input.body.as_ref(),
        );
        let mut body = Some(body_stream(req.input.body.take()));
        let result = self.put_object_inner(req, len, &mut body).await;
        if result.is_err()
            && let Some(unread) = body
        {
            drain_body(unread).await;
        }
        let mut resp = result?;
        if is_form {
            form_upload_response(&mut resp);
        }
        Ok(resp)
    }

    async fn put_object_inner(
        &self,
        req: S3Request<PutObjectInput>,
        len: S3Result<u64>,
        body: &mut Option<ByteStream>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let caller = self.kms_caller(&req.extensions);
        // Authorization required s3:ReplicateObject of a PutObject sending this header; a
        // form upload (POST) is not checked for it, so it never writes a replica.
        let replica = req.method == http::Method::PUT && req.headers.contains_key(REPLICA_HEADER);
        let is_form = req.method == http::Method::POST;
        let trailers = req.trailing_headers.clone();
        let headers = req.headers;
        let extensions = req.extensions;
        let input = req.input;
        check_key(&input.key)?;
        let acl = super::acl::acl_for_write(
            &extensions,
            &super::acl::asked_acl!(input),
            &self.caller_account(&extensions),
        )?;
        let lock = super::object_lock::lock_headers!(self, input)?;
        let encryption = DecidedWrite::take(&extensions)?;
        let len = len?;
        if len > self.max_put_size {
            return Err(s3_error!(
                EntityTooLarge,
                "Your proposed upload exceeds the maximum allowed object size."
            ));
        }
        // Refused while the body is still unread, so it is drained and the client hears why.
        self.svc.admit_write(len)?;
        let mut meta = object_meta!(input)?;
        meta.tags = super::tagging::header_tags(input.tagging.as_deref())?;
        meta.acl = acl;
        let stated = stated_digests(
            input.content_md5.as_deref(),
            checksum_headers!(input),
            &headers,
            trailers,
        )?;
        if !lock.is_none() {
            // A form upload's fields carry no digest of the file; S3 asks one of a PUT.
            if !is_form && !stated.wants_md5() && stated.algorithm().is_none() {
                return Err(s3_error!(
                    InvalidRequest,
                    "Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object requests with Object Lock parameters"
                ));
            }
            self.check_lock_allowed(&input.bucket, &lock).await?;
        }
        let precondition =
            write_precondition(input.if_match.as_ref(), input.if_none_match.as_ref())?;
        let written_key = encryption.customer_key().cloned();
        let spec = PutSpec {
            bucket: input.bucket,
            key: input.key,
            len,
            meta,
            want_md5: stated.wants_md5(),
            checksum: stated.algorithm(),
            sse: encryption.sse,
            caller,
            lock,
        };
        let body = body
            .take()
            .unwrap_or_else(|| futures::stream::empty().boxed());
        let request = PutRequest {
            spec,
            stated,
            precondition,
            replica,
        };
        let w = self.svc.put_object(request, body).await?;
        let context = kms_context_field(&w.sse, &w.bucket, &w.key);
        let s = sse_fields(Some(&w.sse), written_key.as_ref());
        let c = checksum_fields(w.checksum.as_ref());
        let output = output!(PutObjectOutput {
            e_tag: Some(etag(&w.etag)),
            version_id: reported_version(&w.version_id),
            ssekms_encryption_context: context,
            expiration: written_expiration(&extensions, &w)?,
        } sse(s) sse_c(s) checksums(c) checksum_type(c));
        Ok(S3Response::new(output))
    }

    /// What GetObject and HeadObject share: version lookup, conditions, the caller's key,
    /// and which bytes to answer with.
    async fn plan_read(&self, r: ReadRequest<'_>, decrypt: bool) -> S3Result<ReadPlan> {
        let v = self.live_version(r.bucket, r.key, r.version_id).await?;
        check_read_conditions(
            &v,
            r.if_match,
            r.if_none_match,
            r.if_modified_since,
            r.if_unmodified_since,
        )?;
        let reader = self
            .svc
            .reader(v, r.customer.as_ref(), r.caller.as_ref(), decrypt)
            .await?;
        let (range, content_range) = read_range(&reader, r.part_number, r.range)?;
        // S3 returns the whole-object checksum only for whole-object reads.
        let with_checksum =
            content_range.is_none() && r.checksum_mode.is_some_and(|m| m.as_str() == "ENABLED");
        let part_count = r
            .part_number
            .and(reader.version.parts_count.map(|n| n as i32));
        Ok(ReadPlan {
            reader,
            range,
            content_range,
            with_checksum,
            part_count,
            customer: r.customer,
            versioned: r.versioned,
        })
    }

    pub(super) async fn get_object_op(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        refuse_sse_headers(&req.headers)?;
        let customer = self.customer_key(customer_headers!(req.input), &req.extensions)?;
        let caller = self.kms_caller(&req.extensions);
        let plan = self
            .plan_read(
                read_request!(req.input, customer, caller, &req.extensions),
                true,
            )
            .await?;
        let v = plan.reader.version.clone();
        let expiration = read_expiration(&req.extensions, &v)?;
        let body = plan.reader.stream(plan.range).await?;
        let output = read_output!(GetObjectOutput, v, plan, {
            body: Some(StreamingBlob::wrap(SyncStream::new(body))),
            tag_count: super::tagging::tag_count(&v),
            expiration: expiration,
        });
        Ok(S3Response::new(output))
    }

    pub(super) async fn head_object_op(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        refuse_sse_headers(&req.headers)?;
        let customer = self.customer_key(customer_headers!(req.input), &req.extensions)?;
        let plan = self
            .plan_read(
                read_request!(req.input, customer, None, &req.extensions),
                false,
            )
            .await?;
        let v = plan.reader.version.clone();
        let expiration = read_expiration(&req.extensions, &v)?;
        let mut resp = S3Response::new(read_output!(HeadObjectOutput, v, plan, {
            expiration: expiration,
        }));
        // The protocol crate's HeadObject has no field for it; S3 sends it on HEAD too.
        if let Some(n) = super::tagging::tag_count(&v) {
            resp.headers.insert("x-amz-tagging-count", n.into());
        }
        Ok(resp)
    }

    pub(super) async fn get_object_attributes_op(
        &self,
        req: S3Request<GetObjectAttributesInput>,
    ) -> S3Result<S3Response<GetObjectAttributesOutput>> {
        let customer = self.customer_key(customer_headers!(req.input), &req.extensions)?;
        let input = req.input;
        let v = self
            .live_version(&input.bucket, &input.key, input.version_id.as_deref())
            .await?;
        let reader = self.svc.reader(v, customer.as_ref(), None, false).await?;
        let v = &reader.version;
        // One comma-separated header, possibly parsed as a single item.
        let wants = |a: &str| {
            input
                .object_attributes
                .iter()
                .flat_map(|x| x.as_str().split(','))
                .any(|x| x.trim() == a)
        };
        let mut out = GetObjectAttributesOutput {
            last_modified: Some(timestamp(v.last_modified_ms)),
            version_id: reported_version(&v.version_id),
            ..Default::default()
        };
        if wants(ObjectAttributes::ETAG) {
            out.e_tag = Some(etag(&v.etag));
        }
        if wants(ObjectAttributes::OBJECT_SIZE) {
            out.object_size = Some(v.size as i64);
        }
        if wants(ObjectAttributes::STORAGE_CLASS) {
            out.storage_class = Some(StorageClass::from_static(StorageClass::STANDARD));
        }
        if wants(ObjectAttributes::CHECKSUM)
            && let Some(c) = &v.checksum
        {
            let f = checksum_fields(Some(c));
            out.checksum = Some(output!(Checksum {
            } checksums(f) checksum_type(f)));
        }
        if wants(ObjectAttributes::OBJECT_PARTS)
            && let Some(count) = v.parts_count
        {
            let marker = input.part_number_marker.unwrap_or(0).max(0) as u32;
            let max = input.max_parts.unwrap_or(1000).clamp(0, 1000) as usize;
            let after: Vec<_> = reader
                .parts
                .iter()
                .filter(|p| p.part_number > marker)
                .collect();
            let page: Vec<_> = after.iter().take(max).collect();
            let truncated = after.len() > page.len();
            out.object_parts = Some(GetObjectAttributesParts {
                total_parts_count: Some(count as i32),
                part_number_marker: Some(marker as i32),
                next_part_number_marker: page.last().map(|p| p.part_number as i32),
                max_parts: Some(max as i32),
                is_truncated: Some(truncated),
                parts: Some(
                    page.iter()
                        .map(|p| {
                            let f = checksum_fields(p.checksum.as_ref());
                            output!(ObjectPart {
                                part_number: Some(p.part_number as i32),
                                size: Some(p.size as i64),
                            } checksums(f))
                        })
                        .collect(),
                ),
            });
        }
        Ok(S3Response::new(out))
    }

    pub(super) async fn delete_object_op(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        let input = req.input;
        check_version_id(input.version_id.as_deref())?;
        // Authorization required s3:ReplicateDelete of a caller sending this header.
        let replica = req.headers.contains_key(REPLICA_HEADER);
        // Conditions on AWS's directory buckets only: refused rather than ignored, so no
        // client believes a delete was guarded when it was not.
        if input.if_match_last_modified_time.is_some() || input.if_match_size.is_some() {
            return Err(s3_error!(
                NotImplemented,
                "x-amz-if-match-last-modified-time and x-amz-if-match-size are supported only for directory buckets"
            ));
        }
        let precondition = write_precondition(input.if_match.as_ref(), None)?;
        let deleter = Deleter {
            replica,
            bypass_governance: super::object_lock::bypass_governance(&req.extensions),
        };
        let out = self
            .svc
            .delete_object(
                &input.bucket,
                &input.key,
                input.version_id.as_deref(),
                deleter,
                &precondition,
            )
            .await?;
        Ok(S3Response::new(DeleteObjectOutput {
            delete_marker: out.delete_marker.then_some(true),
            version_id: out.version_id,
            ..Default::default()
        }))
    }

    pub(super) async fn delete_objects_op(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let input = req.input;
        check_delete(&input.delete)?;
        let objects = input.delete.objects;
        self.svc.bucket(&input.bucket).await?;
        let quiet = input.delete.quiet.unwrap_or(false);
        let denied = req.extensions.get::<super::access::DeniedDeletes>();
        let bypass = req.extensions.get::<super::access::BypassingDeletes>();
        let (mut deleted, mut errors) = (Vec::new(), Vec::new());
        for obj in objects {
            let named = (obj.key.clone(), obj.version_id.clone());
            let is_denied = denied.is_some_and(|d| d.0.contains(&named));
            let deleter = Deleter {
                replica: false,
                bypass_governance: bypass.is_some_and(|b| b.0.contains(&named)),
            };
            let result = match check_version_id(obj.version_id.as_deref()) {
                // S3 fails the key, not the request.
                Ok(()) if obj.key.is_empty() => Err(S3Error::with_message(
                    S3ErrorCode::Custom("UserKeyMustBeSpecified".into()),
                    "The key parameter must be specified",
                )),
                Err(e) => Err(e),
                // As for DeleteObject: conditions of directory buckets only, refused rather
                // than ignored.
                Ok(()) if obj.last_modified_time.is_some() || obj.size.is_some() => Err(s3_error!(
                    NotImplemented,
                    "LastModifiedTime and Size conditions are supported only for directory buckets"
                )),
                Ok(()) if is_denied => Err(s3_error!(AccessDenied, "Access Denied")),
                Ok(()) => {
                    // A conditional delete of many objects names each one's ETag.
                    let precondition = match &obj.e_tag {
                        Some(e) => {
                            Precondition::new(Condition::IfMatch(Some(e.value().to_owned())))
                        }
                        None => Precondition::NONE,
                    };
                    self.svc
                        .delete_object(
                            &input.bucket,
                            &obj.key,
                            obj.version_id.as_deref(),
                            deleter,
                            &precondition,
                        )
                        .await
                        .map_err(S3Error::from)
                }
            };
            match result {
                Ok(out) if !quiet => deleted.push(DeletedObject {
                    key: Some(obj.key),
                    version_id: obj.version_id.clone(),
                    delete_marker: out.delete_marker.then_some(true),
                    delete_marker_version_id: if out.delete_marker && obj.version_id.is_none() {
                        out.version_id
                    } else {
                        None
                    },
                }),
                Ok(_) => {}
                Err(e) => errors.push(Error {
                    key: Some(obj.key),
                    version_id: obj.version_id,
                    code: Some(e.code().as_str().to_owned()),
                    message: e.message().map(str::to_owned),
                }),
            }
        }
        Ok(S3Response::new(DeleteObjectsOutput {
            deleted: Some(deleted),
            errors: Some(errors),
            ..Default::default()
        }))
    }

    /// The version a copy reads, after S3's copy-source conditions: every failed
    /// condition is 412 there, and a delete marker cannot be copied.
    pub(super) async fn copy_source_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        cond: CopyConditions<'_>,
    ) -> S3Result<ObjectVersion> {
        let v = self.live_version(bucket, key, version_id).await.map_err(|e| {
            if *e.code() == S3ErrorCode::MethodNotAllowed {
                s3_error!(
                    InvalidRequest,
                    "The source of a copy request may not specifically refer to a delete marker by version id."
                )
            } else {
                e
            }
        })?;
        check_read_conditions(
            &v,
            cond.if_match,
            cond.if_none_match,
            cond.if_modified_since,
            cond.if_unmodified_since,
        )
        .map_err(|e| {
            if *e.code() == S3ErrorCode::NotModified {
                precondition_failed()
            } else {
                e
            }
        })?;
        Ok(v)
    }

    pub(super) async fn copy_object_op(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        let ext_transport = transport(&req.extensions);
        let caller = self.kms_caller(&req.extensions);
        let precondition = destination_precondition(&req.headers)?;
        let extensions = req.extensions;
        let input = req.input;
        check_key(&input.key)?;
        let acl = super::acl::acl_for_write(
            &extensions,
            &super::acl::asked_acl!(input),
            &self.caller_account(&extensions),
        )?;
        let lock = super::object_lock::lock_headers!(self, input)?;
        self.check_lock_allowed(&input.bucket, &lock).await?;
        let (src_bucket, src_key, src_version) = copy_source_parts(&input.copy_source)?;
        let source_key = self
            .sse
            .customer_key(customer_headers!(copy_source input), ext_transport)?;
        let sse_requested =
            input.server_side_encryption.is_some() || input.sse_customer_algorithm.is_some();
        let encryption = DecidedWrite::take(&extensions)?;
        let v = self
            .copy_source_version(
                &src_bucket,
                &src_key,
                src_version.as_deref(),
                copy_conditions!(input),
            )
            .await?;

        let replace = input
            .metadata_directive
            .as_ref()
            .is_some_and(|d| d.as_str() == MetadataDirective::REPLACE);
        if src_bucket == input.bucket
            && src_key == input.key
            && src_version.is_none()
            && !replace
            && !sse_requested
        {
            return Err(s3_error!(
                InvalidRequest,
                "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes."
            ));
        }
        let mut meta = if replace {
            object_meta!(input)?
        } else {
            v.meta.clone()
        };
        meta.tags = super::tagging::copy_tags(
            input.tagging_directive.as_ref(),
            input.tagging.as_deref(),
            &v.meta.tags,
        )?;
        // A copy gets the ACL its request asks for, never the source's.
        meta.acl = acl;
        let source_version_id = reported_version(&v.version_id);
        let written_key = encryption.customer_key().cloned();
        let checksum = v
            .checksum
            .as_ref()
            .and_then(|c| crate::objects::ChecksumAlgorithm::parse(&c.algorithm));
        let reader = self
            .svc
            .reader(v, source_key.as_ref(), caller.as_ref(), true)
            .await?;
        if reader.size() > MAX_COPY_SIZE {
            return Err(s3_error!(
                InvalidRequest,
                "The specified copy source is larger than the maximum allowable size for a copy source: {MAX_COPY_SIZE}"
            ));
        }
        let spec = PutSpec {
            bucket: input.bucket,
            key: input.key,
            len: reader.size(),
            meta,
            sse: encryption.sse,
            want_md5: false,
            checksum,
            caller,
            lock,
        };
        let w = self.svc.copy_object(reader, spec, precondition).await?;
        let context = kms_context_field(&w.sse, &w.bucket, &w.key);
        let s = sse_fields(Some(&w.sse), written_key.as_ref());
        let c = checksum_fields(w.checksum.as_ref());
        Ok(S3Response::new(output!(CopyObjectOutput {
            copy_object_result: Some(output!(CopyObjectResult {
                e_tag: Some(etag(&w.etag)),
                last_modified: Some(timestamp(w.last_modified_ms)),
            } checksums(c) checksum_type(c))),
            version_id: reported_version(&w.version_id),
            copy_source_version_id: source_version_id,
            expiration: written_expiration(&extensions, &w)?,
            ssekms_encryption_context: context,
        } sse(s) sse_c(s))))
    }
}

/// A browser form upload (POST) is a PUT whose fields came from the form; S3 answers it
/// with the ETag, SSE and version headers whatever the success status.
fn form_upload_response(resp: &mut S3Response<PutObjectOutput>) {
    let o = &mut resp.output;
    let quoted = o.e_tag.as_ref().map(|e| format!("\"{}\"", e.value()));
    let headers = [
        ("etag", quoted.clone()),
        (
            "x-amz-server-side-encryption",
            o.server_side_encryption
                .as_ref()
                .map(|s| s.as_str().to_owned()),
        ),
        (
            "x-amz-server-side-encryption-customer-algorithm",
            o.sse_customer_algorithm.clone(),
        ),
        (
            "x-amz-server-side-encryption-customer-key-md5",
            o.sse_customer_key_md5.clone(),
        ),
        ("x-amz-version-id", o.version_id.clone()),
    ];
    for (name, value) in headers {
        if let Some(v) = value.and_then(|v| http::HeaderValue::from_str(&v).ok()) {
            resp.headers.insert(name, v);
        }
    }
    // The protocol crate writes the 201 PostResponse ETag verbatim; S3 quotes it there too.
    o.e_tag = quoted.map(ETag::Strong);
}

/// Bucket, key and version of a copy source.
pub(super) fn copy_source_parts(source: &CopySource) -> S3Result<(String, String, Option<String>)> {
    match source {
        CopySource::Bucket {
            bucket,
            key,
            version_id,
        } => Ok((
            bucket.to_string(),
            key.to_string(),
            version_id.as_ref().map(ToString::to_string),
        )),
        _ => Err(s3_error!(
            NotImplemented,
            "Only bucket copy sources are supported"
        )),
    }
}

/// The `x-amz-copy-source-if-*` conditions of a copy.
pub(super) struct CopyConditions<'a> {
    pub if_match: Option<&'a ETagCondition>,
    pub if_none_match: Option<&'a ETagCondition>,
    pub if_modified_since: Option<&'a Timestamp>,
    pub if_unmodified_since: Option<&'a Timestamp>,
}

macro_rules! copy_conditions {
    ($input:expr) => {
        $crate::s3::object_ops::CopyConditions {
            if_match: $input.copy_source_if_match.as_ref(),
            if_none_match: $input.copy_source_if_none_match.as_ref(),
            if_modified_since: $input.copy_source_if_modified_since.as_ref(),
            if_unmodified_since: $input.copy_source_if_unmodified_since.as_ref(),
        }
    };
}
pub(crate) use copy_conditions;

/// CopyObject's `If-Match` / `If-None-Match` on its destination, which the protocol crate
/// does not parse: S3 takes them as PutObject does.
fn destination_precondition(headers: &http::HeaderMap) -> S3Result<Precondition> {
    let condition = |name: http::header::HeaderName| {
        headers
            .get(name)
            .map(|v| ETagCondition::parse_http_header(v.as_bytes()))
            .transpose()
            .map_err(|_| s3_error!(InvalidArgument, "Invalid ETag condition"))
    };
    let if_match = condition(http::header::IF_MATCH)?;
    let if_none_match = condition(http::header::IF_NONE_MATCH)?;
    write_precondition(if_match.as_ref(), if_none_match.as_ref())
}

/// Write conditions S3 supports: `If-None-Match: *` and `If-Match` (a delete only the latter).
pub(super) fn write_precondition(
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
) -> S3Result<Precondition> {
    match (if_match, if_none_match) {
        (Some(_), Some(_)) => Err(s3_error!(
            NotImplemented,
            "If-Match and If-None-Match together are not supported"
        )),
        (Some(ETagCondition::Any), None) => Ok(Precondition::new(Condition::IfMatch(None))),
        (Some(ETagCondition::ETag(e)), None) => Ok(Precondition::new(Condition::IfMatch(Some(
            e.value().to_owned(),
        )))),
        (None, Some(ETagCondition::Any)) => Ok(Precondition::new(Condition::IfNoneMatchAny)),
        (None, Some(_)) => Err(s3_error!(
            NotImplemented,
            "If-None-Match supports only the value *"
        )),
        (None, None) => Ok(Precondition::NONE),
    }
}
