//! KMS errors, named and shaped as AWS KMS answers them (`__type` + `message`): one variant
//! per AWS exception, its name and HTTP status decided here and nowhere else.

use http::StatusCode;

crate::aws_error::aws_error_enum! {
    /// A refusal or failure, as the AWS KMS exception it is.
    pub enum KmsError {
        NotFound => not_found, "NotFoundException", BAD_REQUEST;
        Disabled => disabled, "DisabledException", BAD_REQUEST;
        InvalidState => invalid_state, "KMSInvalidStateException", BAD_REQUEST;
        InvalidArn => invalid_arn, "InvalidArnException", BAD_REQUEST;
        InvalidCiphertext => invalid_ciphertext, "InvalidCiphertextException", BAD_REQUEST;
        IncorrectKey => incorrect_key, "IncorrectKeyException", BAD_REQUEST;
        InvalidKeyUsage => invalid_key_usage, "InvalidKeyUsageException", BAD_REQUEST;
        Unsupported => unsupported, "UnsupportedOperationException", BAD_REQUEST;
        AlreadyExists => already_exists, "AlreadyExistsException", BAD_REQUEST;
        InvalidAliasName => invalid_alias_name, "InvalidAliasNameException", BAD_REQUEST;
        InvalidMarker => invalid_marker, "InvalidMarkerException", BAD_REQUEST;
        InvalidGrantId => invalid_grant_id, "InvalidGrantIdException", BAD_REQUEST;
        InvalidGrantToken => invalid_grant_token, "InvalidGrantTokenException", BAD_REQUEST;
        MalformedPolicy => malformed_policy, "MalformedPolicyDocumentException", BAD_REQUEST;
        LimitExceeded => limit_exceeded, "LimitExceededException", BAD_REQUEST;
        Tag => tag, "TagException", BAD_REQUEST;
        Validation => validation, "ValidationException", BAD_REQUEST;
        Serialization => serialization, "SerializationException", BAD_REQUEST;
        AccessDenied => access_denied, "AccessDeniedException", BAD_REQUEST;
        UnknownOperation => unknown_operation, "UnknownOperationException", BAD_REQUEST;
        UnrecognizedClient => unrecognized_client, "UnrecognizedClientException", BAD_REQUEST;
        InvalidSignature => invalid_signature, "InvalidSignatureException", BAD_REQUEST;
        IncompleteSignature => incomplete_signature, "IncompleteSignatureException", BAD_REQUEST;
        MissingAuthentication => missing_authentication, "MissingAuthenticationTokenException", BAD_REQUEST;
        Throttling => throttling, "ThrottlingException", BAD_REQUEST;
        Internal => internal, "KMSInternalException", INTERNAL_SERVER_ERROR;
        DependencyTimeout => dependency_timeout, "DependencyTimeoutException", SERVICE_UNAVAILABLE;
        KeyUnavailable => key_unavailable, "KeyUnavailableException", SERVICE_UNAVAILABLE;
        InvalidSignatureValue => invalid_signature_value, "KMSInvalidSignatureException", BAD_REQUEST;
        InvalidMac => invalid_mac, "KMSInvalidMacException", BAD_REQUEST;
        ExpiredImportToken => expired_import_token, "ExpiredImportTokenException", BAD_REQUEST;
        InvalidImportToken => invalid_import_token, "InvalidImportTokenException", BAD_REQUEST;
        IncorrectKeyMaterial => incorrect_key_material, "IncorrectKeyMaterialException", BAD_REQUEST;
        DryRun => dry_run, "DryRunOperationException", BAD_REQUEST;
    }
}

pub type KmsResult<T> = Result<T, KmsError>;

impl KmsError {
    /// An outage or a quota, not a refusal: the same call may succeed later.
    pub fn is_transient(&self) -> bool {
        matches!(self, KmsError::Throttling(_)) || self.status() != StatusCode::BAD_REQUEST
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_statuses_are_aws_s() {
        let e = KmsError::not_found("Invalid keyId 'x'");
        assert_eq!(
            (e.code(), e.status(), e.message()),
            (
                "NotFoundException",
                StatusCode::BAD_REQUEST,
                "Invalid keyId 'x'"
            )
        );
        assert_eq!(e.to_string(), "NotFoundException: Invalid keyId 'x'");
        assert_eq!(
            KmsError::internal("").status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(
            KmsError::key_unavailable("").status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert!(KmsError::throttling("").is_transient());
        assert!(KmsError::internal("").is_transient());
        assert!(!KmsError::disabled("").is_transient());
        assert!(!KmsError::access_denied("").is_transient());
    }
}
