//! The two KMS calls client-side encryption makes, over the KMS JSON protocol with SigV4:
//! GenerateDataKey on write, Decrypt on read, both under the object's encryption context.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use http::Method;
use http_body_util::{BodyExt as _, Limited};
use serde_json::{Value, json};
use zeroize::Zeroizing;

use super::format::Context;
use crate::client::http::{Client, Request};

/// KMS answers are small; anything larger is not a KMS answer.
const MAX_RESPONSE: usize = 64 << 10;

pub struct Kms {
    client: Client,
}

pub struct DataKey {
    pub plaintext: Zeroizing<[u8; 32]>,
    pub ciphertext: Vec<u8>,
}

impl Kms {
    pub fn new(client: Client) -> Kms {
        Kms { client }
    }

    async fn call(&mut self, target: &str, input: Value) -> Result<Zeroizing<Vec<u8>>, String> {
        let req = Request {
            method: Method::POST,
            path: "/".into(),
            headers: vec![
                ("content-type".into(), "application/x-amz-json-1.1".into()),
                ("x-amz-target".into(), format!("TrentService.{target}")),
            ],
            body: Bytes::from(input.to_string()),
        };
        let resp = self
            .client
            .send(&req)
            .await
            .map_err(|e| format!("KMS {target}: {e}"))?;
        let status = resp.status();
        // The answer may hold a plaintext data key: it is zeroized when dropped.
        let body = Zeroizing::new(
            Limited::new(resp.into_body(), MAX_RESPONSE)
                .collect()
                .await
                .map_err(|e| format!("KMS {target}: {e}"))?
                .to_bytes()
                .to_vec(),
        );
        if !status.is_success() {
            let err: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let code = err["__type"]
                .as_str()
                .map(|t| t.rsplit('#').next().unwrap_or(t))
                .unwrap_or("error");
            let message = err["message"]
                .as_str()
                .or(err["Message"].as_str())
                .unwrap_or("");
            return Err(format!("KMS {target}: {status} {code}: {message}"));
        }
        Ok(body)
    }

    pub async fn generate_data_key(
        &mut self,
        key_id: &str,
        context: &Context,
    ) -> Result<DataKey, String> {
        let body = self
            .call(
                "GenerateDataKey",
                json!({"KeyId": key_id, "KeySpec": "AES_256", "EncryptionContext": context}),
            )
            .await?;
        let answer: Response =
            serde_json::from_slice(&body).map_err(|e| format!("KMS GenerateDataKey: {e}"))?;
        Ok(DataKey {
            plaintext: data_key(answer.plaintext.as_deref())?,
            ciphertext: BASE64
                .decode(answer.ciphertext_blob.as_deref().unwrap_or_default())
                .map_err(|e| format!("KMS GenerateDataKey: CiphertextBlob: {e}"))?,
        })
    }

    /// `key_id`, when given, must name the key that wrapped `blob` (KMS checks it).
    pub async fn decrypt(
        &mut self,
        key_id: Option<&str>,
        blob: &[u8],
        context: &Context,
    ) -> Result<Zeroizing<[u8; 32]>, String> {
        let mut input =
            json!({"CiphertextBlob": BASE64.encode(blob), "EncryptionContext": context});
        if let Some(k) = key_id {
            input["KeyId"] = json!(k);
        }
        let body = self.call("Decrypt", input).await?;
        let answer: Response =
            serde_json::from_slice(&body).map_err(|e| format!("KMS Decrypt: {e}"))?;
        data_key(answer.plaintext.as_deref())
    }
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Response {
    plaintext: Option<String>,
    ciphertext_blob: Option<String>,
}

impl Drop for Response {
    fn drop(&mut self) {
        use zeroize::Zeroize as _;
        self.plaintext.zeroize();
    }
}

fn data_key(b64: Option<&str>) -> Result<Zeroizing<[u8; 32]>, String> {
    let bytes = Zeroizing::new(
        BASE64
            .decode(b64.ok_or("KMS answered without a Plaintext data key")?)
            .map_err(|e| format!("KMS Plaintext: {e}"))?,
    );
    let mut key = Zeroizing::new([0u8; 32]);
    if bytes.len() != 32 {
        return Err(format!(
            "KMS returned a {}-byte data key, not 32 (AES-256)",
            bytes.len()
        ));
    }
    key.copy_from_slice(&bytes);
    Ok(key)
}
