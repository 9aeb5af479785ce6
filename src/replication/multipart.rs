//! Replicas sent in parts: versions above the multipart threshold, and versions that were
//! uploaded in parts (which keep their parts, so part-numbered reads agree on both sides).
//!
//! One pass over the plaintext: each part streams `aws-chunked` with its SHA-256 in the
//! trailer, which the destination verifies before it acknowledges the part; every
//! acknowledged part is recorded in the catalog, so an attempt cut short (kill -9, a
//! destination outage) resumes at the first part not acknowledged. Nothing is visible at
//! the destination before CompleteMultipartUpload, which lists each part's SHA-256; the
//! composite checksum the destination reports must be the one the parts make. Only that
//! last request puts the task in doubt. An upload the task no longer needs (the version
//! was deleted for good, or the task failed) is aborted.

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use futures::StreamExt as _;
use http::Method;
use sha2::Digest as _;

use super::remote::{Answer, RemoteError, Site, bucket_path, exchange, read_answer};
use super::replicate::{Outcome, Replication, retry};
use crate::catalog::{
    CatalogError, ObjectVersion, PartLayout, ReplicaUpload, ReplicationTask, SentPart,
};
use crate::client::http::{ClientError, Headers, Request};
use crate::client::xml::element_text;
use crate::kms::Caller;
use crate::objects::{ByteStream, MIN_PART_SIZE, ReadRange};

/// S3's most parts per upload.
const MAX_PARTS: u64 = 10_000;
/// S3's largest part.
const MAX_PART_SIZE: u64 = 5 * 1024 * 1024 * 1024;
const MIB: u64 = 1024 * 1024;
/// A part may take this long plus a second per MiB.
const PART_BASE_TIMEOUT: Duration = Duration::from_secs(60);

/// When versions are sent in parts, and how large the parts are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartSizes {
    pub threshold: u64,
    pub part_size: u64,
}

impl PartSizes {
    pub fn from_settings(s: &crate::config::ReplicationSettings) -> PartSizes {
        PartSizes {
            threshold: s.multipart_threshold_mib * MIB,
            part_size: s.part_size_mib * MIB,
        }
    }

    /// How a version is sent: None for one PUT.
    pub fn layout(&self, version: &ObjectVersion) -> Option<PartLayout> {
        if version.parts_count.is_some() {
            return Some(PartLayout::Source);
        }
        if version.size <= self.threshold {
            return None;
        }
        // Whole MiB, large enough that the version fits in 10,000 parts.
        let needed = version.size.div_ceil(MAX_PARTS).div_ceil(MIB) * MIB;
        let part = self.part_size.max(needed).max(MIN_PART_SIZE);
        Some(PartLayout::Fixed(part.min(MAX_PART_SIZE)))
    }
}

/// The part numbers and plaintext ranges of a replica; `source` are the source version's
/// part numbers and sizes, used by [`PartLayout::Source`].
pub fn part_ranges(layout: PartLayout, size: u64, source: &[(u32, u64)]) -> Vec<(u32, Range<u64>)> {
    match layout {
        PartLayout::Source => {
            let mut start = 0;
            source
                .iter()
                .map(|&(n, len)| {
                    let r = start..start + len;
                    start += len;
                    (n, r)
                })
                .collect()
        }
        PartLayout::Fixed(part) => (0..size.div_ceil(part.max(1)))
            .map(|i| {
                let start = i * part;
                ((i + 1) as u32, start..(start + part).min(size))
            })
            .collect(),
    }
}

/// S3's composite checksum of SHA-256 parts: the SHA-256 of the parts' raw digests, "-N".
pub fn composite_sha256(parts: &[SentPart]) -> Option<String> {
    let mut all = sha2::Sha256::new();
    for p in parts {
        all.update(BASE64.decode(&p.sha256).ok()?);
    }
    Some(format!("{}-{}", BASE64.encode(all.finalize()), parts.len()))
}

/// The body of CompleteMultipartUpload.
fn complete_body(parts: &[SentPart]) -> String {
    let mut xml = String::from("<CompleteMultipartUpload>");
    for p in parts {
        xml.push_str(&format!(
            "<Part><PartNumber>{}</PartNumber><ETag>{}</ETag><ChecksumSHA256>{}</ChecksumSHA256></Part>",
            p.number,
            quick_xml::escape::escape(p.etag.as_str()),
            p.sha256
        ));
    }
    xml.push_str("</CompleteMultipartUpload>");
    xml
}

fn upload_query(path: &str, upload_id: &str) -> String {
    format!(
        "{path}?uploadId={}",
        crate::client::http::encode_query_value(upload_id)
    )
}

/// Reads consecutive parts from one stream of the plaintext, so the version is read once.
struct Cursor {
    stream: ByteStream,
    carry: Option<Bytes>,
}

impl Cursor {
    /// The next piece, at most `max` bytes; the rest is kept for the next call.
    async fn next_piece(&mut self, max: u64) -> Option<std::io::Result<Bytes>> {
        let mut piece = match self.carry.take() {
            Some(p) => p,
            None => match self.stream.next().await? {
                Ok(p) => p,
                Err(e) => return Some(Err(std::io::Error::other(e.to_string()))),
            },
        };
        if piece.len() as u64 > max {
            self.carry = Some(piece.split_off(max as usize));
        }
        Some(Ok(piece))
    }
}

/// The next `len` bytes of the shared cursor, as a stream.
fn take(cursor: Arc<tokio::sync::Mutex<Cursor>>, len: u64) -> ByteBody {
    futures::stream::unfold((cursor, len), |(cursor, left)| async move {
        if left == 0 {
            return None;
        }
        let piece = cursor.lock().await.next_piece(left).await;
        match piece {
            Some(Ok(p)) => {
                let left = left - p.len() as u64;
                Some((Ok(p), (cursor, left)))
            }
            Some(Err(e)) => Some((Err(e), (cursor, 0))),
            // Short: the encoder fails the body for its length.
            None => None,
        }
    })
    .boxed()
}

type ByteBody = futures::stream::BoxStream<'static, std::io::Result<Bytes>>;

impl Replication {
    /// Sends `version` as a multipart upload in `layout` (a recorded upload keeps its own).
    #[allow(
        clippy::too_many_arguments,
        reason = "the task, its version and where it goes, as the single-PUT path has them"
    )]
    pub(super) async fn replicate_in_parts(
        &self,
        task: &ReplicationTask,
        version: &ObjectVersion,
        layout: PartLayout,
        headers: Headers,
        caller: &Caller,
        site: &Site,
        dest: &str,
    ) -> Result<Outcome, Outcome> {
        let catalog = self.svc.catalog();
        let recorded = catalog
            .replica_upload(task.id)
            .await
            .map_err(|e| retry(e.to_string(), task.in_doubt))?;
        let path = bucket_path(dest, Some(&task.key));
        if task.in_doubt
            && let Some(upload) = &recorded
            && let Some(id) = self.completed_earlier(task, site, dest, upload).await?
        {
            return Ok(Outcome::Completed(Some(id)));
        }
        // A recorded upload keeps its layout, even if the settings changed since.
        let layout = recorded.as_ref().map_or(layout, |u| u.layout);
        let source_parts: Vec<(u32, u64)> = match layout {
            PartLayout::Source => catalog
                .parts(version.row)
                .await
                .map_err(|e| retry(e.to_string(), false))?
                .iter()
                .map(|p| (p.part_number, p.size))
                .collect(),
            PartLayout::Fixed(_) => Vec::new(),
        };
        let ranges = part_ranges(layout, version.size, &source_parts);
        let mut upload = match recorded {
            Some(u) => u,
            None => {
                self.start_upload(task, &path, headers, layout, ranges.len(), site)
                    .await?
            }
        };
        if ranges.len() != upload.parts_total as usize {
            self.forget(task).await?;
            return Err(retry(
                "the recorded upload does not match the version's parts; starting over",
                false,
            ));
        }
        self.send_parts(task, version, caller, site, &path, &mut upload, &ranges)
            .await?;
        self.complete(task, site, dest, &path, &upload).await
    }

    async fn start_upload(
        &self,
        task: &ReplicationTask,
        path: &str,
        headers: Headers,
        layout: PartLayout,
        parts_total: usize,
        site: &Site,
    ) -> Result<ReplicaUpload, Outcome> {
        let mut headers = headers;
        headers.push(("x-amz-checksum-algorithm".into(), "SHA256".into()));
        let req = Request {
            method: Method::POST,
            path: format!("{path}?uploads"),
            headers,
            body: Bytes::new(),
        };
        let answer = exchange(&mut site.client(), &req)
            .await
            .and_then(Answer::ok)
            .map_err(not_in_doubt)?;
        let upload_id = element_text(&answer.body, "UploadId")
            .filter(|id| !id.is_empty())
            .ok_or_else(|| retry("the destination answered no UploadId", false))?;
        let upload = ReplicaUpload {
            upload_id,
            layout,
            parts_total: u32::try_from(parts_total).unwrap_or(u32::MAX),
            parts: Vec::new(),
        };
        // A crash before this is recorded leaves the upload at the destination unknown
        // to the queue; its own lifecycle rules (AbortIncompleteMultipartUpload) remove it.
        self.svc
            .catalog()
            .start_replica_upload(task.id, &upload)
            .await
            .map_err(|e| retry(e.to_string(), false))?;
        Ok(upload)
    }

    #[allow(
        clippy::too_many_arguments,
        reason = "the task, its version and where it goes"
    )]
    async fn send_parts(
        &self,
        task: &ReplicationTask,
        version: &ObjectVersion,
        caller: &Caller,
        site: &Site,
        path: &str,
        upload: &mut ReplicaUpload,
        ranges: &[(u32, Range<u64>)],
    ) -> Result<(), Outcome> {
        let done = |n: u32, len: u64, parts: &[SentPart]| {
            parts.iter().any(|p| p.number == n && p.size == len)
        };
        let Some(first) = ranges
            .iter()
            .position(|(n, r)| !done(*n, r.end - r.start, &upload.parts))
        else {
            return Ok(());
        };
        let stream = self
            .read(
                version,
                caller,
                ReadRange::Bytes(ranges[first].1.start, version.size),
            )
            .await?;
        let cursor = Arc::new(tokio::sync::Mutex::new(Cursor {
            stream,
            carry: None,
        }));
        let mut client = site.client();
        let metrics = crate::metrics::metrics();
        for (n, range) in &ranges[first..] {
            let len = range.end - range.start;
            if done(*n, len, &upload.parts) {
                // Acknowledged by an earlier attempt: skipped over, not sent.
                let mut skip = take(cursor.clone(), len);
                while let Some(piece) = skip.next().await {
                    piece.map_err(|e| retry(format!("reading the source version: {e}"), false))?;
                }
                continue;
            }
            // A version deleted for good meanwhile is not sent on (its upload is aborted).
            match self
                .svc
                .catalog()
                .version(&task.bucket, &task.key, Some(&task.version_id))
                .await
            {
                Ok(_) => {}
                Err(CatalogError::NoSuchVersion | CatalogError::NoSuchKey) => {
                    return Err(Outcome::Gone);
                }
                Err(e) => return Err(retry(e.to_string(), false)),
            }
            let req = Request {
                method: Method::PUT,
                path: format!("{}&partNumber={n}", upload_query(path, &upload.upload_id)),
                headers: vec![("x-amz-sdk-checksum-algorithm".into(), "SHA256".into())],
                body: Bytes::new(),
            };
            let timeout = PART_BASE_TIMEOUT + Duration::from_secs(len / MIB);
            let sent = tokio::time::timeout(timeout, async {
                let (resp, sum) = client
                    .send_with_checksum_trailer(&req, take(cursor.clone(), len), len)
                    .await
                    .map_err(|e| match e {
                        ClientError::Connect(e) => RemoteError::Transient(e),
                        e => RemoteError::Transient(e.to_string()),
                    })?;
                Ok::<_, RemoteError>((read_answer(resp).await?, sum))
            })
            .await;
            let (answer, sum) = sent
                .map_err(|_| retry("the destination did not answer a part in time", false))?
                .map_err(not_in_doubt)?;
            if answer.status == 404 && answer.body.contains("NoSuchUpload") {
                self.forget(task).await?;
                return Err(retry(
                    "the destination no longer knows the upload; starting over",
                    false,
                ));
            }
            let answer = answer.ok().map_err(not_in_doubt)?;
            let (Some(sha256), Some(etag)) = (sum.get().cloned(), answer.header("etag")) else {
                return Err(retry("a part was acknowledged without its ETag", false));
            };
            if let Some(echoed) = answer.header("x-amz-checksum-sha256")
                && echoed != sha256
            {
                return Err(Outcome::Failed(format!(
                    "the destination reported SHA-256 {echoed} for part {n}, but {sha256} was sent"
                )));
            }
            let part = SentPart {
                number: *n,
                size: len,
                etag: etag.to_owned(),
                sha256,
            };
            self.svc
                .catalog()
                .replica_part_sent(task.id, &part)
                .await
                .map_err(|e| retry(e.to_string(), false))?;
            metrics.replication_parts_sent.inc();
            metrics.replication_part_bytes_sent.inc_by(len);
            upload.parts.retain(|p| p.number != *n);
            upload.parts.push(part);
        }
        upload.parts.sort_by_key(|p| p.number);
        Ok(())
    }

    async fn complete(
        &self,
        task: &ReplicationTask,
        site: &Site,
        dest: &str,
        path: &str,
        upload: &ReplicaUpload,
    ) -> Result<Outcome, Outcome> {
        let expected = composite_sha256(&upload.parts)
            .ok_or_else(|| retry("a recorded part checksum is not base64", false))?;
        let req = Request {
            method: Method::POST,
            path: upload_query(path, &upload.upload_id),
            headers: vec![(super::REPLICA_HEADER.into(), "true".into())],
            body: Bytes::from(complete_body(&upload.parts)),
        };
        self.mark_in_doubt(task).await?;
        let answer = exchange(&mut site.client(), &req)
            .await
            .map_err(|e| match e {
                RemoteError::Transient(m) => retry(m, true),
                refused => refused.into(),
            })?;
        // S3 may answer 200 and still fail the completion in the body.
        let failed = answer.status != 200 || element_text(&answer.body, "Code").is_some();
        if failed && answer.body.contains("NoSuchUpload") {
            // Completed by an attempt whose answer was lost, or aborted meanwhile.
            if let Some(id) = self.completed_earlier(task, site, dest, upload).await? {
                return Ok(Outcome::Completed(Some(id)));
            }
            self.forget(task).await?;
            return Err(retry(
                "the destination no longer knows the upload; starting over",
                false,
            ));
        }
        if failed {
            let status = if answer.status == 200 {
                500
            } else {
                answer.status
            };
            let answer = Answer { status, ..answer };
            return Err(match answer.ok() {
                Err(RemoteError::Transient(m)) => retry(m, true),
                Err(refused) => refused.into(),
                Ok(_) => retry("the completion failed", true),
            });
        }
        if let Some(reported) = element_text(&answer.body, "ChecksumSHA256")
            && reported != expected
        {
            return Ok(Outcome::Failed(format!(
                "the destination reported the composite SHA-256 {reported} for the replica, but its parts make {expected}"
            )));
        }
        Ok(Outcome::Completed(
            answer.header("x-amz-version-id").map(str::to_owned),
        ))
    }

    /// The replica an earlier completion made, found by its composite checksum.
    async fn completed_earlier(
        &self,
        task: &ReplicationTask,
        site: &Site,
        dest: &str,
        upload: &ReplicaUpload,
    ) -> Result<Option<String>, Outcome> {
        if upload.parts.len() != upload.parts_total as usize {
            return Ok(None);
        }
        let Some(expected) = composite_sha256(&upload.parts) else {
            return Ok(None);
        };
        self.existing_replica(task, site, dest, Some(&expected))
            .await
    }

    /// Aborts the task's upload at the destination, if it has one, and forgets it: the
    /// task ended without it. Best effort: the destination may be the reason it ended.
    pub(super) async fn abandon_upload(&self, task: &ReplicationTask) {
        let catalog = self.svc.catalog();
        let Ok(Some(upload)) = catalog.replica_upload(task.id).await else {
            return;
        };
        let dest = task
            .destination
            .strip_prefix("arn:aws:s3:::")
            .unwrap_or(&task.destination);
        if let Ok(Some(site)) = self.remotes.locate(dest).await {
            let req = Request {
                method: Method::DELETE,
                path: upload_query(&bucket_path(dest, Some(&task.key)), &upload.upload_id),
                headers: Vec::new(),
                body: Bytes::new(),
            };
            match exchange(&mut site.client(), &req)
                .await
                .and_then(Answer::ok)
            {
                Ok(_) | Err(RemoteError::Refused { status: 404, .. }) => {}
                Err(e) => tracing::warn!(bucket = %task.bucket, key = %task.key,
                    upload = %upload.upload_id, error = %e,
                    "aborting an abandoned replica upload failed; the destination keeps its parts until its own lifecycle rules remove them"),
            }
        }
        if let Err(e) = catalog.forget_replica_upload(task.id).await {
            tracing::warn!(task = task.id, error = %e, "forgetting a replica upload failed");
        }
    }

    async fn forget(&self, task: &ReplicationTask) -> Result<(), Outcome> {
        self.svc
            .catalog()
            .forget_replica_upload(task.id)
            .await
            .map_err(|e| retry(e.to_string(), false))
    }
}

/// Parts and uploads are invisible until completed: their failures never put a task in
/// doubt.
fn not_in_doubt(e: RemoteError) -> Outcome {
    match e {
        RemoteError::Transient(m) => retry(m, false),
        refused => refused.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(size: u64, parts: Option<u32>) -> ObjectVersion {
        let mut v = super::super::replicate::tests::version(crate::catalog::Sse::S3);
        v.size = size;
        v.parts_count = parts;
        v
    }

    #[test]
    fn large_versions_go_in_parts_that_fit_s3s_limits() {
        let sizes = PartSizes {
            threshold: 64 * MIB,
            part_size: 64 * MIB,
        };
        assert_eq!(sizes.layout(&version(64 * MIB, None)), None);
        assert_eq!(
            sizes.layout(&version(64 * MIB + 1, None)),
            Some(PartLayout::Fixed(64 * MIB))
        );
        // A small version uploaded in parts keeps them.
        assert_eq!(
            sizes.layout(&version(6 * MIB, Some(2))),
            Some(PartLayout::Source)
        );
        // 5 TiB in 10,000 parts needs parts of 525 MiB (whole MiB, rounded up).
        let huge = 5 * 1024 * 1024 * MIB;
        let Some(PartLayout::Fixed(part)) = sizes.layout(&version(huge, None)) else {
            panic!("5 TiB goes in parts");
        };
        assert_eq!(part, 525 * MIB);
        assert!(part <= MAX_PART_SIZE);
        assert!(part_ranges(PartLayout::Fixed(part), huge, &[]).len() as u64 <= MAX_PARTS);
    }

    #[test]
    fn ranges_cover_the_version_once() {
        let r = part_ranges(PartLayout::Fixed(10), 25, &[]);
        assert_eq!(r, vec![(1, 0..10), (2, 10..20), (3, 20..25)]);
        let r = part_ranges(PartLayout::Source, 0, &[(1, 6), (3, 5), (7, 1)]);
        assert_eq!(r, vec![(1, 0..6), (3, 6..11), (7, 11..12)]);
    }

    #[test]
    fn the_composite_checksum_is_s3s() {
        let part = |n: u32, data: &[u8]| SentPart {
            number: n,
            size: data.len() as u64,
            etag: "e".into(),
            sha256: BASE64.encode(sha2::Sha256::digest(data)),
        };
        let parts = [part(1, b"a"), part(2, b"b")];
        let mut raw = sha2::Sha256::digest(b"a").to_vec();
        raw.extend(sha2::Sha256::digest(b"b"));
        assert_eq!(
            composite_sha256(&parts).unwrap(),
            format!("{}-2", BASE64.encode(sha2::Sha256::digest(&raw)))
        );
        let body = complete_body(&parts[..1]);
        assert!(body.contains("<PartNumber>1</PartNumber><ETag>e</ETag><ChecksumSHA256>"));
    }
}
