//! What `put` and `get` share: object URLs, the connections of one command, errors, and
//! the user metadata an envelope travels in.

use http::HeaderMap;
use http_body_util::{BodyExt as _, Limited};
use hyper::body::Incoming;

use super::ContentError;
use super::format::{self, FormatError, Metadata};
use super::kms::Kms;
use super::{rfc2047, v3};
use crate::client::http::{Client, encode_path};
use crate::client::xml::element_text;

pub(super) const META_PREFIX: &str = "x-amz-meta-";
const MAX_ERROR_BODY: usize = 64 << 10;

#[derive(Debug, thiserror::Error)]
pub enum CseError {
    #[error(transparent)]
    Format(#[from] FormatError),
    #[error(transparent)]
    Context(#[from] format::ContextError),
    #[error(transparent)]
    Commitment(#[from] v3::CommitmentMismatch),
    #[error("s3://{bucket}/{key}: {source}")]
    Content {
        bucket: String,
        key: String,
        source: ContentError,
    },
    #[error("{0}")]
    Kms(String),
    #[error("{0}")]
    S3(String),
    #[error("{0}")]
    Io(String),
}

pub(super) fn io(what: impl std::fmt::Display, e: std::io::Error) -> CseError {
    CseError::Io(format!("{what}: {e}"))
}

/// Where `s3://BUCKET/KEY` points.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Url {
    pub bucket: String,
    pub key: String,
}

impl S3Url {
    pub fn parse(s: &str) -> Result<S3Url, String> {
        let rest = s
            .strip_prefix("s3://")
            .ok_or_else(|| format!("{s:?} is not an s3://BUCKET/KEY URL"))?;
        match rest.split_once('/') {
            Some((b, k)) if !b.is_empty() && !k.is_empty() => Ok(S3Url {
                bucket: b.into(),
                key: k.into(),
            }),
            _ => Err(format!("{s:?} names no object: use s3://BUCKET/KEY")),
        }
    }

    pub(super) fn path(&self, suffix: &str) -> String {
        encode_path(&format!("/{}/{}{suffix}", self.bucket, self.key))
    }
}

impl std::fmt::Display for S3Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

/// The S3 and KMS connections of one command.
pub struct Session {
    /// Makes a fresh S3 connection (the instruction file is fetched while the object's
    /// body is still unread on the first one).
    pub s3: Box<dyn Fn() -> Client + Send + Sync>,
    pub kms: Kms,
}

pub(super) async fn s3_error(op: &str, url: &S3Url, resp: hyper::Response<Incoming>) -> CseError {
    let status = resp.status();
    let body = Limited::new(resp.into_body(), MAX_ERROR_BODY)
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&body);
    let code = element_text(&text, "Code").unwrap_or_else(|| status.to_string());
    let message = element_text(&text, "Message").unwrap_or_default();
    CseError::S3(format!("{op} {url}: {status} {code}: {message}"))
}

/// The object's user metadata, with the RFC 2047 words S3 returns non-ASCII values in
/// decoded.
pub fn user_metadata(headers: &HeaderMap) -> Metadata {
    headers
        .iter()
        .filter_map(|(name, value)| {
            let key = name.as_str().strip_prefix(META_PREFIX)?;
            let value = value.to_str().ok()?;
            Some((key.to_string(), rfc2047::decode(value)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_urls() {
        assert_eq!(
            S3Url::parse("s3://b/a/k.txt").unwrap(),
            S3Url {
                bucket: "b".into(),
                key: "a/k.txt".into()
            }
        );
        for bad in ["b/k", "s3://b", "s3://b/", "s3:///k"] {
            assert!(S3Url::parse(bad).is_err(), "{bad}");
        }
    }
}
