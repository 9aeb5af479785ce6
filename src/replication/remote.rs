//! The S3 endpoints of other regions (`[replication.remotes.REGION]`), and finding which
//! one holds a destination bucket: the remote whose GetBucketLocation answers with its own
//! region name.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::Method;
use http_body_util::BodyExt as _;

use crate::client::http::{Client, Endpoint, Request, Signer, Trust, encode_path, tls_connector};
use crate::client::xml::element_text;
use crate::config::ReplicationSettings;

/// Requests to a remote that take longer than this count as failed attempts.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Error bodies are read up to this size: the code and message come first.
const MAX_ERROR_BODY: usize = 16 * 1024;
const SYSTEM_ROOTS: &str = "/etc/ssl/certs/ca-certificates.crt";

/// One remote region.
pub struct Site {
    pub region: String,
    endpoint: Arc<Endpoint>,
    tls: Option<tokio_rustls::TlsConnector>,
    signer: Arc<Signer>,
}

impl Site {
    pub fn client(&self) -> Client {
        Client::new(self.endpoint.clone(), self.tls.clone(), self.signer.clone())
    }

    pub fn url(&self) -> &str {
        &self.endpoint.url
    }
}

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
        let code = element_text(&self.body, "Code").unwrap_or_default();
        let message = element_text(&self.body, "Message").unwrap_or_default();
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
                "destination answered {}",
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
                "the destination did not answer in time".into(),
            ))
        }
    }
}

pub async fn read_answer(
    resp: http::Response<hyper::body::Incoming>,
) -> Result<Answer, RemoteError> {
    let (parts, body) = resp.into_parts();
    let bytes = http_body_util::Limited::new(body, MAX_ERROR_BODY)
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

pub fn bucket_path(bucket: &str, key: Option<&str>) -> String {
    match key {
        None => encode_path(&format!("/{bucket}")),
        Some(k) => encode_path(&format!("/{bucket}/{k}")),
    }
}

fn get(path: String) -> Request {
    Request {
        method: Method::GET,
        path,
        headers: Vec::new(),
        body: bytes::Bytes::new(),
    }
}

/// The remotes of this gateway, with the bucket -> remote answers found so far.
pub struct Remotes {
    sites: Vec<Arc<Site>>,
    located: Mutex<HashMap<String, Arc<Site>>>,
}

impl Remotes {
    pub fn from_settings(settings: &ReplicationSettings) -> Result<Remotes, String> {
        let mut sites = Vec::new();
        for (region, remote) in &settings.remotes {
            let endpoint = Endpoint::parse(&remote.endpoint)
                .map_err(|e| format!("replication.remotes.{region}: {e}"))?;
            let tls = if endpoint.tls {
                let trust = if remote.insecure_skip_verify {
                    Trust::Insecure
                } else {
                    Trust::CaFile(
                        remote
                            .ca_file
                            .clone()
                            .unwrap_or_else(|| SYSTEM_ROOTS.into()),
                    )
                };
                Some(
                    tls_connector(&trust)
                        .map_err(|e| format!("replication.remotes.{region}: {e}"))?,
                )
            } else {
                None
            };
            let secret = remote
                .secret()
                .map_err(|e| format!("replication.remotes.{region}: {e}"))?;
            sites.push(Arc::new(Site {
                region: region.clone(),
                endpoint: Arc::new(endpoint),
                tls,
                signer: Arc::new(Signer::new(&remote.access_key_id, &secret, region)),
            }));
        }
        Ok(Remotes {
            sites,
            located: Mutex::new(HashMap::new()),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.sites.is_empty()
    }

    /// The remote holding `bucket`: Ok(None) when every remote answered and none has it;
    /// an error when some remote could not be asked (it may be the one).
    pub async fn locate(&self, bucket: &str) -> Result<Option<Arc<Site>>, RemoteError> {
        if let Some(site) = self.cached(bucket) {
            return Ok(Some(site));
        }
        let mut unreachable = None;
        for site in &self.sites {
            let mut client = site.client();
            let mut req = get(bucket_path(bucket, None));
            req.path.push_str("?location");
            match exchange(&mut client, &req).await.and_then(Answer::ok) {
                Ok(answer) => {
                    let region = element_text(&answer.body, "LocationConstraint")
                        .filter(|r| !r.is_empty())
                        .unwrap_or_else(|| "us-east-1".into());
                    if region == site.region {
                        if let Ok(mut m) = self.located.lock() {
                            m.insert(bucket.to_owned(), site.clone());
                        }
                        return Ok(Some(site.clone()));
                    }
                }
                Err(RemoteError::Refused { .. }) => {}
                Err(e) => unreachable = Some(format!("{} ({}): {e}", site.region, site.url())),
            }
        }
        match unreachable {
            Some(e) => Err(RemoteError::Transient(e)),
            None => Ok(None),
        }
    }

    fn cached(&self, bucket: &str) -> Option<Arc<Site>> {
        self.located.lock().ok()?.get(bucket).cloned()
    }

    /// Forgets where a bucket was found (it answered NoSuchBucket there since).
    pub fn forget(&self, bucket: &str) {
        if let Ok(mut m) = self.located.lock() {
            m.remove(bucket);
        }
    }
}

/// Whether versioning is Enabled on a remote bucket.
pub async fn versioning_enabled(site: &Site, bucket: &str) -> Result<bool, RemoteError> {
    let mut client = site.client();
    let mut req = get(bucket_path(bucket, None));
    req.path.push_str("?versioning");
    let answer = exchange(&mut client, &req).await?.ok()?;
    Ok(element_text(&answer.body, "Status").as_deref() == Some("Enabled"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_classes() {
        let body = "<Error><Code>NoSuchBucket</Code><Message>gone</Message></Error>";
        let answer = |status| Answer {
            status,
            headers: http::HeaderMap::new(),
            body: body.into(),
        };
        assert!(matches!(answer(503).ok(), Err(RemoteError::Transient(_))));
        assert!(matches!(
            answer(404).ok(),
            Err(RemoteError::Refused { status: 404, .. })
        ));
        assert!(answer(200).ok().is_ok());
        assert_eq!(answer(404).error_text(), "NoSuchBucket: gone");
    }

    #[test]
    fn remotes_are_built_from_the_config() {
        let settings: ReplicationSettings = toml::from_str(
            "[remotes.eu-west-1]\nendpoint = \"http://127.0.0.1:9\"\naccess_key_id = \"a\"\nsecret_access_key = \"s\"",
        )
        .unwrap();
        let r = Remotes::from_settings(&settings).unwrap();
        assert_eq!(r.sites.len(), 1);
        assert_eq!(r.sites[0].region, "eu-west-1");
    }
}
