//! Bucket default encryption (`?encryption`), handled as a route of its own because it
//! carries `BlockedEncryptionTypes`, which the protocol crate's model predates. Every bucket
//! has a configuration: SSE-S3 by default, as on S3 since 2023.

use http::{HeaderMap, Method, StatusCode, Uri};
use s3s::route::S3Route;
use s3s::{Body, S3Request, S3Response, S3Result, s3_error};
use serde::{Deserialize, Serialize};

use std::sync::Arc;

use super::access::Authorizer;
use super::host::Domains;
use crate::bucket_settings::BucketEncryption;
use crate::bucket_settings::encryption::SSE_C;
use crate::objects::ObjectService;

const MAX_CONFIG_BYTES: usize = 64 * 1024;

// The XML shapes of S3's ServerSideEncryptionConfiguration.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(
    rename = "ServerSideEncryptionConfiguration",
    rename_all = "PascalCase"
)]
struct XmlConfig {
    #[serde(rename = "@xmlns", default, skip_deserializing)]
    xmlns: Option<String>,
    #[serde(default)]
    rule: Vec<XmlRule>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct XmlRule {
    #[serde(skip_serializing_if = "Option::is_none")]
    apply_server_side_encryption_by_default: Option<XmlDefault>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bucket_key_enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    blocked_encryption_types: Option<XmlBlocked>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct XmlDefault {
    #[serde(rename = "SSEAlgorithm")]
    sse_algorithm: String,
    #[serde(rename = "KMSMasterKeyID", skip_serializing_if = "Option::is_none")]
    kms_master_key_id: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct XmlBlocked {
    #[serde(default)]
    encryption_type: Vec<String>,
}

pub(crate) fn parse(xml: &[u8]) -> S3Result<BucketEncryption> {
    let malformed = super::errors::malformed_xml;
    let text = std::str::from_utf8(xml).map_err(|_| malformed())?;
    let cfg: XmlConfig = quick_xml::de::from_str(text).map_err(|_| malformed())?;
    let [rule] = cfg.rule.as_slice() else {
        return Err(malformed());
    };
    let mut out = BucketEncryption::default();
    if let Some(d) = &rule.apply_server_side_encryption_by_default {
        match d.sse_algorithm.as_str() {
            "AES256" if d.kms_master_key_id.is_none() => {}
            "AES256" => {
                return Err(s3_error!(
                    InvalidArgument,
                    "a KMS master key id is only valid with SSEAlgorithm aws:kms"
                ));
            }
            "aws:kms" => {}
            "aws:kms:dsse" => return Err(super::sse::dsse_refused()),
            _ => return Err(malformed()),
        }
        out.sse_algorithm = d.sse_algorithm.clone();
        out.kms_master_key_id = d.kms_master_key_id.clone();
    }
    out.bucket_key_enabled = rule.bucket_key_enabled.unwrap_or(false);
    if let Some(b) = &rule.blocked_encryption_types {
        for t in &b.encryption_type {
            match t.as_str() {
                SSE_C => out.blocked_encryption_types.push(SSE_C.into()),
                "NONE" => {}
                _ => {
                    return Err(s3_error!(
                        InvalidArgument,
                        "EncryptionType must be SSE-C or NONE, not {t}"
                    ));
                }
            }
        }
    }
    Ok(out)
}

pub(crate) fn render(cfg: &BucketEncryption) -> S3Result<String> {
    let xml = XmlConfig {
        xmlns: Some("http://s3.amazonaws.com/doc/2006-03-01/".into()),
        rule: vec![XmlRule {
            apply_server_side_encryption_by_default: Some(XmlDefault {
                sse_algorithm: cfg.sse_algorithm.clone(),
                kms_master_key_id: cfg.kms_master_key_id.clone(),
            }),
            bucket_key_enabled: Some(cfg.bucket_key_enabled),
            blocked_encryption_types: Some(XmlBlocked {
                encryption_type: if cfg.blocked_encryption_types.is_empty() {
                    vec!["NONE".into()]
                } else {
                    cfg.blocked_encryption_types.clone()
                },
            }),
        }],
    };
    let body = quick_xml::se::to_string(&xml).map_err(|e| s3_error!(e, InternalError))?;
    Ok(format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>{body}"))
}

pub struct BucketEncryptionRoute {
    svc: ObjectService,
    authorizer: Arc<Authorizer>,
    domains: Domains,
}

impl BucketEncryptionRoute {
    pub fn new(
        svc: ObjectService,
        authorizer: Arc<Authorizer>,
        domains: Domains,
    ) -> BucketEncryptionRoute {
        BucketEncryptionRoute {
            svc,
            authorizer,
            domains,
        }
    }
}

/// The bucket of `?encryption` on a bucket, in either addressing style.
fn bucket_of(domains: &Domains, uri: &Uri, headers: &HeaderMap) -> Option<String> {
    let is_encryption = uri
        .query()?
        .split('&')
        .any(|p| p == "encryption" || p.starts_with("encryption="));
    let host = headers
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| uri.authority().map(|a| a.as_str()));
    let addressed = domains.addressed(host, uri.path())?;
    (is_encryption && !addressed.object).then_some(addressed.bucket)
}

#[async_trait::async_trait]
impl S3Route for BucketEncryptionRoute {
    fn is_match(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        _: &mut http::Extensions,
    ) -> bool {
        matches!(*method, Method::GET | Method::PUT | Method::DELETE)
            && bucket_of(&self.domains, uri, headers).is_some()
    }

    async fn check_access(&self, req: &mut S3Request<Body>) -> S3Result<()> {
        let bucket = bucket_of(&self.domains, &req.uri, &req.headers)
            .ok_or_else(|| s3_error!(InvalidRequest))?;
        if req.method == Method::PUT {
            super::whole_body::check_within(&req.headers, MAX_CONFIG_BYTES)?;
        }
        // DeleteBucketEncryption is authorized as s3:PutEncryptionConfiguration, as on S3.
        let action = if req.method == Method::GET {
            "s3:GetEncryptionConfiguration"
        } else {
            "s3:PutEncryptionConfiguration"
        };
        self.authorizer.check_route(req, &bucket, action).await
    }

    async fn call(&self, mut req: S3Request<Body>) -> S3Result<S3Response<Body>> {
        let bucket_name = bucket_of(&self.domains, &req.uri, &req.headers)
            .ok_or_else(|| s3_error!(InvalidRequest))?;
        match req.method {
            Method::GET => {
                let bucket = self.svc.bucket(&bucket_name).await?;
                let xml = render(&bucket.default_encryption()?)?;
                let mut resp = S3Response::new(Body::from(xml));
                resp.headers.insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static("application/xml"),
                );
                Ok(resp)
            }
            Method::PUT => {
                let body = req
                    .input
                    .store_all_limited(MAX_CONFIG_BYTES)
                    .await
                    .map_err(|_| {
                        s3_error!(
                            MalformedXML,
                            "The encryption configuration is too large or unreadable"
                        )
                    })?;
                let cfg = parse(&body)?;
                self.svc
                    .set_bucket_setting(&bucket_name, Some(&cfg))
                    .await?;
                Ok(S3Response::new(Body::empty()))
            }
            _ => {
                self.svc
                    .set_bucket_setting::<BucketEncryption>(&bucket_name, None)
                    .await?;
                let mut resp = S3Response::new(Body::empty());
                resp.status = Some(StatusCode::NO_CONTENT);
                Ok(resp)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_boto3_sends_and_renders_it_back() {
        let xml = br#"<ServerSideEncryptionConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm></ApplyServerSideEncryptionByDefault><BlockedEncryptionTypes><EncryptionType>SSE-C</EncryptionType></BlockedEncryptionTypes></Rule></ServerSideEncryptionConfiguration>"#;
        let cfg = parse(xml).unwrap();
        assert!(cfg.blocks_sse_c());
        let out = render(&cfg).unwrap();
        assert!(
            out.contains("<EncryptionType>SSE-C</EncryptionType>"),
            "{out}"
        );
        assert!(out.contains("<SSEAlgorithm>AES256</SSEAlgorithm>"), "{out}");
        assert_eq!(parse(out.as_bytes()).unwrap(), cfg);
    }

    #[test]
    fn takes_sse_kms_with_or_without_a_key_and_refuses_dual_layer() {
        let xml = br#"<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>aws:kms</SSEAlgorithm><KMSMasterKeyID>alias/k</KMSMasterKeyID></ApplyServerSideEncryptionByDefault><BucketKeyEnabled>true</BucketKeyEnabled></Rule></ServerSideEncryptionConfiguration>"#;
        let cfg = parse(xml).unwrap();
        assert!(cfg.is_kms() && cfg.bucket_key_enabled);
        assert_eq!(cfg.kms_master_key_id.as_deref(), Some("alias/k"));
        assert_eq!(parse(render(&cfg).unwrap().as_bytes()).unwrap(), cfg);
        let bare = br#"<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>aws:kms</SSEAlgorithm></ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>"#;
        assert_eq!(parse(bare).unwrap().kms_master_key_id, None);
        let dsse = br#"<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>aws:kms:dsse</SSEAlgorithm></ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>"#;
        assert!(parse(dsse).is_err());
    }

    #[test]
    fn refuses_malformed_and_unknown_values() {
        assert!(parse(b"<nope").is_err());
        assert!(
            parse(b"<ServerSideEncryptionConfiguration></ServerSideEncryptionConfiguration>")
                .is_err()
        );
        let bad = br#"<ServerSideEncryptionConfiguration><Rule><BlockedEncryptionTypes><EncryptionType>SSE-X</EncryptionType></BlockedEncryptionTypes></Rule></ServerSideEncryptionConfiguration>"#;
        assert!(parse(bad).is_err());
        let none = br#"<ServerSideEncryptionConfiguration><Rule><BlockedEncryptionTypes><EncryptionType>NONE</EncryptionType></BlockedEncryptionTypes></Rule></ServerSideEncryptionConfiguration>"#;
        assert!(!parse(none).unwrap().blocks_sse_c());
    }

    #[test]
    fn matches_only_bucket_encryption_requests() {
        let domains = Domains::new(&["s3.example.com".into()]).unwrap();
        let of = |host: &str, s: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(http::header::HOST, host.parse().unwrap());
            bucket_of(&domains, &s.parse::<Uri>().unwrap(), &headers)
        };
        let b1 = Some("b1".to_owned());
        assert_eq!(of("127.0.0.1:1", "/b1?encryption"), b1);
        assert_eq!(of("127.0.0.1:1", "/b1?encryption="), b1);
        assert_eq!(of("b1.s3.example.com", "/?encryption"), b1);
        assert_eq!(of("127.0.0.1:1", "/b1/key?encryption"), None);
        assert_eq!(of("b1.s3.example.com", "/key?encryption"), None);
        assert_eq!(of("127.0.0.1:1", "/b1?versioning"), None);
    }
}
