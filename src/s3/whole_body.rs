//! Bodies the protocol crate reads whole before an operation runs (XML configurations,
//! DeleteObjects, CompleteMultipartUpload...) are capped. One over the cap is refused from
//! its headers, before a byte of it is read, with the code S3 gives: the protocol crate
//! itself would read up to the cap and answer a streamed overflow `500 InternalError`.
//!
//! Their Content-MD5 is checked here too, as the protocol crate reads them: a body that
//! does not match fails its read, so the operation never runs, and the answer becomes S3's
//! BadDigest. Streamed bodies are checked by the write path, which digests them anyway.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use s3s::crypto::{Checksum as _, Md5};
use s3s::{S3Result, s3_error};

use crate::objects::digest::b64_decode;

/// The largest body read whole; the protocol crate is configured with the same value.
pub const WHOLE_BODY_LIMIT: usize = 20 * 1024 * 1024;

/// Operations whose body streams to storage instead of being read whole.
const STREAMED: [&str; 4] = [
    "PutObject",
    "UploadPart",
    "PostObject",
    "WriteGetObjectResponse",
];

const CONTENT_MD5: &str = "content-md5";

/// Refuses a whole-read body that is declared too large, or that comes without a declared
/// length (S3 wants one on these requests; without it the cap could only be found by
/// reading up to it), or whose Content-MD5 is not an MD5. Answers whether the body's
/// Content-MD5 is to be checked as it is read ([`ContentMd5::arm`]).
pub(super) fn check(op: &str, headers: &HeaderMap) -> S3Result<bool> {
    if STREAMED.contains(&op) {
        return Ok(false);
    }
    check_within(headers, WHOLE_BODY_LIMIT)?;
    if headers.contains_key(CONTENT_MD5) && expected_md5(headers).is_none() {
        return Err(s3_error!(
            InvalidDigest,
            "The Content-MD5 you specified is not valid."
        ));
    }
    // An aws-chunked body is decoded by the protocol crate after this check sees its bytes.
    let chunked = headers
        .get("x-amz-content-sha256")
        .is_some_and(|v| v.as_bytes().starts_with(b"STREAMING-"));
    Ok(!chunked)
}

fn expected_md5(headers: &HeaderMap) -> Option<[u8; 16]> {
    let value = headers.get(CONTENT_MD5)?.to_str().ok()?;
    b64_decode(value).and_then(|raw| <[u8; 16]>::try_from(raw.as_slice()).ok())
}

/// The Content-MD5 check of one request's body, armed by [`check`] once the operation is
/// known to read its body whole.
#[derive(Clone)]
pub struct ContentMd5(Arc<Md5State>);

struct Md5State {
    expected: [u8; 16],
    armed: AtomicBool,
    mismatch: AtomicBool,
}

impl ContentMd5 {
    /// The check for a request that sends a body with a well-formed Content-MD5.
    pub fn of<B>(req: &http::Request<B>) -> Option<ContentMd5> {
        if !matches!(*req.method(), http::Method::PUT | http::Method::POST) {
            return None;
        }
        Some(ContentMd5(Arc::new(Md5State {
            expected: expected_md5(req.headers())?,
            armed: AtomicBool::new(false),
            mismatch: AtomicBool::new(false),
        })))
    }

    pub(super) fn arm(&self) {
        self.0.armed.store(true, Ordering::Relaxed);
    }

    pub fn wrap<B>(&self, inner: B) -> Md5Body<B> {
        Md5Body {
            inner,
            state: self.0.clone(),
            md5: Some(Md5::new()),
        }
    }

    /// S3's answer to a body that did not match its Content-MD5 (the operation did not run:
    /// its body is read before it), else `resp`.
    pub fn answer(&self, resp: Response<s3s::Body>) -> Response<s3s::Body> {
        if !self.0.mismatch.load(Ordering::Relaxed) {
            return resp;
        }
        let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>BadDigest</Code><Message>The Content-MD5 you specified did not match what we received.</Message></Error>";
        let mut out = Response::new(s3s::Body::from(xml.to_owned()));
        *out.status_mut() = StatusCode::BAD_REQUEST;
        let headers = out.headers_mut();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/xml"),
        );
        headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(xml.len()));
        out
    }
}

/// A request body digested as it is read, while its check is armed.
pub struct Md5Body<B> {
    inner: B,
    state: Arc<Md5State>,
    /// None once the end was checked.
    md5: Option<Md5>,
}

#[derive(Debug, thiserror::Error)]
#[error("the body does not match its Content-MD5")]
struct Md5Mismatch;

impl<B> HttpBody for Md5Body<B>
where
    B: HttpBody<Data = Bytes> + Unpin,
    s3s::StdError: From<B::Error>,
{
    type Data = Bytes;
    type Error = s3s::StdError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, s3s::StdError>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        let armed = self.state.armed.load(Ordering::Relaxed);
        match polled {
            Poll::Ready(Some(Ok(frame))) => {
                if armed && let (Some(data), Some(md5)) = (frame.data_ref(), self.md5.as_mut()) {
                    md5.update(data);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(None) if armed => {
                let matched = self
                    .md5
                    .take()
                    .is_none_or(|md5| md5.finalize() == self.state.expected);
                if matched {
                    return Poll::Ready(None);
                }
                self.state.mismatch.store(true, Ordering::Relaxed);
                Poll::Ready(Some(Err(Box::new(Md5Mismatch))))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        // The end is only known to match once it has been polled.
        self.inner.is_end_stream()
            && !(self.state.armed.load(Ordering::Relaxed) && self.md5.is_some())
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The same refusal for a body read whole under a cap of its own.
pub(super) fn check_within(headers: &HeaderMap, limit: usize) -> S3Result<()> {
    match headers.get(http::header::CONTENT_LENGTH) {
        Some(length) => {
            let declared = length.to_str().ok().and_then(|v| v.parse::<u64>().ok());
            if declared.is_some_and(|n| n > limit as u64) {
                return Err(s3_error!(
                    MaxMessageLengthExceeded,
                    "Your request was too big."
                ));
            }
            Ok(())
        }
        None if headers.contains_key(http::header::TRANSFER_ENCODING) => Err(s3_error!(
            MissingContentLength,
            "You must provide the Content-Length HTTP header."
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.insert(*name, value.parse().unwrap());
        }
        h
    }

    fn code<T>(r: S3Result<T>) -> Option<String> {
        r.err().map(|e| e.code().as_str().to_owned())
    }

    #[test]
    fn a_declared_length_over_the_cap_is_refused_before_reading() {
        let over = (WHOLE_BODY_LIMIT + 1).to_string();
        let at = WHOLE_BODY_LIMIT.to_string();
        for op in [
            "DeleteObjects",
            "CompleteMultipartUpload",
            "PutBucketPolicy",
        ] {
            let refused = code(check(op, &headers(&[("content-length", &over)])));
            assert_eq!(refused.as_deref(), Some("MaxMessageLengthExceeded"), "{op}");
            assert!(
                check(op, &headers(&[("content-length", &at)])).is_ok(),
                "{op}"
            );
        }
    }

    #[test]
    fn streamed_bodies_are_not_capped_here() {
        let big = (5u64 << 30).to_string();
        for op in STREAMED {
            assert!(
                check(op, &headers(&[("content-length", &big)])).is_ok(),
                "{op}"
            );
            assert!(check(op, &headers(&[("transfer-encoding", "chunked")])).is_ok());
        }
    }

    #[test]
    fn a_whole_read_body_without_a_length_is_refused_411() {
        let r = check(
            "DeleteObjects",
            &headers(&[("transfer-encoding", "chunked")]),
        );
        assert_eq!(code(r).as_deref(), Some("MissingContentLength"));
        assert!(check("GetObject", &headers(&[])).is_ok());
    }
}
