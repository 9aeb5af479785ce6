//! KMS errors, named and shaped as AWS KMS answers them (`__type` + `message`).

use http::StatusCode;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmsError {
    /// The exception name clients match on, e.g. `NotFoundException`.
    pub code: &'static str,
    pub message: String,
}

impl std::fmt::Display for KmsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for KmsError {}

pub type KmsResult<T> = Result<T, KmsError>;

macro_rules! constructors {
    ($($fn_name:ident => $code:literal),* $(,)?) => {
        impl KmsError {
            $(
                pub fn $fn_name(message: impl Into<String>) -> KmsError {
                    KmsError { code: $code, message: message.into() }
                }
            )*
        }
    };
}

constructors! {
    not_found => "NotFoundException",
    disabled => "DisabledException",
    invalid_state => "KMSInvalidStateException",
    invalid_arn => "InvalidArnException",
    invalid_ciphertext => "InvalidCiphertextException",
    incorrect_key => "IncorrectKeyException",
    invalid_key_usage => "InvalidKeyUsageException",
    unsupported => "UnsupportedOperationException",
    already_exists => "AlreadyExistsException",
    invalid_alias_name => "InvalidAliasNameException",
    invalid_marker => "InvalidMarkerException",
    invalid_grant_id => "InvalidGrantIdException",
    invalid_grant_token => "InvalidGrantTokenException",
    malformed_policy => "MalformedPolicyDocumentException",
    limit_exceeded => "LimitExceededException",
    tag => "TagException",
    validation => "ValidationException",
    serialization => "SerializationException",
    access_denied => "AccessDeniedException",
    unknown_operation => "UnknownOperationException",
    unrecognized_client => "UnrecognizedClientException",
    invalid_signature => "InvalidSignatureException",
    incomplete_signature => "IncompleteSignatureException",
    missing_authentication => "MissingAuthenticationTokenException",
    throttling => "ThrottlingException",
    internal => "KMSInternalException",
    invalid_signature_value => "KMSInvalidSignatureException",
    invalid_mac => "KMSInvalidMacException",
    expired_import_token => "ExpiredImportTokenException",
    invalid_import_token => "InvalidImportTokenException",
    incorrect_key_material => "IncorrectKeyMaterialException",
    dry_run => "DryRunOperationException",
}

impl KmsError {
    /// An outage or a quota, not a refusal: the same call may succeed later.
    pub fn is_transient(&self) -> bool {
        self.status() != StatusCode::BAD_REQUEST || self.code == "ThrottlingException"
    }

    pub fn status(&self) -> StatusCode {
        match self.code {
            "KMSInternalException" => StatusCode::INTERNAL_SERVER_ERROR,
            "DependencyTimeoutException" | "KeyUnavailableException" => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// The message of a key in the wrong state, as AWS words it.
    pub fn for_state(key_arn: &str, state: super::model::KeyState) -> KmsError {
        use super::model::KeyState;
        match state {
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
