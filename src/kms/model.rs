//! What a KMS key is: its spec, usage, origin, state and the metadata AWS reports.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::errors::KmsError;

macro_rules! wire_enum {
    ($name:ident { $($variant:ident => $wire:literal),* $(,)? }) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name { $($variant),* }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $wire),* }
            }

            pub fn parse(s: &str) -> Option<$name> {
                match s { $($wire => Some($name::$variant),)* _ => None }
            }

            /// Parses a request field, answering AWS's ValidationException otherwise.
            pub fn parse_field(field: &str, s: &str) -> Result<$name, KmsError> {
                $name::parse(s).ok_or_else(|| {
                    let allowed = [$($wire),*].join(", ");
                    KmsError::validation(format!(
                        "1 validation error detected: Value '{s}' at '{}' failed to satisfy constraint: Member must satisfy enum value set: [{allowed}]",
                        lower_first(field)
                    ))
                })
            }
        }
    };
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

wire_enum!(KeySpec {
    SymmetricDefault => "SYMMETRIC_DEFAULT",
    Hmac224 => "HMAC_224",
    Hmac256 => "HMAC_256",
    Hmac384 => "HMAC_384",
    Hmac512 => "HMAC_512",
    Rsa2048 => "RSA_2048",
    Rsa3072 => "RSA_3072",
    Rsa4096 => "RSA_4096",
    EccNistP256 => "ECC_NIST_P256",
    EccNistP384 => "ECC_NIST_P384",
});

wire_enum!(KeyUsage {
    EncryptDecrypt => "ENCRYPT_DECRYPT",
    SignVerify => "SIGN_VERIFY",
    GenerateVerifyMac => "GENERATE_VERIFY_MAC",
});

wire_enum!(KeyState {
    Enabled => "Enabled",
    Disabled => "Disabled",
    PendingDeletion => "PendingDeletion",
    PendingImport => "PendingImport",
});

impl KeyState {
    /// Why a key in this state refuses an operation, as AWS words it.
    pub fn refusal(self, key_arn: &str) -> KmsError {
        match self {
            KeyState::Disabled => KmsError::disabled(format!("{key_arn} is disabled.")),
            other => KmsError::invalid_state(format!(
                "{key_arn} is {}.",
                match other {
                    KeyState::PendingDeletion => "pending deletion",
                    KeyState::PendingImport => "pending import",
                    _ => "not usable",
                }
            )),
        }
    }
}

wire_enum!(Origin {
    AwsKms => "AWS_KMS",
    External => "EXTERNAL",
});

wire_enum!(KeyManager {
    Aws => "AWS",
    Customer => "CUSTOMER",
});

wire_enum!(ExpirationModel {
    Expires => "KEY_MATERIAL_EXPIRES",
    DoesNotExpire => "KEY_MATERIAL_DOES_NOT_EXPIRE",
});

wire_enum!(RotationType {
    Automatic => "AUTOMATIC",
    OnDemand => "ON_DEMAND",
});

impl KeySpec {
    pub fn is_hmac(self) -> bool {
        matches!(
            self,
            KeySpec::Hmac224 | KeySpec::Hmac256 | KeySpec::Hmac384 | KeySpec::Hmac512
        )
    }

    pub fn is_rsa(self) -> bool {
        matches!(self, KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096)
    }

    pub fn is_ecc(self) -> bool {
        matches!(self, KeySpec::EccNistP256 | KeySpec::EccNistP384)
    }

    pub fn is_asymmetric(self) -> bool {
        self.is_rsa() || self.is_ecc()
    }

    /// The usages AWS allows for this spec.
    pub fn allows(self, usage: KeyUsage) -> bool {
        match self {
            KeySpec::SymmetricDefault => usage == KeyUsage::EncryptDecrypt,
            s if s.is_hmac() => usage == KeyUsage::GenerateVerifyMac,
            s if s.is_rsa() => matches!(usage, KeyUsage::EncryptDecrypt | KeyUsage::SignVerify),
            _ => usage == KeyUsage::SignVerify,
        }
    }

    pub fn encryption_algorithms(self, usage: KeyUsage) -> Vec<&'static str> {
        match (self, usage) {
            (KeySpec::SymmetricDefault, _) => vec!["SYMMETRIC_DEFAULT"],
            (s, KeyUsage::EncryptDecrypt) if s.is_rsa() => {
                vec!["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]
            }
            _ => vec![],
        }
    }

    pub fn signing_algorithms(self, usage: KeyUsage) -> Vec<&'static str> {
        match (self, usage) {
            (s, KeyUsage::SignVerify) if s.is_rsa() => vec![
                "RSASSA_PKCS1_V1_5_SHA_256",
                "RSASSA_PKCS1_V1_5_SHA_384",
                "RSASSA_PKCS1_V1_5_SHA_512",
                "RSASSA_PSS_SHA_256",
                "RSASSA_PSS_SHA_384",
                "RSASSA_PSS_SHA_512",
            ],
            (KeySpec::EccNistP256, _) => vec!["ECDSA_SHA_256"],
            (KeySpec::EccNistP384, _) => vec!["ECDSA_SHA_384"],
            _ => vec![],
        }
    }

    pub fn mac_algorithms(self) -> Vec<&'static str> {
        match self {
            KeySpec::Hmac224 => vec!["HMAC_SHA_224"],
            KeySpec::Hmac256 => vec!["HMAC_SHA_256"],
            KeySpec::Hmac384 => vec!["HMAC_SHA_384"],
            KeySpec::Hmac512 => vec!["HMAC_SHA_512"],
            _ => vec![],
        }
    }
}

/// One version of a key's material. The secret itself lives wrapped in the store and
/// unwrapped only in memory.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MaterialInfo {
    /// Names the material inside ciphertext blobs (compact, per key).
    pub seq: u32,
    /// AWS's KeyMaterialId: 64 hex digits.
    pub material_id: String,
    pub created_ms: i64,
    /// None for the key's first material.
    pub rotation_type: Option<RotationType>,
    /// Imported material only.
    #[serde(default)]
    pub expiration_model: Option<ExpirationModel>,
    #[serde(default)]
    pub valid_to_ms: Option<i64>,
}

/// Everything about a key but its secret material; persisted as JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyRecord {
    pub id: String,
    pub account: String,
    pub region: String,
    pub created_ms: i64,
    pub description: String,
    pub spec: KeySpec,
    pub usage: KeyUsage,
    pub origin: Origin,
    pub manager: KeyManager,
    pub state: KeyState,
    /// The state CancelKeyDeletion returns to (Disabled, or PendingImport for imported keys
    /// without material).
    #[serde(default)]
    pub deletion_date_ms: Option<i64>,
    #[serde(default)]
    pub pending_window_days: Option<u32>,
    pub policy: String,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(default)]
    pub rotation_period_days: Option<u32>,
    #[serde(default)]
    pub next_rotation_ms: Option<i64>,
    #[serde(default)]
    pub on_demand_rotation_started_ms: Option<i64>,
    /// Material versions, oldest first; the last is current.
    #[serde(default)]
    pub materials: Vec<MaterialInfo>,
    /// Set while an import token for this key is outstanding: the wrapping key pair id.
    #[serde(default)]
    pub import_parameters: Option<ImportParameters>,
    /// The KeyMaterialId of the first import: a re-import must bring the same material.
    #[serde(default)]
    pub imported_material_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImportParameters {
    pub token_id: String,
    pub valid_to_ms: i64,
    pub wrapping_algorithm: String,
    /// PKCS#8 DER of the wrapping key pair, sealed like key material.
    pub sealed_private_key: Vec<u8>,
}

impl KeyRecord {
    pub fn arn(&self) -> String {
        crate::arn::kms_key(&self.region, &self.account, &self.id)
    }

    pub fn current_material(&self) -> Option<&MaterialInfo> {
        self.materials.last()
    }

    pub fn material(&self, seq: u32) -> Option<&MaterialInfo> {
        self.materials.iter().find(|m| m.seq == seq)
    }

    pub fn next_seq(&self) -> u32 {
        self.materials.iter().map(|m| m.seq).max().unwrap_or(0) + 1
    }
}

/// Milliseconds since the epoch as AWS's JSON timestamps: fractional epoch seconds.
pub fn epoch_seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AliasRecord {
    pub name: String,
    pub target_key_id: String,
    pub created_ms: i64,
    pub updated_ms: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GrantRecord {
    pub grant_id: String,
    pub key_id: String,
    pub name: Option<String>,
    pub created_ms: i64,
    pub grantee_principal: String,
    pub retiring_principal: Option<String>,
    pub issuing_account: String,
    pub operations: Vec<String>,
    #[serde(default)]
    pub context_equals: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub context_subset: Option<BTreeMap<String, String>>,
}

impl GrantRecord {
    /// Whether a request's encryption context satisfies the grant's constraints.
    pub fn context_allows(&self, context: &BTreeMap<String, String>) -> bool {
        if let Some(eq) = &self.context_equals
            && eq != context
        {
            return false;
        }
        if let Some(sub) = &self.context_subset
            && !sub.iter().all(|(k, v)| context.get(k) == Some(v))
        {
            return false;
        }
        true
    }
}
