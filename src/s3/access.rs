//! Authorization of S3 requests as AWS decides it: each operation becomes the IAM action(s)
//! and resource ARN(s) AWS checks, with the condition keys AWS fills from the request; the
//! caller's identity policies and the bucket policy decide ([`crate::policy::authorize`] in
//! bucket mode), and a refusal carries AWS's message.
//!
//! Beyond AWS, two opt-in condition keys describe the encryption a write will actually get
//! (see docs/POLICIES.md): `sealgate:EffectiveServerSideEncryption` and
//! `sealgate:EffectiveKmsKeyArn`.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use http::{HeaderMap, Uri};
use s3s::access::{S3Access, S3AccessContext};
use s3s::auth::Credentials;
use s3s::dto::{DeleteObjectsInput, PostObjectInput};
use s3s::path::S3Path;
use s3s::{S3Request, S3Result, s3_error};

use crate::catalog::{Bucket, CatalogError, Sse};
use crate::identity::Identities;
use crate::kms::KmsService;
use crate::kms::service::AWS_S3_ALIAS;
use crate::objects::ObjectService;
use crate::policy::{Context, Decision, Mode, Policy, PolicyKind, Principal, PrincipalKind};
use crate::replication::REPLICA_HEADER;

/// The peer address of the connection, inserted into request extensions by the listener.
#[derive(Debug, Clone, Copy)]
pub struct SourceIp(pub IpAddr);

/// Who is calling, as authorization resolved it. Inserted into the request extensions of
/// every S3 request that passed authorization, for operations that act as the caller (KMS
/// calls made for SSE-KMS, for instance).
#[derive(Debug, Clone)]
pub struct CallerIdentity {
    pub principal: Principal,
    /// The caller's identity policies (none for root, anonymous callers and services).
    pub policies: Vec<Arc<Policy>>,
    pub source_ip: Option<IpAddr>,
    pub secure_transport: bool,
}

/// The account that owns the bucket a request addresses, for the Owner shown in listings.
#[derive(Debug, Clone)]
pub struct BucketOwner(pub String);

/// Keys of a DeleteObjects request the caller may not delete, as (key, version id): the
/// operation reports AccessDenied for each of them and deletes the others, as S3 does.
#[derive(Debug, Clone, Default)]
pub struct DeniedDeletes(pub HashSet<(String, Option<String>)>);

/// The canonical user id shown as Owner for an account: stable, derived from the account id
/// (S3's are 64 hex digits too).
pub fn canonical_id(account: &str) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(format!(
        "sealgate-canonical-user:{account}"
    )))
}

/// The encryption a write will get, in the terms of the `sealgate:Effective*` keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EffectiveEncryption {
    /// `AES256`, `aws:kms`, `aws:kms:dsse` or `SSE-C`.
    pub algorithm: String,
    /// The key ARN for SSE-KMS.
    pub kms_key_arn: Option<String>,
}

/// The effective encryption of a stored version or multipart upload.
pub fn effective_encryption(sse: &Sse) -> EffectiveEncryption {
    let (algorithm, kms_key_arn) = match sse {
        Sse::S3 => ("AES256", None),
        Sse::C => ("SSE-C", None),
        Sse::Kms { key_arn, .. } => ("aws:kms", Some(key_arn.clone())),
    };
    EffectiveEncryption {
        algorithm: algorithm.into(),
        kms_key_arn,
    }
}

/// Parsed bucket policies, keyed by their text, so requests do not re-parse them.
#[derive(Default)]
struct PolicyCache(Mutex<HashMap<String, Arc<Policy>>>);

impl PolicyCache {
    const MAX_ENTRIES: usize = 4096;

    fn get(&self, text: &str) -> Option<Arc<Policy>> {
        let cached = self.0.lock().ok()?.get(text).cloned();
        if cached.is_some() {
            return cached;
        }
        // Stored policies were validated when put; one that no longer parses (a stricter
        // parser) must not silently stop denying, so callers fail closed on None.
        let parsed = Arc::new(Policy::parse(text, PolicyKind::Resource).ok()?);
        if let Ok(mut map) = self.0.lock() {
            if map.len() >= Self::MAX_ENTRIES {
                map.clear();
            }
            map.insert(text.to_owned(), parsed.clone());
        }
        Some(parsed)
    }
}

/// What a request acts on: the bucket (if it exists), its owner and its policy.
struct Target {
    bucket: Option<Bucket>,
    owner: String,
    policy: Option<Arc<Policy>>,
}

/// One check: an action on a resource, with the keys that are specific to it.
struct Check {
    action: String,
    resource: String,
}

fn check(action: &str, resource: String) -> Check {
    Check {
        action: action.to_owned(),
        resource,
    }
}

fn bucket_arn(bucket: &str) -> String {
    format!("arn:aws:s3:::{bucket}")
}

fn object_arn(bucket: &str, key: &str) -> String {
    format!("arn:aws:s3:::{bucket}/{key}")
}

/// Decodes `%XX` escapes and `+` (query strings).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn query_params(uri: &Uri) -> Vec<(String, String)> {
    uri.query()
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn param<'a>(q: &'a [(String, String)], name: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// The SSE headers of a write, as the `s3:x-amz-server-side-encryption*` keys see them.
#[derive(Default)]
struct SseHeaders {
    algorithm: Option<String>,
    kms_key_id: Option<String>,
    customer_algorithm: Option<String>,
}

impl SseHeaders {
    fn of(h: &HeaderMap) -> SseHeaders {
        SseHeaders {
            algorithm: header(h, "x-amz-server-side-encryption").map(str::to_owned),
            kms_key_id: header(h, "x-amz-server-side-encryption-aws-kms-key-id").map(str::to_owned),
            customer_algorithm: header(h, "x-amz-server-side-encryption-customer-algorithm")
                .map(str::to_owned),
        }
    }
}

/// Which encryption-related keys a check gets.
enum Encryption {
    /// Not a write.
    None,
    /// A write whose encryption comes from its headers, else the bucket default.
    Request(SseHeaders),
    /// A part of (or the completion of) a multipart upload: the upload's encryption.
    Upload(String),
}

/// Decides S3 requests; shared by the S3 access hook and custom routes.
pub struct Authorizer {
    identities: Arc<Identities>,
    objects: ObjectService,
    kms: KmsService,
    region: String,
    /// The gateway's own account: owner of buckets created before owners were recorded.
    account: String,
    policies: PolicyCache,
}

impl Authorizer {
    pub fn new(
        identities: Arc<Identities>,
        objects: ObjectService,
        kms: KmsService,
        region: String,
        account: String,
    ) -> Authorizer {
        Authorizer {
            identities,
            objects,
            kms,
            region,
            account,
            policies: PolicyCache::default(),
        }
    }

    /// The caller of a request; unsigned requests are anonymous.
    fn caller(
        &self,
        credentials: Option<&Credentials>,
        ext: &http::Extensions,
    ) -> S3Result<CallerIdentity> {
        let (principal, policies) = match credentials {
            None => (Principal::anonymous(), Vec::new()),
            Some(c) => {
                let id = self.identities.lookup(&c.access_key).ok_or_else(|| {
                    s3_error!(
                        InvalidAccessKeyId,
                        "The AWS Access Key Id you provided does not exist in our records."
                    )
                })?;
                (id.principal.clone(), id.policies.clone())
            }
        };
        Ok(CallerIdentity {
            principal,
            policies,
            source_ip: ext.get::<SourceIp>().map(|s| s.0),
            secure_transport: super::request::transport(ext).tls,
        })
    }

    /// Keys every S3 request has.
    fn base_context(&self, caller: &CallerIdentity, headers: &HeaderMap, uri: &Uri) -> Context {
        let mut cx = Context::new();
        cx.set(
            "aws:SecureTransport",
            if caller.secure_transport {
                "true"
            } else {
                "false"
            },
        );
        if let Some(ip) = caller.source_ip {
            cx.set("aws:SourceIp", ip.to_string());
        }
        let p = &caller.principal;
        if p.kind != PrincipalKind::Anonymous {
            cx.set("aws:PrincipalArn", p.arn.clone());
            cx.set("aws:PrincipalAccount", p.account.clone());
        }
        match &p.kind {
            PrincipalKind::User { name } => {
                cx.set("aws:username", name.clone());
                // sealgate users have no separate unique id: the name is unique per account.
                cx.set("aws:userid", name.clone());
            }
            PrincipalKind::Root => cx.set("aws:userid", p.account.clone()),
            PrincipalKind::Anonymous => cx.set("aws:userid", "anonymous"),
            PrincipalKind::Service(_) => {}
        }
        let now_ms = self.objects.now_ms();
        let now = time::OffsetDateTime::from_unix_timestamp_nanos(now_ms as i128 * 1_000_000)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        if let Ok(text) = now.format(&time::format_description::well_known::Rfc3339) {
            cx.set("aws:CurrentTime", text);
        }
        cx.set("aws:EpochTime", (now_ms / 1000).to_string());
        let query = uri.query().unwrap_or_default();
        let auth = header(headers, "authorization").unwrap_or_default();
        let presigned_v4 = query.contains("X-Amz-Signature=");
        if p.kind != PrincipalKind::Anonymous {
            let v4 = presigned_v4 || auth.starts_with("AWS4-HMAC-SHA256");
            cx.set(
                "s3:signatureversion",
                if v4 { "AWS4-HMAC-SHA256" } else { "AWS" },
            );
            let auth_type = if !auth.is_empty() {
                "REST-HEADER"
            } else if presigned_v4 || query.contains("Signature=") {
                "REST-QUERY-STRING"
            } else {
                "POST"
            };
            cx.set("s3:authType", auth_type);
        }
        if let Some(v) = header(headers, "x-amz-content-sha256") {
            cx.set("s3:x-amz-content-sha256", v);
        }
        cx
    }

    async fn target(&self, bucket: Option<&str>, caller: &CallerIdentity) -> S3Result<Target> {
        let Some(name) = bucket else {
            return Ok(Target {
                bucket: None,
                owner: caller.principal.account.clone(),
                policy: None,
            });
        };
        match self.objects.catalog().bucket(name).await {
            Ok(b) => {
                let policy = match &b.policy {
                    None => None,
                    Some(text) => Some(self.policies.get(text).ok_or_else(|| {
                        tracing::error!(bucket = %name, "stored bucket policy does not parse");
                        s3_error!(InternalError, "The bucket policy could not be evaluated")
                    })?),
                };
                Ok(Target {
                    owner: b
                        .owner_account
                        .clone()
                        .unwrap_or_else(|| self.account.clone()),
                    bucket: Some(b),
                    policy,
                })
            }
            // A bucket that does not exist: callers allowed by their own policies learn
            // NoSuchBucket from the operation; others get AccessDenied, as on S3.
            Err(CatalogError::NoSuchBucket) => Ok(Target {
                bucket: None,
                owner: caller.principal.account.clone(),
                policy: None,
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// Resolves a KMS key reference to its key ARN without creating `alias/aws/s3`: when
    /// that key does not exist yet the alias ARN stands in for it.
    async fn kms_key_arn(&self, key_ref: &str) -> Option<String> {
        let aws_s3_alias_arn = self.kms.alias_arn(AWS_S3_ALIAS);
        if key_ref == AWS_S3_ALIAS || key_ref == aws_s3_alias_arn {
            return Some(
                self.kms
                    .alias_key(AWS_S3_ALIAS)
                    .map(|e| e.record.arn())
                    .unwrap_or(aws_s3_alias_arn),
            );
        }
        self.kms
            .resolve(key_ref, true)
            .await
            .ok()
            .map(|e| e.record.arn())
    }

    /// Fills the SSE keys of a write: AWS's header keys, and sealgate's effective keys.
    async fn encryption_context(&self, cx: &mut Context, enc: &Encryption, target: &Target) {
        let effective = match enc {
            Encryption::None => return,
            Encryption::Upload(upload_id) => match self.objects.catalog().upload(upload_id).await {
                Ok(u) => Some(effective_encryption(&u.sse)),
                Err(_) => None,
            },
            Encryption::Request(h) => {
                if let Some(v) = &h.algorithm {
                    cx.set("s3:x-amz-server-side-encryption", v.clone());
                }
                if let Some(v) = &h.customer_algorithm {
                    cx.set(
                        "s3:x-amz-server-side-encryption-customer-algorithm",
                        v.clone(),
                    );
                }
                let header_key = match &h.kms_key_id {
                    Some(v) => {
                        let arn = self.kms_key_arn(v).await.unwrap_or_else(|| v.clone());
                        cx.set(
                            "s3:x-amz-server-side-encryption-aws-kms-key-id",
                            arn.clone(),
                        );
                        Some(arn)
                    }
                    None => None,
                };
                let default = target
                    .bucket
                    .as_ref()
                    .map(Bucket::default_encryption)
                    .unwrap_or_default();
                let algorithm = if h.customer_algorithm.is_some() {
                    "SSE-C".to_owned()
                } else {
                    h.algorithm
                        .clone()
                        .unwrap_or_else(|| default.sse_algorithm.clone())
                };
                let kms_key_arn = if algorithm.starts_with("aws:kms") {
                    match header_key {
                        Some(k) => Some(k),
                        None => {
                            let key_ref = if h.algorithm.is_none() {
                                default.kms_master_key_id.clone()
                            } else {
                                None
                            };
                            let key_ref = key_ref.unwrap_or_else(|| AWS_S3_ALIAS.to_owned());
                            Some(self.kms_key_arn(&key_ref).await.unwrap_or(key_ref))
                        }
                    }
                } else {
                    None
                };
                Some(EffectiveEncryption {
                    algorithm,
                    kms_key_arn,
                })
            }
        };
        if let Some(e) = effective {
            cx.set("sealgate:EffectiveServerSideEncryption", e.algorithm);
            if let Some(k) = e.kms_key_arn {
                cx.set("sealgate:EffectiveKmsKeyArn", k);
            }
        }
    }

    /// Runs `checks` for `caller`; every one must be allowed.
    fn decide(
        &self,
        caller: &CallerIdentity,
        target: &Target,
        checks: &[Check],
        cx: &Context,
    ) -> S3Result<()> {
        for c in checks {
            self.decide_one(caller, target, c, cx)?;
        }
        Ok(())
    }

    fn decide_one(
        &self,
        caller: &CallerIdentity,
        target: &Target,
        c: &Check,
        cx: &Context,
    ) -> S3Result<()> {
        let req = crate::policy::Request {
            principal: &caller.principal,
            action: &c.action,
            resource: &c.resource,
            context: cx,
        };
        let identity: Vec<&Policy> = caller.policies.iter().map(Arc::as_ref).collect();
        let resource = target.policy.as_deref();
        let decision =
            crate::policy::authorize(&req, &identity, resource, &target.owner, Mode::Bucket);
        let p = &caller.principal;
        // The bucket owner's root user can always manage the bucket policy, so a policy
        // that denies everyone can still be repaired.
        let root_override = p.kind == PrincipalKind::Root
            && p.account == target.owner
            && matches!(
                c.action.as_str(),
                "s3:GetBucketPolicy" | "s3:PutBucketPolicy" | "s3:DeleteBucketPolicy"
            );
        if decision == Decision::Allow || root_override {
            return Ok(());
        }
        if p.kind == PrincipalKind::Anonymous {
            return Err(s3_error!(AccessDenied, "Access Denied"));
        }
        let reason = match decision {
            Decision::ExplicitDeny => {
                let in_resource = resource.is_some_and(|r| {
                    crate::policy::authorize(&req, &[], Some(r), &target.owner, Mode::Bucket)
                        == Decision::ExplicitDeny
                });
                if in_resource {
                    "with an explicit deny in a resource-based policy".to_owned()
                } else {
                    "with an explicit deny in an identity-based policy".to_owned()
                }
            }
            _ => {
                let identity_allows = p.kind == PrincipalKind::Root
                    || crate::policy::authorize(&req, &identity, None, &p.account, Mode::Bucket)
                        == Decision::Allow;
                if p.account != target.owner && identity_allows {
                    format!(
                        "because no resource-based policy allows the {} action",
                        c.action
                    )
                } else {
                    format!(
                        "because no identity-based policy allows the {} action",
                        c.action
                    )
                }
            }
        };
        Err(s3_error!(
            AccessDenied,
            "User: {} is not authorized to perform: {} on resource: \"{}\" {reason}",
            p.arn,
            c.action,
            c.resource
        ))
    }

    /// Authorizes `checks` on `bucket` for the request's caller; the caller goes into the
    /// extensions.
    #[allow(clippy::too_many_arguments)]
    async fn authorize(
        &self,
        caller: &CallerIdentity,
        bucket: Option<&str>,
        headers: &HeaderMap,
        uri: &Uri,
        checks: &[Check],
        extra: &[(&str, String)],
        enc: Encryption,
        ext: &mut http::Extensions,
    ) -> S3Result<Target> {
        let target = self.target(bucket, caller).await?;
        let mut cx = self.base_context(caller, headers, uri);
        for (k, v) in extra {
            cx.set(k, v.clone());
        }
        self.encryption_context(&mut cx, &enc, &target).await;
        self.decide(caller, &target, checks, &cx)?;
        ext.insert(BucketOwner(target.owner.clone()));
        Ok(target)
    }

    /// The check of a custom route acting on `bucket` with `action` (bucket encryption).
    pub async fn check_route(
        &self,
        req: &mut S3Request<s3s::Body>,
        bucket: &str,
        action: &str,
    ) -> S3Result<()> {
        super::auth::check_region(&self.region, &req.headers, req.uri.query())?;
        let caller = self.caller(req.credentials.as_ref(), &req.extensions)?;
        let checks = [check(action, bucket_arn(bucket))];
        self.authorize(
            &caller,
            Some(bucket),
            &req.headers,
            &req.uri,
            &checks,
            &[],
            Encryption::None,
            &mut req.extensions,
        )
        .await?;
        req.extensions.insert(caller);
        Ok(())
    }

    async fn check_op(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        super::auth::check_region(&self.region, cx.headers(), cx.uri().query())?;
        let credentials = cx.credentials().cloned();
        let caller = self.caller(credentials.as_ref(), cx.extensions_mut())?;
        let (bucket, key) = match cx.s3_path() {
            S3Path::Root => (None, None),
            S3Path::Bucket { bucket } => (Some(bucket.to_string()), None),
            S3Path::Object { bucket, key } => (Some(bucket.to_string()), Some(key.to_string())),
        };
        let q = query_params(cx.uri());
        let headers = cx.headers().clone();
        let version = param(&q, "versionId").map(str::to_owned);
        let b = bucket.clone().unwrap_or_default();
        let obj = object_arn(&b, key.as_deref().unwrap_or_default());
        let mut extra: Vec<(&str, String)> = Vec::new();
        if let Some(v) = &version {
            extra.push(("s3:VersionId", v.clone()));
        }
        let versioned = |plain: &str, with_version: &str| {
            if version.is_some() {
                with_version.to_owned()
            } else {
                plain.to_owned()
            }
        };
        let mut enc = Encryption::None;
        let op = cx.s3_op().name().to_owned();
        let op = op.as_str();
        let checks: Vec<Check> = match op {
            // Authorized with their parsed input (the keys of the body, the form's key).
            "DeleteObjects" | "PostObject" => {
                cx.extensions_mut().insert(caller);
                return Ok(());
            }
            "GetObject" | "HeadObject" => {
                vec![check(
                    &versioned("s3:GetObject", "s3:GetObjectVersion"),
                    obj,
                )]
            }
            "GetObjectAttributes" => vec![
                check(
                    &versioned("s3:GetObject", "s3:GetObjectVersion"),
                    obj.clone(),
                ),
                check(
                    &versioned("s3:GetObjectAttributes", "s3:GetObjectVersionAttributes"),
                    obj,
                ),
            ],
            "PutObject" | "CreateMultipartUpload" => {
                enc = Encryption::Request(SseHeaders::of(&headers));
                let mut checks = vec![check("s3:PutObject", obj.clone())];
                // A replica is trusted as one only from callers allowed to replicate.
                if op == "PutObject" && headers.contains_key(REPLICA_HEADER) {
                    checks.push(check("s3:ReplicateObject", obj));
                }
                checks
            }
            "UploadPart" | "CompleteMultipartUpload" => {
                if let Some(id) = param(&q, "uploadId") {
                    enc = Encryption::Upload(id.to_owned());
                }
                vec![check("s3:PutObject", obj)]
            }
            "CopyObject" | "UploadPartCopy" => {
                let source = header(&headers, "x-amz-copy-source").unwrap_or_default();
                let source = percent_decode(source.split('?').next().unwrap_or_default());
                let source_version = source_version(header(&headers, "x-amz-copy-source"));
                let source = source.trim_start_matches('/');
                let (sb, sk) = source.split_once('/').unwrap_or((source, ""));
                extra.push(("s3:x-amz-copy-source", source.to_owned()));
                if let Some(d) = header(&headers, "x-amz-metadata-directive") {
                    extra.push(("s3:x-amz-metadata-directive", d.to_owned()));
                }
                if op == "CopyObject" {
                    enc = Encryption::Request(SseHeaders::of(&headers));
                } else if let Some(id) = param(&q, "uploadId") {
                    enc = Encryption::Upload(id.to_owned());
                }
                let read = if source_version.is_some() {
                    "s3:GetObjectVersion"
                } else {
                    "s3:GetObject"
                };
                // The source may be in another bucket, with its own owner and policy.
                let caller_ref = &caller;
                let src_checks = [check(read, object_arn(sb, sk))];
                let mut src_extra = Vec::new();
                if let Some(v) = source_version {
                    src_extra.push(("s3:VersionId", v));
                }
                self.authorize(
                    caller_ref,
                    Some(sb),
                    &headers,
                    cx.uri(),
                    &src_checks,
                    &src_extra,
                    Encryption::None,
                    &mut http::Extensions::new(),
                )
                .await?;
                vec![check("s3:PutObject", obj)]
            }
            "DeleteObject" => {
                let mut checks = vec![check(
                    &versioned("s3:DeleteObject", "s3:DeleteObjectVersion"),
                    obj.clone(),
                )];
                if headers.contains_key(REPLICA_HEADER) {
                    checks.push(check("s3:ReplicateDelete", obj));
                }
                checks
            }
            "ListObjects" | "ListObjectsV2" | "ListObjectVersions" => {
                for (param_name, key) in [
                    ("prefix", "s3:prefix"),
                    ("delimiter", "s3:delimiter"),
                    ("max-keys", "s3:max-keys"),
                ] {
                    if let Some(v) = param(&q, param_name) {
                        extra.push((key, v.to_owned()));
                    }
                }
                let action = if op == "ListObjectVersions" {
                    "s3:ListBucketVersions"
                } else {
                    "s3:ListBucket"
                };
                vec![check(action, bucket_arn(&b))]
            }
            "ListMultipartUploads" => vec![check("s3:ListBucketMultipartUploads", bucket_arn(&b))],
            "ListParts" => vec![check("s3:ListMultipartUploadParts", obj)],
            "AbortMultipartUpload" => vec![check("s3:AbortMultipartUpload", obj)],
            "ListBuckets" => vec![check("s3:ListAllMyBuckets", "arn:aws:s3:::*".to_owned())],
            "HeadBucket" => vec![check("s3:ListBucket", bucket_arn(&b))],
            "CreateBucket" => {
                if let Some(v) = header(&headers, "x-amz-acl") {
                    extra.push(("s3:x-amz-acl", v.to_owned()));
                }
                vec![check("s3:CreateBucket", bucket_arn(&b))]
            }
            "GetBucketVersioning" | "PutBucketVersioning" | "GetBucketPolicyStatus" => {
                vec![check(&format!("s3:{op}"), bucket_arn(&b))]
            }
            "PutBucketReplication" | "DeleteBucketReplication" => {
                vec![check("s3:PutReplicationConfiguration", bucket_arn(&b))]
            }
            "GetBucketReplication" => {
                vec![check("s3:GetReplicationConfiguration", bucket_arn(&b))]
            }
            "DeleteBucket" | "GetBucketLocation" | "PutBucketPolicy" | "GetBucketPolicy"
            | "DeleteBucketPolicy" => vec![check(&format!("s3:{op}"), bucket_arn(&b))],
            // Operations sealgate does not implement answer NotImplemented to whoever may
            // call them; others learn nothing about them.
            other => vec![check(
                &format!("s3:{other}"),
                if key.is_some() { obj } else { bucket_arn(&b) },
            )],
        };
        if let Some(v) = header(&headers, "x-amz-acl")
            && op != "CreateBucket"
        {
            extra.push(("s3:x-amz-acl", v.to_owned()));
        }
        let uri = cx.uri().clone();
        let target = self
            .authorize(
                &caller,
                bucket.as_deref(),
                &headers,
                &uri,
                &checks,
                &extra,
                enc,
                cx.extensions_mut(),
            )
            .await?;
        // Bucket policy management belongs to the owner's account, whatever a policy says.
        if matches!(
            op,
            "PutBucketPolicy" | "GetBucketPolicy" | "DeleteBucketPolicy"
        ) && target.bucket.is_some()
            && caller.principal.account != target.owner
        {
            return Err(s3_error!(
                MethodNotAllowed,
                "The specified method is not allowed against this resource."
            ));
        }
        cx.extensions_mut().insert(caller);
        Ok(())
    }

    fn caller_of<T>(&self, req: &S3Request<T>) -> S3Result<CallerIdentity> {
        match req.extensions.get::<CallerIdentity>() {
            Some(c) => Ok(c.clone()),
            None => self.caller(req.credentials.as_ref(), &req.extensions),
        }
    }
}

/// The `versionId` of an `x-amz-copy-source` header, if any.
fn source_version(h: Option<&str>) -> Option<String> {
    let (_, q) = h?.split_once('?')?;
    q.split('&')
        .find_map(|p| p.strip_prefix("versionId="))
        .map(percent_decode)
}

/// The S3 access hook: every operation is authorized before it runs.
pub struct S3Authorization(pub Arc<Authorizer>);

#[async_trait::async_trait]
impl S3Access for S3Authorization {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        self.0.check_op(cx).await
    }

    async fn delete_objects(&self, req: &mut S3Request<DeleteObjectsInput>) -> S3Result<()> {
        let a = &self.0;
        let caller = a.caller_of(req)?;
        let bucket = req.input.bucket.clone();
        let target = a.target(Some(&bucket), &caller).await?;
        let base = a.base_context(&caller, &req.headers, &req.uri);
        let mut denied = DeniedDeletes::default();
        for obj in &req.input.delete.objects {
            let mut cx = base.clone();
            let action = match &obj.version_id {
                Some(v) => {
                    cx.set("s3:VersionId", v.clone());
                    "s3:DeleteObjectVersion"
                }
                None => "s3:DeleteObject",
            };
            let c = check(action, object_arn(&bucket, &obj.key));
            if a.decide_one(&caller, &target, &c, &cx).is_err() {
                denied.0.insert((obj.key.clone(), obj.version_id.clone()));
            }
        }
        req.extensions.insert(BucketOwner(target.owner));
        req.extensions.insert(denied);
        Ok(())
    }

    async fn post_object(&self, req: &mut S3Request<PostObjectInput>) -> S3Result<()> {
        let a = &self.0;
        let caller = a.caller_of(req)?;
        let input = &req.input;
        let headers = SseHeaders {
            algorithm: input
                .server_side_encryption
                .as_ref()
                .map(|v| v.as_str().to_owned()),
            kms_key_id: input.ssekms_key_id.clone(),
            customer_algorithm: input.sse_customer_algorithm.clone(),
        };
        let mut extra = Vec::new();
        if let Some(acl) = &input.acl {
            extra.push(("s3:x-amz-acl", acl.as_str().to_owned()));
        }
        let checks = [check("s3:PutObject", object_arn(&input.bucket, &input.key))];
        let bucket = input.bucket.clone();
        a.authorize(
            &caller,
            Some(&bucket),
            &req.headers,
            &req.uri,
            &checks,
            &extra,
            Encryption::Request(headers),
            &mut req.extensions,
        )
        .await?;
        req.extensions.insert(caller);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_decoded() {
        let uri: Uri = "/b?list-type=2&prefix=a%2Fb+c&delimiter=%2F"
            .parse()
            .unwrap();
        let q = query_params(&uri);
        assert_eq!(param(&q, "prefix"), Some("a/b c"));
        assert_eq!(param(&q, "delimiter"), Some("/"));
        assert_eq!(param(&q, "list-type"), Some("2"));
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }

    #[test]
    fn copy_source_version_is_found() {
        assert_eq!(
            source_version(Some("/b/k?versionId=abc")).as_deref(),
            Some("abc")
        );
        assert_eq!(source_version(Some("/b/k")), None);
    }

    #[test]
    fn canonical_ids_are_stable_and_per_account() {
        assert_eq!(canonical_id("111122223333"), canonical_id("111122223333"));
        assert_ne!(canonical_id("111122223333"), canonical_id("444455556666"));
        assert_eq!(canonical_id("111122223333").len(), 64);
    }
}
