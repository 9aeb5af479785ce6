//! One replication task: read the source version through the normal decrypt path, PUT it
//! (or its delete marker) to the destination asking for encryption under the destination's
//! keys, with the SHA-256 of what was read in the body's trailer, which the destination
//! verifies before it keeps the replica. Large versions go in parts (`multipart`). A task of
//! a version already replicated (its tags changed) sets the version's tags on the replica.
//!
//! No duplicates on the destination: before an attempt is sent the task is marked in doubt
//! in the catalog; an attempt whose outcome was never recorded (the process died, the
//! connection broke, the answer timed out) first asks the destination with HEAD whether the
//! replica is already there: the latest version of the key, marked REPLICA, with the same
//! SHA-256 (or a delete marker), and not the replica an earlier version of the key made.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use futures::StreamExt as _;
use http::Method;
use sha2::Digest as _;

use super::REPLICA_HEADER;
pub use super::multipart::PartSizes;
use super::remote::{self, RemoteError, Remotes, Site, bucket_path, exchange, read_answer};
use crate::bucket_settings::replication::Rule;
use crate::catalog::{CatalogError, ObjectVersion, ReplicationTask, Sse};
use crate::client::http::{ClientError, Headers, Request, encode_query_value};
use crate::kms::Caller;
use crate::objects::{ObjectError, ObjectService, ReadRange};
use crate::policy::Principal;

/// A replica PUT may take this long plus a second per MiB.
const PUT_BASE_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The replica exists on the destination (with this version id, when it reports one).
    Completed(Option<String>),
    /// Try again later; `in_doubt` when the attempt may have reached the destination.
    Retry { error: String, in_doubt: bool },
    /// A retry cannot help; the reason is shown to operators.
    Failed(String),
    /// The source version is gone (deleted for good before it replicated).
    Gone,
}

pub(super) fn retry(error: impl Into<String>, in_doubt: bool) -> Outcome {
    Outcome::Retry {
        error: error.into(),
        in_doubt,
    }
}

impl From<RemoteError> for Outcome {
    fn from(e: RemoteError) -> Outcome {
        match e {
            RemoteError::Transient(m) => retry(m, true),
            RemoteError::Refused { status, message } => Outcome::Failed(format!(
                "the destination refused the replica (HTTP {status}): {message}"
            )),
        }
    }
}

pub struct Replication {
    pub svc: ObjectService,
    pub remotes: Arc<Remotes>,
    /// The gateway's account: owner of buckets created before owners were recorded.
    pub account: String,
    pub sizes: PartSizes,
}

impl Replication {
    pub async fn run(&self, task: &ReplicationTask) -> Outcome {
        let outcome = match self.attempt(task).await {
            Ok(o) | Err(o) => o,
        };
        if matches!(outcome, Outcome::Failed(_) | Outcome::Gone) {
            self.abandon_upload(task).await;
        }
        outcome
    }

    async fn attempt(&self, task: &ReplicationTask) -> Result<Outcome, Outcome> {
        let catalog = self.svc.catalog();
        let bucket = match catalog.bucket(&task.bucket).await {
            Ok(b) => b,
            Err(CatalogError::NoSuchBucket) => return Ok(Outcome::Gone),
            Err(e) => return Err(retry(e.to_string(), false)),
        };
        let config = bucket
            .replication()
            .map_err(|e| retry(e.to_string(), false))?;
        let rule = config
            .and_then(|c| c.rule(&task.rule_id).cloned())
            .ok_or_else(|| {
                Outcome::Failed(format!(
                    "the replication rule {:?} no longer exists on bucket {}",
                    task.rule_id, task.bucket
                ))
            })?;
        let version = match catalog
            .version(&task.bucket, &task.key, Some(&task.version_id))
            .await
        {
            Ok(v) => v,
            Err(CatalogError::NoSuchVersion | CatalogError::NoSuchKey) => {
                return Ok(Outcome::Gone);
            }
            Err(e) => return Err(retry(e.to_string(), false)),
        };
        if version.sse == Some(Sse::C) {
            return Ok(Outcome::Failed(
                "SSE-C objects are not replicated: the gateway never keeps the customer key, so it cannot read the object to re-encrypt it".into(),
            ));
        }
        let dest = rule.destination.bucket().to_owned();
        let site = match self.remotes.locate(&dest).await {
            Ok(Some(site)) => site,
            Ok(None) => {
                return Err(retry(
                    format!("destination bucket {dest} was not found on any configured remote"),
                    task.in_doubt,
                ));
            }
            Err(e) => return Err(retry(e.to_string(), task.in_doubt)),
        };
        let versioned = match remote::versioning_enabled(&site, &dest).await {
            Ok(v) => v,
            Err(RemoteError::Refused { status: 404, .. }) => {
                // Deleted since it was found: look for it afresh next time.
                self.remotes.forget(&dest);
                return Err(retry(
                    format!(
                        "destination bucket {dest} no longer exists on {}",
                        site.region
                    ),
                    task.in_doubt,
                ));
            }
            Err(e) => return Err(with_doubt(e, task.in_doubt)),
        };
        if !versioned {
            return Ok(Outcome::Failed(format!(
                "versioning is not Enabled on the destination bucket {dest}"
            )));
        }
        let owner = bucket
            .owner_account
            .clone()
            .unwrap_or_else(|| self.account.clone());
        if version.delete_marker {
            return self.replicate_marker(task, &site, &dest).await;
        }
        let replica = catalog
            .replica_of(task)
            .await
            .map_err(|e| retry(e.to_string(), task.in_doubt))?;
        if let Some(replica) = replica {
            return self
                .replicate_tags(task, &version, &site, &dest, &replica)
                .await;
        }
        self.replicate_object(task, version, &rule, &owner, &site, &dest)
            .await
    }

    /// A version already replicated (its tags changed since): its tags, or none, are set
    /// on its replica, as S3 replicates a tag change. Marked as replication, which a
    /// destination sealgate allows with `s3:ReplicateTags`. Setting tags again changes
    /// nothing, so an attempt of unknown outcome is simply sent again.
    async fn replicate_tags(
        &self,
        task: &ReplicationTask,
        version: &ObjectVersion,
        site: &Site,
        dest: &str,
        replica: &str,
    ) -> Result<Outcome, Outcome> {
        let path = format!(
            "{}?tagging&versionId={}",
            bucket_path(dest, Some(&task.key)),
            encode_query_value(replica)
        );
        let mut headers: Headers = vec![(REPLICA_HEADER.into(), "true".into())];
        let (method, body) = if version.meta.tags.is_empty() {
            (Method::DELETE, Bytes::new())
        } else {
            let xml = tagging_xml(&version.meta.tags);
            let mut md5 = crate::objects::Digests::new(true, None);
            md5.update(xml.as_bytes());
            if let Some(digest) = md5.finish().md5 {
                headers.push(("content-md5".into(), BASE64.encode(digest)));
            }
            (Method::PUT, Bytes::from(xml))
        };
        let req = Request {
            method,
            path,
            headers,
            body,
        };
        match exchange(&mut site.client(), &req)
            .await
            .and_then(|a| a.ok())
        {
            Ok(_) => Ok(Outcome::Completed(None)),
            Err(RemoteError::Transient(e)) => Err(retry(e, false)),
            Err(RemoteError::Refused { status, message }) => Ok(Outcome::Failed(format!(
                "the destination refused the replica's tags (HTTP {status}): {message}"
            ))),
        }
    }

    async fn replicate_marker(
        &self,
        task: &ReplicationTask,
        site: &Site,
        dest: &str,
    ) -> Result<Outcome, Outcome> {
        if task.in_doubt
            && let Some(id) = self.existing_replica(task, site, dest, None).await?
        {
            return Ok(Outcome::Completed(Some(id)));
        }
        self.mark_in_doubt(task).await?;
        let req = Request {
            method: Method::DELETE,
            path: bucket_path(dest, Some(&task.key)),
            headers: vec![(REPLICA_HEADER.into(), "true".into())],
            body: Bytes::new(),
        };
        let answer = exchange(&mut site.client(), &req).await?.ok()?;
        Ok(Outcome::Completed(
            answer.header("x-amz-version-id").map(str::to_owned),
        ))
    }

    async fn replicate_object(
        &self,
        task: &ReplicationTask,
        version: ObjectVersion,
        rule: &Rule,
        owner: &str,
        site: &Site,
        dest: &str,
    ) -> Result<Outcome, Outcome> {
        let caller = owner_caller(owner);
        let headers = object_headers(&version, rule, self.svc.now_ms());
        if let Some(layout) = self.sizes.layout(&version) {
            return self
                .replicate_in_parts(task, &version, layout, headers, &caller, site, dest)
                .await;
        }
        if task.in_doubt {
            // An earlier attempt may have made the replica: look for it by the checksum
            // of the plaintext (the one verified at write time, else a pass over it).
            let stored = version.checksum.as_ref().filter(|c| {
                c.algorithm == "SHA256" && c.kind == "FULL_OBJECT" && version.parts_count.is_none()
            });
            let sha256 = match stored {
                Some(c) => c.value.clone(),
                None => {
                    let mut body = self.read(&version, &caller, ReadRange::All).await?;
                    let mut h = sha2::Sha256::new();
                    while let Some(piece) = body.next().await {
                        h.update(piece.map_err(|e| read_failed(&e))?);
                    }
                    BASE64.encode(h.finalize())
                }
            };
            if let Some(id) = self
                .existing_replica(task, site, dest, Some(&sha256))
                .await?
            {
                return Ok(Outcome::Completed(Some(id)));
            }
        }
        let req = Request {
            method: Method::PUT,
            path: bucket_path(dest, Some(&task.key)),
            headers,
            body: Bytes::new(),
        };
        let body = self
            .read(&version, &caller, ReadRange::All)
            .await?
            .map(|piece| piece.map_err(std::io::Error::other));
        self.mark_in_doubt(task).await?;
        let mut client = site.client();
        let timeout = PUT_BASE_TIMEOUT + Duration::from_secs(version.size / (1024 * 1024));
        let sent = tokio::time::timeout(timeout, async {
            match client
                .send_with_checksum_trailer(&req, body, version.size)
                .await
            {
                Ok((resp, sum)) => Ok((read_answer(resp).await?, sum)),
                // Nothing reached the destination.
                Err(ClientError::Connect(e)) => Err(RemoteError::Transient(e)),
                Err(e) => Err(RemoteError::Transient(e.to_string())),
            }
        })
        .await
        .map_err(|_| retry("the destination did not answer in time", true))?;
        let (answer, sum) = sent?;
        let answer = answer.ok()?;
        if let (Some(echoed), Some(sent)) = (answer.header("x-amz-checksum-sha256"), sum.get())
            && echoed != sent
        {
            return Ok(Outcome::Failed(format!(
                "the destination reported SHA-256 {echoed} for the replica, but {sent} was sent"
            )));
        }
        Ok(Outcome::Completed(
            answer.header("x-amz-version-id").map(str::to_owned),
        ))
    }

    /// The source version's plaintext, read as its bucket owner (KMS Decrypt included).
    pub(super) async fn read(
        &self,
        version: &ObjectVersion,
        caller: &Caller,
        range: ReadRange,
    ) -> Result<crate::objects::ByteStream, Outcome> {
        let reader = self
            .svc
            .reader(version.clone(), None, Some(caller), true)
            .await
            .map_err(|e| read_failed(&e))?;
        reader.stream(range).await.map_err(|e| read_failed(&e))
    }

    pub(super) async fn mark_in_doubt(&self, task: &ReplicationTask) -> Result<(), Outcome> {
        self.svc
            .catalog()
            .replication_in_doubt(task.id)
            .await
            .map_err(|e| retry(e.to_string(), task.in_doubt))
    }

    /// The destination version id of a replica an earlier, unrecorded attempt made.
    pub(super) async fn existing_replica(
        &self,
        task: &ReplicationTask,
        site: &Site,
        dest: &str,
        sha256: Option<&str>,
    ) -> Result<Option<String>, Outcome> {
        let req = Request {
            method: Method::HEAD,
            path: bucket_path(dest, Some(&task.key)),
            headers: vec![("x-amz-checksum-mode".into(), "ENABLED".into())],
            body: Bytes::new(),
        };
        let answer = exchange(&mut site.client(), &req)
            .await
            .map_err(|e| with_doubt(e, true))?;
        let is_marker = answer.header("x-amz-delete-marker") == Some("true");
        let found = match sha256 {
            None => is_marker,
            Some(sum) => {
                answer.status == 200
                    && answer.header("x-amz-replication-status") == Some("REPLICA")
                    && answer.header("x-amz-checksum-sha256") == Some(sum)
            }
        };
        let Some(id) = answer.header("x-amz-version-id").filter(|_| found) else {
            return Ok(None);
        };
        let previous = self
            .svc
            .catalog()
            .previous_replica(&task.bucket, &task.key, task.id)
            .await
            .map_err(|e| retry(e.to_string(), true))?;
        Ok((previous.as_deref() != Some(id)).then(|| id.to_owned()))
    }
}

/// PutObjectTagging's body.
fn tagging_xml(tags: &crate::tagging::TagSet) -> String {
    let mut xml = String::from("<Tagging><TagSet>");
    for (k, v) in tags {
        xml.push_str(&format!(
            "<Tag><Key>{}</Key><Value>{}</Value></Tag>",
            quick_xml::escape::escape(k.as_str()),
            quick_xml::escape::escape(v.as_str())
        ));
    }
    xml.push_str("</TagSet></Tagging>");
    xml
}

fn with_doubt(e: RemoteError, in_doubt: bool) -> Outcome {
    match e {
        RemoteError::Transient(m) => retry(m, in_doubt),
        refused => refused.into(),
    }
}

/// A source KMS refuses to decrypt (key disabled, pending deletion, gone, or access denied)
/// or whose stored data fails authentication fails, as S3 fails it: retrying cannot help
/// until someone acts, and `sealgate replicate` queues FAILED versions again. Outages of the
/// catalog, the blob store or KMS are retried.
fn read_failed(e: &ObjectError) -> Outcome {
    let reason = format!("reading the source version: {e}");
    match e {
        ObjectError::Kms(k) if !k.is_transient() => Outcome::Failed(reason),
        ObjectError::Crypto(_) => Outcome::Failed(reason),
        _ => retry(reason, false),
    }
}

/// sealgate has no IAM roles to assume: the worker reads as the root of the bucket owner's
/// account, the account that configured replication.
fn owner_caller(account: &str) -> Caller {
    Caller {
        principal: Principal::root(account),
        identity_policies: Vec::new(),
        source_ip: None,
        secure_transport: true,
        via_service: None,
        request_id: None,
    }
}

/// The replica's headers (on its PUT, or on CreateMultipartUpload): the version's content
/// headers, user metadata and tags, its Object Lock (a retention still in force, a legal
/// hold), the encryption the destination is to apply, and the replica mark.
fn object_headers(v: &ObjectVersion, rule: &Rule, now_ms: i64) -> Headers {
    let m = &v.meta;
    let mut h = Headers::new();
    let content = [
        ("content-type", &m.content_type),
        ("content-encoding", &m.content_encoding),
        ("content-disposition", &m.content_disposition),
        ("content-language", &m.content_language),
        ("cache-control", &m.cache_control),
        ("expires", &m.expires),
        (
            "x-amz-website-redirect-location",
            &m.website_redirect_location,
        ),
    ];
    for (name, value) in content {
        if let Some(value) = value {
            h.push((name.into(), value.clone()));
        }
    }
    for (k, value) in &m.user {
        h.push((format!("x-amz-meta-{k}").into(), value.clone()));
    }
    if !m.tags.is_empty() {
        h.push(("x-amz-tagging".into(), crate::tagging::to_header(&m.tags)));
    }
    // As on S3, the lock goes with the version; a destination without Object Lock refuses
    // it, and the task fails with that reason rather than leave an unlocked copy.
    if let Some(r) = v.lock.active_retention(now_ms) {
        h.push(("x-amz-object-lock-mode".into(), r.mode.as_str().into()));
        h.push((
            "x-amz-object-lock-retain-until-date".into(),
            crate::clock::format_ms(r.until_ms),
        ));
    }
    if let Some(on) = v.lock.legal_hold {
        let status = if on { "ON" } else { "OFF" };
        h.push(("x-amz-object-lock-legal-hold".into(), status.into()));
    }
    match (&rule.destination.replica_kms_key_id, &v.sse) {
        (Some(key), _) => {
            h.push(("x-amz-server-side-encryption".into(), "aws:kms".into()));
            h.push((
                "x-amz-server-side-encryption-aws-kms-key-id".into(),
                key.clone(),
            ));
        }
        (None, Some(Sse::Kms { .. })) => {
            h.push(("x-amz-server-side-encryption".into(), "aws:kms".into()));
        }
        _ => h.push(("x-amz-server-side-encryption".into(), "AES256".into())),
    }
    if let Some(class) = &rule.destination.storage_class {
        h.push(("x-amz-storage-class".into(), class.clone()));
    }
    h.push((REPLICA_HEADER.into(), "true".into()));
    h
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::bucket_settings::replication::test_rule;
    use crate::catalog::ObjectMeta;
    use crate::kms::KmsError;

    pub(crate) fn version(sse: Sse) -> ObjectVersion {
        ObjectVersion {
            row: 1,
            bucket: "src".into(),
            key: "k".into(),
            version_id: "v".into(),
            seal_id: "s".into(),
            delete_marker: false,
            is_latest: true,
            size: 1,
            etag: "e".into(),
            last_modified_ms: 1,
            meta: ObjectMeta {
                content_type: Some("text/plain".into()),
                user: [("owner".to_owned(), "alice".to_owned())].into(),
                tags: [("team".to_owned(), "ledger & co".to_owned())].into(),
                ..ObjectMeta::default()
            },
            sse: Some(sse),
            checksum: None,
            parts_count: None,
            replication_status: Some("PENDING".into()),
            lock: Default::default(),
        }
    }

    fn rule(replica_key: Option<&str>) -> Rule {
        let mut r = test_rule("r", 1, "");
        r.sse_kms_objects = replica_key.map(|_| true);
        r.destination.replica_kms_key_id = replica_key.map(str::to_owned);
        r
    }

    fn header<'a>(h: &'a Headers, name: &str) -> Option<&'a str> {
        h.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    #[test]
    fn the_destination_is_asked_for_its_own_encryption() {
        let kms = Sse::Kms {
            key_arn: "arn:aws:kms:us-east-1:000000000000:key/a".into(),
            context: Default::default(),
            bucket_key: false,
        };
        let replica = "arn:aws:kms:eu-west-1:000000000000:key/r";
        let h = object_headers(&version(kms.clone()), &rule(Some(replica)), 0);
        assert_eq!(header(&h, "x-amz-server-side-encryption"), Some("aws:kms"));
        assert_eq!(
            header(&h, "x-amz-server-side-encryption-aws-kms-key-id"),
            Some(replica)
        );
        // The source's key never travels.
        assert!(h.iter().all(|(_, v)| !v.contains("key/a")));
        let h = object_headers(&version(Sse::S3), &rule(None), 0);
        assert_eq!(header(&h, "x-amz-server-side-encryption"), Some("AES256"));
        assert_eq!(
            header(&h, "x-amz-server-side-encryption-aws-kms-key-id"),
            None
        );
        let h = object_headers(&version(kms), &rule(None), 0);
        assert_eq!(header(&h, "x-amz-server-side-encryption"), Some("aws:kms"));
    }

    #[test]
    fn content_headers_metadata_and_the_replica_mark_are_sent() {
        let h = object_headers(&version(Sse::S3), &rule(None), 0);
        assert_eq!(header(&h, "content-type"), Some("text/plain"));
        assert_eq!(header(&h, "x-amz-meta-owner"), Some("alice"));
        assert_eq!(header(&h, "x-amz-tagging"), Some("team=ledger+%26+co"));
        assert_eq!(header(&h, REPLICA_HEADER), Some("true"));
        assert_eq!(header(&h, "cache-control"), None);
        assert_eq!(header(&h, "x-amz-object-lock-mode"), None);
    }

    #[test]
    fn a_tag_change_sends_the_versions_tags_as_put_object_tagging_takes_them() {
        let tags = version(Sse::S3).meta.tags;
        assert_eq!(
            tagging_xml(&tags),
            "<Tagging><TagSet><Tag><Key>team</Key><Value>ledger &amp; co</Value></Tag></TagSet></Tagging>"
        );
    }

    #[test]
    fn a_lock_in_force_goes_with_the_replica_and_a_passed_one_does_not() {
        use crate::bucket_settings::object_lock::{LockMode, Retention, VersionLock};
        let mut v = version(Sse::S3);
        v.lock = VersionLock {
            retention: Some(Retention {
                mode: LockMode::Compliance,
                until_ms: 86_400_000,
            }),
            legal_hold: Some(true),
        };
        let h = object_headers(&v, &rule(None), 0);
        assert_eq!(header(&h, "x-amz-object-lock-mode"), Some("COMPLIANCE"));
        assert_eq!(
            header(&h, "x-amz-object-lock-retain-until-date"),
            Some("1970-01-02T00:00:00.000Z")
        );
        assert_eq!(header(&h, "x-amz-object-lock-legal-hold"), Some("ON"));
        let later = object_headers(&v, &rule(None), 86_400_000);
        assert_eq!(header(&later, "x-amz-object-lock-mode"), None);
        assert_eq!(header(&later, "x-amz-object-lock-legal-hold"), Some("ON"));
    }

    #[test]
    fn a_source_kms_will_not_decrypt_fails_and_outages_retry() {
        let disabled = ObjectError::Kms(KmsError::disabled("key is disabled"));
        assert!(
            matches!(read_failed(&disabled), Outcome::Failed(m) if m.contains("DisabledException"))
        );
        let denied = ObjectError::Kms(KmsError::access_denied("no kms:Decrypt"));
        assert!(matches!(read_failed(&denied), Outcome::Failed(_)));
        let forged = ObjectError::Crypto(crate::crypto::CryptoError::Authentication);
        assert!(matches!(read_failed(&forged), Outcome::Failed(_)));
        for transient in [
            ObjectError::Kms(KmsError::throttling("slow down")),
            ObjectError::Kms(KmsError::internal("busy")),
            ObjectError::Blob(crate::blobstore::BlobError::Missing("b".into())),
        ] {
            assert!(matches!(
                read_failed(&transient),
                Outcome::Retry {
                    in_doubt: false,
                    ..
                }
            ));
        }
    }

    #[test]
    fn refusals_fail_and_outages_retry_in_doubt() {
        assert!(matches!(
            Outcome::from(RemoteError::Refused {
                status: 403,
                message: "AccessDenied".into()
            }),
            Outcome::Failed(m) if m.contains("403")
        ));
        assert_eq!(
            Outcome::from(RemoteError::Transient("down".into())),
            retry("down", true)
        );
        assert_eq!(
            with_doubt(RemoteError::Transient("down".into()), false),
            retry("down", false)
        );
    }
}
