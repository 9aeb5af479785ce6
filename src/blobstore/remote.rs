//! Remote backends through object_store's builders: S3 (and everything that speaks it),
//! GCS and Azure, with the configured credentials or else the provider's standard
//! environment (`AWS_*`, `GOOGLE_*`, `AZURE_STORAGE_*`), explicit timeouts and retries, and
//! every blob under the configured prefix.

use std::sync::Arc;
use std::time::Duration;

use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::prefix::PrefixStore;
use object_store::{BackoffConfig, ClientOptions, ObjectStore, RetryConfig};

use super::s3::S3Direct;
use super::{BlobError, BlobStore};
use crate::config::{Backend, Storage};

const MIB: usize = 1024 * 1024;

pub(super) fn open(s: &Storage) -> Result<BlobStore, BlobError> {
    // reqwest is built without a TLS provider of its own: rustls uses ring, as the rest
    // of the gateway does. Installing it twice is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let bucket = s.bucket.clone().unwrap_or_default();
    let secret = s
        .secret()
        .map_err(|e| BlobError::Refused(format!("storage credentials: {e}")))?;
    let client = ClientOptions::new()
        .with_allow_http(s.allow_http)
        .with_connect_timeout(Duration::from_secs(s.connect_timeout_secs))
        .with_timeout(Duration::from_secs(s.request_timeout_secs));
    let retry = RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(s.retry_init_backoff_ms),
            max_backoff: Duration::from_secs(s.retry_max_backoff_secs),
            base: 2.0,
        },
        max_retries: s.max_retries,
        retry_timeout: Duration::from_secs(s.retry_timeout_secs),
    };
    let endpoint = s.endpoint.clone();
    let (store, direct): (Arc<dyn ObjectStore>, Option<Arc<S3Direct>>) = match s.backend {
        Backend::S3 => {
            let mut b = AmazonS3Builder::from_env()
                .with_bucket_name(&bucket)
                .with_virtual_hosted_style_request(s.virtual_hosted_style)
                .with_allow_http(s.allow_http)
                .with_client_options(client)
                .with_retry(retry);
            if let Some(e) = &endpoint {
                b = b.with_endpoint(e);
            }
            if let Some(r) = &s.region {
                b = b.with_region(r);
            }
            if let (Some(ak), Some(sk)) = (&s.access_key_id, &secret) {
                b = b.with_access_key_id(ak).with_secret_access_key(sk);
            }
            let direct = S3Direct::from_builder(&b, &s.prefix)?;
            (Arc::new(b.build()?), Some(Arc::new(direct)))
        }
        Backend::Gcs => {
            let mut b = GoogleCloudStorageBuilder::from_env()
                .with_bucket_name(&bucket)
                .with_client_options(client)
                .with_retry(retry);
            if let Some(path) = &s.service_account_key_file {
                b = b.with_service_account_path(path.to_string_lossy());
            }
            if let Some(e) = &endpoint {
                b = b.with_base_url(e);
            }
            (Arc::new(b.build()?), None)
        }
        Backend::Azure => {
            let mut b = MicrosoftAzureBuilder::from_env()
                .with_container_name(&bucket)
                .with_allow_http(s.allow_http)
                .with_client_options(client)
                .with_retry(retry);
            if let Some(account) = &s.account {
                b = b.with_account(account);
            }
            if let Some(key) = &secret {
                b = b.with_access_key(key);
            }
            if let Some(e) = &endpoint {
                b = b.with_endpoint(e.clone());
            }
            (Arc::new(b.build()?), None)
        }
        Backend::Local => {
            return Err(BlobError::Refused(
                "the local backend is not a remote one".into(),
            ));
        }
    };
    let prefix = s.prefix.trim_end_matches('/');
    let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
        store
    } else {
        Arc::new(PrefixStore::new(store, prefix))
    };
    let at = endpoint.map(|e| format!(" at {e}")).unwrap_or_default();
    let under = if prefix.is_empty() {
        String::new()
    } else {
        format!(" (prefix {prefix}/)")
    };
    Ok(BlobStore {
        store,
        local_root: None,
        part_size: s.part_size_mib as usize * MIB,
        describe: format!("{} bucket {bucket}{under}{at}", s.backend.name()).into(),
        s3: direct,
        single_put_max: u64::from(s.single_put_max_mib) * MIB as u64,
    })
}
