//! What the gateway asks of an S3 backend itself, through its own SigV4 client, where
//! object_store has no call for it:
//!
//! - **Streaming single PUTs.** A blob's sealed length is known before its first byte, so
//!   a blob up to S3's 5 GiB PUT limit streams as one PUT with that Content-Length: no
//!   buffering, and no multipart upload for the backend to stitch together afterwards
//!   (which costs servers such as s3s-fs a second full write).
//! - **Unfinished multipart uploads.** A blob beyond 5 GiB is written as a multipart upload;
//!   a gateway killed in the middle leaves the upload open, its parts billed and invisible.
//!   object_store can neither list nor name them, so they are found with
//!   ListMultipartUploads and aborted once no write of this catalog could still finish them.
//!   Azure discards uncommitted blocks after a week by itself; for GCS, a bucket lifecycle
//!   rule (AbortIncompleteMultipartUpload) does the same (README).

use std::sync::Arc;

use http::Method;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use serde::Deserialize;

use super::BlobError;
use bytes::Bytes;

use crate::client::http::{
    Client, Endpoint, Request, SYSTEM_ROOTS, Signer, Trust, encode_path, encode_query_value,
    exchange, read_answer, tls_connector,
};

/// The pieces a channel delivers, as a stream.
fn tokio_stream_of(
    rx: tokio::sync::mpsc::Receiver<Bytes>,
) -> impl futures::Stream<Item = Bytes> + Send {
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (b, rx)) })
}

/// One unfinished upload: the blob it was writing (relative to the prefix) and its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbandonedUpload {
    pub blob: String,
    pub upload_id: String,
}

pub(super) struct S3Direct {
    endpoint: Arc<Endpoint>,
    tls: Option<tokio_rustls::TlsConnector>,
    signer: Arc<Signer>,
    /// For listings and aborts, one at a time.
    client: tokio::sync::Mutex<Client>,
    bucket: String,
    /// The key prefix blobs live under (`prefix/`), or empty.
    key_prefix: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListResult {
    #[serde(default)]
    is_truncated: bool,
    #[serde(default)]
    next_key_marker: Option<String>,
    #[serde(default)]
    next_upload_id_marker: Option<String>,
    #[serde(default)]
    upload: Vec<UploadEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UploadEntry {
    key: String,
    upload_id: String,
}

impl S3Direct {
    /// The uploads client of the store `b` builds: the same endpoint, region, bucket and
    /// credentials (explicit or from the environment).
    pub(super) fn from_builder(b: &AmazonS3Builder, prefix: &str) -> Result<S3Direct, BlobError> {
        let get = |k| b.get_config_value(&k).filter(|v| !v.is_empty());
        let region = get(AmazonS3ConfigKey::Region).unwrap_or_else(|| "us-east-1".into());
        let bucket = get(AmazonS3ConfigKey::Bucket).unwrap_or_default();
        let endpoint = get(AmazonS3ConfigKey::Endpoint)
            .unwrap_or_else(|| format!("https://s3.{region}.amazonaws.com"));
        let refused = |m: String| BlobError::Refused(format!("storage endpoint {endpoint}: {m}"));
        let endpoint_url = Endpoint::parse(endpoint.trim_end_matches('/')).map_err(refused)?;
        let tls = if endpoint_url.tls {
            Some(tls_connector(&Trust::CaFile(SYSTEM_ROOTS.into())).map_err(refused)?)
        } else {
            None
        };
        let signer = Signer::new(
            &get(AmazonS3ConfigKey::AccessKeyId).unwrap_or_default(),
            &get(AmazonS3ConfigKey::SecretAccessKey).unwrap_or_default(),
            &region,
        );
        let prefix = prefix.trim_end_matches('/');
        let (endpoint, signer) = (Arc::new(endpoint_url), Arc::new(signer));
        Ok(S3Direct {
            client: tokio::sync::Mutex::new(Client::new(
                endpoint.clone(),
                tls.clone(),
                signer.clone(),
            )),
            endpoint,
            tls,
            signer,
            bucket,
            key_prefix: if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}/")
            },
        })
    }

    /// Every unfinished upload under the prefix. A backend that does not implement
    /// ListMultipartUploads (501) has none to show.
    pub(super) async fn list(&self) -> Result<Vec<super::AbandonedUpload>, BlobError> {
        let mut found = Vec::new();
        let (mut key_marker, mut id_marker) = (String::new(), String::new());
        loop {
            let mut path = format!(
                "{}?uploads&prefix={}",
                encode_path(&format!("/{}", self.bucket)),
                encode_query_value(&self.key_prefix)
            );
            if !key_marker.is_empty() {
                path.push_str(&format!(
                    "&key-marker={}&upload-id-marker={}",
                    encode_query_value(&key_marker),
                    encode_query_value(&id_marker)
                ));
            }
            let req = Request {
                method: Method::GET,
                path,
                headers: Vec::new(),
                body: bytes::Bytes::new(),
            };
            let answer = exchange(&mut *self.client.lock().await, &req)
                .await
                .map_err(|e| BlobError::Unavailable(e.to_string()))?;
            if answer.status == 501 {
                return Ok(found);
            }
            let answer = answer
                .ok()
                .map_err(|e| BlobError::Refused(format!("ListMultipartUploads: {e}")))?;
            let page: ListResult = quick_xml::de::from_str(&answer.body)
                .map_err(|e| BlobError::Refused(format!("ListMultipartUploads answer: {e}")))?;
            for u in page.upload {
                if let Some(blob) = u.key.strip_prefix(&self.key_prefix) {
                    found.push(super::AbandonedUpload {
                        blob: blob.to_owned(),
                        upload_id: u.upload_id,
                    });
                }
            }
            match (page.is_truncated, page.next_key_marker) {
                (true, Some(k)) if !k.is_empty() => {
                    key_marker = k;
                    id_marker = page.next_upload_id_marker.unwrap_or_default();
                }
                _ => return Ok(found),
            }
        }
    }

    /// Streams one blob of exactly `len` bytes as a single PUT, from `pieces`.
    pub(super) async fn put_streaming(
        &self,
        blob: &str,
        len: u64,
        pieces: tokio::sync::mpsc::Receiver<Bytes>,
    ) -> Result<(), BlobError> {
        use futures::StreamExt as _;
        let frames = tokio_stream_of(pieces).map(|b| Ok(hyper::body::Frame::data(b)));
        // The client's body must be Sync; the stream is only ever polled by one task.
        let body = http_body_util::BodyExt::boxed(http_body_util::StreamBody::new(
            sync_wrapper::SyncStream::new(frames),
        ));
        let req = Request {
            method: Method::PUT,
            path: encode_path(&format!("/{}/{}{blob}", self.bucket, self.key_prefix)),
            headers: vec![("content-type".into(), "application/octet-stream".into())],
            body: Bytes::new(),
        };
        let mut client = Client::new(self.endpoint.clone(), self.tls.clone(), self.signer.clone());
        let resp = client
            .send_streaming(&req, body, len)
            .await
            .map_err(|e| BlobError::Unavailable(format!("PUT {blob}: {e}")))?;
        let answer = read_answer(resp)
            .await
            .map_err(|e| BlobError::Unavailable(format!("PUT {blob}: {e}")))?;
        match answer.status {
            200..=299 => Ok(()),
            500..=599 => Err(BlobError::Unavailable(format!(
                "PUT {blob}: {}",
                answer.error_text()
            ))),
            _ => Err(BlobError::Refused(format!(
                "PUT {blob}: {}",
                answer.error_text()
            ))),
        }
    }

    /// Aborts one upload; one already gone counts as aborted.
    pub(super) async fn abort(&self, u: &super::AbandonedUpload) -> Result<(), BlobError> {
        let key = format!("{}{}", self.key_prefix, u.blob);
        let req = Request {
            method: Method::DELETE,
            path: format!(
                "{}?uploadId={}",
                encode_path(&format!("/{}/{key}", self.bucket)),
                encode_query_value(&u.upload_id)
            ),
            headers: Vec::new(),
            body: bytes::Bytes::new(),
        };
        let answer = exchange(&mut *self.client.lock().await, &req)
            .await
            .map_err(|e| BlobError::Unavailable(e.to_string()))?;
        match answer.status {
            200..=299 | 404 => Ok(()),
            _ => Err(BlobError::Refused(format!(
                "AbortMultipartUpload: {}",
                answer.error_text()
            ))),
        }
    }
}
