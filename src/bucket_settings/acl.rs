//! Object Ownership and access control lists as S3 has them: a bucket's ownership setting
//! (`BucketOwnerEnforced`, the default, disables ACLs), the bucket's ACL, and the ACL each
//! object version carries. Canned ACLs and `x-amz-grant-*` headers become grants here; what
//! a grant lets its grantee do (S3's mapping of ACL permissions to actions) and whom it
//! reaches are decided here too, so authorization only asks.

use serde::{Deserialize, Serialize};

use super::StoredSetting;

/// Who owns the objects written to a bucket, and whether ACLs count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ObjectOwnership {
    /// ACLs are disabled: the bucket owner owns every object; only policies decide.
    BucketOwnerEnforced,
    /// The bucket owner owns objects written with `bucket-owner-full-control`.
    BucketOwnerPreferred,
    /// The writer's account owns what it writes.
    ObjectWriter,
}

impl ObjectOwnership {
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectOwnership::BucketOwnerEnforced => "BucketOwnerEnforced",
            ObjectOwnership::BucketOwnerPreferred => "BucketOwnerPreferred",
            ObjectOwnership::ObjectWriter => "ObjectWriter",
        }
    }

    pub fn parse(s: &str) -> Option<ObjectOwnership> {
        [
            ObjectOwnership::BucketOwnerEnforced,
            ObjectOwnership::BucketOwnerPreferred,
            ObjectOwnership::ObjectWriter,
        ]
        .into_iter()
        .find(|o| o.as_str() == s)
    }
}

/// The permissions an ACL grants, as S3 names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Permission {
    FullControl,
    Read,
    Write,
    ReadAcp,
    WriteAcp,
}

impl Permission {
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::FullControl => "FULL_CONTROL",
            Permission::Read => "READ",
            Permission::Write => "WRITE",
            Permission::ReadAcp => "READ_ACP",
            Permission::WriteAcp => "WRITE_ACP",
        }
    }

    pub fn parse(s: &str) -> Option<Permission> {
        [
            Permission::FullControl,
            Permission::Read,
            Permission::Write,
            Permission::ReadAcp,
            Permission::WriteAcp,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
    }

    fn covers(self, needed: Permission) -> bool {
        self == Permission::FullControl || self == needed
    }
}

pub(crate) const ALL_USERS: &str = "http://acs.amazonaws.com/groups/global/AllUsers";
pub(crate) const AUTHENTICATED_USERS: &str =
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers";
pub(crate) const LOG_DELIVERY: &str = "http://acs.amazonaws.com/groups/s3/LogDelivery";

/// Whom a grant names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Grantee {
    /// An account, by its canonical user id.
    CanonicalUser(String),
    /// Everyone, anonymous callers included.
    AllUsers,
    /// Every signed caller, of any account.
    AuthenticatedUsers,
    /// S3's log delivery group (granted by `log-delivery-write`; reaches no caller here).
    LogDelivery,
}

impl Grantee {
    pub fn group(uri: &str) -> Option<Grantee> {
        match uri {
            ALL_USERS => Some(Grantee::AllUsers),
            AUTHENTICATED_USERS => Some(Grantee::AuthenticatedUsers),
            LOG_DELIVERY => Some(Grantee::LogDelivery),
            _ => None,
        }
    }

    pub fn group_uri(&self) -> Option<&'static str> {
        match self {
            Grantee::AllUsers => Some(ALL_USERS),
            Grantee::AuthenticatedUsers => Some(AUTHENTICATED_USERS),
            Grantee::LogDelivery => Some(LOG_DELIVERY),
            Grantee::CanonicalUser(_) => None,
        }
    }

    /// A grant to everyone or to every signed caller: what Block Public Access blocks.
    fn is_public(&self) -> bool {
        matches!(self, Grantee::AllUsers | Grantee::AuthenticatedUsers)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub grantee: Grantee,
    pub permission: Permission,
}

/// An ACL: the owner (an account id) and its grants, as Get*Acl shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acl {
    pub owner: String,
    pub grants: Vec<Grant>,
}

/// Why an ACL in a request cannot be taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AclError {
    #[error("The canned ACL {0} is not valid here")]
    UnknownCanned(String),
    #[error("Specifying both Canned ACLs and Header Grants is not allowed")]
    CannedAndGrants,
    #[error("{0}")]
    BadGrant(String),
    /// Grants by e-mail address: sealgate accounts have none to resolve.
    #[error("The e-mail address you provided does not match any account on record.")]
    ByEmail,
}

/// How an ACL's grants reach a caller, for authorization to combine with policies the way
/// a resource policy's statements combine.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AclReach {
    /// Granted to the caller's account.
    pub account: bool,
    /// Granted to everyone (or, for a signed caller, to every signed caller).
    pub anyone: bool,
}

/// Which caller asks, as ACL grantees see callers.
#[derive(Debug, Clone, Copy)]
pub struct AclCaller<'a> {
    /// The canonical user id of the caller's account; `None` when anonymous.
    pub canonical_id: Option<&'a str>,
}

impl Acl {
    /// The ACL every object and bucket has unless another was put: the owner's FULL_CONTROL.
    pub fn private(owner: &str, owner_canonical: &str) -> Acl {
        Acl {
            owner: owner.to_owned(),
            grants: vec![Grant {
                grantee: Grantee::CanonicalUser(owner_canonical.to_owned()),
                permission: Permission::FullControl,
            }],
        }
    }

    /// A canned ACL for a bucket (`bucket_owner` None) or an object: the owner's
    /// FULL_CONTROL and what the name adds. The bucket-owner-* ACLs name the bucket owner
    /// (only for objects; on a bucket they are the owner's own FULL_CONTROL already).
    pub fn canned(
        name: &str,
        owner: &str,
        owner_canonical: &str,
        bucket_owner_canonical: Option<&str>,
    ) -> Result<Acl, AclError> {
        let mut acl = Acl::private(owner, owner_canonical);
        let mut add = |grantee: Grantee, permission| {
            acl.grants.push(Grant {
                grantee,
                permission,
            })
        };
        match (name, bucket_owner_canonical) {
            ("private", _) => {}
            ("public-read", _) => add(Grantee::AllUsers, Permission::Read),
            ("public-read-write", _) => {
                add(Grantee::AllUsers, Permission::Read);
                add(Grantee::AllUsers, Permission::Write);
            }
            ("authenticated-read", _) => add(Grantee::AuthenticatedUsers, Permission::Read),
            ("log-delivery-write", None) => {
                add(Grantee::LogDelivery, Permission::Write);
                add(Grantee::LogDelivery, Permission::ReadAcp);
            }
            ("bucket-owner-read" | "bucket-owner-full-control", None) => {}
            ("bucket-owner-read", Some(b)) if b != owner_canonical => {
                add(Grantee::CanonicalUser(b.to_owned()), Permission::Read)
            }
            ("bucket-owner-full-control", Some(b)) if b != owner_canonical => add(
                Grantee::CanonicalUser(b.to_owned()),
                Permission::FullControl,
            ),
            ("bucket-owner-read" | "bucket-owner-full-control", Some(_)) => {}
            (other, _) => return Err(AclError::UnknownCanned(other.to_owned())),
        }
        Ok(acl)
    }

    /// The ACL `x-amz-grant-*` headers give: each header a permission and a comma-separated
    /// list of `id="…"`, `uri="…"` or `emailAddress="…"`. The owner gets nothing implicitly,
    /// as on S3.
    pub fn from_grant_headers(
        owner: &str,
        headers: &[(Permission, &str)],
    ) -> Result<Acl, AclError> {
        let mut grants = Vec::new();
        for (permission, value) in headers {
            for item in value.split(',').map(str::trim).filter(|i| !i.is_empty()) {
                let (kind, quoted) = item
                    .split_once('=')
                    .ok_or_else(|| AclError::BadGrant(format!("Invalid grant: {item}")))?;
                let id = quoted.trim().trim_matches('"');
                let grantee = match kind.trim().to_ascii_lowercase().as_str() {
                    "id" => canonical_user(id)?,
                    "uri" => Grantee::group(id)
                        .ok_or_else(|| AclError::BadGrant(format!("Invalid group uri: {id}")))?,
                    "emailaddress" => return Err(AclError::ByEmail),
                    _ => return Err(AclError::BadGrant(format!("Invalid grant: {item}"))),
                };
                grants.push(Grant {
                    grantee,
                    permission: *permission,
                });
            }
        }
        Ok(Acl {
            owner: owner.to_owned(),
            grants,
        })
    }

    /// Whether any grant reaches beyond named accounts.
    pub fn is_public(&self) -> bool {
        self.grants.iter().any(|g| g.grantee.is_public())
    }

    /// Whether the ACL grants nothing to anyone but `owner_canonical`: all that a bucket
    /// whose ACLs are disabled may hold.
    pub fn owner_only(&self, owner_canonical: &str) -> bool {
        self.grants
            .iter()
            .all(|g| g.grantee == Grantee::CanonicalUser(owner_canonical.to_owned()))
    }

    /// How the grants that cover `needed` reach `caller`. Public grants count only unless
    /// `ignore_public` (Block Public Access's IgnorePublicAcls).
    pub fn reach(
        &self,
        caller: AclCaller<'_>,
        needed: Permission,
        ignore_public: bool,
    ) -> AclReach {
        let mut reach = AclReach::default();
        for g in self.grants.iter().filter(|g| g.permission.covers(needed)) {
            match &g.grantee {
                Grantee::CanonicalUser(id) => reach.account |= caller.canonical_id == Some(id),
                Grantee::AllUsers => reach.anyone |= !ignore_public,
                Grantee::AuthenticatedUsers => {
                    reach.anyone |= !ignore_public && caller.canonical_id.is_some()
                }
                Grantee::LogDelivery => {}
            }
        }
        reach
    }
}

/// A canonical user id as S3 writes them: 64 hexadecimal digits.
pub(crate) fn canonical_user(id: &str) -> Result<Grantee, AclError> {
    if id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(Grantee::CanonicalUser(id.to_ascii_lowercase()))
    } else {
        Err(AclError::BadGrant("Invalid id".to_owned()))
    }
}

/// The ACL permission that allows `action` on a bucket's ACL (for bucket-level actions and
/// for writes, which S3 grants by the bucket's WRITE), per S3's mapping.
pub(crate) fn bucket_permission(action: &str) -> Option<Permission> {
    Some(match action {
        "s3:ListBucket" | "s3:ListBucketVersions" | "s3:ListBucketMultipartUploads" => {
            Permission::Read
        }
        "s3:PutObject" | "s3:DeleteObject" => Permission::Write,
        "s3:GetBucketAcl" => Permission::ReadAcp,
        "s3:PutBucketAcl" => Permission::WriteAcp,
        _ => return None,
    })
}

/// The ACL permission that allows `action` on an object's ACL, per S3's mapping.
pub(crate) fn object_permission(action: &str) -> Option<Permission> {
    Some(match action {
        "s3:GetObject" | "s3:GetObjectVersion" => Permission::Read,
        "s3:GetObjectAcl" | "s3:GetObjectVersionAcl" => Permission::ReadAcp,
        "s3:PutObjectAcl" | "s3:PutObjectVersionAcl" => Permission::WriteAcp,
        _ => return None,
    })
}

/// A bucket's ownership setting and ACL. A bucket without a record is as S3 creates buckets
/// today: BucketOwnerEnforced, private.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketAccessControl {
    /// `None` once the owner deleted the ownership controls: ACLs are then enabled and the
    /// writer owns what it writes (ObjectWriter), as on S3.
    pub ownership: Option<ObjectOwnership>,
    /// The bucket ACL; `None` is the owner's FULL_CONTROL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acl: Option<Acl>,
}

impl Default for BucketAccessControl {
    fn default() -> Self {
        BucketAccessControl {
            ownership: Some(ObjectOwnership::BucketOwnerEnforced),
            acl: None,
        }
    }
}

impl BucketAccessControl {
    /// The ownership in force (deleted controls act as ObjectWriter).
    pub fn effective_ownership(&self) -> ObjectOwnership {
        self.ownership.unwrap_or(ObjectOwnership::ObjectWriter)
    }

    pub fn acls_enabled(&self) -> bool {
        self.effective_ownership() != ObjectOwnership::BucketOwnerEnforced
    }

    /// The account that owns an object `writer` writes with the canned ACL `canned`.
    pub fn object_owner<'a>(
        &self,
        writer: &'a str,
        bucket_owner: &'a str,
        canned: Option<&str>,
    ) -> &'a str {
        match self.effective_ownership() {
            ObjectOwnership::BucketOwnerEnforced => bucket_owner,
            ObjectOwnership::BucketOwnerPreferred
                if canned == Some("bucket-owner-full-control") =>
            {
                bucket_owner
            }
            _ => writer,
        }
    }
}

impl StoredSetting for BucketAccessControl {
    const NAME: &'static str = "bucket access control";
    const VERSION: u32 = 1;
}

#[cfg(test)]
mod tests {
    use super::*;

    const OWNER: &str = "111122223333";
    fn cid(c: char) -> String {
        c.to_string().repeat(64)
    }

    #[test]
    fn canned_acls_grant_what_s3_grants() {
        let (o, b) = (cid('a'), cid('b'));
        let acl = |name, bucket| Acl::canned(name, OWNER, &o, bucket);
        assert_eq!(acl("private", None).unwrap(), Acl::private(OWNER, &o));
        let public = acl("public-read-write", None).unwrap();
        assert_eq!(public.grants.len(), 3);
        assert!(public.is_public());
        assert!(!acl("bucket-owner-read", None).unwrap().is_public());
        let bor = acl("bucket-owner-read", Some(&b)).unwrap();
        assert_eq!(
            bor.grants[1],
            Grant {
                grantee: Grantee::CanonicalUser(b.clone()),
                permission: Permission::Read
            }
        );
        // The writer is the bucket owner: nothing to add.
        assert_eq!(
            acl("bucket-owner-full-control", Some(&o))
                .unwrap()
                .grants
                .len(),
            1
        );
        assert!(matches!(
            acl("log-delivery-write", Some(&b)),
            Err(AclError::UnknownCanned(_))
        ));
        assert!(matches!(
            acl("world", None),
            Err(AclError::UnknownCanned(_))
        ));
    }

    #[test]
    fn grant_headers_parse_ids_groups_and_refuse_email() {
        let b = cid('B');
        let header = format!("id=\"{b}\", uri=\"{ALL_USERS}\"");
        let acl = Acl::from_grant_headers(OWNER, &[(Permission::Read, &header)]).unwrap();
        assert_eq!(acl.grants[0].grantee, Grantee::CanonicalUser(cid('b')));
        assert_eq!(acl.grants[1].grantee, Grantee::AllUsers);
        let email = Acl::from_grant_headers(OWNER, &[(Permission::Read, "emailAddress=\"a@b.c\"")]);
        assert_eq!(email, Err(AclError::ByEmail));
        for bad in [
            "id=\"short\"",
            "uri=\"http://example.com/g\"",
            "who=1",
            "nothing",
        ] {
            assert!(
                matches!(
                    Acl::from_grant_headers(OWNER, &[(Permission::Read, bad)]),
                    Err(AclError::BadGrant(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn grants_reach_callers_by_account_and_group() {
        let (o, b) = (cid('a'), cid('b'));
        let public = Acl::canned("public-read", OWNER, &o, None).unwrap();
        let anonymous = AclCaller { canonical_id: None };
        let other = AclCaller {
            canonical_id: Some(&b),
        };
        let owner = AclCaller {
            canonical_id: Some(&o),
        };
        assert!(public.reach(anonymous, Permission::Read, false).anyone);
        assert!(!public.reach(anonymous, Permission::Read, true).anyone);
        assert_eq!(
            public.reach(anonymous, Permission::ReadAcp, false),
            AclReach::default()
        );
        assert!(public.reach(owner, Permission::WriteAcp, false).account);
        let auth = Acl::canned("authenticated-read", OWNER, &o, None).unwrap();
        assert!(!auth.reach(anonymous, Permission::Read, false).anyone);
        assert!(auth.reach(other, Permission::Read, false).anyone);
        assert!(!auth.reach(other, Permission::Read, false).account);
        assert!(!public.owner_only(&b) && Acl::private(OWNER, &o).owner_only(&o));
    }

    #[test]
    fn ownership_decides_the_object_owner() {
        let mut ac = BucketAccessControl::default();
        assert!(!ac.acls_enabled());
        assert_eq!(ac.object_owner("w", "b", None), "b");
        ac.ownership = Some(ObjectOwnership::BucketOwnerPreferred);
        assert_eq!(
            ac.object_owner("w", "b", Some("bucket-owner-full-control")),
            "b"
        );
        assert_eq!(ac.object_owner("w", "b", Some("private")), "w");
        ac.ownership = None;
        assert!(ac.acls_enabled());
        assert_eq!(ac.effective_ownership(), ObjectOwnership::ObjectWriter);
        assert_eq!(
            ac.object_owner("w", "b", Some("bucket-owner-full-control")),
            "w"
        );
        assert_eq!(bucket_permission("s3:PutObject"), Some(Permission::Write));
        assert_eq!(
            object_permission("s3:GetObjectVersion"),
            Some(Permission::Read)
        );
        assert_eq!(object_permission("s3:GetObjectTagging"), None);
    }
}
