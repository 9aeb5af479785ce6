//! Key lifecycle operations: create, describe, list, enable/disable, deletion, description,
//! tags, key policies, rotation and aliases.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::caller::Caller;
use super::errors::{KmsError, KmsResult};
use super::input::{
    self, TagOut, key_id, length_error, must_not_be_null, page, paginate, required, required_len,
};
use super::model::{
    AliasRecord, KeyManager, KeyRecord, KeySpec, KeyState, KeyUsage, Origin, RotationType,
    epoch_seconds,
};
use super::service::{DAY_MS, KeyEntry, KmsService, Note, default_key_policy, first_material};
use super::shapes::{
    AliasListEntry, AliasRequest, CreateKeyRequest, Empty, EnableKeyRotationRequest,
    GetKeyPolicyRequest, GetKeyPolicyResponse, GetKeyRotationStatusResponse, KeyIdResponse,
    KeyListEntry, KeyListRequest, KeyMetadata, KeyMetadataResponse, KeyRequest,
    KeyWithGrantTokensRequest, ListAliasesRequest, ListAliasesResponse, ListKeyPoliciesResponse,
    ListKeyRotationsResponse, ListKeysResponse, ListRequest, ListResourceTagsResponse,
    PutKeyPolicyRequest, RotationsListEntry, ScheduleKeyDeletionRequest,
    ScheduleKeyDeletionResponse, TagResourceRequest, UntagResourceRequest,
    UpdateKeyDescriptionRequest,
};
use crate::policy::{Policy, PolicyKind};

const MAX_TAGS: usize = 50;
const MAX_ON_DEMAND_ROTATIONS: usize = 25;

pub(super) fn key_metadata(r: &KeyRecord) -> KeyMetadata {
    let pending_deletion = r.state == KeyState::PendingDeletion;
    let imported = if r.origin == Origin::External {
        r.current_material()
    } else {
        None
    };
    KeyMetadata {
        aws_account_id: r.account.clone(),
        key_id: r.id.clone(),
        arn: r.arn(),
        creation_date: epoch_seconds(r.created_ms),
        enabled: r.state == KeyState::Enabled,
        description: r.description.clone(),
        key_usage: r.usage.as_str(),
        key_state: r.state.as_str(),
        origin: r.origin.as_str(),
        key_manager: r.manager.as_str(),
        customer_master_key_spec: r.spec.as_str(),
        key_spec: r.spec.as_str(),
        multi_region: false,
        encryption_algorithms: r.spec.encryption_algorithms(r.usage),
        signing_algorithms: r.spec.signing_algorithms(r.usage),
        mac_algorithms: r.spec.mac_algorithms(),
        deletion_date: r
            .deletion_date_ms
            .filter(|_| pending_deletion)
            .map(epoch_seconds),
        pending_deletion_window_in_days: r.pending_window_days.filter(|_| pending_deletion),
        expiration_model: imported
            .and_then(|m| m.expiration_model)
            .map(|m| m.as_str()),
        valid_to: imported.and_then(|m| m.valid_to_ms).map(epoch_seconds),
        current_key_material_id: r.current_material().map(|m| m.material_id.clone()),
    }
}

fn key_id_out(r: &KeyRecord) -> KeyIdResponse {
    KeyIdResponse { key_id: r.arn() }
}

fn validate_tags(tags: &[(String, String)]) -> KmsResult<()> {
    for (k, v) in tags {
        if k.is_empty() || k.len() > 128 || v.len() > 256 {
            return Err(KmsError::tag(format!(
                "Tag key must be 1 to 128 and value 0 to 256 characters: {k}"
            )));
        }
        if k.starts_with("aws:") {
            return Err(KmsError::tag("Tag keys beginning with aws: are reserved"));
        }
    }
    Ok(())
}

fn parse_policy(text: &str) -> KmsResult<Policy> {
    Policy::parse(text, PolicyKind::Resource).map_err(|e| KmsError::malformed_policy(e.to_string()))
}

impl KmsService {
    /// Resolves a key for an operation that must not act on AWS managed keys' internals.
    pub(super) async fn key_for(
        &self,
        key: &Option<String>,
        allow_alias: bool,
        note: &mut Note,
    ) -> KmsResult<Arc<KeyEntry>> {
        let entry = self.resolve(key_id(key)?, allow_alias).await?;
        note.key_arn = Some(entry.record.arn());
        Ok(entry)
    }

    pub(super) async fn create_key(
        &self,
        caller: &Caller,
        req: &CreateKeyRequest,
        note: &mut Note,
    ) -> KmsResult<KeyMetadataResponse> {
        self.authorize_account(caller, "kms:CreateKey")?;
        let spec_text = match (
            req.key_spec.as_deref(),
            req.customer_master_key_spec.as_deref(),
        ) {
            (Some(_), Some(_)) => {
                return Err(KmsError::validation(
                    "You cannot specify KeySpec and CustomerMasterKeySpec in the same request.",
                ));
            }
            (Some(s), None) | (None, Some(s)) => s,
            (None, None) => "SYMMETRIC_DEFAULT",
        };
        let spec = KeySpec::parse(spec_text).ok_or_else(|| {
            KmsError::unsupported(format!(
                "KeySpec {spec_text} is not supported by this key service"
            ))
        })?;
        let usage = match req.key_usage.as_deref() {
            Some(u) => KeyUsage::parse_field("KeyUsage", u)?,
            None => KeyUsage::EncryptDecrypt,
        };
        if !spec.allows(usage) {
            return Err(KmsError::validation(format!(
                "KeyUsage {} is not compatible with KeySpec {}",
                usage.as_str(),
                spec.as_str()
            )));
        }
        let origin = match req.origin.as_deref() {
            None | Some("AWS_KMS") => Origin::AwsKms,
            Some("EXTERNAL") => Origin::External,
            Some(o @ ("AWS_CLOUDHSM" | "EXTERNAL_KEY_STORE")) => {
                return Err(KmsError::unsupported(format!(
                    "Origin {o} needs a custom key store, which this key service does not have"
                )));
            }
            Some(o) => return Err(KmsError::validation(format!("Invalid Origin {o}"))),
        };
        if origin == Origin::External && spec != KeySpec::SymmetricDefault {
            return Err(KmsError::unsupported(
                "Imported key material is supported for SYMMETRIC_DEFAULT keys only",
            ));
        }
        if req.multi_region == Some(true) {
            return Err(KmsError::unsupported("Multi-Region keys are not supported"));
        }
        if req.custom_key_store_id.is_some() || req.xks_key_id.is_some() {
            return Err(KmsError::unsupported("Custom key stores are not supported"));
        }
        let description = req.description.clone().unwrap_or_default();
        if description.len() > 8192 {
            return Err(length_error("Description", 0, 8192));
        }
        let tags = input::tags(&req.tags)?.unwrap_or_default();
        validate_tags(&tags)?;
        if tags.len() > MAX_TAGS {
            return Err(KmsError::tag("A key can have at most 50 tags"));
        }
        let policy_text = match &req.policy {
            Some(p) => p.clone(),
            None => default_key_policy(self.account()),
        };
        let policy = parse_policy(&policy_text)?;
        let mut record = self.new_record(spec, usage, origin, description, policy_text);
        if req.bypass_policy_lockout_safety_check != Some(true)
            && !self.policy_keeps_admin(caller, &record, &policy)
        {
            return Err(KmsError::malformed_policy(
                "The new key policy will not allow you to update the key policy in the future.",
            ));
        }
        record.tags = tags.into_iter().collect();
        let material = first_material(&mut record).await?;
        let mut change = self.begin().await?;
        let entry = self.save_key(&mut change, record, BTreeMap::new(), material)?;
        self.commit(change).await?;
        note.key_arn = Some(entry.record.arn());
        Ok(KeyMetadataResponse {
            key_metadata: key_metadata(&entry.record),
        })
    }

    pub(super) async fn describe_key(
        &self,
        caller: &Caller,
        req: &KeyWithGrantTokensRequest,
        note: &mut Note,
    ) -> KmsResult<KeyMetadataResponse> {
        let entry = self.key_for(&req.key_id, true, note).await?;
        self.authorize(
            caller,
            &entry.record,
            "kms:DescribeKey",
            Some("DescribeKey"),
            None,
            &[],
        )?;
        Ok(KeyMetadataResponse {
            key_metadata: key_metadata(&entry.record),
        })
    }

    pub(super) async fn list_keys(
        &self,
        caller: &Caller,
        req: &ListRequest,
    ) -> KmsResult<ListKeysResponse> {
        self.authorize_account(caller, "kms:ListKeys")?;
        self.apply_due().await?;
        let (limit, start) = page(req.limit, req.marker.as_deref(), 100, 1000)?;
        let mut keys: Vec<(i64, String, String)> = self
            .read()
            .keys
            .values()
            .map(|k| (k.record.created_ms, k.record.id.clone(), k.record.arn()))
            .collect();
        keys.sort();
        let (keys, page) = paginate(keys, limit, start);
        Ok(ListKeysResponse {
            keys: keys
                .into_iter()
                .map(|(_, key_id, key_arn)| KeyListEntry { key_id, key_arn })
                .collect(),
            page,
        })
    }

    /// Read-modify-write of one key under the write lock, with the caller's permission and
    /// a state check made against the freshest record.
    async fn update_key(
        &self,
        caller: &Caller,
        key: &Option<String>,
        note: &mut Note,
        action: &str,
        change: impl FnOnce(&mut KeyRecord, i64) -> KmsResult<()>,
    ) -> KmsResult<Arc<KeyEntry>> {
        let entry = self.key_for(key, false, note).await?;
        self.authorize(caller, &entry.record, action, None, None, &[])?;
        let mut writing = self.begin().await?;
        let entry = self
            .by_id(&entry.record.id)
            .ok_or_else(|| KmsError::not_found(format!("Invalid keyId '{}'", entry.record.id)))?;
        let mut record = entry.record.clone();
        change(&mut record, self.now_ms())?;
        let entry = self.save_key(&mut writing, record, entry.secrets.clone(), None)?;
        self.commit(writing).await?;
        Ok(entry)
    }

    /// EnableKey and DisableKey: only between those two states, as in AWS.
    async fn set_enabled(
        &self,
        caller: &Caller,
        req: &KeyRequest,
        note: &mut Note,
        enabled: bool,
    ) -> KmsResult<Empty> {
        let action = if enabled {
            "kms:EnableKey"
        } else {
            "kms:DisableKey"
        };
        self.update_key(caller, &req.key_id, note, action, |r, _| match r.state {
            KeyState::Enabled | KeyState::Disabled => {
                r.state = if enabled {
                    KeyState::Enabled
                } else {
                    KeyState::Disabled
                };
                Ok(())
            }
            s => Err(s.refusal(&r.arn())),
        })
        .await?;
        Ok(Empty {})
    }

    pub(super) async fn enable_key(
        &self,
        caller: &Caller,
        req: &KeyRequest,
        note: &mut Note,
    ) -> KmsResult<Empty> {
        self.set_enabled(caller, req, note, true).await
    }

    pub(super) async fn disable_key(
        &self,
        caller: &Caller,
        req: &KeyRequest,
        note: &mut Note,
    ) -> KmsResult<Empty> {
        self.set_enabled(caller, req, note, false).await
    }

    /// Starts a deletion window; when it ends, the key and its material are deleted from the
    /// store. SQLite overwrites them on disk; a fleet's PostgreSQL cannot: sealed copies stay
    /// in dead rows, WAL, standbys and backups until those age out (docs/FORMAT.md).
    pub(super) async fn schedule_key_deletion(
        &self,
        caller: &Caller,
        req: &ScheduleKeyDeletionRequest,
        note: &mut Note,
    ) -> KmsResult<ScheduleKeyDeletionResponse> {
        let days = input::in_range(req.pending_window_in_days, "PendingWindowInDays", 7, 30)?
            .unwrap_or(30);
        self.check_deletion_guard(caller, &req.key_id, note).await?;
        let entry = self
            .update_key(
                caller,
                &req.key_id,
                note,
                "kms:ScheduleKeyDeletion",
                |r, now| {
                    if r.state == KeyState::PendingDeletion {
                        return Err(KmsError::invalid_state(format!(
                            "{} is pending deletion.",
                            r.arn()
                        )));
                    }
                    if r.manager == KeyManager::Aws {
                        return Err(KmsError::unsupported("AWS managed keys cannot be deleted"));
                    }
                    r.state = KeyState::PendingDeletion;
                    r.deletion_date_ms = Some(now + days * DAY_MS);
                    r.pending_window_days = Some(days as u32);
                    Ok(())
                },
            )
            .await?;
        let r = &entry.record;
        Ok(ScheduleKeyDeletionResponse {
            key_id: r.arn(),
            deletion_date: epoch_seconds(r.deletion_date_ms.unwrap_or_default()),
            key_state: r.state.as_str(),
            pending_window_in_days: days,
        })
    }

    /// Asks the deletion guard, if there is one, about the key, once the caller is known
    /// to be allowed to delete it (the refusal names a bucket).
    async fn check_deletion_guard(
        &self,
        caller: &Caller,
        key: &Option<String>,
        note: &mut Note,
    ) -> KmsResult<()> {
        let Some(guard) = self.inner.deletion_guard.get() else {
            return Ok(());
        };
        let entry = self.key_for(key, false, note).await?;
        self.authorize(
            caller,
            &entry.record,
            "kms:ScheduleKeyDeletion",
            None,
            None,
            &[],
        )?;
        let arn = entry.record.arn();
        match guard.refusal(&arn, self.now_ms()).await {
            Ok(None) => Ok(()),
            Ok(Some(why)) => Err(KmsError::invalid_state(why)),
            Err(e) => {
                tracing::error!(key = %arn, error = %e, "the key deletion guard could not decide");
                Err(KmsError::internal(
                    "the key deletion guard could not decide",
                ))
            }
        }
    }

    pub(super) async fn cancel_key_deletion(
        &self,
        caller: &Caller,
        req: &KeyRequest,
        note: &mut Note,
    ) -> KmsResult<KeyIdResponse> {
        let entry = self
            .update_key(
                caller,
                &req.key_id,
                note,
                "kms:CancelKeyDeletion",
                |r, _| {
                    if r.state != KeyState::PendingDeletion {
                        return Err(KmsError::invalid_state(format!(
                            "{} is not pending deletion (it is {}).",
                            r.arn(),
                            r.state.as_str()
                        )));
                    }
                    r.state = if r.materials.is_empty() {
                        KeyState::PendingImport
                    } else {
                        KeyState::Disabled
                    };
                    r.deletion_date_ms = None;
                    r.pending_window_days = None;
                    Ok(())
                },
            )
            .await?;
        Ok(key_id_out(&entry.record))
    }

    pub(super) async fn update_key_description(
        &self,
        caller: &Caller,
        req: &UpdateKeyDescriptionRequest,
        note: &mut Note,
    ) -> KmsResult<Empty> {
        let description = required(&req.description, "Description")?.clone();
        if description.len() > 8192 {
            return Err(length_error("Description", 0, 8192));
        }
        self.update_key(
            caller,
            &req.key_id,
            note,
            "kms:UpdateKeyDescription",
            |r, _| {
                if r.state == KeyState::PendingDeletion {
                    return Err(r.state.refusal(&r.arn()));
                }
                r.description = description;
                Ok(())
            },
        )
        .await?;
        Ok(Empty {})
    }

    pub(super) async fn tag_resource(
        &self,
        caller: &Caller,
        req: &TagResourceRequest,
        note: &mut Note,
    ) -> KmsResult<Empty> {
        let tags = input::tags(&req.tags)?.ok_or_else(|| must_not_be_null("Tags"))?;
        validate_tags(&tags)?;
        self.update_key(caller, &req.key_id, note, "kms:TagResource", |r, _| {
            if r.state == KeyState::PendingDeletion {
                return Err(r.state.refusal(&r.arn()));
            }
            r.tags.extend(tags);
            if r.tags.len() > MAX_TAGS {
                return Err(KmsError::limit_exceeded("A key can have at most 50 tags"));
            }
            Ok(())
        })
        .await?;
        Ok(Empty {})
    }

    pub(super) async fn untag_resource(
        &self,
        caller: &Caller,
        req: &UntagResourceRequest,
        note: &mut Note,
    ) -> KmsResult<Empty> {
        let keys = required(&req.tag_keys, "TagKeys")?;
        self.update_key(caller, &req.key_id, note, "kms:UntagResource", |r, _| {
            if r.state == KeyState::PendingDeletion {
                return Err(r.state.refusal(&r.arn()));
            }
            for k in keys {
                r.tags.remove(k);
            }
            Ok(())
        })
        .await?;
        Ok(Empty {})
    }

    pub(super) async fn list_resource_tags(
        &self,
        caller: &Caller,
        req: &KeyListRequest,
        note: &mut Note,
    ) -> KmsResult<ListResourceTagsResponse> {
        let entry = self.key_for(&req.key_id, false, note).await?;
        self.authorize(
            caller,
            &entry.record,
            "kms:ListResourceTags",
            None,
            None,
            &[],
        )?;
        let (limit, start) = page(req.limit, req.marker.as_deref(), 50, 50)?;
        let tags: Vec<TagOut> = entry
            .record
            .tags
            .iter()
            .map(|(k, v)| TagOut {
                tag_key: k.clone(),
                tag_value: v.clone(),
            })
            .collect();
        let (tags, page) = paginate(tags, limit, start);
        Ok(ListResourceTagsResponse { tags, page })
    }

    fn policy_name(name: Option<&str>) -> KmsResult<()> {
        match name {
            None | Some("default") => Ok(()),
            Some(other) => Err(KmsError::not_found(format!("No such policy: {other}"))),
        }
    }

    pub(super) async fn get_key_policy(
        &self,
        caller: &Caller,
        req: &GetKeyPolicyRequest,
        note: &mut Note,
    ) -> KmsResult<GetKeyPolicyResponse> {
        Self::policy_name(req.policy_name.as_deref())?;
        let entry = self.key_for(&req.key_id, false, note).await?;
        self.authorize(caller, &entry.record, "kms:GetKeyPolicy", None, None, &[])?;
        Ok(GetKeyPolicyResponse {
            policy: entry.record.policy.clone(),
            policy_name: "default",
        })
    }

    pub(super) async fn put_key_policy(
        &self,
        caller: &Caller,
        req: &PutKeyPolicyRequest,
        note: &mut Note,
    ) -> KmsResult<Empty> {
        Self::policy_name(req.policy_name.as_deref())?;
        let text = required_len(&req.policy, "Policy", 1, 32768)?.to_owned();
        let bypass = req.bypass_policy_lockout_safety_check == Some(true);
        let caller_copy = caller.clone();
        let this = self.clone();
        self.update_key(caller, &req.key_id, note, "kms:PutKeyPolicy", move |r, _| {
            if r.manager == KeyManager::Aws {
                return Err(KmsError::unsupported(
                    "The policy of an AWS managed key cannot be changed",
                ));
            }
            if r.state == KeyState::PendingDeletion {
                return Err(r.state.refusal(&r.arn()));
            }
            // Checked after the caller's permission, so strangers learn nothing from it.
            let policy = parse_policy(&text)?;
            if !bypass && !this.policy_keeps_admin(&caller_copy, r, &policy) {
                return Err(KmsError::malformed_policy(
                    "The new key policy will not allow you to update the key policy in the future.",
                ));
            }
            r.policy = text;
            Ok(())
        })
        .await?;
        Ok(Empty {})
    }

    pub(super) async fn list_key_policies(
        &self,
        caller: &Caller,
        req: &KeyRequest,
        note: &mut Note,
    ) -> KmsResult<ListKeyPoliciesResponse> {
        let entry = self.key_for(&req.key_id, false, note).await?;
        self.authorize(
            caller,
            &entry.record,
            "kms:ListKeyPolicies",
            None,
            None,
            &[],
        )?;
        Ok(ListKeyPoliciesResponse {
            policy_names: vec!["default"],
            truncated: false,
        })
    }

    fn rotatable(r: &KeyRecord) -> KmsResult<()> {
        if r.spec != KeySpec::SymmetricDefault || r.origin != Origin::AwsKms {
            return Err(KmsError::unsupported(format!(
                "{} does not support automatic rotation: only symmetric keys with key material generated by KMS rotate automatically.",
                r.arn()
            )));
        }
        Ok(())
    }

    /// Whether the caller may rotate the key or change its rotation: an enabled customer
    /// key that rotates at all (AWS managed keys rotate on their own).
    fn rotation_changeable(r: &KeyRecord) -> KmsResult<()> {
        Self::rotatable(r)?;
        if r.manager == KeyManager::Aws {
            return Err(KmsError::unsupported(
                "AWS managed keys rotate on their own schedule",
            ));
        }
        if r.state != KeyState::Enabled {
            return Err(r.state.refusal(&r.arn()));
        }
        Ok(())
    }

    pub(super) async fn enable_key_rotation(
        &self,
        caller: &Caller,
        req: &EnableKeyRotationRequest,
        note: &mut Note,
    ) -> KmsResult<Empty> {
        let days = input::in_range(
            req.rotation_period_in_days,
            "RotationPeriodInDays",
            90,
            2560,
        )?
        .unwrap_or(365);
        self.update_key(
            caller,
            &req.key_id,
            note,
            "kms:EnableKeyRotation",
            |r, now| {
                Self::rotation_changeable(r)?;
                r.rotation_period_days = Some(days as u32);
                r.next_rotation_ms = Some(now + days * DAY_MS);
                Ok(())
            },
        )
        .await?;
        Ok(Empty {})
    }

    pub(super) async fn disable_key_rotation(
        &self,
        caller: &Caller,
        req: &KeyRequest,
        note: &mut Note,
    ) -> KmsResult<Empty> {
        self.update_key(
            caller,
            &req.key_id,
            note,
            "kms:DisableKeyRotation",
            |r, _| {
                Self::rotation_changeable(r)?;
                r.rotation_period_days = None;
                r.next_rotation_ms = None;
                Ok(())
            },
        )
        .await?;
        Ok(Empty {})
    }

    pub(super) async fn get_key_rotation_status(
        &self,
        caller: &Caller,
        req: &KeyRequest,
        note: &mut Note,
    ) -> KmsResult<GetKeyRotationStatusResponse> {
        let entry = self.key_for(&req.key_id, false, note).await?;
        let r = &entry.record;
        self.authorize(caller, r, "kms:GetKeyRotationStatus", None, None, &[])?;
        Self::rotatable(r)?;
        Ok(GetKeyRotationStatusResponse {
            key_id: r.arn(),
            key_rotation_enabled: r.rotation_period_days.is_some(),
            rotation_period_in_days: r.rotation_period_days,
            next_rotation_date: r.next_rotation_ms.map(epoch_seconds),
            on_demand_rotation_start_date: r.on_demand_rotation_started_ms.map(epoch_seconds),
        })
    }

    pub(super) async fn rotate_key_on_demand(
        &self,
        caller: &Caller,
        req: &KeyRequest,
        note: &mut Note,
    ) -> KmsResult<KeyIdResponse> {
        let entry = self.key_for(&req.key_id, false, note).await?;
        self.authorize(
            caller,
            &entry.record,
            "kms:RotateKeyOnDemand",
            None,
            None,
            &[],
        )?;
        let mut change = self.begin().await?;
        let entry = self
            .by_id(&entry.record.id)
            .ok_or_else(|| KmsError::not_found("Invalid keyId"))?;
        let r = &entry.record;
        Self::rotation_changeable(r)?;
        let on_demand = r
            .materials
            .iter()
            .filter(|m| m.rotation_type == Some(RotationType::OnDemand))
            .count();
        if on_demand >= MAX_ON_DEMAND_ROTATIONS {
            return Err(KmsError::limit_exceeded(format!(
                "{} has reached the limit of {MAX_ON_DEMAND_ROTATIONS} on-demand rotations.",
                r.arn()
            )));
        }
        let rotated = self
            .rotate(&mut change, &entry, RotationType::OnDemand)
            .await?;
        self.commit(change).await?;
        note.key_version = rotated
            .record
            .current_material()
            .map(|m| m.material_id.clone());
        Ok(key_id_out(&rotated.record))
    }

    pub(super) async fn list_key_rotations(
        &self,
        caller: &Caller,
        req: &KeyListRequest,
        note: &mut Note,
    ) -> KmsResult<ListKeyRotationsResponse> {
        let entry = self.key_for(&req.key_id, false, note).await?;
        let r = &entry.record;
        self.authorize(caller, r, "kms:ListKeyRotations", None, None, &[])?;
        Self::rotatable(r)?;
        let (limit, start) = page(req.limit, req.marker.as_deref(), 100, 1000)?;
        let current = r.current_material().map(|m| m.seq);
        let rotations: Vec<RotationsListEntry> = r
            .materials
            .iter()
            .filter_map(|m| {
                let kind = m.rotation_type?;
                Some(RotationsListEntry {
                    key_id: r.arn(),
                    key_material_id: m.material_id.clone(),
                    key_material_state: if Some(m.seq) == current {
                        "CURRENT"
                    } else {
                        "NON_CURRENT"
                    },
                    rotation_date: epoch_seconds(m.created_ms),
                    rotation_type: kind.as_str(),
                })
            })
            .collect();
        let (rotations, page) = paginate(rotations, limit, start);
        Ok(ListKeyRotationsResponse { rotations, page })
    }

    fn alias_name(req: &AliasRequest) -> KmsResult<String> {
        let name = required_len(&req.alias_name, "AliasName", 1, 256)?;
        if !name.starts_with("alias/")
            || name.len() <= "alias/".len()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/_-:".contains(&b))
        {
            return Err(KmsError::validation(format!(
                "1 validation error detected: Value '{name}' at 'aliasName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^alias/[a-zA-Z0-9/_-]+$"
            )));
        }
        Ok(name.to_owned())
    }

    fn alias_not_found(&self, name: &str) -> KmsError {
        KmsError::not_found(format!("Alias {} is not found.", self.alias_arn(name)))
    }

    fn user_alias(name: &str) -> KmsResult<()> {
        if name.starts_with("alias/aws/") {
            return Err(KmsError::invalid_alias_name(
                "Alias must not begin with 'alias/aws/'. The alias/aws/ prefix is reserved for AWS managed keys.",
            ));
        }
        Ok(())
    }

    async fn alias_target(
        &self,
        caller: &Caller,
        req: &AliasRequest,
        note: &mut Note,
        action: &str,
    ) -> KmsResult<Arc<KeyEntry>> {
        let target = required_len(&req.target_key_id, "TargetKeyId", 1, 2048)?;
        let entry = self.resolve(target, false).await?;
        note.key_arn = Some(entry.record.arn());
        self.authorize(caller, &entry.record, action, None, None, &[])?;
        if entry.record.manager == KeyManager::Aws {
            return Err(KmsError::unsupported(
                "An alias cannot point to an AWS managed key",
            ));
        }
        if entry.record.state == KeyState::PendingDeletion {
            return Err(entry.record.state.refusal(&entry.record.arn()));
        }
        Ok(entry)
    }

    pub(super) async fn create_alias(
        &self,
        caller: &Caller,
        req: &AliasRequest,
        note: &mut Note,
    ) -> KmsResult<Empty> {
        let name = Self::alias_name(req)?;
        Self::user_alias(&name)?;
        let entry = self
            .alias_target(caller, req, note, "kms:CreateAlias")
            .await?;
        let mut change = self.begin().await?;
        if self.read().aliases.contains_key(&name) {
            return Err(KmsError::already_exists(format!(
                "An alias with the name {} already exists",
                self.alias_arn(&name)
            )));
        }
        let now = self.now_ms();
        let alias = AliasRecord {
            name: name.clone(),
            target_key_id: entry.record.id.clone(),
            created_ms: now,
            updated_ms: now,
        };
        change.put_alias(alias);
        self.commit(change).await?;
        Ok(Empty {})
    }

    pub(super) async fn update_alias(
        &self,
        caller: &Caller,
        req: &AliasRequest,
        note: &mut Note,
    ) -> KmsResult<Empty> {
        let name = Self::alias_name(req)?;
        Self::user_alias(&name)?;
        let entry = self
            .alias_target(caller, req, note, "kms:UpdateAlias")
            .await?;
        let mut change = self.begin().await?;
        let Some(mut alias) = self.read().aliases.get(&name).cloned() else {
            return Err(self.alias_not_found(&name));
        };
        if let Some(old) = self.by_id(&alias.target_key_id) {
            self.authorize(caller, &old.record, "kms:UpdateAlias", None, None, &[])?;
            if old.record.spec != entry.record.spec || old.record.usage != entry.record.usage {
                return Err(KmsError::validation(
                    "The new target key must have the same key spec and key usage as the current one",
                ));
            }
        }
        alias.target_key_id = entry.record.id.clone();
        alias.updated_ms = self.now_ms();
        change.put_alias(alias);
        self.commit(change).await?;
        Ok(Empty {})
    }

    pub(super) async fn delete_alias(
        &self,
        caller: &Caller,
        req: &AliasRequest,
        note: &mut Note,
    ) -> KmsResult<Empty> {
        let name = Self::alias_name(req)?;
        Self::user_alias(&name)?;
        let mut change = self.begin().await?;
        let Some(alias) = self.read().aliases.get(&name).cloned() else {
            return Err(self.alias_not_found(&name));
        };
        if let Some(key) = self.by_id(&alias.target_key_id) {
            note.key_arn = Some(key.record.arn());
            self.authorize(caller, &key.record, "kms:DeleteAlias", None, None, &[])?;
        }
        change.delete_alias(&name);
        self.commit(change).await?;
        Ok(Empty {})
    }

    pub(super) async fn list_aliases(
        &self,
        caller: &Caller,
        req: &ListAliasesRequest,
        note: &mut Note,
    ) -> KmsResult<ListAliasesResponse> {
        let key = match req.key_id.as_deref() {
            Some(k) => {
                let entry = self.resolve(k, false).await?;
                note.key_arn = Some(entry.record.arn());
                self.authorize(caller, &entry.record, "kms:ListAliases", None, None, &[])?;
                Some(entry.record.id.clone())
            }
            None => {
                self.authorize_account(caller, "kms:ListAliases")?;
                None
            }
        };
        self.apply_due().await?;
        let (limit, start) = page(req.limit, req.marker.as_deref(), 50, 100)?;
        let aliases: Vec<AliasListEntry> = self
            .read()
            .aliases
            .values()
            .filter(|a| key.as_ref().is_none_or(|k| &a.target_key_id == k))
            .map(|a| AliasListEntry {
                alias_name: a.name.clone(),
                alias_arn: self.alias_arn(&a.name),
                target_key_id: a.target_key_id.clone(),
                creation_date: epoch_seconds(a.created_ms),
                last_updated_date: epoch_seconds(a.updated_ms),
            })
            .collect();
        let (aliases, page) = paginate(aliases, limit, start);
        Ok(ListAliasesResponse { aliases, page })
    }
}
