//! The requests and answers of the KMS operations, member for member as AWS names them.
//!
//! Every request member is optional here, as JSON allows leaving it out; which ones an
//! operation requires, and their lengths and ranges, the operation checks (`input`), so
//! its ValidationException messages and their order stay AWS's. Members a request does
//! not list are ignored, as AWS ignores them.

use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

use super::input::{Blob, Object, PageOut, StringMap, Tag, TagOut};

/// Declares request and answer types. A `request` derives Deserialize, every member
/// optional (`Option<T>` of the type given) and absent when null; an `answer` derives
/// Serialize with its members as given. Both name members in AWS's PascalCase.
macro_rules! shapes {
    () => {};
    (
        $(#[$doc:meta])*
        request $name:ident { $($(#[$attr:meta])* $field:ident: $ty:ty),* $(,)? }
        $($rest:tt)*
    ) => {
        $(#[$doc])*
        #[derive(Debug, Default, Deserialize)]
        #[serde(rename_all = "PascalCase")]
        pub(crate) struct $name {
            $($(#[$attr])* pub(crate) $field: Option<$ty>,)*
        }
        shapes!($($rest)*);
    };
    (
        $(#[$doc:meta])*
        answer $name:ident { $($(#[$attr:meta])* $field:ident: $ty:ty),* $(,)? }
        $($rest:tt)*
    ) => {
        $(#[$doc])*
        #[derive(Debug, Serialize)]
        #[serde(rename_all = "PascalCase")]
        pub(crate) struct $name {
            $($(#[$attr])* pub(crate) $field: $ty,)*
        }
        shapes!($($rest)*);
    };
}

/// `GrantTokens`, type-checked like every member and then not needed: a grant here takes
/// effect as soon as CreateGrant answers (on the other nodes of a fleet, within the fleet's
/// change bound), so there is no eventual consistency to bridge.
pub(super) type GrantTokens = Vec<String>;

/// The answer of an operation that answers nothing but success.
#[derive(Debug, Default, Serialize)]
pub(super) struct Empty {}

// ---- keys ------------------------------------------------------------------------------

shapes! {
    /// Operations that name a key and nothing else.
    request KeyRequest {
        key_id: String,
    }

    /// DescribeKey and GetPublicKey: a key, and grant tokens.
    request KeyWithGrantTokensRequest {
        key_id: String,
        #[allow(dead_code, reason = "read only to check its type, as AWS does")]
        grant_tokens: GrantTokens,
    }

    request CreateKeyRequest {
        key_spec: String,
        customer_master_key_spec: String,
        key_usage: String,
        origin: String,
        multi_region: bool,
        custom_key_store_id: String,
        xks_key_id: String,
        description: String,
        tags: Vec<Object<Tag>>,
        policy: String,
        bypass_policy_lockout_safety_check: bool,
    }

    answer KeyMetadata {
        #[serde(rename = "AWSAccountId")]
        aws_account_id: String,
        key_id: String,
        arn: String,
        creation_date: f64,
        enabled: bool,
        description: String,
        key_usage: &'static str,
        key_state: &'static str,
        origin: &'static str,
        key_manager: &'static str,
        customer_master_key_spec: &'static str,
        key_spec: &'static str,
        multi_region: bool,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        encryption_algorithms: Vec<&'static str>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        signing_algorithms: Vec<&'static str>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        mac_algorithms: Vec<&'static str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        deletion_date: Option<f64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pending_deletion_window_in_days: Option<u32>,
        #[serde(skip_serializing_if = "Option::is_none")]
        expiration_model: Option<&'static str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        valid_to: Option<f64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        current_key_material_id: Option<String>,
    }

    /// CreateKey and DescribeKey.
    answer KeyMetadataResponse {
        key_metadata: KeyMetadata,
    }

    /// Operations that answer the key's ARN.
    answer KeyIdResponse {
        key_id: String,
    }

    request ListRequest {
        limit: i64,
        marker: String,
    }

    answer KeyListEntry {
        key_id: String,
        key_arn: String,
    }

    answer ListKeysResponse {
        keys: Vec<KeyListEntry>,
        #[serde(flatten)]
        page: PageOut,
    }

    request ScheduleKeyDeletionRequest {
        key_id: String,
        pending_window_in_days: i64,
    }

    answer ScheduleKeyDeletionResponse {
        key_id: String,
        deletion_date: f64,
        key_state: &'static str,
        pending_window_in_days: i64,
    }

    request UpdateKeyDescriptionRequest {
        key_id: String,
        description: String,
    }

    request TagResourceRequest {
        key_id: String,
        tags: Vec<Object<Tag>>,
    }

    request UntagResourceRequest {
        key_id: String,
        tag_keys: Vec<String>,
    }

    /// ListResourceTags, ListKeyRotations: a key and a page.
    request KeyListRequest {
        key_id: String,
        limit: i64,
        marker: String,
    }

    answer ListResourceTagsResponse {
        tags: Vec<TagOut>,
        #[serde(flatten)]
        page: PageOut,
    }

    request GetKeyPolicyRequest {
        key_id: String,
        policy_name: String,
    }

    answer GetKeyPolicyResponse {
        policy: String,
        policy_name: &'static str,
    }

    request PutKeyPolicyRequest {
        key_id: String,
        policy_name: String,
        policy: String,
        bypass_policy_lockout_safety_check: bool,
    }

    answer ListKeyPoliciesResponse {
        policy_names: Vec<&'static str>,
        truncated: bool,
    }

    request EnableKeyRotationRequest {
        key_id: String,
        rotation_period_in_days: i64,
    }

    answer GetKeyRotationStatusResponse {
        key_id: String,
        key_rotation_enabled: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        rotation_period_in_days: Option<u32>,
        #[serde(skip_serializing_if = "Option::is_none")]
        next_rotation_date: Option<f64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        on_demand_rotation_start_date: Option<f64>,
    }

    answer RotationsListEntry {
        key_id: String,
        key_material_id: String,
        key_material_state: &'static str,
        rotation_date: f64,
        rotation_type: &'static str,
    }

    answer ListKeyRotationsResponse {
        rotations: Vec<RotationsListEntry>,
        #[serde(flatten)]
        page: PageOut,
    }

    // ---- aliases ---------------------------------------------------------------------------

    /// CreateAlias, UpdateAlias and DeleteAlias (which has no target).
    request AliasRequest {
        alias_name: String,
        target_key_id: String,
    }

    request ListAliasesRequest {
        key_id: String,
        limit: i64,
        marker: String,
    }

    answer AliasListEntry {
        alias_name: String,
        alias_arn: String,
        target_key_id: String,
        creation_date: f64,
        last_updated_date: f64,
    }

    answer ListAliasesResponse {
        aliases: Vec<AliasListEntry>,
        #[serde(flatten)]
        page: PageOut,
    }

    // ---- cryptographic operations ----------------------------------------------------------

    request EncryptRequest {
        key_id: String,
        plaintext: Blob,
        encryption_context: StringMap,
        encryption_algorithm: String,
        #[allow(dead_code, reason = "read only to check its type, as AWS does")]
        grant_tokens: GrantTokens,
        dry_run: bool,
    }

    answer EncryptResponse {
        ciphertext_blob: Blob,
        key_id: String,
        encryption_algorithm: String,
    }

    request DecryptRequest {
        ciphertext_blob: Blob,
        key_id: String,
        encryption_context: StringMap,
        encryption_algorithm: String,
        recipient: Object<IgnoredAny>,
        #[allow(dead_code, reason = "read only to check its type, as AWS does")]
        grant_tokens: GrantTokens,
        dry_run: bool,
    }

    answer DecryptResponse {
        key_id: String,
        plaintext: Blob,
        encryption_algorithm: String,
        key_material_id: String,
    }

    request ReEncryptRequest {
        ciphertext_blob: Blob,
        source_encryption_context: StringMap,
        source_key_id: String,
        destination_key_id: String,
        destination_encryption_context: StringMap,
        source_encryption_algorithm: String,
        destination_encryption_algorithm: String,
        #[allow(dead_code, reason = "read only to check its type, as AWS does")]
        grant_tokens: GrantTokens,
        dry_run: bool,
    }

    answer ReEncryptResponse {
        ciphertext_blob: Blob,
        source_key_id: String,
        key_id: String,
        source_encryption_algorithm: String,
        destination_encryption_algorithm: String,
        source_key_material_id: String,
        destination_key_material_id: String,
    }

    /// GenerateDataKey and GenerateDataKeyWithoutPlaintext.
    request GenerateDataKeyRequest {
        key_id: String,
        encryption_context: StringMap,
        number_of_bytes: i64,
        key_spec: String,
        recipient: Object<IgnoredAny>,
        #[allow(dead_code, reason = "read only to check its type, as AWS does")]
        grant_tokens: GrantTokens,
        dry_run: bool,
    }

    answer GenerateDataKeyResponse {
        ciphertext_blob: Blob,
        #[serde(skip_serializing_if = "Option::is_none")]
        plaintext: Option<Blob>,
        key_id: String,
        key_material_id: String,
    }

    /// GenerateDataKeyPair and GenerateDataKeyPairWithoutPlaintext.
    request GenerateDataKeyPairRequest {
        key_id: String,
        encryption_context: StringMap,
        key_pair_spec: String,
        #[allow(dead_code, reason = "read only to check its type, as AWS does")]
        grant_tokens: GrantTokens,
        dry_run: bool,
    }

    answer GenerateDataKeyPairResponse {
        private_key_ciphertext_blob: Blob,
        #[serde(skip_serializing_if = "Option::is_none")]
        private_key_plaintext: Option<Blob>,
        public_key: Blob,
        key_id: String,
        key_pair_spec: &'static str,
        key_material_id: String,
    }

    request GenerateRandomRequest {
        number_of_bytes: i64,
        custom_key_store_id: String,
    }

    answer GenerateRandomResponse {
        plaintext: Blob,
    }

    /// Sign and Verify (which also carries the signature).
    request SignatureRequest {
        key_id: String,
        message: Blob,
        message_type: String,
        signature: Blob,
        signing_algorithm: String,
        #[allow(dead_code, reason = "read only to check its type, as AWS does")]
        grant_tokens: GrantTokens,
        dry_run: bool,
    }

    answer SignResponse {
        key_id: String,
        signature: Blob,
        signing_algorithm: String,
    }

    answer VerifyResponse {
        key_id: String,
        signature_valid: bool,
        signing_algorithm: String,
    }

    answer GetPublicKeyResponse {
        key_id: String,
        public_key: Blob,
        customer_master_key_spec: &'static str,
        key_spec: &'static str,
        key_usage: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        signing_algorithms: Option<Vec<&'static str>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        encryption_algorithms: Option<Vec<&'static str>>,
    }

    /// GenerateMac and VerifyMac (which also carries the MAC).
    request MacRequest {
        key_id: String,
        message: Blob,
        mac_algorithm: String,
        mac: Blob,
        #[allow(dead_code, reason = "read only to check its type, as AWS does")]
        grant_tokens: GrantTokens,
        dry_run: bool,
    }

    answer GenerateMacResponse {
        key_id: String,
        mac: Blob,
        mac_algorithm: String,
    }

    answer VerifyMacResponse {
        key_id: String,
        mac_valid: bool,
        mac_algorithm: String,
    }
}

// ---- grants ----------------------------------------------------------------------------

/// Grant constraints. Only encryption context constraints exist; any other member is
/// noted so CreateGrant can refuse it rather than silently grant more than was asked.
#[derive(Debug, Default)]
pub(super) struct GrantConstraints {
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

shapes! {
    answer GrantConstraintsOut {
        #[serde(skip_serializing_if = "Option::is_none")]
        encryption_context_equals: Option<StringMap>,
        #[serde(skip_serializing_if = "Option::is_none")]
        encryption_context_subset: Option<StringMap>,
    }

    request CreateGrantRequest {
        key_id: String,
        grantee_principal: String,
        retiring_principal: String,
        operations: Vec<String>,
        constraints: GrantConstraints,
        #[allow(dead_code, reason = "read only to check its type, as AWS does")]
        grant_tokens: GrantTokens,
        name: String,
        dry_run: bool,
    }

    answer CreateGrantResponse {
        grant_id: String,
        grant_token: String,
    }

    request ListGrantsRequest {
        key_id: String,
        grant_id: String,
        grantee_principal: String,
        limit: i64,
        marker: String,
    }

    request ListRetirableGrantsRequest {
        retiring_principal: String,
        limit: i64,
        marker: String,
    }

    answer GrantListEntry {
        key_id: String,
        grant_id: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        creation_date: f64,
        grantee_principal: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        retiring_principal: Option<String>,
        issuing_account: String,
        operations: Vec<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        constraints: Option<GrantConstraintsOut>,
    }

    answer ListGrantsResponse {
        grants: Vec<GrantListEntry>,
        #[serde(flatten)]
        page: PageOut,
    }

    request RetireGrantRequest {
        grant_token: String,
        key_id: String,
        grant_id: String,
    }

    request RevokeGrantRequest {
        key_id: String,
        grant_id: String,
    }

    // ---- imported key material -------------------------------------------------------------

    request GetParametersForImportRequest {
        key_id: String,
        wrapping_algorithm: String,
        wrapping_key_spec: String,
    }

    answer GetParametersForImportResponse {
        key_id: String,
        import_token: Blob,
        public_key: Blob,
        parameters_valid_to: f64,
    }

    request ImportKeyMaterialRequest {
        key_id: String,
        import_token: Blob,
        encrypted_key_material: Blob,
        /// Epoch seconds, possibly fractional.
        valid_to: f64,
        expiration_model: String,
        import_type: String,
    }

    /// ImportKeyMaterial and DeleteImportedKeyMaterial.
    answer KeyMaterialResponse {
        key_id: String,
        key_material_id: String,
    }
}
