//! The KMS wire protocol: `POST /` with `X-Amz-Target: TrentService.<Operation>`, a JSON 1.1
//! body, SigV4 over the body; answers JSON, errors as `{"__type", "message"}`.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use http_body_util::{BodyExt as _, Limited};
use serde_json::{Value, json};

use super::caller::Caller;
use super::errors::{KmsError, KmsResult};
use super::input::Input;
use super::quota::{Class, Quotas};
use super::service::{KmsService, Note};
use crate::identity::{Identities, Peer};
use crate::sigv4::{self, SigV4Error};

pub const TARGET_PREFIX: &str = "TrentService.";
const MAX_BODY: usize = 256 * 1024;

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
    pub async fn handle<B>(&self, req: http::Request<B>, peer: Peer) -> Response<Bytes>
    where
        B: hyper::body::Body<Data = Bytes> + Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let request_id = uuid::Uuid::new_v4().to_string();
        let (parts, body) = req.into_parts();
        let body = match Limited::new(body, MAX_BODY).collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => {
                let e = KmsError::validation("The request body is too large or could not be read");
                return error_response(&e, &request_id);
            }
        };
        let operation = parts
            .headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .and_then(|t| t.strip_prefix(TARGET_PREFIX))
            .unwrap_or("")
            .to_owned();
        let caller = match self.authenticate(&parts, &body, peer) {
            Ok(c) => c,
            Err(e) => return error_response(&e, &request_id),
        };
        let mut note = Note::default();
        let mut result = self.run(&caller, &operation, &body, &mut note).await;
        let outcome = result.as_ref().err().map_or("Success", |e| e.code());
        if let Err(e) = self
            .service
            .record(&caller, &request_id, &operation, &note, outcome)
            .await
        {
            result = Err(e);
        }
        tracing::debug!(
            request_id,
            operation,
            principal = %caller.principal.arn,
            key = note.key_arn.as_deref().unwrap_or(""),
            result = result.as_ref().err().map_or("Success", |e| e.code()),
            "kms request"
        );
        match result {
            Ok(v) => response(
                StatusCode::OK,
                v.to_string().into_bytes(),
                &request_id,
                None,
            ),
            Err(e) => error_response(&e, &request_id),
        }
    }

    fn authenticate(
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
        let identity = self.identities.lookup(auth.access_key).ok_or_else(|| {
            KmsError::unrecognized_client("The security token included in the request is invalid.")
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
        Ok(Caller {
            principal: identity.principal.clone(),
            identity_policies: identity.policies.clone(),
            source_ip: peer.ip.map(|ip| ip.to_string()),
            secure_transport: peer.tls,
            via_service: None,
        })
    }

    async fn run(
        &self,
        caller: &Caller,
        operation: &str,
        body: &[u8],
        note: &mut Note,
    ) -> KmsResult<Value> {
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
        let input = Input::parse(body)?;
        let s = &self.service;
        match operation {
            "CreateKey" => s.create_key(caller, &input, note).await,
            "DescribeKey" => s.describe_key(caller, &input, note).await,
            "ListKeys" => s.list_keys(caller, &input).await,
            "EnableKey" => s.enable_key(caller, &input, note).await,
            "DisableKey" => s.disable_key(caller, &input, note).await,
            "ScheduleKeyDeletion" => s.schedule_key_deletion(caller, &input, note).await,
            "CancelKeyDeletion" => s.cancel_key_deletion(caller, &input, note).await,
            "UpdateKeyDescription" => s.update_key_description(caller, &input, note).await,
            "TagResource" => s.tag_resource(caller, &input, note).await,
            "UntagResource" => s.untag_resource(caller, &input, note).await,
            "ListResourceTags" => s.list_resource_tags(caller, &input, note).await,
            "GetKeyPolicy" => s.get_key_policy(caller, &input, note).await,
            "PutKeyPolicy" => s.put_key_policy(caller, &input, note).await,
            "ListKeyPolicies" => s.list_key_policies(caller, &input, note).await,
            "EnableKeyRotation" => s.enable_key_rotation(caller, &input, note).await,
            "DisableKeyRotation" => s.disable_key_rotation(caller, &input, note).await,
            "GetKeyRotationStatus" => s.get_key_rotation_status(caller, &input, note).await,
            "RotateKeyOnDemand" => s.rotate_key_on_demand(caller, &input, note).await,
            "ListKeyRotations" => s.list_key_rotations(caller, &input, note).await,
            "CreateAlias" => s.create_alias(caller, &input, note).await,
            "UpdateAlias" => s.update_alias(caller, &input, note).await,
            "DeleteAlias" => s.delete_alias(caller, &input, note).await,
            "ListAliases" => s.list_aliases(caller, &input, note).await,
            "Encrypt" => s.encrypt(caller, &input, note).await,
            "Decrypt" => s.decrypt(caller, &input, note).await,
            "ReEncrypt" => s.re_encrypt(caller, &input, note).await,
            "GenerateDataKey" => s.generate_data_key_op(caller, &input, note, true).await,
            "GenerateDataKeyWithoutPlaintext" => {
                s.generate_data_key_op(caller, &input, note, false).await
            }
            "GenerateDataKeyPair" => s.generate_data_key_pair(caller, &input, note, true).await,
            "GenerateDataKeyPairWithoutPlaintext" => {
                s.generate_data_key_pair(caller, &input, note, false).await
            }
            "GenerateRandom" => s.generate_random(caller, &input).await,
            "Sign" => s.sign(caller, &input, note).await,
            "Verify" => s.verify(caller, &input, note).await,
            "GetPublicKey" => s.get_public_key(caller, &input, note).await,
            "GenerateMac" => s.generate_mac(caller, &input, note).await,
            "VerifyMac" => s.verify_mac(caller, &input, note).await,
            "CreateGrant" => s.create_grant(caller, &input, note).await,
            "ListGrants" => s.list_grants(caller, &input, note).await,
            "ListRetirableGrants" => s.list_retirable_grants(caller, &input).await,
            "RetireGrant" => s.retire_grant(caller, &input, note).await,
            "RevokeGrant" => s.revoke_grant(caller, &input, note).await,
            "GetParametersForImport" => s.get_parameters_for_import(caller, &input, note).await,
            "ImportKeyMaterial" => s.import_key_material(caller, &input, note).await,
            "DeleteImportedKeyMaterial" => {
                s.delete_imported_key_material(caller, &input, note).await
            }
            other => Err(KmsError::unknown_operation(format!(
                "The operation {other} is not supported by this key service"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
