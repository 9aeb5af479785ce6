//! `put`: the file is encrypted while it is read and sent, as one V3 object (ciphertext ‖
//! tag). Up to [`PART_SIZE`] it goes in one PUT; larger files go as a multipart upload of
//! consecutive slices of the same GCM stream, the tag at the end of the last part, so
//! memory stays bounded and files beyond S3's 5 GiB PUT limit can be stored.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use futures::StreamExt as _;
use http::Method;
use http_body_util::{BodyExt, Limited, StreamBody};
use hyper::body::Frame;
use tokio::io::AsyncReadExt as _;
use tokio::sync::Mutex;

use super::format::{self, Context, Envelope};
use super::gcm;
use super::object::{CseError, META_PREFIX, S3Url, Session, io, s3_error};
use super::{rfc2047, v3};
use crate::client::http::{Body, Client, Headers, Request, encode_path};
use crate::client::xml::element_text;

const READ_CHUNK: usize = 256 << 10;
/// Plaintext bytes per part. GCM caps an object at 64 GiB, so at most 1,024 parts.
pub const PART_SIZE: u64 = 64 << 20;
/// CreateMultipartUpload and CompleteMultipartUpload answers are small XML documents.
const MAX_XML: usize = 64 << 10;

pub struct Put<'a> {
    pub file: &'a Path,
    pub dest: &'a S3Url,
    pub key_id: &'a str,
    pub context: &'a Context,
    /// Plaintext bytes read so far, for a progress display.
    pub progress: Arc<AtomicU64>,
}

/// Encrypts `p.file` to `p.dest`; returns the plaintext size.
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
    let mut headers: Headers = envelope
        .to_metadata()
        .into_iter()
        .map(|(name, value)| {
            (
                format!("{META_PREFIX}{name}").into(),
                rfc2047::encode(&value),
            )
        })
        .collect();
    headers.push(("content-type".into(), "application/octet-stream".into()));
    let sealer = Arc::new(Mutex::new(Sealer {
        file,
        name: p.file.display().to_string(),
        enc: Some(content_key.encryptor()),
        progress: p.progress.clone(),
    }));
    let mut client = (session.s3)();
    if size <= PART_SIZE {
        let req = Request {
            method: Method::PUT,
            path: p.dest.path(""),
            headers,
            body: Bytes::new(),
        };
        let resp = client
            .send_streaming(
                &req,
                sealed_body(sealer, size, true),
                sealed_len(size, true),
            )
            .await
            .map_err(|e| CseError::S3(format!("PUT {}: {e}", p.dest)))?;
        if !resp.status().is_success() {
            return Err(s3_error("PUT", p.dest, resp).await);
        }
    } else {
        Multipart::create(&mut client, p.dest, headers)
            .await?
            .upload(&mut client, sealer, size)
            .await?;
    }
    Ok(size)
}

fn sealed_len(plaintext: u64, last: bool) -> u64 {
    plaintext + if last { gcm::TAG_LEN as u64 } else { 0 }
}

/// The file and the one GCM stream every part continues.
struct Sealer {
    file: tokio::fs::File,
    name: String,
    /// `None` once the tag has been taken.
    enc: Option<gcm::Encryptor>,
    progress: Arc<AtomicU64>,
}

impl Sealer {
    /// The next `n` bytes of the file, encrypted.
    async fn next(&mut self, n: usize) -> std::io::Result<Bytes> {
        let mut buf = vec![0u8; n];
        self.file.read_exact(&mut buf).await.map_err(|e| {
            std::io::Error::other(format!("{}: {e} (did it shrink while read?)", self.name))
        })?;
        let enc = self
            .enc
            .as_mut()
            .ok_or_else(|| std::io::Error::other("the stream is already finished"))?;
        enc.update(&mut buf).map_err(std::io::Error::other)?;
        self.progress.fetch_add(n as u64, Ordering::Relaxed);
        Ok(Bytes::from(buf))
    }

    /// The tag, once the file is known to have no more bytes.
    async fn tag(&mut self) -> std::io::Result<Bytes> {
        let mut probe = [0u8; 1];
        if self.file.read(&mut probe).await? != 0 {
            return Err(std::io::Error::other(format!(
                "{}: the file grew while it was read",
                self.name
            )));
        }
        let enc = self
            .enc
            .take()
            .ok_or_else(|| std::io::Error::other("the stream is already finished"))?;
        Ok(Bytes::copy_from_slice(&enc.finish()))
    }
}

/// A request body of the next `plaintext` bytes of the stream, with the tag after them
/// when `last`. A failed read ends the body, so the server sees it cut short.
fn sealed_body(sealer: Arc<Mutex<Sealer>>, plaintext: u64, last: bool) -> Body {
    let stream = futures::stream::unfold(
        (sealer, plaintext, last),
        |(sealer, left, last)| async move {
            let result = if left > 0 {
                let n = left.min(READ_CHUNK as u64);
                let data = sealer.lock().await.next(n as usize).await;
                (data, left - n, last)
            } else if last {
                (sealer.lock().await.tag().await, 0, false)
            } else {
                return None;
            };
            match result {
                (Ok(data), left, last) => Some((Ok(Frame::data(data)), (sealer, left, last))),
                (Err(e), ..) => Some((Err(e), (sealer, 0, false))),
            }
        },
    );
    // BoxBody must be Sync; the stream is only ever polled from one task.
    BodyExt::boxed(StreamBody::new(sync_wrapper::SyncStream::new(
        stream.boxed(),
    )))
}

/// One multipart upload in progress; aborted unless it completes.
struct Multipart<'a> {
    dest: &'a S3Url,
    upload_id: String,
}

impl<'a> Multipart<'a> {
    async fn create(
        client: &mut Client,
        dest: &'a S3Url,
        headers: Headers,
    ) -> Result<Multipart<'a>, CseError> {
        let req = Request {
            method: Method::POST,
            path: format!("{}?uploads", dest.path("")),
            headers,
            body: Bytes::new(),
        };
        let text = xml_call(client, "CreateMultipartUpload", dest, &req).await?;
        let upload_id = element_text(&text, "UploadId").ok_or_else(|| {
            CseError::S3(format!(
                "CreateMultipartUpload {dest}: no UploadId in the answer"
            ))
        })?;
        Ok(Multipart { dest, upload_id })
    }

    fn query(&self) -> String {
        format!(
            "uploadId={}",
            encode_path(&self.upload_id).replace('/', "%2F")
        )
    }

    async fn upload(
        self,
        client: &mut Client,
        sealer: Arc<Mutex<Sealer>>,
        size: u64,
    ) -> Result<(), CseError> {
        let result = self.send_parts(client, sealer, size).await;
        if result.is_err() {
            let abort = Request {
                method: Method::DELETE,
                path: format!("{}?{}", self.dest.path(""), self.query()),
                headers: Vec::new(),
                body: Bytes::new(),
            };
            // The upload's parts are garbage either way; a failed abort changes nothing
            // for the user beyond the error already reported.
            client.reset();
            let _ = client.send(&abort).await;
        }
        result
    }

    async fn send_parts(
        &self,
        client: &mut Client,
        sealer: Arc<Mutex<Sealer>>,
        size: u64,
    ) -> Result<(), CseError> {
        let count = size.div_ceil(PART_SIZE);
        let mut etags = Vec::new();
        for number in 1..=count {
            let plaintext = PART_SIZE.min(size - (number - 1) * PART_SIZE);
            let last = number == count;
            let req = Request {
                method: Method::PUT,
                path: format!(
                    "{}?partNumber={number}&{}",
                    self.dest.path(""),
                    self.query()
                ),
                headers: Vec::new(),
                body: Bytes::new(),
            };
            let body = sealed_body(sealer.clone(), plaintext, last);
            let resp = client
                .send_streaming(&req, body, sealed_len(plaintext, last))
                .await
                .map_err(|e| CseError::S3(format!("UploadPart {number} {}: {e}", self.dest)))?;
            if !resp.status().is_success() {
                return Err(s3_error(&format!("UploadPart {number}"), self.dest, resp).await);
            }
            let etag = resp
                .headers()
                .get(http::header::ETAG)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| {
                    CseError::S3(format!("UploadPart {number} {}: no ETag", self.dest))
                })?;
            etags.push(etag.to_string());
        }
        let parts: String = etags
            .iter()
            .enumerate()
            .map(|(i, etag)| {
                format!(
                    "<Part><PartNumber>{}</PartNumber><ETag>{}</ETag></Part>",
                    i + 1,
                    etag.replace('&', "&amp;").replace('"', "&quot;")
                )
            })
            .collect();
        let complete = Request {
            method: Method::POST,
            path: format!("{}?{}", self.dest.path(""), self.query()),
            headers: vec![("content-type".into(), "application/xml".into())],
            body: Bytes::from(format!(
                "<CompleteMultipartUpload>{parts}</CompleteMultipartUpload>"
            )),
        };
        let text = xml_call(client, "CompleteMultipartUpload", self.dest, &complete).await?;
        // S3 may answer 200 and still fail the completion in the body.
        if let Some(code) = element_text(&text, "Code") {
            let message = element_text(&text, "Message").unwrap_or_default();
            return Err(CseError::S3(format!(
                "CompleteMultipartUpload {}: {code}: {message}",
                self.dest
            )));
        }
        Ok(())
    }
}

async fn xml_call(
    client: &mut Client,
    op: &str,
    dest: &S3Url,
    req: &Request,
) -> Result<String, CseError> {
    let resp = client
        .send(req)
        .await
        .map_err(|e| CseError::S3(format!("{op} {dest}: {e}")))?;
    if !resp.status().is_success() {
        return Err(s3_error(op, dest, resp).await);
    }
    let body = Limited::new(resp.into_body(), MAX_XML)
        .collect()
        .await
        .map_err(|e| CseError::S3(format!("{op} {dest}: {e}")))?
        .to_bytes();
    Ok(String::from_utf8_lossy(&body).into_owned())
}
