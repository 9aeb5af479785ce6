//! Small conversions shared by the S3 operations: metadata, timestamps, ETags, checksums,
//! SSE response fields and request bodies.

use futures::{StreamExt, TryStreamExt};
use http::HeaderMap;
use s3s::TrailingHeaders;
use s3s::dto::{ETag, StreamingBlob, Timestamp};
use s3s::{S3Result, s3_error};
use time::OffsetDateTime;

use crate::catalog::{Checksum, ObjectMeta, Sse};
use crate::objects::digest::b64_decode;
use crate::objects::{
    ByteStream, ChecksumAlgorithm, ObjectError, Stated, StatedChecksum, StatedValue,
};

/// S3's limit on user-defined metadata: keys plus values, in bytes.
const MAX_USER_METADATA: usize = 2048;

pub(super) fn transport(ext: &http::Extensions) -> super::Transport {
    ext.get::<super::Transport>()
        .copied()
        .unwrap_or(super::Transport { tls: false })
}

pub(super) fn timestamp(ms: i64) -> Timestamp {
    let t = OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    Timestamp::from(t)
}

pub(super) fn timestamp_ms(t: &Timestamp) -> i64 {
    let t: OffsetDateTime = t.clone().into();
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// Whole seconds, as HTTP dates compare.
pub(super) fn seconds(ms: i64) -> i64 {
    ms.div_euclid(1000)
}

pub(super) fn timestamp_seconds(t: &Timestamp) -> i64 {
    let t: OffsetDateTime = t.clone().into();
    t.unix_timestamp()
}

pub(super) fn etag(value: &str) -> ETag {
    ETag::Strong(value.to_owned())
}

pub(super) fn format_http_date(t: &Timestamp) -> Option<String> {
    let mut buf = Vec::new();
    t.format(s3s::dto::TimestampFormat::HttpDate, &mut buf)
        .ok()?;
    String::from_utf8(buf).ok()
}

pub(super) fn parse_http_date(s: &str) -> Option<Timestamp> {
    Timestamp::parse(s3s::dto::TimestampFormat::HttpDate, s).ok()
}

/// Object attributes from a write input's standard headers and `x-amz-meta-*`.
macro_rules! object_meta {
    ($input:expr) => {
        $crate::s3::request::meta_of_headers(
            $input.content_type,
            $input.content_encoding,
            $input.content_disposition,
            $input.content_language,
            $input.cache_control,
            $input.expires.as_ref(),
            $input.website_redirect_location,
            $input.metadata,
        )
    };
}
pub(crate) use object_meta;

/// Object attributes from the standard headers and `x-amz-meta-*` of a write.
#[allow(
    clippy::too_many_arguments,
    reason = "the standard content headers, each its own thing"
)]
pub(super) fn meta_of_headers(
    content_type: Option<String>,
    content_encoding: Option<String>,
    content_disposition: Option<String>,
    content_language: Option<String>,
    cache_control: Option<String>,
    expires: Option<&Timestamp>,
    website_redirect_location: Option<String>,
    metadata: Option<std::collections::HashMap<String, String>>,
) -> S3Result<ObjectMeta> {
    let user: std::collections::BTreeMap<String, String> = metadata
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect();
    let size: usize = user.iter().map(|(k, v)| k.len() + v.len()).sum();
    if size > MAX_USER_METADATA {
        return Err(s3_error!(
            MetadataTooLarge,
            "Your metadata headers exceed the maximum allowed metadata size ({size} > {MAX_USER_METADATA} bytes)"
        ));
    }
    // aws-chunked describes the request body's framing, not the object (S3 drops it).
    let content_encoding = content_encoding.and_then(|e| {
        let kept: Vec<&str> = e
            .split(',')
            .map(str::trim)
            .filter(|c| !c.eq_ignore_ascii_case("aws-chunked") && !c.is_empty())
            .collect();
        (!kept.is_empty()).then(|| kept.join(","))
    });
    Ok(ObjectMeta {
        content_type,
        content_encoding,
        content_disposition,
        content_language,
        cache_control,
        expires: expires.and_then(format_http_date),
        website_redirect_location,
        user,
        tags: Default::default(),
        acl: None,
    })
}

pub(super) fn user_metadata(
    meta: &ObjectMeta,
) -> Option<std::collections::HashMap<String, String>> {
    (!meta.user.is_empty()).then(|| {
        meta.user
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    })
}

/// SSE fields of a response: x-amz-server-side-encryption, the SSE-C algorithm and key
/// MD5, the KMS key ARN and whether a bucket key is in use.
#[derive(Default)]
pub(super) struct SseFields {
    pub sse: Option<s3s::dto::ServerSideEncryption>,
    pub customer_algorithm: Option<String>,
    pub customer_key_md5: Option<String>,
    pub kms_key_id: Option<String>,
    pub bucket_key: Option<bool>,
}

/// The SSE-C key MD5 is echoed from the request: the gateway does not keep it.
pub(super) fn sse_fields(
    sse: Option<&Sse>,
    customer: Option<&crate::objects::CustomerKey>,
) -> SseFields {
    use s3s::dto::ServerSideEncryption as E;
    match sse {
        Some(Sse::S3) => SseFields {
            sse: Some(E::from_static(E::AES256)),
            ..SseFields::default()
        },
        Some(Sse::C) => SseFields {
            customer_algorithm: Some("AES256".into()),
            customer_key_md5: customer.map(|k| k.key_md5.clone()),
            ..SseFields::default()
        },
        Some(Sse::Kms {
            key_arn,
            bucket_key,
            ..
        }) => SseFields {
            sse: Some(E::from_static(E::AWS_KMS)),
            kms_key_id: Some(key_arn.clone()),
            bucket_key: bucket_key.then_some(true),
            ..SseFields::default()
        },
        None => SseFields::default(),
    }
}

/// `x-amz-server-side-encryption-context` of a write's answer: the context the data key
/// was bound to, as base64 JSON.
pub(super) fn kms_context_field(sse: &Sse, bucket: &str, key: &str) -> Option<String> {
    let Sse::Kms {
        context,
        bucket_key,
        ..
    } = sse
    else {
        return None;
    };
    let object = (!bucket_key).then_some(key);
    let full = crate::objects::s3_context(context, bucket, object);
    serde_json::to_vec(&full)
        .ok()
        .map(|j| crate::objects::digest::b64(&j))
}

/// The version id a write answers: the null version is not named (reads name it where S3
/// does, see [`shown_version`]).
pub(super) fn reported_version(version_id: &str) -> Option<String> {
    shown_version(version_id, false)
}

/// The version id a read answers: S3 names the null version `null` in a bucket that has
/// versioning Enabled or Suspended, and names no version in one that never had it.
pub(super) fn shown_version(version_id: &str, versioned: bool) -> Option<String> {
    (versioned || version_id != "null").then(|| version_id.to_owned())
}

/// Version ids are ours (32 hex) or "null"; anything else is refused as S3 refuses it.
pub(crate) fn check_version_id(v: Option<&str>) -> S3Result<()> {
    match v {
        None | Some("null") => Ok(()),
        Some(id) if id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()) => Ok(()),
        Some(_) => Err(s3_error!(InvalidArgument, "Invalid version id specified")),
    }
}

pub(super) fn body_stream(body: Option<StreamingBlob>) -> ByteStream {
    match body {
        Some(b) => b.map_err(body_error).boxed(),
        None => futures::stream::empty().boxed(),
    }
}

/// A failed chunk signature in an aws-chunked body is a signature error, and a body whose
/// SHA-256 is not the signed `x-amz-content-sha256`, S3's XAmzContentSHA256Mismatch. The
/// protocol crate's stream error type is private, so each is recognised by its message.
/// A body whose bytes stopped coming is S3's `RequestTimeout`.
fn body_error(e: s3s::StdError) -> ObjectError {
    let msg = e.to_string();
    if crate::limits::BodyStalled::is_cause_of(&*e) {
        ObjectError::BodyTimeout
    } else if msg.contains("SignatureMismatch") {
        ObjectError::BodySignature
    } else if msg.contains("Sha256Mismatch") {
        ObjectError::BodySha256
    } else {
        ObjectError::Body(msg)
    }
}

/// Reads and discards what a refused request still sends, so the client gets the error
/// response instead of a connection reset mid-upload. Bounded: a huge body is cut off.
pub(super) async fn drain_body(mut body: ByteStream) {
    const MAX_DRAIN: usize = 64 * 1024 * 1024;
    let mut seen = 0;
    let drain = async {
        while let Some(Ok(piece)) = body.next().await {
            seen += piece.len();
            if seen > MAX_DRAIN {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(30), drain).await;
}

/// The exact plaintext length of a write body: Content-Length (s3s substitutes the decoded
/// length of aws-chunked bodies) or, for POST forms, the buffered file's length. A body
/// sent `Transfer-Encoding: chunked` with no length at all is what S3 does not implement.
pub(super) fn body_length(
    headers: &http::HeaderMap,
    content_length: Option<i64>,
    body: Option<&StreamingBlob>,
) -> S3Result<u64> {
    use s3s::stream::ByteStream as _;
    if let Some(n) = content_length {
        return u64::try_from(n)
            .map_err(|_| s3_error!(InvalidArgument, "Content-Length must not be negative"));
    }
    match body {
        None => Ok(0),
        Some(b) => b
            .remaining_length()
            .exact()
            .map(|n| n as u64)
            .ok_or_else(|| {
                let chunked = headers
                    .get_all(http::header::TRANSFER_ENCODING)
                    .iter()
                    .any(|v| v.to_str().is_ok_and(|v| v.to_ascii_lowercase().contains("chunked")));
                if chunked {
                    s3_error!(
                        NotImplemented,
                        "A header you provided implies functionality that is not implemented: Transfer-Encoding (send Content-Length, or aws-chunked with x-amz-decoded-content-length)"
                    )
                } else {
                    s3_error!(
                        MissingContentLength,
                        "You must provide the Content-Length HTTP header."
                    )
                }
            }),
    }
}

/// S3 takes the SSE-S3 and SSE-KMS headers only where an object is written: a read that
/// carries one is refused, naming it.
pub(super) fn refuse_sse_headers(headers: &http::HeaderMap) -> S3Result<()> {
    const WRITE_ONLY: [&str; 4] = [
        "x-amz-server-side-encryption",
        "x-amz-server-side-encryption-aws-kms-key-id",
        "x-amz-server-side-encryption-context",
        "x-amz-server-side-encryption-bucket-key-enabled",
    ];
    match WRITE_ONLY.iter().find(|h| headers.contains_key(**h)) {
        None => Ok(()),
        Some(h) => Err(s3_error!(
            InvalidArgument,
            "{h} header is not supported for this operation."
        )),
    }
}

pub(crate) struct ChecksumHeaders<'a> {
    pub(crate) algorithm: Option<&'a str>,
    pub(crate) crc32: Option<&'a str>,
    pub(crate) crc32c: Option<&'a str>,
    pub(crate) crc64nvme: Option<&'a str>,
    pub(crate) sha1: Option<&'a str>,
    pub(crate) sha256: Option<&'a str>,
}

/// The flexible-checksum headers of a write's input (PutObject, UploadPart).
macro_rules! checksum_headers {
    ($input:expr) => {
        $crate::s3::request::ChecksumHeaders {
            algorithm: $input
                .checksum_algorithm
                .as_ref()
                .map(s3s::dto::ChecksumAlgorithm::as_str),
            crc32: $input.checksum_crc32.as_deref(),
            crc32c: $input.checksum_crc32c.as_deref(),
            crc64nvme: $input.checksum_crc64nvme.as_deref(),
            sha1: $input.checksum_sha1.as_deref(),
            sha256: $input.checksum_sha256.as_deref(),
        }
    };
}
pub(crate) use checksum_headers;

/// What a write's headers state about its body: `Content-MD5`, and a flexible checksum
/// whose value is in a header or, announced by `x-amz-trailer`, follows the body.
pub(crate) fn stated_digests(
    content_md5: Option<&str>,
    h: ChecksumHeaders<'_>,
    headers: &HeaderMap,
    trailers: Option<TrailingHeaders>,
) -> S3Result<Stated> {
    let content_md5 = match content_md5 {
        None => None,
        Some(v) => Some(
            b64_decode(v)
                .and_then(|raw| <[u8; 16]>::try_from(raw.as_slice()).ok())
                .ok_or_else(|| {
                    s3_error!(InvalidDigest, "The Content-MD5 you specified is not valid.")
                })?,
        ),
    };
    let given = [
        (ChecksumAlgorithm::Crc32, h.crc32),
        (ChecksumAlgorithm::Crc32c, h.crc32c),
        (ChecksumAlgorithm::Crc64Nvme, h.crc64nvme),
        (ChecksumAlgorithm::Sha1, h.sha1),
        (ChecksumAlgorithm::Sha256, h.sha256),
    ];
    let mut values = given.iter().filter_map(|(a, v)| v.map(|v| (*a, v)));
    let first = values.next();
    if values.next().is_some() {
        return Err(s3_error!(
            InvalidRequest,
            "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed."
        ));
    }
    let unsupported = || {
        s3_error!(
            InvalidRequest,
            "Checksum algorithm provided is unsupported."
        )
    };
    let trailer = headers
        .get("x-amz-trailer")
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    let checksum = if let Some((algorithm, value)) = first {
        if !algorithm.well_formed(value) {
            return Err(invalid_checksum_value(algorithm));
        }
        Some(StatedChecksum {
            algorithm,
            value: StatedValue::Header(value.trim().to_owned()),
        })
    } else if let Some(name) = trailer {
        let algorithm = name
            .strip_prefix("x-amz-checksum-")
            .and_then(ChecksumAlgorithm::parse)
            .ok_or_else(|| {
                s3_error!(
                    InvalidRequest,
                    "The value specified in the x-amz-trailer header is not supported"
                )
            })?;
        Some(StatedChecksum {
            algorithm,
            value: from_trailer(algorithm, trailers),
        })
    } else {
        match h.algorithm {
            None => None,
            Some(a) => {
                let algorithm = ChecksumAlgorithm::parse(a).ok_or_else(unsupported)?;
                Some(StatedChecksum {
                    algorithm,
                    value: from_trailer(algorithm, trailers),
                })
            }
        }
    };
    Ok(Stated {
        content_md5,
        checksum,
    })
}

/// The checksum's value from the body's trailer, once the body has been read.
fn from_trailer(algorithm: ChecksumAlgorithm, trailers: Option<TrailingHeaders>) -> StatedValue {
    StatedValue::Trailer(Box::new(move || {
        let map = trailers.and_then(|t| t.take())?;
        map.get(algorithm.header_name())
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }))
}

pub(super) fn invalid_checksum_value(algorithm: ChecksumAlgorithm) -> s3s::S3Error {
    s3_error!(
        InvalidRequest,
        "Value for {} header is invalid.",
        algorithm.header_name()
    )
}

/// An S3 output struct: the fields given, then the SSE fields of an [`SseFields`]
/// (`sse(s)`: algorithm, KMS key, bucket key; `sse_c(s)`: the SSE-C algorithm and key MD5)
/// and the checksum fields of a [`ChecksumFields`] (`checksums(c)`, `checksum_type(c)`),
/// which S3's outputs all name alike; the rest default.
macro_rules! output {
    ($ty:ident { $($field:ident: $value:expr),* $(,)? }
        $(sse($s:ident))? $(sse_c($sc:ident))? $(checksums($c:ident))? $(checksum_type($k:ident))?) => {{
        #[allow(
            clippy::needless_update,
            reason = "some outputs have no fields beyond those named"
        )]
        let output = $ty {
            $($field: $value,)*
            $(
                server_side_encryption: $s.sse,
                ssekms_key_id: $s.kms_key_id,
                bucket_key_enabled: $s.bucket_key,
            )?
            $(
                sse_customer_algorithm: $sc.customer_algorithm,
                sse_customer_key_md5: $sc.customer_key_md5,
            )?
            $(
                checksum_crc32: $c.crc32,
                checksum_crc32c: $c.crc32c,
                checksum_crc64nvme: $c.crc64nvme,
                checksum_sha1: $c.sha1,
                checksum_sha256: $c.sha256,
            )?
            $(checksum_type: $k.kind,)?
            ..Default::default()
        };
        output
    }};
}
pub(crate) use output;

/// Checksum fields of a response for one stored checksum.
#[derive(Default)]
pub(super) struct ChecksumFields {
    pub crc32: Option<String>,
    pub crc32c: Option<String>,
    pub crc64nvme: Option<String>,
    pub sha1: Option<String>,
    pub sha256: Option<String>,
    pub kind: Option<s3s::dto::ChecksumType>,
}

pub(super) fn checksum_fields(c: Option<&Checksum>) -> ChecksumFields {
    let mut f = ChecksumFields::default();
    let Some(c) = c else { return f };
    let v = Some(c.value.clone());
    match c.algorithm.as_str() {
        "CRC32" => f.crc32 = v,
        "CRC32C" => f.crc32c = v,
        "CRC64NVME" => f.crc64nvme = v,
        "SHA1" => f.sha1 = v,
        "SHA256" => f.sha256 = v,
        _ => {}
    }
    if c.kind != "PART" {
        f.kind = Some(s3s::dto::ChecksumType::from(c.kind.clone()));
    }
    f
}

/// Percent-encodes a listing value for `encoding-type=url`, keeping '/' readable.
pub(super) fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
