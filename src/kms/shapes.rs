//! The requests and answers of the KMS operations, member for member as AWS names them.
//!
//! Every request member is optional here, as JSON allows leaving it out; which ones an
//! operation requires, and their lengths and ranges, the operation checks (`input`), so
//! its ValidationException messages and their order stay AWS's. Members a request does
//! not list are ignored, as AWS ignores them.

use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

use super::input::{Blob, Object, PageOut, StringMap, Tag, TagOut};

/// `GrantTokens`, type-checked like every member and then not needed: a grant here takes
/// effect as soon as CreateGrant answers, so there is no eventual consistency to bridge.
pub type GrantTokens = Option<Vec<String>>;

/// The answer of an operation that answers nothing but success.
#[derive(Debug, Default, Serialize)]
pub struct Empty {}

// ---- keys ------------------------------------------------------------------------------

/// Operations that name a key and nothing else.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyRequest {
    pub key_id: Option<String>,
}

/// DescribeKey and GetPublicKey: a key, and grant tokens.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyWithGrantTokensRequest {
    pub key_id: Option<String>,
    #[allow(dead_code)]
    pub grant_tokens: GrantTokens,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateKeyRequest {
    pub key_spec: Option<String>,
    pub customer_master_key_spec: Option<String>,
    pub key_usage: Option<String>,
    pub origin: Option<String>,
    pub multi_region: Option<bool>,
    pub custom_key_store_id: Option<String>,
    pub xks_key_id: Option<String>,
    pub description: Option<String>,
    pub tags: Option<Vec<Object<Tag>>>,
    pub policy: Option<String>,
    pub bypass_policy_lockout_safety_check: Option<bool>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyMetadata {
    #[serde(rename = "AWSAccountId")]
    pub aws_account_id: String,
    pub key_id: String,
    pub arn: String,
    pub creation_date: f64,
    pub enabled: bool,
    pub description: String,
    pub key_usage: &'static str,
    pub key_state: &'static str,
    pub origin: &'static str,
    pub key_manager: &'static str,
    pub customer_master_key_spec: &'static str,
    pub key_spec: &'static str,
    pub multi_region: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub encryption_algorithms: Vec<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub signing_algorithms: Vec<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mac_algorithms: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletion_date: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_deletion_window_in_days: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiration_model: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_to: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_key_material_id: Option<String>,
}

/// CreateKey and DescribeKey.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyMetadataResponse {
    pub key_metadata: KeyMetadata,
}

/// Operations that answer the key's ARN.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyIdResponse {
    pub key_id: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListRequest {
    pub limit: Option<i64>,
    pub marker: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyListEntry {
    pub key_id: String,
    pub key_arn: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListKeysResponse {
    pub keys: Vec<KeyListEntry>,
    #[serde(flatten)]
    pub page: PageOut,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ScheduleKeyDeletionRequest {
    pub key_id: Option<String>,
    pub pending_window_in_days: Option<i64>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ScheduleKeyDeletionResponse {
    pub key_id: String,
    pub deletion_date: f64,
    pub key_state: &'static str,
    pub pending_window_in_days: i64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateKeyDescriptionRequest {
    pub key_id: Option<String>,
    pub description: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagResourceRequest {
    pub key_id: Option<String>,
    pub tags: Option<Vec<Object<Tag>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UntagResourceRequest {
    pub key_id: Option<String>,
    pub tag_keys: Option<Vec<String>>,
}

/// ListResourceTags, ListKeyRotations: a key and a page.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyListRequest {
    pub key_id: Option<String>,
    pub limit: Option<i64>,
    pub marker: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListResourceTagsResponse {
    pub tags: Vec<TagOut>,
    #[serde(flatten)]
    pub page: PageOut,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetKeyPolicyRequest {
    pub key_id: Option<String>,
    pub policy_name: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetKeyPolicyResponse {
    pub policy: String,
    pub policy_name: &'static str,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutKeyPolicyRequest {
    pub key_id: Option<String>,
    pub policy_name: Option<String>,
    pub policy: Option<String>,
    pub bypass_policy_lockout_safety_check: Option<bool>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListKeyPoliciesResponse {
    pub policy_names: Vec<&'static str>,
    pub truncated: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EnableKeyRotationRequest {
    pub key_id: Option<String>,
    pub rotation_period_in_days: Option<i64>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetKeyRotationStatusResponse {
    pub key_id: String,
    pub key_rotation_enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotation_period_in_days: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_rotation_date: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_demand_rotation_start_date: Option<f64>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RotationsListEntry {
    pub key_id: String,
    pub key_material_id: String,
    pub key_material_state: &'static str,
    pub rotation_date: f64,
    pub rotation_type: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListKeyRotationsResponse {
    pub rotations: Vec<RotationsListEntry>,
    #[serde(flatten)]
    pub page: PageOut,
}

// ---- aliases ---------------------------------------------------------------------------

/// CreateAlias, UpdateAlias and DeleteAlias (which has no target).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AliasRequest {
    pub alias_name: Option<String>,
    pub target_key_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListAliasesRequest {
    pub key_id: Option<String>,
    pub limit: Option<i64>,
    pub marker: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AliasListEntry {
    pub alias_name: String,
    pub alias_arn: String,
    pub target_key_id: String,
    pub creation_date: f64,
    pub last_updated_date: f64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListAliasesResponse {
    pub aliases: Vec<AliasListEntry>,
    #[serde(flatten)]
    pub page: PageOut,
}

// ---- cryptographic operations ----------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EncryptRequest {
    pub key_id: Option<String>,
    pub plaintext: Option<Blob>,
    pub encryption_context: Option<StringMap>,
    pub encryption_algorithm: Option<String>,
    #[allow(dead_code)]
    pub grant_tokens: GrantTokens,
    pub dry_run: Option<bool>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EncryptResponse {
    pub ciphertext_blob: Blob,
    pub key_id: String,
    pub encryption_algorithm: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DecryptRequest {
    pub ciphertext_blob: Option<Blob>,
    pub key_id: Option<String>,
    pub encryption_context: Option<StringMap>,
    pub encryption_algorithm: Option<String>,
    pub recipient: Option<Object<IgnoredAny>>,
    #[allow(dead_code)]
    pub grant_tokens: GrantTokens,
    pub dry_run: Option<bool>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DecryptResponse {
    pub key_id: String,
    pub plaintext: Blob,
    pub encryption_algorithm: String,
    pub key_material_id: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReEncryptRequest {
    pub ciphertext_blob: Option<Blob>,
    pub source_encryption_context: Option<StringMap>,
    pub source_key_id: Option<String>,
    pub destination_key_id: Option<String>,
    pub destination_encryption_context: Option<StringMap>,
    pub source_encryption_algorithm: Option<String>,
    pub destination_encryption_algorithm: Option<String>,
    #[allow(dead_code)]
    pub grant_tokens: GrantTokens,
    pub dry_run: Option<bool>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReEncryptResponse {
    pub ciphertext_blob: Blob,
    pub source_key_id: String,
    pub key_id: String,
    pub source_encryption_algorithm: String,
    pub destination_encryption_algorithm: String,
    pub source_key_material_id: String,
    pub destination_key_material_id: String,
}

/// GenerateDataKey and GenerateDataKeyWithoutPlaintext.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GenerateDataKeyRequest {
    pub key_id: Option<String>,
    pub encryption_context: Option<StringMap>,
    pub number_of_bytes: Option<i64>,
    pub key_spec: Option<String>,
    pub recipient: Option<Object<IgnoredAny>>,
    #[allow(dead_code)]
    pub grant_tokens: GrantTokens,
    pub dry_run: Option<bool>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GenerateDataKeyResponse {
    pub ciphertext_blob: Blob,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plaintext: Option<Blob>,
    pub key_id: String,
    pub key_material_id: String,
}

/// GenerateDataKeyPair and GenerateDataKeyPairWithoutPlaintext.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GenerateDataKeyPairRequest {
    pub key_id: Option<String>,
    pub encryption_context: Option<StringMap>,
    pub key_pair_spec: Option<String>,
    #[allow(dead_code)]
    pub grant_tokens: GrantTokens,
    pub dry_run: Option<bool>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GenerateDataKeyPairResponse {
    pub private_key_ciphertext_blob: Blob,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_key_plaintext: Option<Blob>,
    pub public_key: Blob,
    pub key_id: String,
    pub key_pair_spec: &'static str,
    pub key_material_id: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GenerateRandomRequest {
    pub number_of_bytes: Option<i64>,
    pub custom_key_store_id: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GenerateRandomResponse {
    pub plaintext: Blob,
}

/// Sign and Verify (which also carries the signature).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SignatureRequest {
    pub key_id: Option<String>,
    pub message: Option<Blob>,
    pub message_type: Option<String>,
    pub signature: Option<Blob>,
    pub signing_algorithm: Option<String>,
    #[allow(dead_code)]
    pub grant_tokens: GrantTokens,
    pub dry_run: Option<bool>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SignResponse {
    pub key_id: String,
    pub signature: Blob,
    pub signing_algorithm: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct VerifyResponse {
    pub key_id: String,
    pub signature_valid: bool,
    pub signing_algorithm: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetPublicKeyResponse {
    pub key_id: String,
    pub public_key: Blob,
    pub customer_master_key_spec: &'static str,
    pub key_spec: &'static str,
    pub key_usage: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_algorithms: Option<Vec<&'static str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_algorithms: Option<Vec<&'static str>>,
}

/// GenerateMac and VerifyMac (which also carries the MAC).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MacRequest {
    pub key_id: Option<String>,
    pub message: Option<Blob>,
    pub mac_algorithm: Option<String>,
    pub mac: Option<Blob>,
    #[allow(dead_code)]
    pub grant_tokens: GrantTokens,
    pub dry_run: Option<bool>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GenerateMacResponse {
    pub key_id: String,
    pub mac: Blob,
    pub mac_algorithm: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct VerifyMacResponse {
    pub key_id: String,
    pub mac_valid: bool,
    pub mac_algorithm: String,
}

// ---- grants ----------------------------------------------------------------------------

/// Grant constraints. Only encryption context constraints exist; any other member is
/// noted so CreateGrant can refuse it rather than silently grant more than was asked.
#[derive(Debug, Default)]
pub struct GrantConstraints {
    pub encryption_context_equals: Option<StringMap>,
    pub encryption_context_subset: Option<StringMap>,
    pub others: bool,
}

impl<'de> Deserialize<'de> for GrantConstraints {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<GrantConstraints, D::Error> {
        struct Members;
        impl<'de> Visitor<'de> for Members {
            type Value = GrantConstraints;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object of grant constraints")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut c = GrantConstraints::default();
                while let Some(name) = map.next_key::<String>()? {
                    match name.as_str() {
                        "EncryptionContextEquals" => {
                            c.encryption_context_equals = map.next_value()?
                        }
                        "EncryptionContextSubset" => {
                            c.encryption_context_subset = map.next_value()?
                        }
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                            c.others = true;
                        }
                    }
                }
                Ok(c)
            }
        }
        d.deserialize_map(Members)
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GrantConstraintsOut {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_context_equals: Option<StringMap>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_context_subset: Option<StringMap>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateGrantRequest {
    pub key_id: Option<String>,
    pub grantee_principal: Option<String>,
    pub retiring_principal: Option<String>,
    pub operations: Option<Vec<String>>,
    pub constraints: Option<GrantConstraints>,
    #[allow(dead_code)]
    pub grant_tokens: GrantTokens,
    pub name: Option<String>,
    pub dry_run: Option<bool>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateGrantResponse {
    pub grant_id: String,
    pub grant_token: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListGrantsRequest {
    pub key_id: Option<String>,
    pub grant_id: Option<String>,
    pub grantee_principal: Option<String>,
    pub limit: Option<i64>,
    pub marker: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListRetirableGrantsRequest {
    pub retiring_principal: Option<String>,
    pub limit: Option<i64>,
    pub marker: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GrantListEntry {
    pub key_id: String,
    pub grant_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub creation_date: f64,
    pub grantee_principal: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retiring_principal: Option<String>,
    pub issuing_account: String,
    pub operations: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub constraints: Option<GrantConstraintsOut>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListGrantsResponse {
    pub grants: Vec<GrantListEntry>,
    #[serde(flatten)]
    pub page: PageOut,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RetireGrantRequest {
    pub grant_token: Option<String>,
    pub key_id: Option<String>,
    pub grant_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RevokeGrantRequest {
    pub key_id: Option<String>,
    pub grant_id: Option<String>,
}

// ---- imported key material -------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetParametersForImportRequest {
    pub key_id: Option<String>,
    pub wrapping_algorithm: Option<String>,
    pub wrapping_key_spec: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetParametersForImportResponse {
    pub key_id: String,
    pub import_token: Blob,
    pub public_key: Blob,
    pub parameters_valid_to: f64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImportKeyMaterialRequest {
    pub key_id: Option<String>,
    pub import_token: Option<Blob>,
    pub encrypted_key_material: Option<Blob>,
    /// Epoch seconds, possibly fractional.
    pub valid_to: Option<f64>,
    pub expiration_model: Option<String>,
    pub import_type: Option<String>,
}

/// ImportKeyMaterial and DeleteImportedKeyMaterial.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyMaterialResponse {
    pub key_id: String,
    pub key_material_id: String,
}
