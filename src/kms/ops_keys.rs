//! Key lifecycle operations: create, describe, list, enable/disable, deletion, description,
//! tags, key policies, rotation and aliases.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::caller::Caller;
use super::errors::{KmsError, KmsResult};
use super::input::{Input, page_fields, paginate};
use super::model::{
    AliasRecord, KeyManager, KeyRecord, KeySpec, KeyState, KeyUsage, Origin, RotationType,
    epoch_seconds,
};
use super::service::{DAY_MS, KeyEntry, KmsService, Note, default_key_policy};
use crate::policy::{Policy, PolicyKind};

const MAX_TAGS: usize = 50;
const MAX_ON_DEMAND_ROTATIONS: usize = 25;

pub fn key_metadata(r: &KeyRecord) -> Value {
    let mut m = Map::new();
    m.insert("AWSAccountId".into(), json!(r.account));
    m.insert("KeyId".into(), json!(r.id));
    m.insert("Arn".into(), json!(r.arn()));
    m.insert("CreationDate".into(), json!(epoch_seconds(r.created_ms)));
    m.insert("Enabled".into(), json!(r.state == KeyState::Enabled));
    m.insert("Description".into(), json!(r.description));
    m.insert("KeyUsage".into(), json!(r.usage.as_str()));
    m.insert("KeyState".into(), json!(r.state.as_str()));
    m.insert("Origin".into(), json!(r.origin.as_str()));
    m.insert("KeyManager".into(), json!(r.manager.as_str()));
    m.insert("CustomerMasterKeySpec".into(), json!(r.spec.as_str()));
    m.insert("KeySpec".into(), json!(r.spec.as_str()));
    m.insert("MultiRegion".into(), json!(false));
    for (name, list) in [
        (
            "EncryptionAlgorithms",
            r.spec.encryption_algorithms(r.usage),
        ),
        ("SigningAlgorithms", r.spec.signing_algorithms(r.usage)),
        ("MacAlgorithms", r.spec.mac_algorithms()),
    ] {
        if !list.is_empty() {
            m.insert(name.into(), json!(list));
        }
    }
    if r.state == KeyState::PendingDeletion {
        if let Some(d) = r.deletion_date_ms {
            m.insert("DeletionDate".into(), json!(epoch_seconds(d)));
        }
        if let Some(w) = r.pending_window_days {
            m.insert("PendingDeletionWindowInDays".into(), json!(w));
        }
    }
    if r.origin == Origin::External
        && let Some(cur) = r.current_material()
    {
        if let Some(model) = cur.expiration_model {
            m.insert("ExpirationModel".into(), json!(model.as_str()));
        }
        if let Some(v) = cur.valid_to_ms {
            m.insert("ValidTo".into(), json!(epoch_seconds(v)));
        }
    }
    if let Some(cur) = r.current_material() {
        m.insert("CurrentKeyMaterialId".into(), json!(cur.material_id));
    }
    Value::Object(m)
}

fn key_id_out(r: &KeyRecord) -> Value {
    json!({ "KeyId": r.arn() })
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
        input: &Input,
        allow_alias: bool,
        note: &mut Note,
    ) -> KmsResult<Arc<KeyEntry>> {
        let entry = self.resolve(input.key_id()?, allow_alias).await?;
        note.key_arn = Some(entry.record.arn());
        Ok(entry)
    }

    pub(super) async fn create_key(
        &self,
        caller: &Caller,
        input: &Input,
        note: &mut Note,
    ) -> KmsResult<Value> {
        self.authorize_account(caller, "kms:CreateKey")?;
        let spec_text = match (
            input.opt_str("KeySpec")?,
            input.opt_str("CustomerMasterKeySpec")?,
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
        let usage = match input.opt_str("KeyUsage")? {
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
        let origin = match input.opt_str("Origin")? {
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
        if input.opt_bool("MultiRegion")? == Some(true) {
            return Err(KmsError::unsupported("Multi-Region keys are not supported"));
        }
        if input.opt_str("CustomKeyStoreId")?.is_some() || input.opt_str("XksKeyId")?.is_some() {
            return Err(KmsError::unsupported("Custom key stores are not supported"));
        }
        let description = input.opt_str("Description")?.unwrap_or("").to_owned();
        if description.len() > 8192 {
            return Err(super::input::length_error("Description", 0, 8192));
        }
        let tags = input.tags()?.unwrap_or_default();
        validate_tags(&tags)?;
        if tags.len() > MAX_TAGS {
            return Err(KmsError::tag("A key can have at most 50 tags"));
        }
        let policy_text = match input.opt_str("Policy")? {
            Some(p) => p.to_owned(),
            None => default_key_policy(self.account()),
        };
        let policy = parse_policy(&policy_text)?;
        let mut record = self.new_record(spec, usage, origin, description, policy_text);
        if input.opt_bool("BypassPolicyLockoutSafetyCheck")? != Some(true)
            && !self.policy_keeps_admin(caller, &record, &policy)
        {
            return Err(KmsError::malformed_policy(
                "The new key policy will not allow you to update the key policy in the future.",
            ));
        }
        record.tags = tags.into_iter().collect();
        let _guard = self.inner.write.lock().await;
        let entry = self.insert_new_key(record).await?;
        note.key_arn = Some(entry.record.arn());
        Ok(json!({ "KeyMetadata": key_metadata(&entry.record) }))
    }

    pub(super) async fn describe_key(
        &self,
        caller: &Caller,
        input: &Input,
        note: &mut Note,
    ) -> KmsResult<Value> {
        let entry = self.key_for(input, true, note).await?;
        self.authorize(
            caller,
            &entry.record,
            "kms:DescribeKey",
            Some("DescribeKey"),
            None,
            &[],
        )?;
        Ok(json!({ "KeyMetadata": key_metadata(&entry.record) }))
    }

    pub(super) async fn list_keys(&self, caller: &Caller, input: &Input) -> KmsResult<Value> {
        self.authorize_account(caller, "kms:ListKeys")?;
        self.apply_due().await?;
        let (limit, start) = input.page(100, 1000)?;
        let mut keys: Vec<(i64, String, String)> = self
            .read()
            .keys
            .values()
            .map(|k| (k.record.created_ms, k.record.id.clone(), k.record.arn()))
            .collect();
        keys.sort();
        let (page, next) = paginate(&keys, limit, start);
        let mut out = Map::new();
        out.insert(
            "Keys".into(),
            json!(
                page.iter()
                    .map(|(_, id, arn)| json!({"KeyId": id, "KeyArn": arn}))
                    .collect::<Vec<_>>()
            ),
        );
        page_fields(&mut out, next);
        Ok(Value::Object(out))
    }

    /// Read-modify-write of one key under the write lock, with the caller's permission and
    /// a state check made against the freshest record.
    async fn update_key(
        &self,
        caller: &Caller,
        input: &Input,
        note: &mut Note,
        action: &str,
        change: impl FnOnce(&mut KeyRecord, i64) -> KmsResult<()>,
    ) -> KmsResult<Arc<KeyEntry>> {
        let entry = self.key_for(input, false, note).await?;
        self.authorize(caller, &entry.record, action, None, None, &[])?;
        let _guard = self.inner.write.lock().await;
        let entry = self
            .by_id(&entry.record.id)
            .ok_or_else(|| KmsError::not_found(format!("Invalid keyId '{}'", entry.record.id)))?;
        let mut record = entry.record.clone();
        change(&mut record, self.now_ms())?;
        self.save_key(record, entry.secrets.clone(), None).await
    }

    /// EnableKey and DisableKey: only between those two states, as in AWS.
    async fn set_enabled(
        &self,
        caller: &Caller,
        input: &Input,
        note: &mut Note,
        enabled: bool,
    ) -> KmsResult<Value> {
        let action = if enabled {
            "kms:EnableKey"
        } else {
            "kms:DisableKey"
        };
        self.update_key(caller, input, note, action, |r, _| match r.state {
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
        Ok(json!({}))
    }

    pub(super) async fn enable_key(
        &self,
        caller: &Caller,
        input: &Input,
        note: &mut Note,
    ) -> KmsResult<Value> {
        self.set_enabled(caller, input, note, true).await
    }

    pub(super) async fn disable_key(
        &self,
        caller: &Caller,
        input: &Input,
        note: &mut Note,
    ) -> KmsResult<Value> {
        self.set_enabled(caller, input, note, false).await
    }

    pub(super) async fn schedule_key_deletion(
        &self,
        caller: &Caller,
        input: &Input,
        note: &mut Note,
    ) -> KmsResult<Value> {
        let days = input.opt_int("PendingWindowInDays", 7, 30)?.unwrap_or(30);
        let entry = self
            .update_key(caller, input, note, "kms:ScheduleKeyDeletion", |r, now| {
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
            })
            .await?;
        let r = &entry.record;
        Ok(json!({
            "KeyId": r.arn(),
            "DeletionDate": epoch_seconds(r.deletion_date_ms.unwrap_or_default()),
            "KeyState": r.state.as_str(),
            "PendingWindowInDays": days,
        }))
    }

    pub(super) async fn cancel_key_deletion(
        &self,
        caller: &Caller,
        input: &Input,
        note: &mut Note,
    ) -> KmsResult<Value> {
        let entry = self
            .update_key(caller, input, note, "kms:CancelKeyDeletion", |r, _| {
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
            })
            .await?;
        Ok(key_id_out(&entry.record))
    }

    pub(super) async fn update_key_description(
        &self,
        caller: &Caller,
        input: &Input,
        note: &mut Note,
    ) -> KmsResult<Value> {
        let description = input.str("Description")?.to_owned();
        if description.len() > 8192 {
            return Err(super::input::length_error("Description", 0, 8192));
        }
        self.update_key(caller, input, note, "kms:UpdateKeyDescription", |r, _| {
            if r.state == KeyState::PendingDeletion {
                return Err(r.state.refusal(&r.arn()));
            }
            r.description = description;
            Ok(())
        })
        .await?;
        Ok(json!({}))
    }

    pub(super) async fn tag_resource(
        &self,
        caller: &Caller,
        input: &Input,
        note: &mut Note,
    ) -> KmsResult<Value> {
        let tags = input
            .tags()?
            .ok_or_else(|| super::input::must_not_be_null("Tags"))?;
        validate_tags(&tags)?;
        self.update_key(caller, input, note, "kms:TagResource", |r, _| {
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
        Ok(json!({}))
    }

    pub(super) async fn untag_resource(
        &self,
        caller: &Caller,
        input: &Input,
        note: &mut Note,
    ) -> KmsResult<Value> {
        let keys = input
            .opt_str_list("TagKeys")?
            .ok_or_else(|| super::input::must_not_be_null("TagKeys"))?;
        self.update_key(caller, input, note, "kms:UntagResource", |r, _| {
            if r.state == KeyState::PendingDeletion {
                return Err(r.state.refusal(&r.arn()));
            }
            for k in &keys {
                r.tags.remove(k);
            }
            Ok(())
        })
        .await?;
        Ok(json!({}))
    }

    pub(super) async fn list_resource_tags(
        &self,
        caller: &Caller,
        input: &Input,
        note: &mut Note,
    ) -> KmsResult<Value> {
        let entry = self.key_for(input, false, note).await?;
        self.authorize(
            caller,
            &entry.record,
            "kms:ListResourceTags",
            None,
            None,
            &[],
        )?;
        let (limit, start) = input.page(50, 50)?;
        let tags: Vec<(String, String)> = entry.record.tags.clone().into_iter().collect();
        let (page, next) = paginate(&tags, limit, start);
        let mut out = Map::new();
        out.insert(
            "Tags".into(),
            json!(
                page.iter()
                    .map(|(k, v)| json!({"TagKey": k, "TagValue": v}))
                    .collect::<Vec<_>>()
            ),
        );
        page_fields(&mut out, next);
        Ok(Value::Object(out))
    }

    fn policy_name(input: &Input) -> KmsResult<()> {
        match input.opt_str("PolicyName")? {
            None | Some("default") => Ok(()),
            Some(other) => Err(KmsError::not_found(format!("No such policy: {other}"))),
        }
    }

    pub(super) async fn get_key_policy(
        &self,
        caller: &Caller,
        input: &Input,
        note: &mut Note,
    ) -> KmsResult<Value> {
        Self::policy_name(input)?;
        let entry = self.key_for(input, false, note).await?;
        self.authorize(caller, &entry.record, "kms:GetKeyPolicy", None, None, &[])?;
        Ok(json!({ "Policy": entry.record.policy, "PolicyName": "default" }))
    }

    pub(super) async fn put_key_policy(
        &self,
        caller: &Caller,
        input: &Input,
        note: &mut Note,
    ) -> KmsResult<Value> {
        Self::policy_name(input)?;
        let text = input.str_len("Policy", 1, 32768)?.to_owned();
        let bypass = input.opt_bool("BypassPolicyLockoutSafetyCheck")? == Some(true);
        let caller_copy = caller.clone();
        let this = self.clone();
        self.update_key(caller, input, note, "kms:PutKeyPolicy", move |r, _| {
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
        Ok(json!({}))
    }

    pub(super) async fn list_key_policies(
        &self,
        caller: &Caller,
        input: &Input,
        note: &mut Note,
    ) -> KmsResult<Value> {
        let entry = self.key_for(input, false, note).await?;
        self.authorize(
            caller,
            &entry.record,
            "kms:ListKeyPolicies",
            None,
            None,
            &[],
        )?;
        Ok(json!({ "PolicyNames": ["default"], "Truncated": false }))
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

    pub(super) async fn enable_key_rotation(
        &self,
        caller: &Caller,
        input: &Input,
        note: &mut Note,
    ) -> KmsResult<Value> {
        let days = input
            .opt_int("RotationPeriodInDays", 90, 2560)?
            .unwrap_or(365);
        self.update_key(caller, input, note, "kms:EnableKeyRotation", |r, now| {
            Self::rotatable(r)?;
            if r.manager == KeyManager::Aws {
                return Err(KmsError::unsupported(
                    "AWS managed keys rotate on their own schedule",
                ));
            }
            if r.state != KeyState::Enabled {
                return Err(r.state.refusal(&r.arn()));
            }
            r.rotation_period_days = Some(days as u32);
            r.next_rotation_ms = Some(now + days * DAY_MS);
            Ok(())
        })
        .await?;
        Ok(json!({}))
    }

    pub(super) async fn disable_key_rotation(
        &self,
        caller: &Caller,
        input: &Input,
        note: &mut Note,
    ) -> KmsResult<Value> {
        self.update_key(caller, input, note, "kms:DisableKeyRotation", |r, _| {
            Self::rotatable(r)?;
            if r.manager == KeyManager::Aws {
                return Err(KmsError::unsupported(
                    "AWS managed keys rotate on their own schedule",
                ));
            }
            if r.state != KeyState::Enabled {
                return Err(r.state.refusal(&r.arn()));
            }
            r.rotation_period_days = None;
            r.next_rotation_ms = None;
            Ok(())
        })
        .await?;
        Ok(json!({}))
    }

    pub(super) async fn get_key_rotation_status(
        &self,
        caller: &Caller,
        input: &Input,
        note: &mut Note,
    ) -> KmsResult<Value> {
        let entry = self.key_for(input, false, note).await?;
        let r = &entry.record;
        self.authorize(caller, r, "kms:GetKeyRotationStatus", None, None, &[])?;
        Self::rotatable(r)?;
        let mut out = Map::new();
        out.insert("KeyId".into(), json!(r.arn()));
        out.insert(
            "KeyRotationEnabled".into(),
            json!(r.rotation_period_days.is_some()),
        );
        if let Some(days) = r.rotation_period_days {
            out.insert("RotationPeriodInDays".into(), json!(days));
        }
        if let Some(next) = r.next_rotation_ms {
            out.insert("NextRotationDate".into(), json!(epoch_seconds(next)));
        }
        if let Some(started) = r.on_demand_rotation_started_ms {
            out.insert(
                "OnDemandRotationStartDate".into(),
                json!(epoch_seconds(started)),
            );
        }
        Ok(Value::Object(out))
    }

    pub(super) async fn rotate_key_on_demand(
        &self,
        caller: &Caller,
        input: &Input,
        note: &mut Note,
    ) -> KmsResult<Value> {
        let entry = self.key_for(input, false, note).await?;
        self.authorize(
            caller,
            &entry.record,
            "kms:RotateKeyOnDemand",
            None,
            None,
            &[],
        )?;
        let _guard = self.inner.write.lock().await;
        let entry = self
            .by_id(&entry.record.id)
            .ok_or_else(|| KmsError::not_found("Invalid keyId"))?;
        let r = &entry.record;
        Self::rotatable(r)?;
        if r.manager == KeyManager::Aws {
            return Err(KmsError::unsupported(
                "AWS managed keys rotate on their own schedule",
            ));
        }
        if r.state != KeyState::Enabled {
            return Err(r.state.refusal(&r.arn()));
        }
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
        let rotated = self.rotate(&entry, RotationType::OnDemand).await?;
        note.key_version = rotated
            .record
            .current_material()
            .map(|m| m.material_id.clone());
        Ok(key_id_out(&rotated.record))
    }

    pub(super) async fn list_key_rotations(
        &self,
        caller: &Caller,
        input: &Input,
        note: &mut Note,
    ) -> KmsResult<Value> {
        let entry = self.key_for(input, false, note).await?;
        let r = &entry.record;
        self.authorize(caller, r, "kms:ListKeyRotations", None, None, &[])?;
        Self::rotatable(r)?;
        let (limit, start) = input.page(100, 1000)?;
        let current = r.current_material().map(|m| m.seq);
        let rotations: Vec<Value> = r
            .materials
            .iter()
            .filter_map(|m| {
                let kind = m.rotation_type?;
                Some(json!({
                    "KeyId": r.arn(),
                    "KeyMaterialId": m.material_id,
                    "KeyMaterialState": if Some(m.seq) == current { "CURRENT" } else { "NON_CURRENT" },
                    "RotationDate": epoch_seconds(m.created_ms),
                    "RotationType": kind.as_str(),
                }))
            })
            .collect();
        let (page, next) = paginate(&rotations, limit, start);
        let mut out = Map::new();
        out.insert("Rotations".into(), Value::Array(page));
        page_fields(&mut out, next);
        Ok(Value::Object(out))
    }

    fn alias_name(input: &Input) -> KmsResult<String> {
        let name = input.str_len("AliasName", 1, 256)?;
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
        input: &Input,
        note: &mut Note,
        action: &str,
    ) -> KmsResult<Arc<KeyEntry>> {
        let target = input.str_len("TargetKeyId", 1, 2048)?;
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
        input: &Input,
        note: &mut Note,
    ) -> KmsResult<Value> {
        let name = Self::alias_name(input)?;
        Self::user_alias(&name)?;
        let entry = self
            .alias_target(caller, input, note, "kms:CreateAlias")
            .await?;
        let _guard = self.inner.write.lock().await;
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
        self.save_alias(alias).await?;
        Ok(json!({}))
    }

    pub(super) async fn update_alias(
        &self,
        caller: &Caller,
        input: &Input,
        note: &mut Note,
    ) -> KmsResult<Value> {
        let name = Self::alias_name(input)?;
        Self::user_alias(&name)?;
        let entry = self
            .alias_target(caller, input, note, "kms:UpdateAlias")
            .await?;
        let _guard = self.inner.write.lock().await;
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
        self.save_alias(alias).await?;
        Ok(json!({}))
    }

    pub(super) async fn delete_alias(
        &self,
        caller: &Caller,
        input: &Input,
        note: &mut Note,
    ) -> KmsResult<Value> {
        let name = Self::alias_name(input)?;
        Self::user_alias(&name)?;
        let _guard = self.inner.write.lock().await;
        let Some(alias) = self.read().aliases.get(&name).cloned() else {
            return Err(self.alias_not_found(&name));
        };
        if let Some(key) = self.by_id(&alias.target_key_id) {
            note.key_arn = Some(key.record.arn());
            self.authorize(caller, &key.record, "kms:DeleteAlias", None, None, &[])?;
        }
        let n = name.clone();
        self.persist(move |s| s.delete_alias(&n)).await?;
        self.write_state().aliases.remove(&name);
        Ok(json!({}))
    }

    pub(super) async fn list_aliases(
        &self,
        caller: &Caller,
        input: &Input,
        note: &mut Note,
    ) -> KmsResult<Value> {
        let key = match input.opt_str("KeyId")? {
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
        let (limit, start) = input.page(50, 100)?;
        let aliases: Vec<Value> = self
            .read()
            .aliases
            .values()
            .filter(|a| key.as_ref().is_none_or(|k| &a.target_key_id == k))
            .map(|a| {
                json!({
                    "AliasName": a.name,
                    "AliasArn": self.alias_arn(&a.name),
                    "TargetKeyId": a.target_key_id,
                    "CreationDate": epoch_seconds(a.created_ms),
                    "LastUpdatedDate": epoch_seconds(a.updated_ms),
                })
            })
            .collect();
        let (page, next) = paginate(&aliases, limit, start);
        let mut out = Map::new();
        out.insert("Aliases".into(), Value::Array(page));
        page_fields(&mut out, next);
        Ok(Value::Object(out))
    }
}
