//! The KMS wire protocol: `POST /` with `X-Amz-Target: TrentService.<Operation>`, a JSON 1.1
//! body, SigV4 over the body; answers JSON, errors as `{"__type", "message"}`.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use http_body_util::{BodyExt as _, Limited};
use serde::Serialize;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde_json::json;

use super::caller::Caller;
use super::errors::{KmsError, KmsResult};
use super::quota::{Class, Quotas};
use super::service::{KmsService, Note};
use crate::identity::{Identities, IdentityUnavailable, Peer};
use crate::observe::RequestContext;
use crate::sigv4::{self, SigV4Error};

pub const TARGET_PREFIX: &str = "TrentService.";
const MAX_BODY: usize = 256 * 1024;

/// The caller's access key cannot be looked up now: retryable, as KMS answers when a
/// service it depends on does not.
impl From<IdentityUnavailable> for KmsError {
    fn from(_: IdentityUnavailable) -> KmsError {
        KmsError::dependency_timeout(
            "The gateway could not confirm its credentials are current; retry the request.",
        )
    }
}

impl From<SigV4Error> for KmsError {
    fn from(e: SigV4Error) -> KmsError {
        match e {
            SigV4Error::Incomplete(m) => KmsError::incomplete_signature(m),
            SigV4Error::Invalid(m) => KmsError::invalid_signature(m),
        }
    }
}

/// Whether a request is for the KMS API rather than S3.
pub fn is_kms_request<B>(req: &http::Request<B>) -> bool {
    let by_target = req
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with(TARGET_PREFIX));
    let by_scope = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|a| sigv4::parse_authorization(a).ok())
        .is_some_and(|a| a.service == "kms");
    by_target || by_scope
}

pub struct KmsApi {
    pub service: KmsService,
    pub identities: Arc<Identities>,
    pub quotas: Quotas,
}

fn response(
    status: StatusCode,
    body: Vec<u8>,
    request_id: &str,
    error: Option<&str>,
) -> Response<Bytes> {
    let mut resp = Response::new(Bytes::from(body));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-requestid", v);
    }
    if let Some(code) = error
        && let Ok(v) = HeaderValue::from_str(code)
    {
        h.insert("x-amzn-errortype", v);
    }
    resp
}

pub fn error_response(e: &KmsError, request_id: &str) -> Response<Bytes> {
    let body = json!({ "__type": e.code(), "message": e.message() });
    response(
        e.status(),
        body.to_string().into_bytes(),
        request_id,
        Some(e.code()),
    )
}

impl KmsApi {
    pub async fn handle<B>(
        &self,
        req: http::Request<B>,
        peer: Peer,
        ctx: &RequestContext,
    ) -> Response<Bytes>
    where
        B: hyper::body::Body<Data = Bytes> + Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let request_id = ctx.id();
        let (parts, body) = req.into_parts();
        let body = match Limited::new(body, MAX_BODY).collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => {
                let e = KmsError::validation("The request body is too large or could not be read");
                return error_response(&e, request_id);
            }
        };
        let operation = parts
            .headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .and_then(|t| t.strip_prefix(TARGET_PREFIX))
            .unwrap_or("")
            .to_owned();
        let caller = match self.authenticate(&parts, &body, peer).await {
            Ok(c) => c,
            Err(e) => return error_response(&e, request_id),
        };
        let (result, note) = self
            .run_recorded(&caller, request_id, &operation, &body)
            .await;
        let known = !matches!(&result, Err(e) if e.code() == "UnknownOperationException");
        ctx.note(|n| {
            n.principal = Some(caller.principal.arn.clone());
            n.operation = known.then(|| operation.clone().into());
            n.kms_key_arn = note.key_arn.clone();
        });
        tracing::debug!(
            request_id,
            operation,
            principal = %caller.principal.arn,
            key = note.key_arn.as_deref().unwrap_or(""),
            result = result.as_ref().err().map_or("Success", |e| e.code()),
            "kms request"
        );
        match result {
            Ok(body) => response(StatusCode::OK, body, request_id, None),
            Err(e) => error_response(&e, request_id),
        }
    }

    /// Runs `operation` (its JSON request in `body`) for a caller authenticated elsewhere,
    /// the console: decided, throttled and audited exactly as the same request to the API.
    pub async fn invoke(
        &self,
        caller: &Caller,
        request_id: &str,
        operation: &str,
        body: &[u8],
    ) -> KmsResult<Vec<u8>> {
        self.run_recorded(caller, request_id, operation, body)
            .await
            .0
    }

    /// Runs one operation and appends its audit record; a record that cannot be written
    /// fails the operation.
    async fn run_recorded(
        &self,
        caller: &Caller,
        request_id: &str,
        operation: &str,
        body: &[u8],
    ) -> (KmsResult<Vec<u8>>, Note) {
        let mut note = Note::default();
        let mut result = self.run(caller, operation, body, &mut note).await;
        let outcome = result.as_ref().err().map_or("Success", |e| e.code());
        if let Err(e) = self
            .service
            .record(caller, request_id, operation, &note, outcome)
            .await
        {
            result = Err(e);
        }
        (result, note)
    }

    async fn authenticate(
        &self,
        parts: &http::request::Parts,
        body: &[u8],
        peer: Peer,
    ) -> KmsResult<Caller> {
        let header = parts
            .headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| KmsError::missing_authentication("Missing Authentication Token"))?;
        let auth = sigv4::parse_authorization(header)?;
        if parts.headers.contains_key("x-amz-security-token") {
            return Err(KmsError::unrecognized_client(
                "The security token included in the request is invalid.",
            ));
        }
        let identity = self
            .identities
            .lookup(auth.access_key)
            .await?
            .ok_or_else(|| {
                KmsError::unrecognized_client(
                    "The security token included in the request is invalid.",
                )
            })?;
        if auth.service != "kms" {
            return Err(KmsError::invalid_signature(
                "Credential should be scoped to correct service: 'kms'.",
            ));
        }
        if auth.region != self.service.region() {
            return Err(KmsError::invalid_signature(format!(
                "Credential should be scoped to a valid region: '{}'.",
                self.service.region()
            )));
        }
        let now = time::OffsetDateTime::now_utc();
        sigv4::verify(
            &auth,
            &identity.secret_key,
            &parts.method,
            &parts.uri,
            &parts.headers,
            body,
            now,
        )?;
        Ok(Caller::direct(&identity, peer))
    }

    /// Runs one operation: its typed request read from the body, its answer serialized.
    async fn run(
        &self,
        caller: &Caller,
        operation: &str,
        body: &[u8],
        note: &mut Note,
    ) -> KmsResult<Vec<u8>> {
        if operation.is_empty() {
            return Err(KmsError::unknown_operation(
                "Missing or invalid X-Amz-Target header",
            ));
        }
        self.quotas.take(
            &caller.principal.account,
            Class::of(operation),
            Instant::now(),
        )?;
        let s = &self.service;
        // The request of `$method` is whatever type its second parameter names.
        macro_rules! op {
            ($method:ident($($arg:expr),*)) => {{
                let request = parse(body)?;
                answer(&s.$method(caller, &request $(, $arg)*).await?)
            }};
        }
        match operation {
            "CreateKey" => op!(create_key(note)),
            "DescribeKey" => op!(describe_key(note)),
            "ListKeys" => op!(list_keys()),
            "EnableKey" => op!(enable_key(note)),
            "DisableKey" => op!(disable_key(note)),
            "ScheduleKeyDeletion" => op!(schedule_key_deletion(note)),
            "CancelKeyDeletion" => op!(cancel_key_deletion(note)),
            "UpdateKeyDescription" => op!(update_key_description(note)),
            "TagResource" => op!(tag_resource(note)),
            "UntagResource" => op!(untag_resource(note)),
            "ListResourceTags" => op!(list_resource_tags(note)),
            "GetKeyPolicy" => op!(get_key_policy(note)),
            "PutKeyPolicy" => op!(put_key_policy(note)),
            "ListKeyPolicies" => op!(list_key_policies(note)),
            "EnableKeyRotation" => op!(enable_key_rotation(note)),
            "DisableKeyRotation" => op!(disable_key_rotation(note)),
            "GetKeyRotationStatus" => op!(get_key_rotation_status(note)),
            "RotateKeyOnDemand" => op!(rotate_key_on_demand(note)),
            "ListKeyRotations" => op!(list_key_rotations(note)),
            "CreateAlias" => op!(create_alias(note)),
            "UpdateAlias" => op!(update_alias(note)),
            "DeleteAlias" => op!(delete_alias(note)),
            "ListAliases" => op!(list_aliases(note)),
            "Encrypt" => op!(encrypt(note)),
            "Decrypt" => op!(decrypt(note)),
            "ReEncrypt" => op!(re_encrypt(note)),
            "GenerateDataKey" => op!(generate_data_key_op(note, true)),
            "GenerateDataKeyWithoutPlaintext" => op!(generate_data_key_op(note, false)),
            "GenerateDataKeyPair" => op!(generate_data_key_pair(note, true)),
            "GenerateDataKeyPairWithoutPlaintext" => op!(generate_data_key_pair(note, false)),
            "GenerateRandom" => op!(generate_random()),
            "Sign" => op!(sign(note)),
            "Verify" => op!(verify(note)),
            "GetPublicKey" => op!(get_public_key(note)),
            "GenerateMac" => op!(generate_mac(note)),
            "VerifyMac" => op!(verify_mac(note)),
            "CreateGrant" => op!(create_grant(note)),
            "ListGrants" => op!(list_grants(note)),
            "ListRetirableGrants" => op!(list_retirable_grants()),
            "RetireGrant" => op!(retire_grant(note)),
            "RevokeGrant" => op!(revoke_grant(note)),
            "GetParametersForImport" => op!(get_parameters_for_import(note)),
            "ImportKeyMaterial" => op!(import_key_material(note)),
            "DeleteImportedKeyMaterial" => op!(delete_imported_key_material(note)),
            other => {
                // A body that is not JSON is refused as such, whatever the operation.
                parse::<IgnoredAny>(body)?;
                Err(KmsError::unknown_operation(format!(
                    "The operation {other} is not supported by this key service"
                )))
            }
        }
    }
}

/// Reads a request: a JSON object (an empty body is an empty one) whose members have the
/// JSON types the operation declares. Anything else is a SerializationException naming
/// the member at fault.
fn parse<T: DeserializeOwned>(body: &[u8]) -> KmsResult<T> {
    let body: &[u8] = match body.iter().find(|b| !b.is_ascii_whitespace()) {
        None => b"{}",
        Some(b'{') => body,
        Some(_) => {
            return Err(match serde_json::from_slice::<IgnoredAny>(body) {
                Ok(_) => KmsError::serialization("The request body must be a JSON object"),
                Err(e) => malformed(e),
            });
        }
    };
    let mut de = serde_json::Deserializer::from_slice(body);
    let request = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data if path != "." => {
                KmsError::serialization(format!("{path}: {inner}"))
            }
            serde_json::error::Category::Data => KmsError::serialization(inner.to_string()),
            _ => malformed(inner),
        }
    })?;
    de.end().map_err(malformed)?;
    Ok(request)
}

fn malformed(e: serde_json::Error) -> KmsError {
    KmsError::serialization(format!("Malformed JSON: {e}"))
}

fn answer<T: Serialize>(response: &T) -> KmsResult<Vec<u8>> {
    serde_json::to_vec(response)
        .map_err(|e| KmsError::internal(format!("encoding the answer: {e}")))
}

#[cfg(test)]
mod tests {
    use super::super::shapes::{
        CreateGrantRequest, CreateKeyRequest, DecryptRequest, EncryptRequest,
        GenerateDataKeyRequest, KeyWithGrantTokensRequest, ListRequest,
    };
    use super::*;

    fn refused<T: DeserializeOwned>(body: &str) -> KmsError {
        match parse::<T>(body.as_bytes()) {
            Ok(_) => panic!("{body} was accepted"),
            Err(e) => e,
        }
    }

    fn serialization<T: DeserializeOwned>(body: &str) -> String {
        let e = refused::<T>(body);
        assert_eq!(e.code(), "SerializationException", "{body}: {e}");
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        e.message().to_owned()
    }

    #[test]
    fn members_of_the_wrong_json_type_are_serialization_exceptions() {
        let m = serialization::<EncryptRequest>(r#"{"KeyId": "k", "GrantTokens": "x"}"#);
        assert!(m.starts_with("GrantTokens: invalid type: string"), "{m}");
        let m = serialization::<KeyWithGrantTokensRequest>(r#"{"KeyId": 1234}"#);
        assert!(m.starts_with("KeyId: invalid type: integer"), "{m}");
        serialization::<KeyWithGrantTokensRequest>(r#"{"KeyId": "k", "GrantTokens": [1]}"#);
        serialization::<KeyWithGrantTokensRequest>(r#"{"KeyId": ["k"]}"#);
        serialization::<EncryptRequest>(r#"{"KeyId": "k", "DryRun": "true"}"#);
        serialization::<EncryptRequest>(r#"{"KeyId": "k", "EncryptionContext": ["a"]}"#);
        serialization::<EncryptRequest>(r#"{"KeyId": "k", "EncryptionContext": {"a": 1}}"#);
        serialization::<ListRequest>(r#"{"Limit": "10"}"#);
        serialization::<ListRequest>(r#"{"Limit": 10.5}"#);
        serialization::<GenerateDataKeyRequest>(r#"{"KeyId": "k", "NumberOfBytes": 1e100}"#);
        serialization::<DecryptRequest>(r#"{"CiphertextBlob": "AQ==", "Recipient": "x"}"#);
        // An object's members in an array are not the object.
        serialization::<CreateKeyRequest>(r#"{"Tags": [["k", "v"]]}"#);
        serialization::<CreateGrantRequest>(r#"{"KeyId": "k", "Constraints": [{}]}"#);
        serialization::<CreateGrantRequest>(
            r#"{"KeyId": "k", "Constraints": {"EncryptionContextEquals": "a=b"}}"#,
        );
    }

    #[test]
    fn blobs_are_base64_strings() {
        let m = serialization::<EncryptRequest>(r#"{"KeyId": "k", "Plaintext": "not base64!"}"#);
        assert!(m.starts_with("Plaintext: not valid base64"), "{m}");
        serialization::<EncryptRequest>(r#"{"KeyId": "k", "Plaintext": [104, 105]}"#);
        let r: EncryptRequest = parse(br#"{"KeyId": "k", "Plaintext": "aGk="}"#).unwrap();
        assert_eq!(r.plaintext.unwrap().as_bytes(), b"hi");
    }

    #[test]
    fn bodies_that_are_not_json_objects_are_serialization_exceptions() {
        let m = serialization::<ListRequest>("{");
        assert!(m.starts_with("Malformed JSON"), "{m}");
        let m = serialization::<ListRequest>(r#"{"Limit": 1} x"#);
        assert!(m.starts_with("Malformed JSON"), "{m}");
        let m = serialization::<KeyWithGrantTokensRequest>(r#"["k"]"#);
        assert_eq!(m, "The request body must be a JSON object");
        assert!(serialization::<ListRequest>("[").starts_with("Malformed JSON"));
    }

    #[test]
    fn empty_bodies_null_and_unknown_members_are_absent() {
        let r: ListRequest = parse(b"").unwrap();
        assert!(r.limit.is_none() && r.marker.is_none());
        let r: ListRequest = parse(b" \n").unwrap();
        assert!(r.limit.is_none());
        let r: EncryptRequest = parse(
            br#"{"KeyId": null, "GrantTokens": null, "Unknown": [1, {"x": 2}], "Plaintext": null}"#,
        )
        .unwrap();
        assert!(r.key_id.is_none() && r.plaintext.is_none());
        let r: CreateGrantRequest =
            parse(br#"{"Constraints": {"EncryptionContextSubset": {"a": "b"}, "Other": 1}}"#)
                .unwrap();
        let c = r.constraints.unwrap();
        assert!(c.others);
        assert_eq!(c.encryption_context_subset.unwrap()["a"], "b");
    }

    #[test]
    fn callers_that_cannot_be_looked_up_get_a_retryable_503() {
        let e = KmsError::from(IdentityUnavailable("no database".into()));
        assert_eq!(e.code(), "DependencyTimeoutException");
        assert_eq!(e.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(e.is_transient());
    }

    #[test]
    fn signature_failures_answer_kms_s_exceptions() {
        let malformed = sigv4::parse_authorization("Basic abc").unwrap_err();
        assert_eq!(
            KmsError::from(malformed).code(),
            "IncompleteSignatureException"
        );
        let wrong =
            SigV4Error::Invalid("The request signature we calculated does not match".into());
        let e = KmsError::from(wrong);
        assert_eq!(e.code(), "InvalidSignatureException");
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
    }
}
