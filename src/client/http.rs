//! A minimal S3 and KMS HTTP client, shared by `sealgate bench` and `sealgate cse`: SigV4
//! from the AWS SDK's signer (S3 with `UNSIGNED-PAYLOAD`, so bodies are never hashed and
//! can stream; KMS with the payload signed, as KMS requires), path-style URLs, and one
//! HTTP/1.1 keep-alive connection per client, reopened when the server closes it.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use bytes::Bytes;
use http::{HeaderValue, Method, Response};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// Where requests go, parsed once from `--endpoint`.
#[derive(Debug)]
pub struct Endpoint {
    pub url: String,
    pub tls: bool,
    /// The `Host` header, exactly as signed.
    authority: String,
    host: String,
    port: u16,
}

impl Endpoint {
    pub fn parse(url: &str) -> Result<Endpoint, String> {
        let uri: http::Uri = url.parse().map_err(|e| format!("endpoint {url:?}: {e}"))?;
        let tls = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => {
                return Err(format!(
                    "endpoint {url:?}: the scheme must be http or https"
                ));
            }
        };
        if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
            return Err(format!(
                "endpoint {url:?}: give only scheme, host and port (requests are path-style)"
            ));
        }
        let authority = uri
            .authority()
            .ok_or_else(|| format!("endpoint {url:?}: no host"))?;
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = authority.port_u16().unwrap_or(if tls { 443 } else { 80 });
        Ok(Endpoint {
            url: url.trim_end_matches('/').to_string(),
            tls,
            authority: authority.as_str().to_string(),
            host,
            port,
        })
    }
}

/// The system's CA bundle (Debian's path), the roots https endpoints chain to by default.
pub const SYSTEM_ROOTS: &str = "/etc/ssl/certs/ca-certificates.crt";

/// How an https endpoint's certificate is checked.
pub enum Trust {
    /// The PEM certificates in this file are the roots (e.g. the server's own certificate).
    CaFile(std::path::PathBuf),
    /// Any certificate is accepted: for a gateway started with `--tls-self-signed`.
    Insecure,
}

pub fn tls_connector(trust: &Trust) -> Result<TlsConnector, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?;
    let mut config = match trust {
        Trust::Insecure => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
            .with_no_client_auth(),
        Trust::CaFile(path) => {
            let mut roots = rustls::RootCertStore::empty();
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("--ca-cert {}: {e}", path.display()))?;
            for cert in certs {
                let cert = cert.map_err(|e| format!("--ca-cert {}: {e}", path.display()))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("--ca-cert {}: {e}", path.display()))?;
            }
            if roots.is_empty() {
                return Err(format!("--ca-cert {}: no certificate", path.display()));
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsConnector::from(Arc::new(config)))
}

/// `--insecure`: the chain is not checked, but the handshake signatures still are, so the
/// connection is encrypted to whoever holds the key of the certificate presented.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

pub struct Signer {
    identity: Identity,
    region: String,
    /// "s3" (payload unsigned) or "kms" (payload signed, as KMS requires).
    service: &'static str,
}

impl Signer {
    pub fn new(access_key: &str, secret_key: &str, region: &str) -> Signer {
        Signer::for_service(access_key, secret_key, region, "s3")
    }

    pub fn for_service(
        access_key: &str,
        secret_key: &str,
        region: &str,
        service: &'static str,
    ) -> Signer {
        Signer::with_credentials(
            Credentials::new(access_key, secret_key, None, None, "sealgate"),
            region,
            service,
        )
    }

    /// Temporary credentials carry a session token, signed as `x-amz-security-token`.
    pub fn with_credentials(
        credentials: Credentials,
        region: &str,
        service: &'static str,
    ) -> Signer {
        Signer {
            identity: credentials.into(),
            region: region.to_string(),
            service,
        }
    }

    /// The headers that carry the signature (`authorization`, `x-amz-date`,
    /// `x-amz-content-sha256`) for a request with these headers besides `host`.
    fn sign(
        &self,
        method: &Method,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        trailer: bool,
    ) -> Result<Vec<(&'static str, String)>, String> {
        let mut settings = SigningSettings::default();
        // S3 signs the path as sent: no second encoding, no `..` folding.
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        let params = v4::SigningParams::builder()
            .identity(&self.identity)
            .region(&self.region)
            .name(self.service)
            .time(SystemTime::now())
            .settings(settings)
            .build()
            .map_err(|e| format!("signing: {e}"))?
            .into();
        let request = SignableRequest::new(
            method.as_str(),
            url,
            headers.iter().copied(),
            if trailer {
                SignableBody::StreamingUnsignedPayloadTrailer
            } else if self.service == "s3" {
                SignableBody::UnsignedPayload
            } else {
                SignableBody::Bytes(body)
            },
        )
        .map_err(|e| format!("signing: {e}"))?;
        let (instructions, _signature) = sign(request, &params)
            .map_err(|e| format!("signing: {e}"))?
            .into_parts();
        let (signed, _query) = instructions.into_parts();
        Ok(signed
            .into_iter()
            .map(|h| (h.name(), h.value().to_string()))
            .collect())
    }
}

/// Header names are mostly fixed; some, such as `x-amz-meta-*`, are made per request.
pub type Headers = Vec<(Cow<'static, str>, String)>;

pub struct Request {
    pub method: Method,
    /// Already percent-encoded, starting with `/`.
    pub path: String,
    /// `x-amz-*` and other headers to send and sign, besides `host`.
    pub headers: Headers,
    pub body: Bytes,
}

#[derive(Debug)]
pub enum ClientError {
    /// No connection could be opened, or the TLS handshake failed.
    Connect(String),
    /// The connection failed while the request or response was in flight.
    Transport(String),
    /// The request could not be built (a bug or a bad argument, not a server failure).
    Request(String),
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Connect(e) => write!(f, "connecting: {e}"),
            ClientError::Transport(e) => write!(f, "connection: {e}"),
            ClientError::Request(e) => write!(f, "request: {e}"),
        }
    }
}

/// A request body that may stream (e.g. an object encrypted as it is read from disk).
pub type Body = BoxBody<Bytes, std::io::Error>;

pub struct Client {
    endpoint: Arc<Endpoint>,
    tls: Option<TlsConnector>,
    signer: Arc<Signer>,
    sender: Option<SendRequest<Body>>,
}

impl Client {
    pub fn new(endpoint: Arc<Endpoint>, tls: Option<TlsConnector>, signer: Arc<Signer>) -> Client {
        Client {
            endpoint,
            tls,
            signer,
            sender: None,
        }
    }

    /// Forgets the connection, e.g. after a timeout left a response half read.
    pub fn reset(&mut self) {
        self.sender = None;
    }

    pub async fn send(&mut self, req: &Request) -> Result<Response<Incoming>, ClientError> {
        let body = Full::new(req.body.clone()).map_err(|e| match e {}).boxed();
        self.send_body(req, body, req.body.len() as u64, false)
            .await
    }

    /// Sends `req` with `body` of `len` bytes in place of `req.body`. Only for S3, whose
    /// payload is not signed: a KMS request's signature covers `req.body`.
    pub async fn send_streaming(
        &mut self,
        req: &Request,
        body: Body,
        len: u64,
    ) -> Result<Response<Incoming>, ClientError> {
        if self.signer.service != "s3" {
            return Err(ClientError::Request(
                "only S3 request bodies can stream".into(),
            ));
        }
        self.send_body(req, body, len, false).await
    }

    /// Sends `payload`, exactly `len` bytes, `aws-chunked` with its SHA-256 in the trailer
    /// ([`super::chunked`]); the checksum sent is readable once the body went out.
    pub async fn send_with_checksum_trailer<S>(
        &mut self,
        req: &Request,
        payload: S,
        len: u64,
    ) -> Result<(Response<Incoming>, super::chunked::SentChecksum), ClientError>
    where
        S: futures::Stream<Item = std::io::Result<Bytes>> + Send + Unpin + 'static,
    {
        if self.signer.service != "s3" {
            return Err(ClientError::Request(
                "only S3 request bodies can stream".into(),
            ));
        }
        let mut req = Request {
            method: req.method.clone(),
            path: req.path.clone(),
            headers: req.headers.clone(),
            body: Bytes::new(),
        };
        req.headers.extend([
            ("content-encoding".into(), "aws-chunked".into()),
            ("x-amz-decoded-content-length".into(), len.to_string()),
            ("x-amz-trailer".into(), super::chunked::TRAILER.into()),
        ]);
        let (body, checksum) = super::chunked::encode(payload, len);
        let resp = self
            .send_body(&req, body, super::chunked::encoded_len(len), true)
            .await?;
        Ok((resp, checksum))
    }

    async fn send_body(
        &mut self,
        req: &Request,
        body: Body,
        len: u64,
        trailer: bool,
    ) -> Result<Response<Incoming>, ClientError> {
        let http_req = self
            .build(req, body, len, trailer)
            .map_err(ClientError::Request)?;
        if self.sender.as_ref().is_none_or(SendRequest::is_closed) {
            self.sender = Some(self.connect().await?);
        }
        let Some(sender) = self.sender.as_mut() else {
            return Err(ClientError::Connect("no connection".into()));
        };
        let sent = async {
            sender.ready().await?;
            sender.send_request(http_req).await
        }
        .await;
        let resp = sent.map_err(|e| {
            // Not retried: a retry would hide the failure from the report.
            self.sender = None;
            ClientError::Transport(e.to_string())
        })?;
        // A server that closes after this answer: the next request needs a new connection
        // (waiting to see the close would race it).
        let closing = resp
            .headers()
            .get(http::header::CONNECTION)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
        if closing {
            self.sender = None;
        }
        Ok(resp)
    }

    fn build(
        &self,
        req: &Request,
        body: Body,
        len: u64,
        trailer: bool,
    ) -> Result<http::Request<Body>, String> {
        let url = format!("{}{}", self.endpoint.url, req.path);
        let named = req.headers.iter().map(|(k, v)| (k.as_ref(), v.as_str()));
        let mut to_sign: Vec<(&str, &str)> = Vec::with_capacity(req.headers.len() + 1);
        to_sign.push(("host", &self.endpoint.authority));
        to_sign.extend(named.clone());
        let signature = self
            .signer
            .sign(&req.method, &url, &to_sign, &req.body, trailer)?;
        let mut builder = http::Request::builder()
            .method(req.method.clone())
            .uri(&req.path)
            .header(http::header::HOST, &self.endpoint.authority);
        let signed = signature.iter().map(|(k, v)| (*k, v.as_str()));
        for (name, value) in named.chain(signed) {
            let value = HeaderValue::from_str(value).map_err(|e| format!("header {name}: {e}"))?;
            builder = builder.header(name, value);
        }
        builder
            .header(http::header::CONTENT_LENGTH, len)
            .body(body)
            .map_err(|e| e.to_string())
    }

    async fn connect(&self) -> Result<SendRequest<Body>, ClientError> {
        let ep = &self.endpoint;
        let tcp = TcpStream::connect((ep.host.as_str(), ep.port))
            .await
            .map_err(|e| ClientError::Connect(format!("{}: {e}", ep.url)))?;
        // Small requests (headers, then a body) must not wait for Nagle.
        tcp.set_nodelay(true)
            .map_err(|e| ClientError::Connect(e.to_string()))?;
        match &self.tls {
            None => handshake(TokioIo::new(tcp)).await,
            Some(connector) => {
                let name = ServerName::try_from(ep.host.clone())
                    .map_err(|e| ClientError::Connect(format!("TLS server name: {e}")))?;
                let stream = connector
                    .connect(name, tcp)
                    .await
                    .map_err(|e| ClientError::Connect(format!("TLS: {e}")))?;
                handshake(TokioIo::new(stream)).await
            }
        }
    }
}

async fn handshake<T>(io: TokioIo<T>) -> Result<SendRequest<Body>, ClientError>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, conn) = http1::handshake(io)
        .await
        .map_err(|e| ClientError::Connect(e.to_string()))?;
    // The connection's own error also fails the request in flight, which is where it is
    // counted; nothing to do with it here.
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// Percent-encodes a path the way SigV4 canonicalises it (RFC 3986 unreserved characters
/// and `/` kept), so the path sent and the path signed are the same string.
pub fn encode_path(path: &str) -> String {
    percent_encode(path, true)
}

/// Percent-encodes a query parameter value as SigV4 canonicalises it (`/` encoded too).
pub fn encode_query_value(value: &str) -> String {
    percent_encode(value, false)
}

fn percent_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~')
            || (keep_slash && b == b'/')
        {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Requests that take longer than this count as failed attempts.
pub const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);
/// Answer bodies are read up to this size: XML answers and errors, never objects.
const MAX_ANSWER_BODY: usize = 1024 * 1024;

/// Why a request to a remote did not give an answer to act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteError {
    /// Unreachable, timed out, a 5xx or throttling: worth retrying.
    Transient(String),
    /// The remote refused in a way a retry will not change (4xx).
    Refused { status: u16, message: String },
}

impl std::fmt::Display for RemoteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RemoteError::Transient(m) => write!(f, "{m}"),
            RemoteError::Refused { status, message } => write!(f, "HTTP {status}: {message}"),
        }
    }
}

/// A response read to the end (bodies here are small: XML answers, not objects).
pub struct Answer {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The S3 error code and message of an error answer.
    pub fn error_text(&self) -> String {
        let code = super::xml::element_text(&self.body, "Code").unwrap_or_default();
        let message = super::xml::element_text(&self.body, "Message").unwrap_or_default();
        match (code.is_empty(), message.is_empty()) {
            (true, true) => format!("HTTP {}", self.status),
            _ => format!("{code}: {message}"),
        }
    }

    /// Success, or the error classified as retryable or not.
    pub fn ok(self) -> Result<Answer, RemoteError> {
        match self.status {
            200..=299 => Ok(self),
            408 | 429 | 500..=599 => Err(RemoteError::Transient(format!(
                "the endpoint answered {}",
                self.error_text()
            ))),
            status => Err(RemoteError::Refused {
                status,
                message: self.error_text(),
            }),
        }
    }
}

/// Sends a request and reads the whole (small) answer, within [`REQUEST_TIMEOUT`].
pub async fn exchange(client: &mut Client, req: &Request) -> Result<Answer, RemoteError> {
    let sent = tokio::time::timeout(REQUEST_TIMEOUT, async {
        let resp = client
            .send(req)
            .await
            .map_err(|e| RemoteError::Transient(e.to_string()))?;
        read_answer(resp).await
    })
    .await;
    match sent {
        Ok(r) => r,
        Err(_) => {
            client.reset();
            Err(RemoteError::Transient(
                "the endpoint did not answer in time".into(),
            ))
        }
    }
}

pub async fn read_answer(
    resp: http::Response<hyper::body::Incoming>,
) -> Result<Answer, RemoteError> {
    let (parts, body) = resp.into_parts();
    let bytes = http_body_util::Limited::new(body, MAX_ANSWER_BODY)
        .collect()
        .await
        .map_err(|e| RemoteError::Transient(format!("reading the answer: {e}")))?
        .to_bytes();
    Ok(Answer {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        let e = Endpoint::parse("http://127.0.0.1:8014/").unwrap();
        assert!(!e.tls);
        assert_eq!((e.host.as_str(), e.port), ("127.0.0.1", 8014));
        assert_eq!(e.authority, "127.0.0.1:8014");
        assert_eq!(e.url, "http://127.0.0.1:8014");
        let e = Endpoint::parse("https://[::1]").unwrap();
        assert!(e.tls);
        assert_eq!((e.host.as_str(), e.port), ("::1", 443));
        assert!(Endpoint::parse("ftp://127.0.0.1").is_err());
        assert!(Endpoint::parse("http://127.0.0.1:1/bucket").is_err());
        assert!(Endpoint::parse("127.0.0.1:8014").is_err());
    }

    #[test]
    fn signed_headers_cover_host_and_sse_with_unsigned_payload() {
        let s = Signer::new("AK", "SK", "us-east-1");
        let headers = s
            .sign(
                &Method::PUT,
                "http://127.0.0.1:1/b/k",
                &[
                    ("host", "127.0.0.1:1"),
                    ("x-amz-server-side-encryption", "AES256"),
                ],
                b"body",
                false,
            )
            .unwrap();
        let get = |n: &str| {
            headers
                .iter()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(
            get("x-amz-content-sha256").as_deref(),
            Some("UNSIGNED-PAYLOAD")
        );
        let auth = get("authorization").unwrap();
        assert!(
            auth.starts_with("AWS4-HMAC-SHA256 Credential=AK/"),
            "{auth}"
        );
        assert!(auth.contains("/us-east-1/s3/aws4_request"), "{auth}");
        assert!(
            auth.contains(
                "SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-server-side-encryption"
            ),
            "{auth}"
        );
    }

    #[test]
    fn paths_are_encoded_once() {
        assert_eq!(encode_path("/b/a b/ü~.-_"), "/b/a%20b/%C3%BC~.-_");
    }
}
