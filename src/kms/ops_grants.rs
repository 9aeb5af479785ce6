//! Grants: CreateGrant, ListGrants, ListRetirableGrants, RetireGrant, RevokeGrant.

use super::caller::Caller;
use super::errors::{KmsError, KmsResult};
use super::input::{page, paginate, required, required_len};
use super::model::{GrantRecord, KeyState};
use super::service::{KmsService, Note};
use super::shapes::{
    CreateGrantRequest, CreateGrantResponse, Empty, GrantConstraintsOut, GrantListEntry,
    ListGrantsRequest, ListGrantsResponse, ListRetirableGrantsRequest, RetireGrantRequest,
    RevokeGrantRequest,
};

const GRANT_OPERATIONS: &[&str] = &[
    "Decrypt",
    "Encrypt",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "ReEncryptFrom",
    "ReEncryptTo",
    "Sign",
    "Verify",
    "GetPublicKey",
    "CreateGrant",
    "RetireGrant",
    "DescribeKey",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "GenerateMac",
    "VerifyMac",
];

const MAX_GRANTS_PER_KEY: usize = 50_000;

fn grant_entry(g: &GrantRecord, key_arn: String) -> GrantListEntry {
    let constraints =
        (g.context_equals.is_some() || g.context_subset.is_some()).then(|| GrantConstraintsOut {
            encryption_context_equals: g.context_equals.clone(),
            encryption_context_subset: g.context_subset.clone(),
        });
    GrantListEntry {
        key_id: key_arn,
        grant_id: g.grant_id.clone(),
        name: g.name.clone(),
        creation_date: super::model::epoch_seconds(g.created_ms),
        grantee_principal: g.grantee_principal.clone(),
        retiring_principal: g.retiring_principal.clone(),
        issuing_account: crate::arn::iam_root(&g.issuing_account),
        operations: g.operations.clone(),
        constraints,
    }
}

fn principal_arn(name: &str, value: &str) -> KmsResult<String> {
    let ok = !value.is_empty()
        && value.len() <= 256
        && value
            .chars()
            .all(|c| c.is_alphanumeric() || "_+=,.@:/-".contains(c));
    if !ok {
        return Err(KmsError::validation(format!(
            "{name} is not a valid principal: {value}"
        )));
    }
    Ok(value.to_owned())
}

impl KmsService {
    pub(super) async fn create_grant(
        &self,
        caller: &Caller,
        req: &CreateGrantRequest,
        note: &mut Note,
    ) -> KmsResult<CreateGrantResponse> {
        let entry = self.key_for(&req.key_id, false, note).await?;
        let grantee = principal_arn(
            "GranteePrincipal",
            required(&req.grantee_principal, "GranteePrincipal")?,
        )?;
        let retiring = match &req.retiring_principal {
            Some(r) => Some(principal_arn("RetiringPrincipal", r)?),
            None => None,
        };
        let mut operations = required(&req.operations, "Operations")?.clone();
        if operations.is_empty() {
            return Err(KmsError::validation(
                "Operations must name at least one operation",
            ));
        }
        for op in &operations {
            if !GRANT_OPERATIONS.contains(&op.as_str()) {
                return Err(KmsError::validation(format!(
                    "1 validation error detected: Value '[{op}]' at 'operations' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
                    GRANT_OPERATIONS.join(", ")
                )));
            }
        }
        operations.sort();
        operations.dedup();
        let (context_equals, context_subset) = match &req.constraints {
            None => (None, None),
            Some(c) if c.others => {
                return Err(KmsError::unsupported(
                    "Only encryption context grant constraints are supported",
                ));
            }
            Some(c) => (
                c.encryption_context_equals.clone(),
                c.encryption_context_subset.clone(),
            ),
        };
        let name = req.name.clone();
        let r = &entry.record;
        let extra = [
            ("kms:GrantOperations", operations.clone()),
            ("kms:GranteePrincipal", vec![grantee.clone()]),
            (
                "kms:RetiringPrincipal",
                retiring.clone().into_iter().collect(),
            ),
            ("kms:GrantIsForAWSResource", vec!["false".into()]),
        ];
        if let Err(denied) = self.authorize(caller, r, "kms:CreateGrant", None, None, &extra) {
            // A grant that includes CreateGrant lets its grantee pass on a subset of it.
            let via_grant = self.read().grants.values().any(|g| {
                g.key_id == r.id
                    && g.grantee_principal == caller.principal.arn
                    && g.operations.iter().any(|o| o == "CreateGrant")
                    && operations.iter().all(|o| g.operations.contains(o))
            });
            if !via_grant {
                return Err(denied);
            }
        }
        if r.state == KeyState::PendingDeletion {
            return Err(r.state.refusal(&r.arn()));
        }
        if req.dry_run == Some(true) {
            return Err(KmsError::dry_run(
                "The request would have succeeded, but the DryRun option is set.",
            ));
        }
        let mut change = self.begin().await?;
        let same = |g: &&GrantRecord| {
            g.key_id == r.id
                && name.is_some()
                && g.name == name
                && g.grantee_principal == grantee
                && g.retiring_principal == retiring
                && g.operations == operations
                && g.context_equals == context_equals
                && g.context_subset == context_subset
        };
        let existing = self
            .read()
            .grants
            .values()
            .find(same)
            .map(|g| g.grant_id.clone());
        let grant_id = match existing {
            Some(id) => id,
            None => {
                if self
                    .read()
                    .grants
                    .values()
                    .filter(|g| g.key_id == r.id)
                    .count()
                    >= MAX_GRANTS_PER_KEY
                {
                    return Err(KmsError::limit_exceeded("Too many grants for this key"));
                }
                let grant = GrantRecord {
                    grant_id: hex::encode(super::material::random_bytes(32)),
                    key_id: r.id.clone(),
                    name,
                    created_ms: self.now_ms(),
                    grantee_principal: grantee,
                    retiring_principal: retiring,
                    issuing_account: caller.principal.account.clone(),
                    operations,
                    context_equals,
                    context_subset,
                };
                let id = grant.grant_id.clone();
                change.put_grant(grant);
                id
            }
        };
        self.commit(change).await?;
        // The token carries a fresh nonce, so each CreateGrant answers a new token.
        let nonce = hex::encode(super::material::random_bytes(8));
        let token = self.mint_token("grant", &format!("{grant_id}:{nonce}"));
        Ok(CreateGrantResponse {
            grant_id,
            grant_token: token,
        })
    }

    pub(super) async fn list_grants(
        &self,
        caller: &Caller,
        req: &ListGrantsRequest,
        note: &mut Note,
    ) -> KmsResult<ListGrantsResponse> {
        let entry = self.key_for(&req.key_id, false, note).await?;
        self.authorize(caller, &entry.record, "kms:ListGrants", None, None, &[])?;
        let grant_id = req.grant_id.as_deref();
        let grantee = req.grantee_principal.as_deref();
        let grants: Vec<GrantRecord> = self
            .read()
            .grants
            .values()
            .filter(|g| g.key_id == entry.record.id)
            .filter(|g| grant_id.is_none_or(|id| g.grant_id == id))
            .filter(|g| grantee.is_none_or(|p| g.grantee_principal == p))
            .cloned()
            .collect();
        self.grant_page(grants, req.limit, req.marker.as_deref())
    }

    pub(super) async fn list_retirable_grants(
        &self,
        caller: &Caller,
        req: &ListRetirableGrantsRequest,
    ) -> KmsResult<ListGrantsResponse> {
        self.authorize_account(caller, "kms:ListRetirableGrants")?;
        self.apply_due().await?;
        let retiring = required_len(&req.retiring_principal, "RetiringPrincipal", 1, 256)?;
        let grants: Vec<GrantRecord> = self
            .read()
            .grants
            .values()
            .filter(|g| g.retiring_principal.as_deref() == Some(retiring))
            .cloned()
            .collect();
        self.grant_page(grants, req.limit, req.marker.as_deref())
    }

    /// One page of grants, oldest first, as ListGrants and ListRetirableGrants answer.
    fn grant_page(
        &self,
        mut grants: Vec<GrantRecord>,
        limit: Option<i64>,
        marker: Option<&str>,
    ) -> KmsResult<ListGrantsResponse> {
        let (limit, start) = page(limit, marker, 50, 100)?;
        grants.sort_by_key(|g| (g.created_ms, g.grant_id.clone()));
        let (grants, page) = paginate(grants, limit, start);
        Ok(ListGrantsResponse {
            grants: grants
                .iter()
                .map(|g| grant_entry(g, self.key_arn(&g.key_id)))
                .collect(),
            page,
        })
    }

    pub(super) async fn retire_grant(
        &self,
        caller: &Caller,
        req: &RetireGrantRequest,
        note: &mut Note,
    ) -> KmsResult<Empty> {
        let grant_id = match (req.grant_token.as_deref(), req.grant_id.as_deref()) {
            (Some(token), _) => {
                let inner = self
                    .open_token("grant", token)
                    .ok_or_else(|| KmsError::invalid_grant_token("The grant token is not valid"))?;
                inner.split(':').next().unwrap_or_default().to_owned()
            }
            (None, Some(id)) => {
                if req.key_id.is_none() {
                    return Err(KmsError::validation(
                        "RetireGrant needs GrantToken, or KeyId with GrantId",
                    ));
                }
                id.to_owned()
            }
            (None, None) => {
                return Err(KmsError::validation(
                    "RetireGrant needs GrantToken, or KeyId with GrantId",
                ));
            }
        };
        // Resolved before taking the write lock: resolving may apply due transitions,
        // which take that lock themselves.
        let named_key = match req.key_id.as_deref() {
            Some(k) => Some(self.resolve(k, false).await?.record.id.clone()),
            None => None,
        };
        let mut change = self.begin().await?;
        let grant = self
            .read()
            .grants
            .get(&grant_id)
            .cloned()
            .ok_or_else(|| KmsError::not_found(format!("Grant ID {grant_id} not found")))?;
        if named_key.as_ref().is_some_and(|id| *id != grant.key_id) {
            return Err(KmsError::not_found(format!(
                "Grant ID {grant_id} not found"
            )));
        }
        note.key_arn = Some(self.key_arn(&grant.key_id));
        let me = &caller.principal;
        let allowed = grant.retiring_principal.as_deref() == Some(me.arn.as_str())
            || (grant.grantee_principal == me.arn
                && grant.operations.iter().any(|o| o == "RetireGrant"))
            || (me.arn == crate::arn::iam_root(&grant.issuing_account));
        if !allowed {
            return Err(KmsError::access_denied(format!(
                "User: {} is not authorized to retire grant {grant_id}",
                me.arn
            )));
        }
        change.delete_grant(&grant_id);
        self.commit(change).await?;
        Ok(Empty {})
    }

    pub(super) async fn revoke_grant(
        &self,
        caller: &Caller,
        req: &RevokeGrantRequest,
        note: &mut Note,
    ) -> KmsResult<Empty> {
        let entry = self.key_for(&req.key_id, false, note).await?;
        let grant_id = required_len(&req.grant_id, "GrantId", 1, 128)?;
        self.authorize(caller, &entry.record, "kms:RevokeGrant", None, None, &[])?;
        let mut change = self.begin().await?;
        let exists = self
            .read()
            .grants
            .get(grant_id)
            .is_some_and(|g| g.key_id == entry.record.id);
        if !exists {
            return Err(KmsError::not_found(format!(
                "Grant ID {grant_id} not found"
            )));
        }
        change.delete_grant(grant_id);
        self.commit(change).await?;
        Ok(Empty {})
    }
}
