//! CORS as S3 has it: Put/Get/DeleteBucketCors, the unauthenticated `OPTIONS` preflight
//! (answered here, before the protocol crate, which has no such operation), and the
//! `Access-Control-*` headers on the answers to cross-origin requests.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};

use super::SealgateS3;
use super::host::{Addressed, Domains};
use crate::bucket_settings::CorsConfig;
use crate::bucket_settings::cors::{self, CorsRule, Invalid};
use crate::objects::ObjectService;

fn from_dto(c: &CORSConfiguration) -> CorsConfig {
    CorsConfig {
        rules: c
            .cors_rules
            .iter()
            .map(|r| CorsRule {
                id: r.id.clone(),
                allowed_origins: r.allowed_origins.clone(),
                allowed_methods: r.allowed_methods.clone(),
                allowed_headers: r.allowed_headers.clone().unwrap_or_default(),
                expose_headers: r.expose_headers.clone().unwrap_or_default(),
                max_age_seconds: r.max_age_seconds,
            })
            .collect(),
    }
}

fn to_dto(c: &CorsConfig) -> CORSRules {
    c.rules
        .iter()
        .map(|r| CORSRule {
            id: r.id.clone(),
            allowed_origins: r.allowed_origins.clone(),
            allowed_methods: r.allowed_methods.clone(),
            allowed_headers: (!r.allowed_headers.is_empty()).then(|| r.allowed_headers.clone()),
            expose_headers: (!r.expose_headers.is_empty()).then(|| r.expose_headers.clone()),
            max_age_seconds: r.max_age_seconds,
        })
        .collect()
}

impl SealgateS3 {
    pub(super) async fn put_bucket_cors_op(
        &self,
        req: S3Request<PutBucketCorsInput>,
    ) -> S3Result<S3Response<PutBucketCorsOutput>> {
        let input = req.input;
        let config = from_dto(&input.cors_configuration);
        cors::validate(&config).map_err(|e| match e {
            Invalid::Request(m) => S3Error::with_message(S3ErrorCode::InvalidRequest, m),
            Invalid::Malformed => super::errors::malformed_xml(),
        })?;
        self.svc
            .set_bucket_setting(&input.bucket, Some(&config))
            .await?;
        Ok(S3Response::new(PutBucketCorsOutput::default()))
    }

    pub(super) async fn get_bucket_cors_op(
        &self,
        req: S3Request<GetBucketCorsInput>,
    ) -> S3Result<S3Response<GetBucketCorsOutput>> {
        let bucket = self.svc.bucket(&req.input.bucket).await?;
        let config = bucket.cors()?.ok_or_else(|| {
            s3_error!(
                NoSuchCORSConfiguration,
                "The CORS configuration does not exist"
            )
        })?;
        Ok(S3Response::new(GetBucketCorsOutput {
            cors_rules: Some(to_dto(config)),
        }))
    }

    pub(super) async fn delete_bucket_cors_op(
        &self,
        req: S3Request<DeleteBucketCorsInput>,
    ) -> S3Result<S3Response<DeleteBucketCorsOutput>> {
        self.svc
            .set_bucket_setting::<CorsConfig>(&req.input.bucket, None)
            .await?;
        Ok(S3Response::new(DeleteBucketCorsOutput::default()))
    }
}

/// What a cross-origin request brings, read before it is handed on.
pub struct CrossOrigin {
    origin: String,
    method: Method,
    bucket: String,
}

impl CrossOrigin {
    /// A request with an `Origin` that addresses a bucket.
    pub fn of<B>(domains: &Domains, req: &http::Request<B>) -> Option<CrossOrigin> {
        let origin = req.headers().get(http::header::ORIGIN)?.to_str().ok()?;
        let addressed = domains.of(req)?;
        Some(CrossOrigin {
            origin: origin.to_owned(),
            method: req.method().clone(),
            bucket: addressed.bucket,
        })
    }
}

fn header(value: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(value).ok()
}

/// The headers S3 sends when `rule` allows a request from `origin`.
fn allow(headers: &mut HeaderMap, rule: &CorsRule, origin: &str) {
    let allowed_origin = if rule.any_origin() { "*" } else { origin };
    if let Some(v) = header(allowed_origin) {
        headers.insert(http::header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
    }
    if let Some(v) = header(&rule.allowed_methods.join(", ")) {
        headers.insert(http::header::ACCESS_CONTROL_ALLOW_METHODS, v);
    }
    if !rule.any_origin() {
        headers.insert(
            http::header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
    if !rule.expose_headers.is_empty()
        && let Some(v) = header(&rule.expose_headers.join(", "))
    {
        headers.insert(http::header::ACCESS_CONTROL_EXPOSE_HEADERS, v);
    }
    if let Some(age) = rule.max_age_seconds {
        headers.insert(http::header::ACCESS_CONTROL_MAX_AGE, age.into());
    }
    headers.insert(
        http::header::VARY,
        HeaderValue::from_static(
            "Origin, Access-Control-Request-Headers, Access-Control-Request-Method",
        ),
    );
}

/// The bucket's CORS rules; None when it has none or cannot be read (no CORS headers).
async fn config_of(svc: &ObjectService, bucket: &str) -> Option<CorsConfig> {
    let bucket = svc.bucket(bucket).await.ok()?;
    bucket.cors().ok().flatten().cloned()
}

/// Adds the `Access-Control-*` headers to the answer of a cross-origin request the
/// bucket's rules allow (by origin and method), whatever its status, as S3 does.
pub async fn decorate<B>(
    svc: &ObjectService,
    request: &CrossOrigin,
    mut resp: Response<B>,
) -> Response<B> {
    let Some(config) = config_of(svc, &request.bucket).await else {
        return resp;
    };
    if let Some(rule) = config.find(&request.origin, request.method.as_str(), &[]) {
        allow(resp.headers_mut(), rule, &request.origin);
    }
    resp
}

const NOT_ALLOWED: &str = "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.";

/// Answers an `OPTIONS` preflight: 200 with the rule's headers, 403 when the bucket has no
/// CORS configuration or no rule allows the request, 400 when it is not a preflight.
pub async fn preflight<B>(
    svc: &ObjectService,
    domains: &Domains,
    req: &http::Request<B>,
    request_id: &str,
) -> Response<s3s::Body> {
    let h = req.headers();
    let text = |name: http::header::HeaderName| h.get(name).and_then(|v| v.to_str().ok());
    let Some(Addressed { bucket, object }) = domains.of(req) else {
        return error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "Insufficient information. Bucket name needed.",
            None,
            request_id,
        );
    };
    let resource = if object { "OBJECT" } else { "BUCKET" };
    let Some(origin) = text(http::header::ORIGIN) else {
        return error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "Insufficient information. Origin request header needed.",
            None,
            request_id,
        );
    };
    let method = text(http::header::ACCESS_CONTROL_REQUEST_METHOD).unwrap_or_default();
    if !["GET", "PUT", "HEAD", "POST", "DELETE"].contains(&method) {
        return error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            &format!(
                "Invalid Access-Control-Request-Method: {}",
                if method.is_empty() { "null" } else { method }
            ),
            None,
            request_id,
        );
    }
    let requested: Vec<&str> = text(http::header::ACCESS_CONTROL_REQUEST_HEADERS)
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let config = match svc.bucket(&bucket).await {
        Ok(b) => b.cors().ok().flatten().cloned(),
        Err(crate::objects::ObjectError::Catalog(crate::catalog::CatalogError::NoSuchBucket)) => {
            return error(
                StatusCode::NOT_FOUND,
                "NoSuchBucket",
                "The specified bucket does not exist",
                None,
                request_id,
            );
        }
        Err(_) => None,
    };
    let Some(config) = config else {
        return error(
            StatusCode::FORBIDDEN,
            "AccessForbidden",
            "CORSResponse: CORS is not enabled for this bucket.",
            Some((method, resource)),
            request_id,
        );
    };
    let Some(rule) = config.find(origin, method, &requested) else {
        return error(
            StatusCode::FORBIDDEN,
            "AccessForbidden",
            NOT_ALLOWED,
            Some((method, resource)),
            request_id,
        );
    };
    let mut resp = Response::new(s3s::Body::empty());
    allow(resp.headers_mut(), rule, origin);
    if let Some(v) = text(http::header::ACCESS_CONTROL_REQUEST_HEADERS).and_then(header) {
        resp.headers_mut()
            .insert(http::header::ACCESS_CONTROL_ALLOW_HEADERS, v);
    }
    resp
}

fn error(
    status: StatusCode,
    code: &str,
    message: &str,
    method_and_resource: Option<(&str, &str)>,
    request_id: &str,
) -> Response<s3s::Body> {
    let escape = |s: &str| quick_xml::escape::escape(s).into_owned();
    let mut xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{}</Message>",
        escape(message)
    );
    if let Some((method, resource)) = method_and_resource {
        xml.push_str(&format!(
            "<Method>{}</Method><ResourceType>{resource}</ResourceType>",
            escape(method)
        ));
    }
    xml.push_str(&format!(
        "<RequestId>{}</RequestId></Error>",
        escape(request_id)
    ));
    let mut resp = Response::new(s3s::Body::from(Bytes::from(xml)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_allowed_request_gets_s3s_headers() {
        let rule = CorsRule {
            id: None,
            allowed_origins: vec!["https://app.example".into()],
            allowed_methods: vec!["GET".into(), "PUT".into()],
            allowed_headers: vec!["*".into()],
            expose_headers: vec!["ETag".into(), "x-amz-version-id".into()],
            max_age_seconds: Some(600),
        };
        let mut h = HeaderMap::new();
        allow(&mut h, &rule, "https://app.example");
        assert_eq!(h["access-control-allow-origin"], "https://app.example");
        assert_eq!(h["access-control-allow-methods"], "GET, PUT");
        assert_eq!(h["access-control-allow-credentials"], "true");
        assert_eq!(h["access-control-expose-headers"], "ETag, x-amz-version-id");
        assert_eq!(h["access-control-max-age"], "600");
        let any = CorsRule {
            allowed_origins: vec!["*".into()],
            ..rule
        };
        let mut h = HeaderMap::new();
        allow(&mut h, &any, "https://app.example");
        assert_eq!(h["access-control-allow-origin"], "*");
        assert!(!h.contains_key("access-control-allow-credentials"));
    }
}
