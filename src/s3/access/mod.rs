//! Authorization of S3 requests as AWS decides it: each operation becomes the IAM action(s)
//! and resource ARN(s) AWS checks, with the condition keys AWS fills from the request; the
//! caller's identity policies, the bucket policy and, in buckets whose ACLs are enabled, the
//! bucket's and the object's ACL decide ([`crate::policy::authorize_with_grants`] in bucket
//! mode), and a refusal carries AWS's message.
//!
//! Every operation sealgate implements is decided by its typed hook ([`hooks`]), from the
//! parsed input; the ones it does not implement are decided by name in [`Authorizer::check_op`].
//! A handler runs only for a request that an authorization marked [`Authorized`]: an
//! operation whose hook was forgotten is refused, not let through.
//!
//! Beyond AWS, two opt-in condition keys carry the encryption a write will actually get
//! (see docs/POLICIES.md): `sealgate:EffectiveServerSideEncryption` and
//! `sealgate:EffectiveKmsKeyArn`. The object service decides that encryption once; the same
//! decision is handed to the write through [`DecidedWrite`].

mod acls;
mod hooks;

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use http::{HeaderMap, Uri};
use s3s::access::S3AccessContext;
use s3s::auth::Credentials;
use s3s::path::S3Path;
use s3s::{S3Request, S3Result, s3_error};

use super::sse::SsePolicy;
use crate::bucket_settings::acl::Acl;
use crate::catalog::{Bucket, CatalogError, ObjectMeta};
use crate::identity::Identities;
use crate::objects::{EffectiveEncryption, ObjectService, WriteEncryption};
use crate::observe::RequestContext;
use crate::policy::{Context, Decision, Mode, Policy, PolicyKind, Principal, PrincipalKind};

pub use acls::BucketAcls;
pub use hooks::S3Authorization;

/// The operations authorized by typed hooks.
#[cfg(test)]
pub(super) fn typed_operations() -> &'static [&'static str] {
    hooks::TYPED_OPERATIONS
}

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

/// The versioning state of the bucket a request addresses, as authorization found it.
#[derive(Debug, Clone, Copy)]
pub struct BucketVersioning(pub crate::catalog::Versioning);

/// Keys of a DeleteObjects request the caller may not delete, as (key, version id): the
/// operation reports AccessDenied for each of them and deletes the others, as S3 does.
#[derive(Debug, Clone, Default)]
pub struct DeniedDeletes(pub HashSet<(String, Option<String>)>);

/// Set by authorization when `x-amz-bypass-governance-retention: true` came from a caller
/// allowed `s3:BypassGovernanceRetention`.
#[derive(Debug, Clone, Copy)]
pub struct GovernanceBypass;

/// Keys of a DeleteObjects request whose GOVERNANCE retention the caller may bypass and
/// asked to, as (key, version id).
#[derive(Debug, Clone, Default)]
pub struct BypassingDeletes(pub HashSet<(String, Option<String>)>);

/// The canonical user id shown as Owner for an account: stable, derived from the account id
/// (S3's are 64 hex digits too).
pub fn canonical_id(account: &str) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(format!(
        "sealgate-canonical-user:{account}"
    )))
}

/// Set by an authorization that allowed the request; a handler refuses to run without it.
#[derive(Debug, Clone, Copy)]
pub struct Authorized;

/// The encryption the object service decided for a write while it was authorized (or why
/// the write cannot have one), handed to the write: taken once, by the handler, at the
/// point where the write's encryption comes into play.
#[derive(Clone)]
pub struct DecidedWrite(Arc<Mutex<Option<S3Result<WriteEncryption>>>>);

impl DecidedWrite {
    fn new(decision: S3Result<WriteEncryption>) -> DecidedWrite {
        DecidedWrite(Arc::new(Mutex::new(Some(decision))))
    }

    /// The decision for this request; without one the write is refused (fail closed).
    pub fn take(ext: &http::Extensions) -> S3Result<WriteEncryption> {
        ext.get::<DecidedWrite>()
            .and_then(|d| d.0.lock().ok()?.take())
            .unwrap_or_else(|| {
                tracing::error!("a write reached its handler without an encryption decision");
                Err(s3_error!(InternalError, "The request was not authorized"))
            })
    }
}

/// Parsed bucket policies, keyed by their text, so requests do not re-parse them.
#[derive(Default)]
/// With each, whether it is public ([`crate::s3::bucket_policy::is_public`]).
struct PolicyCache(Mutex<HashMap<String, (Arc<Policy>, bool)>>);

impl PolicyCache {
    const MAX_ENTRIES: usize = 4096;

    fn get(&self, text: &str) -> Option<(Arc<Policy>, bool)> {
        let cached = self.0.lock().ok()?.get(text).cloned();
        if cached.is_some() {
            return cached;
        }
        // Stored policies were validated when put; one that no longer parses (a stricter
        // parser) must not silently stop denying, so callers fail closed on None.
        let parsed = Arc::new(Policy::parse(text, PolicyKind::Resource).ok()?);
        let entry = (parsed, crate::s3::bucket_policy::is_public(text));
        if let Ok(mut map) = self.0.lock() {
            if map.len() >= Self::MAX_ENTRIES {
                map.clear();
            }
            map.insert(text.to_owned(), entry.clone());
        }
        Some(entry)
    }
}

/// What a request acts on: the bucket (if it exists), its owner, its policy and ACLs.
struct Target {
    bucket: Option<Bucket>,
    owner: String,
    policy: Option<Arc<Policy>>,
    /// The policy is public but Block Public Access keeps it to the owner's account.
    policy_kept_inside: bool,
    /// Object Ownership, the bucket ACL and what Block Public Access does to ACLs.
    acls: BucketAcls,
}

impl Target {
    /// Whether the bucket policy may not grant `principal` what it allows: a caller from
    /// outside the owner's account (anonymous included) when the policy is kept inside.
    /// Such a caller has no grant but the bucket policy's.
    fn grant_withheld_from(&self, principal: &Principal) -> bool {
        self.policy_kept_inside && principal.account != self.owner
    }
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
    crate::arn::s3_bucket(bucket)
}

fn object_arn(bucket: &str, key: &str) -> String {
    crate::arn::s3_object(bucket, key)
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// Decides S3 requests; shared by the S3 access hook and custom routes.
pub struct Authorizer {
    identities: Arc<Identities>,
    objects: ObjectService,
    region: String,
    /// The gateway's own account: owner of buckets created before owners were recorded.
    account: String,
    /// How SSE headers are checked (SSE-C only over TLS unless allowed).
    sse: SsePolicy,
    policies: PolicyCache,
}

impl Authorizer {
    pub fn new(
        identities: Arc<Identities>,
        objects: ObjectService,
        region: String,
        account: String,
        sse: SsePolicy,
    ) -> Authorizer {
        Authorizer {
            identities,
            objects,
            region,
            account,
            sse,
            policies: PolicyCache::default(),
        }
    }

    /// The caller of a request; unsigned requests are anonymous.
    async fn caller(
        &self,
        credentials: Option<&Credentials>,
        ext: &http::Extensions,
    ) -> S3Result<CallerIdentity> {
        let (principal, policies) = match credentials {
            None => (Principal::anonymous(), Vec::new()),
            Some(c) => {
                let id = self
                    .identities
                    .lookup(&c.access_key)
                    .await?
                    .ok_or_else(|| {
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
        let nowhere = || Target {
            bucket: None,
            owner: caller.principal.account.clone(),
            policy: None,
            policy_kept_inside: false,
            acls: BucketAcls::disabled(&caller.principal.account),
        };
        let Some(name) = bucket else {
            return Ok(nowhere());
        };
        match self.objects.bucket(name).await {
            Ok(b) => {
                let (policy, public) = match &b.policy {
                    None => (None, false),
                    Some(text) => {
                        let (parsed, public) = self.policies.get(text).ok_or_else(|| {
                            tracing::error!(bucket = %name, "stored bucket policy does not parse");
                            s3_error!(InternalError, "The bucket policy could not be evaluated")
                        })?;
                        (Some(parsed), public)
                    }
                };
                let reaches_outside = crate::s3::bucket_policy::reaches_outside(public, &b)?;
                let owner = b
                    .owner_account
                    .clone()
                    .unwrap_or_else(|| self.account.clone());
                Ok(Target {
                    acls: BucketAcls::of(&b, &owner)?,
                    owner,
                    bucket: Some(b),
                    policy,
                    policy_kept_inside: public && !reaches_outside,
                })
            }
            // A bucket that does not exist: callers allowed by their own policies learn
            // NoSuchBucket from the operation; others get AccessDenied, as on S3.
            Err(crate::objects::ObjectError::Catalog(CatalogError::NoSuchBucket)) => Ok(nowhere()),
            Err(e) => Err(e.into()),
        }
    }

    /// Runs `checks` for `caller`; every one must be allowed. `object_acl` is the ACL of
    /// the version the request acts on, when its bucket's ACLs are enabled.
    fn decide(
        &self,
        caller: &CallerIdentity,
        target: &Target,
        checks: &[Check],
        cx: &Context,
        object_acl: Option<&Acl>,
    ) -> S3Result<()> {
        for c in checks {
            self.decide_with(caller, target, c, cx, object_acl)?;
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
        self.decide_with(caller, target, c, cx, None)
    }

    fn decide_with(
        &self,
        caller: &CallerIdentity,
        target: &Target,
        c: &Check,
        cx: &Context,
        object_acl: Option<&Acl>,
    ) -> S3Result<()> {
        let req = crate::policy::Request {
            principal: &caller.principal,
            action: &c.action,
            resource: &c.resource,
            context: cx,
        };
        let identity: Vec<&Policy> = caller.policies.iter().map(Arc::as_ref).collect();
        let resource = target.policy.as_deref();
        let p = &caller.principal;
        let grants = target.acls.grants(p, &c.action, object_acl);
        let decide = |resource, account: &str| {
            crate::policy::authorize_with_grants(
                &req,
                &identity,
                resource,
                grants,
                account,
                Mode::Bucket,
            )
        };
        let mut decision = match acls::foreign_owner(&target.owner, &c.action, object_acl) {
            // An object another account owns: its ACL grants, and the bucket policy, which
            // cannot give away what its owner does not own, can only deny (as on S3).
            Some(object_owner) => match decide(resource, &target.owner) {
                Decision::ExplicitDeny => Decision::ExplicitDeny,
                _ => decide(None, object_owner),
            },
            None => decide(resource, &target.owner),
        };
        if decision == Decision::Allow && target.grant_withheld_from(p) {
            // Block Public Access keeps the policy's grants inside; the ACL's still count.
            decision = match decide(None, &target.owner) {
                Decision::Allow => Decision::Allow,
                _ => Decision::ImplicitDeny,
            };
        }
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

    /// The stored version a request acts on, looked up only when its decision needs it: a
    /// policy in play names an `s3:ExistingObjectTag/<key>` key, or the bucket's ACLs are
    /// enabled and an object ACL may grant a check. The lookup costs a catalog read that
    /// other requests do not pay. A version that is not there has no tags and the owner's
    /// ACL (the operation answers NoSuchKey when allowed).
    async fn acted_on(
        &self,
        caller: &CallerIdentity,
        target: &Target,
        checks: &[Check],
        keys: &Keys,
    ) -> S3Result<Option<ObjectMeta>> {
        let (Some((key, version_id)), Some(bucket)) = (&keys.existing_object, &target.bucket)
        else {
            return Ok(None);
        };
        let names_key = |p: &Policy| p.tests_key_starting_with("s3:existingobjecttag/");
        let tags_named = caller.policies.iter().any(|p| names_key(p))
            || target.policy.as_deref().is_some_and(names_key);
        let acl_counts = checks
            .iter()
            .any(|c| target.acls.object_acl_counts(&c.action));
        if !tags_named && !acl_counts {
            return Ok(None);
        }
        match self
            .objects
            .lookup(&bucket.name, key, version_id.as_deref())
            .await
        {
            Ok(v) => Ok(Some(v.meta)),
            Err(crate::objects::ObjectError::Catalog(
                CatalogError::NoSuchKey | CatalogError::NoSuchVersion,
            )) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Authorizes `checks` on `target` for `caller`; the decision's marks go into `ext`.
    async fn authorize(
        &self,
        caller: &CallerIdentity,
        request: Facts<'_>,
        target: &Target,
        checks: &[Check],
        keys: &Keys,
        ext: &mut http::Extensions,
    ) -> S3Result<()> {
        let mut cx = self.base_context(caller, request.headers, request.uri);
        keys.set_in(&mut cx);
        let acted_on = self.acted_on(caller, target, checks, keys).await?;
        for (k, value) in acted_on.iter().flat_map(|m| &m.tags) {
            cx.set(&format!("s3:ExistingObjectTag/{k}"), value.clone());
        }
        let object_acl = target.acls.object_acl(acted_on.as_ref());
        self.decide(caller, target, checks, &cx, object_acl.as_ref())?;
        ext.insert(BucketOwner(target.owner.clone()));
        if let Some(b) = &target.bucket {
            ext.insert(target.acls.clone());
            ext.insert(BucketVersioning(b.versioning));
            ext.insert(super::lifecycle::BucketLifecycle::of(b));
        }
        ext.insert(Authorized);
        Ok(())
    }

    /// The check of a custom route acting on `bucket` with `action` (bucket encryption).
    pub async fn check_route(
        &self,
        req: &mut S3Request<s3s::Body>,
        bucket: &str,
        action: &str,
    ) -> S3Result<()> {
        super::auth::check_region(&self.region, &req.headers, req.uri.query())?;
        let caller = self
            .caller(req.credentials.as_ref(), &req.extensions)
            .await?;
        req.extensions.insert(caller);
        let checks = [check(action, bucket_arn(bucket))];
        self.authorize_request(req, Some(bucket), &checks, &Keys::new())
            .await
            .map(drop)
    }

    /// Decides `action` on a bucket (or, with None, on `arn:aws:s3:::*`) for a caller
    /// signed in elsewhere (the console) as for a request to S3 without condition headers;
    /// answers the bucket when it exists.
    pub async fn decide_for(
        &self,
        caller: &CallerIdentity,
        bucket: Option<&str>,
        action: &str,
    ) -> S3Result<Option<Bucket>> {
        let target = self.target(bucket, caller).await?;
        let resource = bucket.map_or_else(|| "arn:aws:s3:::*".to_owned(), bucket_arn);
        let cx = self.base_context(caller, &HeaderMap::new(), &Uri::from_static("/"));
        self.decide(caller, &target, &[check(action, resource)], &cx, None)?;
        Ok(target.bucket)
    }

    /// Runs before the input is parsed, for every operation: the region the request was
    /// signed for and who the caller is. Operations sealgate implements are then decided by
    /// their typed hook; the others are decided here by name, so callers without the
    /// permission learn nothing about them.
    async fn check_op(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let request = RequestContext::of(cx.extensions_mut());
        request.note(|n| {
            n.operation = Some(cx.s3_op().name().to_owned().into());
            match cx.s3_path() {
                S3Path::Root => {}
                S3Path::Bucket { bucket } => n.bucket = Some(bucket.to_string()),
                S3Path::Object { bucket, key } => {
                    n.bucket = Some(bucket.to_string());
                    n.key = Some(key.to_string());
                }
            }
        });
        if super::whole_body::check(cx.s3_op().name(), cx.headers())?
            && let Some(md5) = cx.extensions_mut().get::<super::ContentMd5>()
        {
            md5.arm();
        }
        super::auth::check_region(&self.region, cx.headers(), cx.uri().query())?;
        let credentials = cx.credentials().cloned();
        let caller = self
            .caller(credentials.as_ref(), cx.extensions_mut())
            .await?;
        request.note(|n| n.principal = Some(caller.principal.arn.clone()));
        let op = cx.s3_op().name();
        if hooks::TYPED_OPERATIONS.contains(&op) {
            cx.extensions_mut().insert(caller);
            return Ok(());
        }
        let action = format!("s3:{op}");
        let (bucket, resource) = match cx.s3_path() {
            S3Path::Root => (None, "arn:aws:s3:::*".to_owned()),
            S3Path::Bucket { bucket } => (Some(bucket.to_string()), bucket_arn(bucket)),
            S3Path::Object { bucket, key } => (Some(bucket.to_string()), object_arn(bucket, key)),
        };
        let target = self.target(bucket.as_deref(), &caller).await?;
        let (headers, uri) = (cx.headers().clone(), cx.uri().clone());
        let facts = Facts {
            headers: &headers,
            uri: &uri,
        };
        let checks = [Check { action, resource }];
        self.authorize(
            &caller,
            facts,
            &target,
            &checks,
            &Keys::new(),
            cx.extensions_mut(),
        )
        .await?;
        cx.extensions_mut().insert(caller);
        Ok(())
    }

    /// The caller `check_op` found, or (a request that skipped it) found now.
    async fn caller_of<T>(&self, req: &S3Request<T>) -> S3Result<CallerIdentity> {
        match req.extensions.get::<CallerIdentity>() {
            Some(c) => Ok(c.clone()),
            None => self.caller(req.credentials.as_ref(), &req.extensions).await,
        }
    }

    /// Authorizes `checks` on `bucket` for a typed request.
    async fn authorize_request<T>(
        &self,
        req: &mut S3Request<T>,
        bucket: Option<&str>,
        checks: &[Check],
        keys: &Keys,
    ) -> S3Result<Target> {
        let caller = self.caller_of(req).await?;
        let target = self.target(bucket, &caller).await?;
        let facts = Facts {
            headers: &req.headers,
            uri: &req.uri,
        };
        self.authorize(&caller, facts, &target, checks, keys, &mut req.extensions)
            .await?;
        Ok(target)
    }

    /// Marks the request [`GovernanceBypass`] when it asks to bypass GOVERNANCE retention
    /// (`x-amz-bypass-governance-retention: true`) and the caller may
    /// (`s3:BypassGovernanceRetention`). A caller who may not is not refused here: only a
    /// version under GOVERNANCE retention refuses it, as it refuses everyone. `target` is
    /// what the request's own authorization found.
    async fn governance_bypass<T>(
        &self,
        req: &mut S3Request<T>,
        target: &Target,
        asked: Option<bool>,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> S3Result<()> {
        if asked != Some(true) {
            return Ok(());
        }
        let caller = self.caller_of(req).await?;
        let mut cx = self.base_context(&caller, &req.headers, &req.uri);
        if let Some(v) = version_id {
            cx.set("s3:VersionId", v.to_owned());
        }
        let c = check("s3:BypassGovernanceRetention", object_arn(bucket, key));
        if self.decide_one(&caller, target, &c, &cx).is_ok() {
            req.extensions.insert(GovernanceBypass);
        }
        Ok(())
    }

    /// Authorizes a write that gets an encryption of its own (PutObject, CopyObject,
    /// CreateMultipartUpload, a form upload): the object service decides that encryption
    /// from the headers and the bucket's default, authorization sees it, and the write
    /// gets it ([`DecidedWrite`]). Errors of the SSE headers or of the decision are the
    /// write's, answered where the write meets them, after authorization.
    async fn authorize_write<T>(
        &self,
        req: &mut S3Request<T>,
        bucket: &str,
        checks: &[Check],
        mut keys: Keys,
        asked: SseRequest<'_>,
    ) -> S3Result<()> {
        let caller = self.caller_of(req).await?;
        let target = self.target(Some(bucket), &caller).await?;
        let parsed = self.sse.asked_for_write(
            asked.algorithm,
            asked.customer,
            asked.kms,
            super::request::transport(&req.extensions),
        );
        let decision: S3Result<WriteEncryption> = match (parsed, &target.bucket) {
            (Err(e), _) => Err(e),
            (Ok(_), None) => Err(CatalogError::NoSuchBucket.into()),
            (Ok(sse), Some(b)) => match b.default_encryption() {
                Ok(default) => self
                    .objects
                    .decide_encryption(sse, asked.kms.bucket_key, &default)
                    .await
                    .map_err(Into::into),
                Err(e) => Err(e.into()),
            },
        };
        sse_header_keys(&mut keys, &asked, decision.as_ref().ok());
        if let Ok(d) = &decision {
            effective_keys(&mut keys, &d.effective);
        }
        let facts = Facts {
            headers: &req.headers,
            uri: &req.uri,
        };
        self.authorize(&caller, facts, &target, checks, &keys, &mut req.extensions)
            .await?;
        req.extensions.insert(DecidedWrite::new(decision));
        Ok(())
    }

    /// Authorizes a part (or the completion) of a multipart upload: its encryption is
    /// the upload's, decided when it was created.
    async fn authorize_part<T>(
        &self,
        req: &mut S3Request<T>,
        bucket: &str,
        key: &str,
        upload_id: &str,
        checks: &[Check],
        mut keys: Keys,
    ) -> S3Result<()> {
        if let Ok(upload) = self.objects.upload_of(upload_id, bucket, key).await {
            effective_keys(&mut keys, &EffectiveEncryption::of(&upload.sse));
        }
        self.authorize_request(req, Some(bucket), checks, &keys)
            .await
            .map(drop)
    }
}

/// Condition keys specific to one request, besides those every request has. A key
/// pushed more than once is multi-valued (`s3:RequestObjectTagKeys`).
#[derive(Debug, Clone, Default)]
struct Keys {
    values: Vec<(std::borrow::Cow<'static, str>, String)>,
    /// The stored version (key, version id) whose tags are `s3:ExistingObjectTag/<key>`,
    /// looked up only when a policy in play names that key.
    existing_object: Option<(String, Option<String>)>,
}

impl Keys {
    fn new() -> Keys {
        Keys::default()
    }

    fn push(&mut self, (key, value): (&'static str, String)) {
        self.values.push((key.into(), value));
    }

    /// A key whose name is made from the request (`s3:RequestObjectTag/<tag key>`).
    fn push_named(&mut self, key: String, value: String) {
        self.values.push((key.into(), value));
    }

    /// Offers the tags of this stored version as `s3:ExistingObjectTag/<key>`.
    fn existing_object(&mut self, key: &str, version_id: Option<&str>) {
        self.existing_object = Some((key.to_owned(), version_id.map(str::to_owned)));
    }

    fn set_in(&self, cx: &mut Context) {
        let mut grouped: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
        for (k, v) in &self.values {
            grouped.entry(k).or_default().push(v.clone());
        }
        for (k, values) in grouped {
            cx.set_multi(k, values);
        }
    }
}

/// What of the HTTP request the base condition keys come from.
#[derive(Clone, Copy)]
struct Facts<'a> {
    headers: &'a HeaderMap,
    uri: &'a Uri,
}

/// The SSE headers of a write, from its parsed input.
#[derive(Clone, Copy)]
struct SseRequest<'a> {
    algorithm: Option<&'a s3s::dto::ServerSideEncryption>,
    customer: super::sse::CustomerHeaders<'a>,
    kms: super::sse::KmsHeaders<'a>,
}

/// AWS's `s3:x-amz-server-side-encryption*` keys, from the headers as sent; a KMS key
/// named in a header is shown as the ARN the decision resolved it to.
fn sse_header_keys(keys: &mut Keys, asked: &SseRequest<'_>, decided: Option<&WriteEncryption>) {
    if let Some(v) = asked.algorithm {
        keys.push(("s3:x-amz-server-side-encryption", v.as_str().to_owned()));
    }
    if let Some(v) = asked.customer.algorithm {
        keys.push((
            "s3:x-amz-server-side-encryption-customer-algorithm",
            v.as_str().to_owned(),
        ));
    }
    if let Some(named) = asked.kms.key_id {
        let arn = decided
            .and_then(|d| d.effective.kms_key_arn.clone())
            .unwrap_or_else(|| named.to_owned());
        keys.push(("s3:x-amz-server-side-encryption-aws-kms-key-id", arn));
    }
}

/// sealgate's `Effective*` keys: the encryption the write really gets.
fn effective_keys(keys: &mut Keys, effective: &EffectiveEncryption) {
    keys.push((
        "sealgate:EffectiveServerSideEncryption",
        effective.algorithm.to_owned(),
    ));
    if let Some(arn) = &effective.kms_key_arn {
        keys.push(("sealgate:EffectiveKmsKeyArn", arn.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_ids_are_stable_and_per_account() {
        assert_eq!(canonical_id("111122223333"), canonical_id("111122223333"));
        assert_ne!(canonical_id("111122223333"), canonical_id("444455556666"));
        assert_eq!(canonical_id("111122223333").len(), 64);
    }

    #[test]
    fn a_key_pushed_twice_is_multi_valued() {
        let mut keys = Keys::new();
        keys.push(("s3:VersionId", "v1".into()));
        keys.push(("s3:RequestObjectTagKeys", "team".into()));
        keys.push(("s3:RequestObjectTagKeys", "project".into()));
        keys.push_named("s3:RequestObjectTag/team".into(), "ops".into());
        let mut cx = Context::new();
        keys.set_in(&mut cx);
        assert_eq!(cx.get("s3:VersionId").unwrap(), ["v1"]);
        assert_eq!(
            cx.get("s3:RequestObjectTagKeys").unwrap(),
            ["team", "project"]
        );
        assert_eq!(cx.get("s3:RequestObjectTag/team").unwrap(), ["ops"]);
    }
}
