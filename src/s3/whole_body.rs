//! Bodies the protocol crate reads whole before an operation runs (XML configurations,
//! DeleteObjects, CompleteMultipartUpload...) are capped. One over the cap is refused from
//! its headers, before a byte of it is read, with the code S3 gives: the protocol crate
//! itself would read up to the cap and answer a streamed overflow `500 InternalError`.

use http::HeaderMap;
use s3s::{S3Result, s3_error};

/// The largest body read whole; the protocol crate is configured with the same value.
pub const WHOLE_BODY_LIMIT: usize = 20 * 1024 * 1024;

/// Operations whose body streams to storage instead of being read whole.
const STREAMED: [&str; 4] = [
    "PutObject",
    "UploadPart",
    "PostObject",
    "WriteGetObjectResponse",
];

/// Refuses a whole-read body that is declared too large, or that comes without a declared
/// length (S3 wants one on these requests; without it the cap could only be found by
/// reading up to it).
pub(super) fn check(op: &str, headers: &HeaderMap) -> S3Result<()> {
    if STREAMED.contains(&op) {
        return Ok(());
    }
    check_within(headers, WHOLE_BODY_LIMIT)
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

    fn code(r: S3Result<()>) -> Option<String> {
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
