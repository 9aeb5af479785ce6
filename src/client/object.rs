//! `put` and `get` of one client-side encrypted object: the file is encrypted while it is
//! read and sent, and decrypted while it is received into a temporary file beside the
//! destination, which takes the destination's name only once the GCM tag has verified.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use futures::StreamExt as _;
use http::{HeaderMap, Method, StatusCode};
use http_body_util::{BodyExt as _, Limited, StreamBody};
use hyper::body::{Frame, Incoming};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::format::{self, Context, Envelope, FormatError, Location, Metadata, V2Cipher, Wrap};
use super::gcm;
use super::http::{Body, Client, Request, encode_path};
use super::kms::Kms;
use super::{ContentError, Opener, cbc, rfc2047, v2, v3};

const READ_CHUNK: usize = 256 << 10;
const META_PREFIX: &str = "x-amz-meta-";
/// Instruction files hold a handful of short strings.
const MAX_INSTRUCTION_FILE: usize = 64 << 10;
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

fn io(what: impl std::fmt::Display, e: std::io::Error) -> CseError {
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

    fn path(&self, suffix: &str) -> String {
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

pub struct Put<'a> {
    pub file: &'a Path,
    pub dest: &'a S3Url,
    pub key_id: &'a str,
    pub context: &'a Context,
    /// Plaintext bytes read so far, for a progress display.
    pub progress: Arc<AtomicU64>,
}

pub async fn put(session: &mut Session, p: Put<'_>) -> Result<u64, CseError> {
    let file = tokio::fs::File::open(p.file)
        .await
        .map_err(|e| io(p.file.display(), e))?;
    let size = file
        .metadata()
        .await
        .map_err(|e| io(p.file.display(), e))?
        .len();
    if size > gcm::MAX_PLAINTEXT {
        return Err(CseError::Content {
            bucket: p.dest.bucket.clone(),
            key: p.dest.key.clone(),
            source: gcm::GcmError::TooLong.into(),
        });
    }
    let context = format::context_for_put(p.context, format::V3_SUITE)?;
    let data_key = session
        .kms
        .generate_data_key(p.key_id, &context)
        .await
        .map_err(CseError::Kms)?;
    let mut message_id = [0u8; v3::MESSAGE_ID_LEN];
    crate::crypto::fill_random(&mut message_id);
    let (content_key, commitment) = v3::derive(&data_key.plaintext, &message_id);
    drop(data_key.plaintext);
    let envelope = Envelope::V3 {
        encrypted_key: data_key.ciphertext,
        message_id,
        commitment,
        context,
    };
    let mut headers: Vec<(&'static str, String)> = Vec::new();
    for (name, value) in envelope.to_metadata() {
        let header = META_HEADERS
            .iter()
            .find(|h| h[META_PREFIX.len()..] == name)
            .ok_or_else(|| CseError::Io(format!("no header name for metadata {name}")))?;
        headers.push((header, rfc2047::encode(&value)));
    }
    headers.push(("content-type", "application/octet-stream".into()));
    let stream = Sealer {
        file,
        size,
        read: 0,
        enc: Some(content_key.encryptor()),
        progress: p.progress.clone(),
    }
    .into_body();
    let req = Request {
        method: Method::PUT,
        path: p.dest.path(""),
        headers,
        body: Bytes::new(),
    };
    let mut client = (session.s3)();
    let resp = client
        .send_streaming(&req, stream, size + gcm::TAG_LEN as u64)
        .await
        .map_err(|e| CseError::S3(format!("PUT {}: {e}", p.dest)))?;
    if !resp.status().is_success() {
        return Err(s3_error("PUT", p.dest, resp).await);
    }
    Ok(size)
}

/// The `x-amz-meta-*` headers an envelope is written as.
const META_HEADERS: [&str; 12] = [
    "x-amz-meta-x-amz-c",
    "x-amz-meta-x-amz-3",
    "x-amz-meta-x-amz-w",
    "x-amz-meta-x-amz-i",
    "x-amz-meta-x-amz-d",
    "x-amz-meta-x-amz-t",
    "x-amz-meta-x-amz-key-v2",
    "x-amz-meta-x-amz-iv",
    "x-amz-meta-x-amz-cek-alg",
    "x-amz-meta-x-amz-wrap-alg",
    "x-amz-meta-x-amz-tag-len",
    "x-amz-meta-x-amz-matdesc",
];

/// Reads the file and encrypts it chunk by chunk as the request body, the tag last.
struct Sealer {
    file: tokio::fs::File,
    size: u64,
    read: u64,
    /// `None` once the tag has been sent.
    enc: Option<gcm::Encryptor>,
    progress: Arc<AtomicU64>,
}

impl Sealer {
    async fn next(&mut self) -> std::io::Result<Option<Bytes>> {
        let Some(enc) = self.enc.as_mut() else {
            return Ok(None);
        };
        let mut buf = vec![0u8; READ_CHUNK];
        let n = self.file.read(&mut buf).await?;
        buf.truncate(n);
        self.read += n as u64;
        if self.read > self.size {
            return Err(std::io::Error::other("the file grew while it was read"));
        }
        if n > 0 {
            enc.update(&mut buf).map_err(std::io::Error::other)?;
            self.progress.fetch_add(n as u64, Ordering::Relaxed);
            return Ok(Some(Bytes::from(buf)));
        }
        if self.read < self.size {
            return Err(std::io::Error::other("the file shrank while it was read"));
        }
        let tag = self.enc.take().map(gcm::Encryptor::finish);
        Ok(tag.map(|t| Bytes::copy_from_slice(&t)))
    }

    fn into_body(self) -> Body {
        let stream = futures::stream::unfold(Some(self), |state| async move {
            let mut sealer = state?;
            match sealer.next().await {
                Ok(Some(b)) => Some((Ok(Frame::data(b)), Some(sealer))),
                Ok(None) => None,
                // A failed read ends the body; the server sees it cut short.
                Err(e) => Some((Err(e), None)),
            }
        });
        // BoxBody must be Sync; the stream is only ever polled from one task.
        http_body_util::BodyExt::boxed(StreamBody::new(sync_wrapper::SyncStream::new(
            stream.boxed(),
        )))
    }
}

async fn s3_error(op: &str, url: &S3Url, resp: hyper::Response<Incoming>) -> CseError {
    let status = resp.status();
    let body = Limited::new(resp.into_body(), MAX_ERROR_BODY)
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&body);
    let field = |tag: &str| {
        text.split_once(&format!("<{tag}>"))
            .and_then(|(_, rest)| rest.split_once(&format!("</{tag}>")))
            .map(|(v, _)| v.to_string())
    };
    let code = field("Code").unwrap_or_else(|| status.to_string());
    let message = field("Message").unwrap_or_default();
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

pub struct Get<'a> {
    pub src: &'a S3Url,
    pub file: &'a Path,
    /// When given, KMS refuses a data key wrapped under any other key.
    pub key_id: Option<&'a str>,
    pub context: &'a Context,
    /// Read objects whose data key was wrapped with the legacy `kms` algorithm.
    pub legacy_wrapping: bool,
    /// Read objects with legacy unauthenticated (CBC) content.
    pub legacy_unauthenticated: bool,
    /// Ciphertext bytes received so far, for a progress display.
    pub progress: Arc<AtomicU64>,
}

pub async fn get(session: &mut Session, g: Get<'_>) -> Result<(u64, &'static str), CseError> {
    let mut client = (session.s3)();
    let resp = client
        .send(&Request {
            method: Method::GET,
            path: g.src.path(""),
            headers: Vec::new(),
            body: Bytes::new(),
        })
        .await
        .map_err(|e| CseError::S3(format!("GET {}: {e}", g.src)))?;
    if resp.status() != StatusCode::OK {
        return Err(s3_error("GET", g.src, resp).await);
    }
    let meta = user_metadata(resp.headers());
    let instruction = match format::locate(&meta)? {
        Location::Object => None,
        Location::InstructionFile => Some(instruction_file(session, g.src).await?),
    };
    let envelope = format::parse(&meta, instruction.as_ref())?;
    if let Envelope::V2 { wrap, cipher, .. } = &envelope {
        if *wrap == Wrap::Kms && !g.legacy_wrapping {
            return Err(FormatError::Legacy {
                mode: "the kms key wrapping (S3 Encryption Client v1)",
                flag: "--enable-legacy-wrapping",
            }
            .into());
        }
        if let V2Cipher::Cbc(_) = cipher
            && !g.legacy_unauthenticated
        {
            return Err(FormatError::Legacy {
                mode: "AES/CBC/PKCS5Padding content",
                flag: "--enable-legacy-unauthenticated-modes",
            }
            .into());
        }
    }
    format::check_context(&envelope, g.context)?;
    let data_key = session
        .kms
        .decrypt(g.key_id, envelope.encrypted_key(), envelope.context())
        .await
        .map_err(CseError::Kms)?;
    let opener = match &envelope {
        Envelope::V3 {
            message_id,
            commitment,
            ..
        } => Opener::gcm(&v3::open(&data_key, message_id, commitment)?),
        Envelope::V2 {
            cipher: V2Cipher::Gcm(iv),
            ..
        } => Opener::gcm(&v2::content_key(&data_key, iv)),
        Envelope::V2 {
            cipher: V2Cipher::Cbc(iv),
            ..
        } => Opener::Cbc(Box::new(cbc::Decryptor::new(&data_key, iv))),
    };
    drop(data_key);
    let size = receive(resp.into_body(), opener, g.file, &g.progress)
        .await
        .map_err(|e| match e {
            Received::Io(e) => e,
            Received::Content(source) => CseError::Content {
                bucket: g.src.bucket.clone(),
                key: g.src.key.clone(),
                source,
            },
        })?;
    Ok((size, envelope.name()))
}

async fn instruction_file(session: &Session, url: &S3Url) -> Result<Metadata, CseError> {
    let mut client = (session.s3)();
    let resp = client
        .send(&Request {
            method: Method::GET,
            path: url.path(format::INSTRUCTION_SUFFIX),
            headers: Vec::new(),
            body: Bytes::new(),
        })
        .await
        .map_err(|e| CseError::S3(format!("GET {url}{}: {e}", format::INSTRUCTION_SUFFIX)))?;
    match resp.status() {
        StatusCode::OK => {}
        StatusCode::NOT_FOUND => return Err(FormatError::NotEncrypted.into()),
        _ => return Err(s3_error("GET instruction file of", url, resp).await),
    }
    let body = Limited::new(resp.into_body(), MAX_INSTRUCTION_FILE)
        .collect()
        .await
        .map_err(|e| CseError::S3(format!("GET {url}{}: {e}", format::INSTRUCTION_SUFFIX)))?
        .to_bytes();
    Ok(format::parse_instruction_file(&body)?)
}

enum Received {
    Io(CseError),
    Content(ContentError),
}

/// A file in the destination's directory that is removed unless it is kept.
struct PartFile {
    path: PathBuf,
    kept: bool,
}

impl Drop for PartFile {
    fn drop(&mut self) {
        if !self.kept {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

async fn receive(
    mut body: Incoming,
    mut opener: Opener,
    dest: &Path,
    progress: &AtomicU64,
) -> Result<u64, Received> {
    let dir = match dest.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = dest.file_name().ok_or_else(|| {
        Received::Io(CseError::Io(format!("{}: not a file name", dest.display())))
    })?;
    let mut nonce = [0u8; 6];
    crate::crypto::fill_random(&mut nonce);
    let mut part = PartFile {
        path: dir.join(format!(
            ".{}.{}.sealgate-part",
            name.to_string_lossy(),
            hex::encode(nonce)
        )),
        kept: false,
    };
    let mut options = tokio::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut out = options
        .open(&part.path)
        .await
        .map_err(|e| Received::Io(io(part.path.display(), e)))?;
    let mut written = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| Received::Io(CseError::S3(format!("GET body: {e}"))))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        progress.fetch_add(data.len() as u64, Ordering::Relaxed);
        let text = opener.push(&data).map_err(Received::Content)?;
        out.write_all(&text)
            .await
            .map_err(|e| Received::Io(io(part.path.display(), e)))?;
        written += text.len() as u64;
    }
    let text = opener.finish().map_err(Received::Content)?;
    out.write_all(&text)
        .await
        .map_err(|e| Received::Io(io(part.path.display(), e)))?;
    written += text.len() as u64;
    out.sync_all()
        .await
        .map_err(|e| Received::Io(io(part.path.display(), e)))?;
    drop(out);
    tokio::fs::rename(&part.path, dest)
        .await
        .map_err(|e| Received::Io(io(dest.display(), e)))?;
    part.kept = true;
    Ok(written)
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
