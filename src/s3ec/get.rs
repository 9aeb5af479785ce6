//! `get`: the object is decrypted while it is received, into a temporary file beside the
//! destination that takes the destination's name only once the whole body has checked out
//! (the GCM tag, or the legacy CBC padding).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http::{Method, StatusCode};
use http_body_util::{BodyExt as _, Limited};
use hyper::body::Incoming;
use tokio::io::AsyncWriteExt as _;

use super::format::{self, Context, Envelope, FormatError, Location, Metadata, V2Cipher, Wrap};
use super::object::{CseError, S3Url, Session, io, s3_error, user_metadata};
use super::{ContentError, Opener, cbc, v2, v3};
use crate::client::http::Request;

/// Instruction files hold a handful of short strings.
const MAX_INSTRUCTION_FILE: usize = 64 << 10;

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
