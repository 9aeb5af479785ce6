//! The S3 endpoints of other regions (`[replication.remotes.REGION]`), and finding which
//! one holds a destination bucket: the remote whose GetBucketLocation answers with its own
//! region name.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use http::Method;

pub use crate::client::http::{Answer, REQUEST_TIMEOUT, RemoteError, exchange, read_answer};
use crate::client::http::{
    Client, Endpoint, Request, SYSTEM_ROOTS, Signer, Trust, encode_path, tls_connector,
};
use crate::client::xml::element_text;
use crate::config::ReplicationSettings;

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
