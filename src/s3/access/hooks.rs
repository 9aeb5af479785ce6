//! The typed per-operation hooks: each operation sealgate implements becomes the actions
//! and resources AWS checks for it, read from the parsed input (no header or query string
//! is decoded again here).

use s3s::access::{S3Access, S3AccessContext};
use s3s::dto::*;
use s3s::{S3Request, S3Result, s3_error};

use super::{
    Authorizer, BypassingDeletes, Check, DeniedDeletes, Keys, SseRequest, bucket_arn, check,
    object_arn,
};
use crate::replication::REPLICA_HEADER;
use crate::s3::request::timestamp_ms;
use crate::s3::sse::{customer_headers, kms_headers};

/// Operations decided by a hook below rather than by name in `check`. Every one of them
/// must have a hook: a handler refuses a request no authorization marked.
pub(super) const TYPED_OPERATIONS: &[&str] = &[
    "AbortMultipartUpload",
    "CompleteMultipartUpload",
    "CopyObject",
    "CreateBucket",
    "CreateMultipartUpload",
    "DeleteBucket",
    "DeleteBucketCors",
    "DeleteBucketLifecycle",
    "DeleteBucketOwnershipControls",
    "DeleteBucketPolicy",
    "DeleteBucketReplication",
    "DeleteBucketTagging",
    "DeleteObject",
    "DeleteObjectTagging",
    "DeleteObjects",
    "DeletePublicAccessBlock",
    "GetBucketAcl",
    "GetBucketCors",
    "GetBucketLifecycleConfiguration",
    "GetBucketLocation",
    "GetBucketOwnershipControls",
    "GetBucketPolicy",
    "GetBucketPolicyStatus",
    "GetBucketReplication",
    "GetBucketTagging",
    "GetBucketVersioning",
    "GetObject",
    "GetObjectAcl",
    "GetObjectAttributes",
    "GetObjectLegalHold",
    "GetObjectLockConfiguration",
    "GetObjectRetention",
    "GetObjectTagging",
    "GetPublicAccessBlock",
    "HeadBucket",
    "HeadObject",
    "ListBuckets",
    "ListMultipartUploads",
    "ListObjectVersions",
    "ListObjects",
    "ListObjectsV2",
    "ListParts",
    "PostObject",
    "PutBucketAcl",
    "PutBucketCors",
    "PutBucketLifecycleConfiguration",
    "PutBucketOwnershipControls",
    "PutBucketPolicy",
    "PutBucketReplication",
    "PutBucketTagging",
    "PutBucketVersioning",
    "PutObject",
    "PutObjectAcl",
    "PutObjectLegalHold",
    "PutObjectLockConfiguration",
    "PutObjectRetention",
    "PutObjectTagging",
    "PutPublicAccessBlock",
    "UploadPart",
    "UploadPartCopy",
];

/// The fields of a write's input that authorization reads, owned, so the request can be
/// borrowed again while they are in use. Field names follow the inputs', for
/// `customer_headers!` and `kms_headers!`.
struct WriteView {
    bucket: String,
    key: String,
    acl: Option<String>,
    server_side_encryption: Option<ServerSideEncryption>,
    sse_customer_algorithm: Option<SSECustomerAlgorithm>,
    sse_customer_key: Option<SSECustomerKey>,
    sse_customer_key_md5: Option<SSECustomerKeyMD5>,
    ssekms_key_id: Option<String>,
    ssekms_encryption_context: Option<String>,
    bucket_key_enabled: Option<bool>,
    lock_mode: Option<String>,
    lock_until: Option<Timestamp>,
    legal_hold: Option<String>,
}

macro_rules! write_view {
    ($input:expr) => {
        WriteView {
            bucket: $input.bucket.clone(),
            key: $input.key.clone(),
            acl: $input.acl.as_ref().map(|a| a.as_str().to_owned()),
            server_side_encryption: $input.server_side_encryption.clone(),
            sse_customer_algorithm: $input.sse_customer_algorithm.clone(),
            sse_customer_key: $input.sse_customer_key.clone(),
            sse_customer_key_md5: $input.sse_customer_key_md5.clone(),
            ssekms_key_id: $input.ssekms_key_id.clone(),
            ssekms_encryption_context: $input.ssekms_encryption_context.clone(),
            bucket_key_enabled: $input.bucket_key_enabled,
            lock_mode: $input
                .object_lock_mode
                .as_ref()
                .map(|m| m.as_str().to_owned()),
            lock_until: $input.object_lock_retain_until_date.clone(),
            legal_hold: $input
                .object_lock_legal_hold_status
                .as_ref()
                .map(|h| h.as_str().to_owned()),
        }
    };
}

impl WriteView {
    fn sse(&self) -> SseRequest<'_> {
        SseRequest {
            algorithm: self.server_side_encryption.as_ref(),
            customer: customer_headers!(self),
            kms: kms_headers!(self),
        }
    }
}

/// The S3 access hooks: every operation is authorized before it runs.
pub struct S3Authorization(pub std::sync::Arc<Authorizer>);

/// The read action, or its `...Version` form when a version is named (with `s3:VersionId`).
fn versioned(plain: &str, with_version: &str, version_id: Option<&str>, keys: &mut Keys) -> String {
    match version_id {
        Some(v) => {
            keys.push(("s3:VersionId", v.to_owned()));
            with_version.to_owned()
        }
        None => plain.to_owned(),
    }
}

/// A write's checks: s3:PutObject, and s3:PutObjectTagging when it sets tags,
/// s3:PutObjectRetention and s3:PutObjectLegalHold when it sets a lock, as S3 asks. A
/// replica (written by another region's replication) needs s3:ReplicateObject, and
/// s3:ReplicateTags for its tags.
fn write_checks(input: &WriteView, sets_tags: bool, replica: bool) -> Vec<Check> {
    let obj = object_arn(&input.bucket, &input.key);
    let mut checks = vec![check("s3:PutObject", obj.clone())];
    if replica {
        checks.push(check("s3:ReplicateObject", obj.clone()));
    }
    match (sets_tags, replica) {
        (true, false) => checks.push(check("s3:PutObjectTagging", obj.clone())),
        (true, true) => checks.push(check("s3:ReplicateTags", obj.clone())),
        (false, _) => {}
    }
    // A replica's lock is its source version's, which s3:ReplicateObject covers.
    if !replica && (input.lock_mode.is_some() || input.lock_until.is_some()) {
        checks.push(check("s3:PutObjectRetention", obj.clone()));
    }
    if !replica && input.legal_hold.is_some() {
        checks.push(check("s3:PutObjectLegalHold", obj));
    }
    checks
}

/// The `s3:object-lock-*` keys of a request that sets a retention or a legal hold.
fn lock_keys(
    keys: &mut Keys,
    mode: Option<&str>,
    until: Option<&Timestamp>,
    legal_hold: Option<&str>,
    now_ms: i64,
) {
    const DAY_MS: i64 = 24 * 3600 * 1000;
    if let Some(m) = mode {
        keys.push(("s3:object-lock-mode", m.to_owned()));
    }
    if let Some(t) = until {
        let mut text = Vec::new();
        if t.format(TimestampFormat::DateTime, &mut text).is_ok() {
            let text = String::from_utf8_lossy(&text).into_owned();
            keys.push(("s3:object-lock-retain-until-date", text));
        }
        let remaining = (timestamp_ms(t) - now_ms).max(0);
        let days = (remaining + DAY_MS - 1) / DAY_MS;
        keys.push(("s3:object-lock-remaining-retention-days", days.to_string()));
    }
    if let Some(h) = legal_hold {
        keys.push(("s3:object-lock-legal-hold", h.to_owned()));
    }
}

impl WriteView {
    fn lock_keys(&self, keys: &mut Keys, now_ms: i64) {
        lock_keys(
            keys,
            self.lock_mode.as_deref(),
            self.lock_until.as_ref(),
            self.legal_hold.as_deref(),
            now_ms,
        );
    }
}

/// `s3:RequestObjectTag/<key>` for each tag a request sets, and the multi-valued
/// `s3:RequestObjectTagKeys`.
fn request_tag_keys<'a>(keys: &mut Keys, tags: impl IntoIterator<Item = (&'a str, &'a str)>) {
    for (k, v) in tags {
        keys.push_named(format!("s3:RequestObjectTag/{k}"), v.to_owned());
        keys.push(("s3:RequestObjectTagKeys", k.to_owned()));
    }
}

/// The request tag keys of a write's `x-amz-tagging`; a header that does not parse gives
/// none (the operation refuses it).
fn header_tag_keys(keys: &mut Keys, header: Option<&str>) {
    if let Some(tags) = header.and_then(|h| crate::tagging::parse_header(h).ok()) {
        request_tag_keys(keys, tags.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    }
}

fn acl_key(keys: &mut Keys, acl: Option<&str>) {
    if let Some(acl) = acl {
        keys.push(("s3:x-amz-acl", acl.to_owned()));
    }
}

/// `s3:prefix`, `s3:delimiter` and `s3:max-keys` of a listing.
fn listing_keys(prefix: Option<&str>, delimiter: Option<&str>, max_keys: Option<i32>) -> Keys {
    let mut keys = Keys::new();
    if let Some(p) = prefix {
        keys.push(("s3:prefix", p.to_owned()));
    }
    if let Some(d) = delimiter {
        keys.push(("s3:delimiter", d.to_owned()));
    }
    if let Some(m) = max_keys {
        keys.push(("s3:max-keys", m.to_string()));
    }
    keys
}

impl S3Authorization {
    /// One bucket-level action on a bucket.
    async fn on_bucket<T>(
        &self,
        req: &mut S3Request<T>,
        bucket: &str,
        action: &str,
    ) -> S3Result<()> {
        let checks = [check(action, bucket_arn(bucket))];
        self.0
            .authorize_request(req, Some(bucket), &checks, &Keys::new())
            .await
            .map(drop)
    }

    /// Put/DeleteObjectTagging of an object (bucket, key, version id) with the request's
    /// tag `keys`: the plain or `...Version` action, or `s3:ReplicateTags` when another
    /// region's replication brings a version's tags to its replica (the request is marked),
    /// as S3 checks a replication role's tag changes.
    async fn object_tag_write<T>(
        &self,
        req: &mut S3Request<T>,
        (bucket, key, version_id): (String, String, Option<String>),
        (plain, with_version): (&str, &str),
        mut keys: Keys,
    ) -> S3Result<()> {
        keys.existing_object(&key, version_id.as_deref());
        let mut action = versioned(plain, with_version, version_id.as_deref(), &mut keys);
        if req.headers.contains_key(REPLICA_HEADER) {
            action = "s3:ReplicateTags".to_owned();
        }
        let checks = [check(&action, object_arn(&bucket, &key))];
        self.0
            .authorize_request(req, Some(&bucket), &checks, &keys)
            .await
            .map(drop)
    }

    /// Bucket policy management, which belongs to the owner's account whatever a policy says.
    async fn policy_management<T>(
        &self,
        req: &mut S3Request<T>,
        bucket: &str,
        action: &str,
    ) -> S3Result<()> {
        let checks = [check(action, bucket_arn(bucket))];
        let caller = self.0.caller_of(req).await?;
        let target = self
            .0
            .authorize_request(req, Some(bucket), &checks, &Keys::new())
            .await?;
        if target.bucket.is_some() && caller.principal.account != target.owner {
            return Err(s3_error!(
                MethodNotAllowed,
                "The specified method is not allowed against this resource."
            ));
        }
        Ok(())
    }

    /// GetObject, HeadObject and GetObjectAttributes.
    async fn object_read<T>(
        &self,
        req: &mut S3Request<T>,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        attributes: bool,
    ) -> S3Result<()> {
        let mut keys = Keys::new();
        keys.existing_object(key, version_id);
        let obj = object_arn(bucket, key);
        let read = versioned("s3:GetObject", "s3:GetObjectVersion", version_id, &mut keys);
        let mut checks = vec![check(&read, obj.clone())];
        if attributes {
            let action = if version_id.is_some() {
                "s3:GetObjectVersionAttributes"
            } else {
                "s3:GetObjectAttributes"
            };
            checks.push(check(action, obj));
        }
        self.0
            .authorize_request(req, Some(bucket), &checks, &keys)
            .await
            .map(drop)
    }

    /// The read side of a copy: the source may be in another bucket, with its own owner
    /// and policy. Returns the `s3:x-amz-copy-source` key of the write side.
    async fn copy_source<T>(&self, req: &mut S3Request<T>, source: &CopySource) -> S3Result<Keys> {
        let CopySource::Bucket {
            bucket,
            key,
            version_id,
        } = source
        else {
            // Refused by the operation (only bucket sources are supported).
            return Ok(Keys::new());
        };
        let mut keys = Keys::new();
        let read = versioned(
            "s3:GetObject",
            "s3:GetObjectVersion",
            version_id.as_deref(),
            &mut keys,
        );
        let checks = [check(&read, object_arn(bucket, key))];
        let caller = self.0.caller_of(req).await?;
        let target = self.0.target(Some(bucket), &caller).await?;
        let facts = super::Facts {
            headers: &req.headers,
            uri: &req.uri,
        };
        // The source's decision is not the request's: its marks go nowhere.
        self.0
            .authorize(
                &caller,
                facts,
                &target,
                &checks,
                &keys,
                &mut http::Extensions::new(),
            )
            .await?;
        let mut keys = Keys::new();
        keys.push(("s3:x-amz-copy-source", format!("{bucket}/{key}")));
        Ok(keys)
    }
}

/// The S3 access hooks. Operations that differ only in their action are written as one
/// line each; the others are written out after them.
macro_rules! hooks {
    (
        on_bucket { $($b_op:ident($b_input:ident) => $b_action:literal,)* }
        policy_management { $($p_op:ident($p_input:ident) => $p_action:literal,)* }
        object_reads { $($r_op:ident($r_input:ident) => $r_attributes:literal,)* }
        listings { $($l_op:ident($l_input:ident) => $l_action:literal,)* }
        parts { $($u_op:ident($u_input:ident),)* }
        on_object { $($o_op:ident($o_input:ident) => $o_action:literal,)* }
        object_tagging { $($t_op:ident($t_input:ident) => $t_action:literal / $t_versioned:literal,)* }
        $($rest:tt)*
    ) => {
        #[async_trait::async_trait]
        impl S3Access for S3Authorization {
            $(
                async fn $b_op(&self, req: &mut S3Request<$b_input>) -> S3Result<()> {
                    let b = req.input.bucket.clone();
                    self.on_bucket(req, &b, $b_action).await
                }
            )*
            $(
                async fn $p_op(&self, req: &mut S3Request<$p_input>) -> S3Result<()> {
                    let b = req.input.bucket.clone();
                    self.policy_management(req, &b, $p_action).await
                }
            )*
            $(
                async fn $r_op(&self, req: &mut S3Request<$r_input>) -> S3Result<()> {
                    let i = &req.input;
                    let (b, k, v) = (i.bucket.clone(), i.key.clone(), i.version_id.clone());
                    self.object_read(req, &b, &k, v.as_deref(), $r_attributes).await
                }
            )*
            $(
                async fn $l_op(&self, req: &mut S3Request<$l_input>) -> S3Result<()> {
                    let i = &req.input;
                    let b = i.bucket.clone();
                    let keys =
                        listing_keys(i.prefix.as_deref(), i.delimiter.as_deref(), i.max_keys);
                    let checks = [check($l_action, bucket_arn(&b))];
                    self.0
                        .authorize_request(req, Some(&b), &checks, &keys)
                        .await
                        .map(drop)
                }
            )*
            $(
                async fn $u_op(&self, req: &mut S3Request<$u_input>) -> S3Result<()> {
                    let i = &req.input;
                    let (b, k, id) = (i.bucket.clone(), i.key.clone(), i.upload_id.clone());
                    let mut checks = vec![check("s3:PutObject", object_arn(&b, &k))];
                    // Completing an upload with the mark writes a replica.
                    if req.headers.contains_key(REPLICA_HEADER) {
                        checks.push(check("s3:ReplicateObject", object_arn(&b, &k)));
                    }
                    self.0
                        .authorize_part(req, &b, &k, &id, &checks, Keys::new())
                        .await
                }
            )*
            $(
                async fn $o_op(&self, req: &mut S3Request<$o_input>) -> S3Result<()> {
                    let (b, k) = (req.input.bucket.clone(), req.input.key.clone());
                    let checks = [check($o_action, object_arn(&b, &k))];
                    self.0
                        .authorize_request(req, Some(&b), &checks, &Keys::new())
                        .await
                        .map(drop)
                }
            )*
            $(
                async fn $t_op(&self, req: &mut S3Request<$t_input>) -> S3Result<()> {
                    let i = &req.input;
                    let (b, k, v) = (i.bucket.clone(), i.key.clone(), i.version_id.clone());
                    let mut keys = Keys::new();
                    keys.existing_object(&k, v.as_deref());
                    let action = versioned($t_action, $t_versioned, v.as_deref(), &mut keys);
                    let checks = [check(&action, object_arn(&b, &k))];
                    self.0
                        .authorize_request(req, Some(&b), &checks, &keys)
                        .await
                        .map(drop)
                }
            )*
            $($rest)*
        }
    };
}

hooks! {
    on_bucket {
        head_bucket(HeadBucketInput) => "s3:ListBucket",
        delete_bucket(DeleteBucketInput) => "s3:DeleteBucket",
        get_bucket_location(GetBucketLocationInput) => "s3:GetBucketLocation",
        get_bucket_versioning(GetBucketVersioningInput) => "s3:GetBucketVersioning",
        put_bucket_versioning(PutBucketVersioningInput) => "s3:PutBucketVersioning",
        get_bucket_policy_status(GetBucketPolicyStatusInput) => "s3:GetBucketPolicyStatus",
        put_bucket_replication(PutBucketReplicationInput) => "s3:PutReplicationConfiguration",
        delete_bucket_replication(DeleteBucketReplicationInput) => "s3:PutReplicationConfiguration",
        get_bucket_replication(GetBucketReplicationInput) => "s3:GetReplicationConfiguration",
        put_bucket_cors(PutBucketCorsInput) => "s3:PutBucketCORS",
        get_bucket_acl(GetBucketAclInput) => "s3:GetBucketAcl",
        get_bucket_ownership_controls(GetBucketOwnershipControlsInput) => "s3:GetBucketOwnershipControls",
        put_bucket_ownership_controls(PutBucketOwnershipControlsInput) => "s3:PutBucketOwnershipControls",
        delete_bucket_ownership_controls(DeleteBucketOwnershipControlsInput) => "s3:PutBucketOwnershipControls",
        delete_bucket_cors(DeleteBucketCorsInput) => "s3:PutBucketCORS",
        put_public_access_block(PutPublicAccessBlockInput) => "s3:PutBucketPublicAccessBlock",
        get_public_access_block(GetPublicAccessBlockInput) => "s3:GetBucketPublicAccessBlock",
        delete_public_access_block(DeletePublicAccessBlockInput) => "s3:PutBucketPublicAccessBlock",
        get_bucket_cors(GetBucketCorsInput) => "s3:GetBucketCORS",
        put_bucket_lifecycle_configuration(PutBucketLifecycleConfigurationInput) => "s3:PutLifecycleConfiguration",
        get_bucket_lifecycle_configuration(GetBucketLifecycleConfigurationInput) => "s3:GetLifecycleConfiguration",
        delete_bucket_lifecycle(DeleteBucketLifecycleInput) => "s3:PutLifecycleConfiguration",
        get_object_lock_configuration(GetObjectLockConfigurationInput) => "s3:GetBucketObjectLockConfiguration",
        put_object_lock_configuration(PutObjectLockConfigurationInput) => "s3:PutBucketObjectLockConfiguration",
        put_bucket_tagging(PutBucketTaggingInput) => "s3:PutBucketTagging",
        get_bucket_tagging(GetBucketTaggingInput) => "s3:GetBucketTagging",
        delete_bucket_tagging(DeleteBucketTaggingInput) => "s3:PutBucketTagging",
        list_multipart_uploads(ListMultipartUploadsInput) => "s3:ListBucketMultipartUploads",
    }
    policy_management {
        put_bucket_policy(PutBucketPolicyInput) => "s3:PutBucketPolicy",
        get_bucket_policy(GetBucketPolicyInput) => "s3:GetBucketPolicy",
        delete_bucket_policy(DeleteBucketPolicyInput) => "s3:DeleteBucketPolicy",
    }
    object_reads {
        get_object(GetObjectInput) => false,
        head_object(HeadObjectInput) => false,
        get_object_attributes(GetObjectAttributesInput) => true,
    }
    listings {
        list_objects(ListObjectsInput) => "s3:ListBucket",
        list_objects_v2(ListObjectsV2Input) => "s3:ListBucket",
        list_object_versions(ListObjectVersionsInput) => "s3:ListBucketVersions",
    }
    parts {
        upload_part(UploadPartInput),
        complete_multipart_upload(CompleteMultipartUploadInput),
    }
    on_object {
        abort_multipart_upload(AbortMultipartUploadInput) => "s3:AbortMultipartUpload",
        list_parts(ListPartsInput) => "s3:ListMultipartUploadParts",
        get_object_retention(GetObjectRetentionInput) => "s3:GetObjectRetention",
        get_object_legal_hold(GetObjectLegalHoldInput) => "s3:GetObjectLegalHold",
    }
    object_tagging {
        get_object_acl(GetObjectAclInput) => "s3:GetObjectAcl" / "s3:GetObjectVersionAcl",
        get_object_tagging(GetObjectTaggingInput) => "s3:GetObjectTagging" / "s3:GetObjectVersionTagging",
    }

    async fn put_object_acl(&self, req: &mut S3Request<PutObjectAclInput>) -> S3Result<()> {
        let i = &req.input;
        let (b, k, v) = (i.bucket.clone(), i.key.clone(), i.version_id.clone());
        let mut keys = Keys::new();
        keys.existing_object(&k, v.as_deref());
        acl_key(&mut keys, i.acl.as_ref().map(ObjectCannedACL::as_str));
        let action = versioned(
            "s3:PutObjectAcl",
            "s3:PutObjectVersionAcl",
            v.as_deref(),
            &mut keys,
        );
        let checks = [check(&action, object_arn(&b, &k))];
        self.0
            .authorize_request(req, Some(&b), &checks, &keys)
            .await
            .map(drop)
    }

    async fn put_object_tagging(&self, req: &mut S3Request<PutObjectTaggingInput>) -> S3Result<()> {
        let i = &req.input;
        let object = (i.bucket.clone(), i.key.clone(), i.version_id.clone());
        let mut keys = Keys::new();
        request_tag_keys(
            &mut keys,
            i.tagging
                .tag_set
                .iter()
                .filter_map(|t| Some((t.key.as_deref()?, t.value.as_deref()?))),
        );
        let actions = ("s3:PutObjectTagging", "s3:PutObjectVersionTagging");
        self.object_tag_write(req, object, actions, keys).await
    }

    async fn delete_object_tagging(
        &self,
        req: &mut S3Request<DeleteObjectTaggingInput>,
    ) -> S3Result<()> {
        let i = &req.input;
        let object = (i.bucket.clone(), i.key.clone(), i.version_id.clone());
        let actions = ("s3:DeleteObjectTagging", "s3:DeleteObjectVersionTagging");
        self.object_tag_write(req, object, actions, Keys::new())
            .await
    }

    async fn put_object_retention(
        &self,
        req: &mut S3Request<PutObjectRetentionInput>,
    ) -> S3Result<()> {
        let i = &req.input;
        let (b, k, v) = (i.bucket.clone(), i.key.clone(), i.version_id.clone());
        let bypass = i.bypass_governance_retention;
        let mut keys = Keys::new();
        if let Some(v) = &v {
            keys.push(("s3:VersionId", v.clone()));
        }
        if let Some(r) = &i.retention {
            lock_keys(
                &mut keys,
                r.mode.as_ref().map(ObjectLockRetentionMode::as_str),
                r.retain_until_date.as_ref(),
                None,
                self.0.objects.now_ms(),
            );
        }
        let checks = [check("s3:PutObjectRetention", object_arn(&b, &k))];
        let target = self
            .0
            .authorize_request(req, Some(&b), &checks, &keys)
            .await?;
        self.0
            .governance_bypass(req, &target, bypass, &b, &k, v.as_deref())
            .await
    }

    async fn put_object_legal_hold(
        &self,
        req: &mut S3Request<PutObjectLegalHoldInput>,
    ) -> S3Result<()> {
        let i = &req.input;
        let (b, k) = (i.bucket.clone(), i.key.clone());
        let mut keys = Keys::new();
        if let Some(v) = &i.version_id {
            keys.push(("s3:VersionId", v.clone()));
        }
        let status = i.legal_hold.as_ref().and_then(|h| h.status.as_ref());
        lock_keys(&mut keys, None, None, status.map(|s| s.as_str()), 0);
        let checks = [check("s3:PutObjectLegalHold", object_arn(&b, &k))];
        self.0
            .authorize_request(req, Some(&b), &checks, &keys)
            .await
            .map(drop)
    }

    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        self.0.check_op(cx).await
    }

    /// Also the write side of a browser form upload (PostObject), which the protocol crate
    /// hands here first: a form's `tagging` field becomes its tags here, before they are
    /// authorized. A form never writes a replica.
    async fn put_object(&self, req: &mut S3Request<PutObjectInput>) -> S3Result<()> {
        crate::s3::post_form::apply_tagging(req)?;
        let input = write_view!(req.input);
        let replica = req.method == http::Method::PUT && req.headers.contains_key(REPLICA_HEADER);
        let checks = write_checks(&input, req.input.tagging.is_some(), replica);
        let mut keys = Keys::new();
        acl_key(&mut keys, input.acl.as_deref());
        header_tag_keys(&mut keys, req.input.tagging.as_deref());
        input.lock_keys(&mut keys, self.0.objects.now_ms());
        self.0
            .authorize_write(req, &input.bucket, &checks, keys, input.sse())
            .await
    }

    async fn create_multipart_upload(
        &self,
        req: &mut S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<()> {
        let input = write_view!(req.input);
        // The upload's completion is checked for s3:ReplicateObject; its tags here.
        let replica = req.headers.contains_key(REPLICA_HEADER);
        let checks = write_checks(&input, req.input.tagging.is_some(), replica);
        let mut keys = Keys::new();
        acl_key(&mut keys, input.acl.as_deref());
        header_tag_keys(&mut keys, req.input.tagging.as_deref());
        input.lock_keys(&mut keys, self.0.objects.now_ms());
        self.0
            .authorize_write(req, &input.bucket, &checks, keys, input.sse())
            .await
    }

    async fn copy_object(&self, req: &mut S3Request<CopyObjectInput>) -> S3Result<()> {
        let input = write_view!(req.input);
        let (source, directive) = (
            req.input.copy_source.clone(),
            req.input.metadata_directive.clone(),
        );
        let mut keys = self.copy_source(req, &source).await?;
        if let Some(d) = directive {
            keys.push(("s3:x-amz-metadata-directive", d.as_str().to_owned()));
        }
        acl_key(&mut keys, input.acl.as_deref());
        let replaces_tags = req
            .input
            .tagging_directive
            .as_ref()
            .is_some_and(|d| d.as_str() == TaggingDirective::REPLACE);
        if replaces_tags {
            header_tag_keys(&mut keys, req.input.tagging.as_deref());
        }
        input.lock_keys(&mut keys, self.0.objects.now_ms());
        let checks = write_checks(&input, replaces_tags && req.input.tagging.is_some(), false);
        self.0
            .authorize_write(req, &input.bucket, &checks, keys, input.sse())
            .await
    }

    async fn upload_part_copy(&self, req: &mut S3Request<UploadPartCopyInput>) -> S3Result<()> {
        let (b, k, id, source) = (
            req.input.bucket.clone(),
            req.input.key.clone(),
            req.input.upload_id.clone(),
            req.input.copy_source.clone(),
        );
        let keys = self.copy_source(req, &source).await?;
        let checks = [check("s3:PutObject", object_arn(&b, &k))];
        self.0.authorize_part(req, &b, &k, &id, &checks, keys).await
    }

    async fn delete_object(&self, req: &mut S3Request<DeleteObjectInput>) -> S3Result<()> {
        let (b, k, v) = (
            req.input.bucket.clone(),
            req.input.key.clone(),
            req.input.version_id.clone(),
        );
        let mut keys = Keys::new();
        let obj = object_arn(&b, &k);
        let action = versioned(
            "s3:DeleteObject",
            "s3:DeleteObjectVersion",
            v.as_deref(),
            &mut keys,
        );
        let mut checks = vec![check(&action, obj.clone())];
        if req.headers.contains_key(REPLICA_HEADER) {
            checks.push(check("s3:ReplicateDelete", obj));
        }
        let bypass = req.input.bypass_governance_retention;
        let target = self
            .0
            .authorize_request(req, Some(&b), &checks, &keys)
            .await?;
        self.0
            .governance_bypass(req, &target, bypass, &b, &k, v.as_deref())
            .await
    }

    /// Each key is decided on its own: the operation reports AccessDenied for the keys the
    /// caller may not delete and deletes the others, as S3 does.
    async fn delete_objects(&self, req: &mut S3Request<DeleteObjectsInput>) -> S3Result<()> {
        let a = &self.0;
        let caller = a.caller_of(req).await?;
        let bucket = req.input.bucket.clone();
        let target = a.target(Some(&bucket), &caller).await?;
        let base = a.base_context(&caller, &req.headers, &req.uri);
        let mut denied = DeniedDeletes::default();
        let mut bypassing = BypassingDeletes::default();
        let asks_bypass = req.input.bypass_governance_retention == Some(true);
        for obj in &req.input.delete.objects {
            let mut cx = base.clone();
            let action = match &obj.version_id {
                Some(v) => {
                    cx.set("s3:VersionId", v.clone());
                    "s3:DeleteObjectVersion"
                }
                None => "s3:DeleteObject",
            };
            let named = (obj.key.clone(), obj.version_id.clone());
            let c = check(action, object_arn(&bucket, &obj.key));
            if a.decide_one(&caller, &target, &c, &cx).is_err() {
                denied.0.insert(named);
                continue;
            }
            let bypass = check(
                "s3:BypassGovernanceRetention",
                object_arn(&bucket, &obj.key),
            );
            if asks_bypass && a.decide_one(&caller, &target, &bypass, &cx).is_ok() {
                bypassing.0.insert(named);
            }
        }
        req.extensions.insert(super::BucketOwner(target.owner));
        req.extensions.insert(denied);
        req.extensions.insert(bypassing);
        req.extensions.insert(super::Authorized);
        Ok(())
    }

    async fn list_buckets(&self, req: &mut S3Request<ListBucketsInput>) -> S3Result<()> {
        let checks = [check("s3:ListAllMyBuckets", "arn:aws:s3:::*".to_owned())];
        self.0
            .authorize_request(req, None, &checks, &Keys::new())
            .await
            .map(drop)
    }

    async fn put_bucket_acl(&self, req: &mut S3Request<PutBucketAclInput>) -> S3Result<()> {
        let b = req.input.bucket.clone();
        let mut keys = Keys::new();
        acl_key(
            &mut keys,
            req.input.acl.as_ref().map(BucketCannedACL::as_str),
        );
        let checks = [check("s3:PutBucketAcl", bucket_arn(&b))];
        self.0
            .authorize_request(req, Some(&b), &checks, &keys)
            .await
            .map(drop)
    }

    async fn create_bucket(&self, req: &mut S3Request<CreateBucketInput>) -> S3Result<()> {
        let b = req.input.bucket.clone();
        let mut keys = Keys::new();
        acl_key(
            &mut keys,
            req.input.acl.as_ref().map(BucketCannedACL::as_str),
        );
        let checks = [check("s3:CreateBucket", bucket_arn(&b))];
        self.0
            .authorize_request(req, Some(&b), &checks, &keys)
            .await
            .map(drop)
    }
}
