//! A real gateway in the test process: the same setup and listener as `sealgate serve`, on
//! a port it picks, over a temporary data directory; and the AWS SDK for Rust pointed at it.

#![allow(dead_code, reason = "each test binary uses part of this")]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::dns::{DnsFuture, ResolveDns};
use sealgate::config::Config;

pub(crate) const REGION: &str = "us-east-1";

pub(crate) struct TestGateway {
    pub endpoint: String,
    pub access_key: String,
    pub secret_key: String,
    _dir: tempfile::TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl TestGateway {
    /// A gateway with the default configuration.
    pub(crate) async fn start() -> TestGateway {
        TestGateway::with_config("").await
    }

    /// A gateway configured by `toml` (as a config file would), listening on loopback.
    pub(crate) async fn with_config(toml: &str) -> TestGateway {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut config: Config = toml::from_str(toml).expect("test configuration");
        config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        config.admin.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        config.data_dir = dir.path().join("data");
        config.storage.fsync = false;
        config.audit.fsync = false;
        config.credentials.root_access_key = Some("AKIATESTROOT00000001".into());
        config.credentials.root_secret_key = Some("test-root-secret".into());
        let gateway = sealgate::setup::open(&config, sealgate::clock::system())
            .await
            .expect("gateway setup");
        let (access_key, secret_key) = (
            gateway.credentials.access_key.clone(),
            gateway.credentials.secret_key.clone(),
        );
        let listener = sealgate::server::bind(&config).await.expect("listener");
        let endpoint = format!("http://{}", listener.local_addr().expect("address"));
        let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let stopped = async {
                let _ = stop.await;
            };
            if let Err(e) = sealgate::server::serve(gateway, &config, listener, stopped).await {
                panic!("gateway stopped: {e}");
            }
        });
        TestGateway {
            endpoint,
            access_key,
            secret_key,
            _dir: dir,
            shutdown: Some(shutdown),
        }
    }

    /// The SDK's S3 client as the root user, path-style.
    pub(crate) fn s3(&self) -> aws_sdk_s3::Client {
        self.s3_as(&self.access_key.clone(), &self.secret_key.clone())
    }

    pub(crate) fn s3_as(&self, access_key: &str, secret_key: &str) -> aws_sdk_s3::Client {
        sdk_client(
            &self.endpoint,
            true,
            http_client(false),
            access_key,
            secret_key,
        )
    }

    /// The SDK's S3 client without credentials: unsigned (anonymous) requests.
    pub(crate) fn s3_anonymous(&self) -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(Region::new(REGION))
            .allow_no_auth()
            .force_path_style(true)
            .http_client(http_client(false))
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }

    /// The SDK's S3 client as the root user, virtual-hosted style against `domain` (one of
    /// the gateway's `[s3] domains`): `BUCKET.DOMAIN` resolves to this gateway.
    pub(crate) fn s3_virtual(&self, domain: &str) -> aws_sdk_s3::Client {
        let port = self.endpoint.rsplit(':').next().expect("a port");
        sdk_client(
            &format!("http://{domain}:{port}"),
            false,
            http_client(true),
            &self.access_key,
            &self.secret_key,
        )
    }
}

/// The SDK's HTTP client; with `loopback`, every name resolves to this machine.
fn http_client(loopback: bool) -> aws_sdk_s3::config::SharedHttpClient {
    let builder = aws_smithy_http_client::Builder::new().tls_provider(
        aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ),
    );
    if loopback {
        builder.build_with_resolver(Loopback)
    } else {
        builder.build_https()
    }
}

fn sdk_client(
    endpoint: &str,
    path_style: bool,
    http: aws_sdk_s3::config::SharedHttpClient,
    access_key: &str,
    secret_key: &str,
) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(access_key, secret_key, None, None, "test"))
        .force_path_style(path_style)
        .http_client(http)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// Resolves every name to loopback, so that virtual-hosted names reach the gateway in this
/// process without the system's resolver knowing them.
#[derive(Debug, Clone)]
struct Loopback;

impl ResolveDns for Loopback {
    fn resolve_dns<'a>(&'a self, _name: &'a str) -> DnsFuture<'a> {
        DnsFuture::ready(Ok(vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]))
    }
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        if let Some(s) = self.shutdown.take() {
            let _ = s.send(());
        }
    }
}

/// The error code and HTTP status an SDK call failed with.
pub(crate) fn failure<E>(err: SdkError<E, HttpResponse>) -> (String, u16)
where
    E: ProvideErrorMetadata,
{
    let status = err.raw_response().map_or(0, |r| r.status().as_u16());
    (err.code().unwrap_or_default().to_owned(), status)
}
pub(crate) mod backends;
