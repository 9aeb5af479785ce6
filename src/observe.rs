//! What every request leaves behind for operators: its request id (on the response, in
//! S3 and IAM error bodies, in the audit trail), one access-log line, and the request
//! metrics. The listener opens a [`RequestContext`] per request; the edges note in it what
//! only they learn (principal, operation, bucket, key, KMS key); the answer's body logs
//! the line when it is dropped, which is when the last byte went out or the client left.

use std::borrow::Cow;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response};
use hyper::body::{Body as HttpBody, Frame, SizeHint};

use crate::metrics::{DurationLabels, RequestLabels, metrics};

/// Which API answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Api {
    S3,
    Kms,
    Iam,
}

impl Api {
    fn name(self) -> &'static str {
        match self {
            Api::S3 => "s3",
            Api::Kms => "kms",
            Api::Iam => "iam",
        }
    }
}

/// What the edges learn about a request that the listener cannot see.
#[derive(Default, Debug)]
pub struct AccessNote {
    /// The caller's ARN, once authenticated.
    pub principal: Option<String>,
    /// The operation, once recognised (never a name the client made up: metrics label it).
    pub operation: Option<Cow<'static, str>>,
    pub bucket: Option<String>,
    pub key: Option<String>,
    /// The KMS key a KMS API call used.
    pub kms_key_arn: Option<String>,
}

struct Shared {
    id: String,
    started: Instant,
    received: AtomicU64,
    note: Mutex<AccessNote>,
}

/// One request's id and notes; clones share them.
#[derive(Clone)]
pub struct RequestContext {
    shared: Arc<Shared>,
}

impl RequestContext {
    pub fn new(api: Api) -> RequestContext {
        RequestContext {
            shared: Arc::new(Shared {
                id: new_request_id(api),
                started: Instant::now(),
                received: AtomicU64::new(0),
                note: Mutex::default(),
            }),
        }
    }

    /// The id the client gets as `x-amz-request-id`.
    pub fn id(&self) -> &str {
        &self.shared.id
    }

    /// Records what an edge learnt about the request.
    pub fn note(&self, f: impl FnOnce(&mut AccessNote)) {
        if let Ok(mut note) = self.shared.note.lock() {
            f(&mut note);
        }
    }

    /// The context the listener put in a request's extensions; a fresh one for a request
    /// that did not come through the listener (in-process callers).
    pub fn of(extensions: &http::Extensions) -> RequestContext {
        extensions
            .get::<RequestContext>()
            .cloned()
            .unwrap_or_else(|| RequestContext::new(Api::S3))
    }

    /// Counts the request body's bytes as the handler reads them.
    pub fn count_body<B>(&self, body: B) -> CountedBody<B> {
        CountedBody {
            inner: body,
            ctx: self.clone(),
        }
    }
}

/// A request id in the form the API's clients know: 16 upper-case hex digits for S3, a
/// UUID for KMS and IAM.
fn new_request_id(api: Api) -> String {
    match api {
        Api::S3 => {
            let mut bytes = [0u8; 8];
            crate::crypto::fill_random(&mut bytes);
            hex::encode_upper(bytes)
        }
        Api::Kms | Api::Iam => crate::crypto::random_uuid().to_string(),
    }
}

/// This process's `x-amz-id-2`: which gateway answered, opaque to clients.
fn host_id() -> &'static str {
    static HOST_ID: OnceLock<String> = OnceLock::new();
    HOST_ID.get_or_init(|| {
        use base64::Engine as _;
        let mut bytes = [0u8; 24];
        crate::crypto::fill_random(&mut bytes);
        base64::engine::general_purpose::STANDARD.encode(bytes)
    })
}

/// A request body whose bytes are counted as they are read.
pub struct CountedBody<B> {
    inner: B,
    ctx: RequestContext,
}

impl<B: HttpBody<Data = Bytes> + Unpin> HttpBody for CountedBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
        {
            let n = data.len() as u64;
            self.ctx.shared.received.fetch_add(n, Ordering::Relaxed);
            metrics().bytes_received.inc_by(n);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Where the request came from and what it asked, known before any handler runs.
pub struct Arrival {
    pub api: Api,
    pub source_ip: Option<IpAddr>,
    pub method: http::Method,
    /// `versionId` of the query, for the log of a request that names one.
    pub version_id: Option<String>,
}

impl Arrival {
    pub fn of<B>(api: Api, req: &http::Request<B>, source_ip: Option<IpAddr>) -> Arrival {
        let version_id = req.uri().query().and_then(|q| {
            form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "versionId")
                .map(|(_, v)| v.into_owned())
        });
        Arrival {
            api,
            source_ip,
            method: req.method().clone(),
            version_id,
        }
    }
}

/// Stamps the request id on the answer (headers, and an S3 error body's `RequestId` and
/// `HostId`), and wraps its body so that the access-log line and the request metrics are
/// written when it has gone out.
pub fn finish(
    ctx: &RequestContext,
    arrival: Arrival,
    mut resp: Response<s3s::Body>,
) -> Response<LoggedBody> {
    let headers = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(ctx.id()) {
        headers.insert("x-amz-request-id", v);
    }
    if let Ok(v) = HeaderValue::from_str(host_id()) {
        headers.insert("x-amz-id-2", v);
    }
    let mut error_code = resp
        .headers()
        .get("x-amzn-errortype")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(':').next().unwrap_or(v).to_owned());
    let status = resp.status();
    if !status.is_success()
        && let Some(xml) = resp.body().bytes()
        && let Ok(text) = std::str::from_utf8(&xml)
    {
        error_code = error_code.or_else(|| element(text, "Code").map(str::to_owned));
        if arrival.api == Api::S3 && !text.contains("<RequestId>") {
            let stamped = stamp_error(text, ctx.id(), host_id());
            if let Some(stamped) = stamped {
                resp.headers_mut().insert(
                    http::header::CONTENT_LENGTH,
                    HeaderValue::from(stamped.len()),
                );
                *resp.body_mut() = s3s::Body::from(stamped);
            }
        }
    }
    let line = AccessLine::new(
        ctx,
        arrival,
        resp.status().as_u16(),
        error_code,
        resp.headers(),
    );
    let length = resp
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse().ok());
    resp.map(|body| LoggedBody {
        length: length.or(body.size_hint().exact()),
        inner: body,
        sent: 0,
        complete: false,
        line: Some(line),
    })
}

/// The text of the first `<name>` element of a small XML document.
fn element<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let len = xml[start..].find(&format!("</{name}>"))?;
    Some(&xml[start..start + len])
}

/// An S3 error document with `RequestId` and `HostId`, as S3 sends them.
fn stamp_error(xml: &str, request_id: &str, host_id: &str) -> Option<String> {
    let end = xml.rfind("</Error>")?;
    Some(format!(
        "{}<RequestId>{request_id}</RequestId><HostId>{host_id}</HostId>{}",
        &xml[..end],
        &xml[end..]
    ))
}

/// The access-log line of one request, less what only the body's end tells.
struct AccessLine {
    ctx: RequestContext,
    arrival: Arrival,
    status: u16,
    error_code: Option<String>,
    version_id: Option<String>,
    sse: Option<&'static str>,
    sse_kms_key: Option<String>,
}

impl AccessLine {
    fn new(
        ctx: &RequestContext,
        arrival: Arrival,
        status: u16,
        error_code: Option<String>,
        headers: &HeaderMap,
    ) -> AccessLine {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let sse = if header("x-amz-server-side-encryption-customer-algorithm").is_some() {
            Some("SSE-C")
        } else {
            match header("x-amz-server-side-encryption") {
                Some("AES256") => Some("SSE-S3"),
                Some("aws:kms") => Some("SSE-KMS"),
                Some("aws:kms:dsse") => Some("DSSE-KMS"),
                _ => None,
            }
        };
        AccessLine {
            ctx: ctx.clone(),
            version_id: header("x-amz-version-id")
                .map(str::to_owned)
                .or_else(|| arrival.version_id.clone()),
            arrival,
            status,
            error_code,
            sse,
            sse_kms_key: header("x-amz-server-side-encryption-aws-kms-key-id").map(str::to_owned),
        }
    }

    fn write(self, sent: u64, complete: bool) {
        let shared = &self.ctx.shared;
        let duration = shared.started.elapsed();
        let received = shared.received.load(Ordering::Relaxed);
        let note = match shared.note.lock() {
            Ok(mut note) => std::mem::take(&mut *note),
            Err(_) => AccessNote::default(),
        };
        let api = self.arrival.api.name();
        let operation = note.operation.clone().unwrap_or(Cow::Borrowed("unknown"));
        let m = metrics();
        m.requests
            .get_or_create(&RequestLabels {
                api,
                operation: operation.clone(),
                status: self.status,
            })
            .inc();
        m.request_duration
            .get_or_create(&DurationLabels {
                api,
                operation: operation.clone(),
            })
            .observe(duration.as_secs_f64());
        m.bytes_sent.inc_by(sent);
        let dash = |v: Option<&str>| v.unwrap_or("-").to_owned();
        let kms_key = note.kms_key_arn.as_deref().or(self.sse_kms_key.as_deref());
        tracing::info!(
            target: "sealgate::access",
            request_id = %shared.id,
            principal = %principal(note.principal.as_deref()),
            source_ip = %self.arrival.source_ip.map_or_else(|| "-".to_owned(), |ip| ip.to_string()),
            api = %api,
            operation = %operation,
            method = %self.arrival.method,
            bucket = %dash(note.bucket.as_deref()),
            key = %dash(note.key.as_deref()),
            version_id = %dash(self.version_id.as_deref()),
            status = self.status,
            error = %dash(self.error_code.as_deref()),
            bytes_in = received,
            bytes_out = sent,
            duration_ms = duration.as_secs_f64() * 1000.0,
            sse = %dash(self.sse),
            kms_key = %dash(kms_key),
            complete,
            "request"
        );
    }
}

/// The caller as the log shows it: an ARN, `anonymous`, or `-` before authentication.
fn principal(arn: Option<&str>) -> &str {
    match arn {
        None => "-",
        Some("*") => "anonymous",
        Some(arn) => arn,
    }
}

/// An answer's body that counts what went out and writes the request's access-log line
/// when it is dropped.
pub struct LoggedBody {
    inner: s3s::Body,
    /// The body's length when known up front: HTTP/1 stops polling a body at it.
    length: Option<u64>,
    sent: u64,
    complete: bool,
    line: Option<AccessLine>,
}

impl HttpBody for LoggedBody {
    type Data = Bytes;
    type Error = <s3s::Body as HttpBody>::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    self.sent += data.len() as u64;
                }
            }
            Poll::Ready(None) => self.complete = true,
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for LoggedBody {
    fn drop(&mut self) {
        if let Some(line) = self.line.take() {
            // An answer with nothing left to send (a HEAD, an empty body) is complete.
            let complete = self.complete
                || self.inner.is_end_stream()
                || self.length.is_some_and(|n| n == self.sent);
            line.write(self.sent, complete);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_look_like_the_apis_own() {
        let kms = RequestContext::new(Api::Kms).id().to_owned();
        assert_eq!((kms.len(), kms.matches('-').count()), (36, 4));
        let id = RequestContext::new(Api::S3).id().to_owned();
        assert_eq!(id.len(), 16);
        assert!(
            id.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase())
        );
        assert_ne!(id, RequestContext::new(Api::S3).id());
    }

    #[test]
    fn error_documents_gain_request_and_host_ids() {
        let xml =
            "<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code><Message>m</Message></Error>";
        let stamped = stamp_error(xml, "ABC", "host").unwrap();
        assert!(stamped.ends_with(
            "<Message>m</Message><RequestId>ABC</RequestId><HostId>host</HostId></Error>"
        ));
        assert_eq!(element(&stamped, "Code"), Some("NoSuchKey"));
        assert_eq!(element(&stamped, "RequestId"), Some("ABC"));
        assert_eq!(stamp_error("<Other/>", "A", "h"), None);
    }
}
