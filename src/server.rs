//! The listener: one port for S3 (and later KMS and admin), plain HTTP or TLS, HTTP/1.1
//! and HTTP/2, with graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use s3s::config::{S3Config, StaticConfigProvider};
use s3s::service::{S3Service, S3ServiceBuilder};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::config::Config;
use crate::iam::{IamApi, is_iam_request};
use crate::identity::Peer;
use crate::kms::quota::Quotas;
use crate::kms::{KmsApi, KmsService, is_kms_request};
use crate::limits;
use crate::objects::Collector;
use crate::observe::{self, Api, Arrival, RequestContext};
use crate::replication::replicate::{PartSizes, Replication};
use crate::replication::worker::Worker;
use crate::s3::{
    Authorizer, BucketEncryptionRoute, ContentMd5, EdgeSettings, IdentityAuth, S3Authorization,
    SealgateS3, SourceIp, SsePolicy, Transport, WHOLE_BODY_LIMIT, compat, cors, host::Domains,
    post_form,
};
use crate::setup::Gateway;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("TLS: {0}")]
    Tls(String),
    #[error("{0}")]
    Config(String),
}

/// How S3 requests are authorized: by S3's edge and, for bucket pages, by the console.
fn s3_authorizer(gateway: &Gateway, config: &Config) -> Authorizer {
    Authorizer::new(
        gateway.identities.clone(),
        gateway.objects.clone(),
        config.region.clone(),
        config.account_id.clone(),
        SsePolicy {
            allow_sse_c_over_http: config.s3.allow_sse_c_over_http,
        },
    )
}

pub fn s3_service(gateway: &Gateway, config: &Config, domains: &Domains) -> S3Service {
    let edge = SealgateS3::new(
        gateway.objects.clone(),
        EdgeSettings {
            region: config.region.clone(),
            allow_sse_c_over_http: config.s3.allow_sse_c_over_http,
            max_put_size: config.s3.max_put_size,
            account_id: config.account_id.clone(),
        },
    );
    let authorizer = Arc::new(s3_authorizer(gateway, config));
    let edge = if gateway.remotes.is_empty() {
        edge
    } else {
        edge.with_remotes(gateway.remotes.clone())
    };
    let mut b = S3ServiceBuilder::new(edge);
    let mut protocol = S3Config::default();
    protocol.xml_max_body_size = WHOLE_BODY_LIMIT;
    protocol.post_object_max_file_size = config.s3.max_post_size;
    b.set_config(Arc::new(StaticConfigProvider::new(Arc::new(protocol))));
    b.set_auth(IdentityAuth::new(gateway.identities.clone()));
    b.set_access(S3Authorization(authorizer.clone()));
    b.set_route(BucketEncryptionRoute::new(
        gateway.objects.clone(),
        authorizer,
        domains.clone(),
    ));
    b.set_host(domains.clone());
    b.build()
}

fn tls_config(config: &Config) -> Result<Option<Arc<ServerConfig>>, ServerError> {
    let (certs, key): (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) =
        if config.tls.self_signed {
            let names = vec![
                "localhost".to_owned(),
                "127.0.0.1".to_owned(),
                "::1".to_owned(),
            ];
            let cert = rcgen::generate_simple_self_signed(names)
                .map_err(|e| ServerError::Tls(e.to_string()))?;
            let key = PrivateKeyDer::try_from(cert.signing_key.serialize_der())
                .map_err(|e| ServerError::Tls(e.to_string()))?;
            (vec![cert.cert.der().clone()], key)
        } else if let (Some(cert), Some(key)) = (&config.tls.cert, &config.tls.key) {
            let certs = CertificateDer::pem_file_iter(cert)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| ServerError::Tls(format!("{}: {e}", cert.display())))?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| ServerError::Tls(format!("{}: {e}", key.display())))?;
            (certs, key)
        } else {
            return Ok(None);
        };
    let mut cfg =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| ServerError::Tls(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| ServerError::Tls(e.to_string()))?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Some(Arc::new(cfg)))
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return std::future::pending().await,
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// Applies key deletions, material expiries and rotations as time reaches them, also for
/// keys nobody uses (a deletion window must end in crypto-shredding either way).
async fn kms_transitions(kms: KmsService) {
    let mut tick = tokio::time::interval(Duration::from_secs(10));
    loop {
        tick.tick().await;
        if let Err(e) = kms.apply_due().await {
            tracing::warn!(error = %e, "applying due key transitions failed");
        }
    }
}

/// Gives up the space reserve when the disk fills, and takes it back once space is freed.
async fn watch_space(space: Arc<crate::space::DiskSpace>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let space = space.clone();
        let _ = tokio::task::spawn_blocking(move || space.check()).await;
    }
}

/// Says where the gateway listens, in the log and, for tools that read stderr whatever the
/// log level, as a plain line too (not among JSON logs, which stay one object per line).
fn announce(config: &Config, line: &str) {
    tracing::info!("{line}");
    if config.log.format == crate::config::LogFormat::Text {
        eprintln!("{line}");
    }
}

/// A client's byte stream, plain TCP or TLS over it.
trait ClientStream: AsyncRead + AsyncWrite + Unpin + Send {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> ClientStream for T {}

/// One open client connection in `sealgate_open_connections`, for as long as it lives.
struct OpenConnection;

impl OpenConnection {
    fn counted() -> OpenConnection {
        crate::metrics::metrics().open_connections.inc();
        OpenConnection
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        crate::metrics::metrics().open_connections.dec();
    }
}

/// Serves on `config.listen` until SIGINT/SIGTERM.
pub async fn run(gateway: Gateway, config: &Config) -> Result<(), ServerError> {
    let listener = bind(config).await?;
    serve(gateway, config, listener, shutdown_signal()).await
}

/// The listening socket of `config.listen`; port 0 takes a free port, which
/// [`serve`] reports.
pub async fn bind(config: &Config) -> Result<TcpListener, ServerError> {
    TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServerError::Bind {
            addr: config.listen,
            source,
        })
}

/// KMS quotas hold for the fleet as a whole: each node admits its share of the rate.
fn fleet_quotas(gateway: &Gateway, config: &Config) -> Quotas {
    let quotas = Quotas::new(
        config.kms.crypto_requests_per_second,
        config.kms.management_requests_per_second,
    );
    match &gateway.membership {
        Some(membership) => {
            let membership = membership.clone();
            quotas.shared_by(Arc::new(move || membership.live_nodes()))
        }
        None => quotas,
    }
}

/// Serves S3, KMS and IAM on `listener` until `shutdown` completes, then lets open
/// connections finish (at most 10 s). Announces the address it serves on stderr (and in
/// the log) as `sealgate listening on SCHEME://ADDR`, which tools read to find a port
/// the gateway chose.
pub async fn serve(
    gateway: Gateway,
    config: &Config,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), ServerError> {
    let tls = tls_config(config)?;
    let domains = Domains::new(&config.s3.domains).map_err(ServerError::Config)?;
    let service = s3_service(&gateway, config, &domains);
    let local = listener.local_addr().map_err(|source| ServerError::Bind {
        addr: config.listen,
        source,
    })?;
    let kms = Arc::new(KmsApi {
        service: gateway.kms.clone(),
        identities: gateway.identities.clone(),
        quotas: fleet_quotas(&gateway, config),
    });
    let admin = if config.admin.enabled {
        let listener = TcpListener::bind(config.admin.listen)
            .await
            .map_err(|source| ServerError::Bind {
                addr: config.admin.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| ServerError::Bind {
            addr: config.admin.listen,
            source,
        })?;
        announce(
            config,
            &format!("sealgate admin endpoints on http://{addr}"),
        );
        // The console's key operations share the API's quotas.
        let admin = crate::admin::Admin::new(
            &gateway,
            config,
            kms.clone(),
            s3_authorizer(&gateway, config),
        );
        Some(tokio::spawn(crate::admin::serve(
            admin,
            listener,
            config.limits.clone(),
        )))
    } else {
        None
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    announce(config, &format!("sealgate listening on {scheme}://{local}"));

    let iam = Arc::new(IamApi {
        iam: gateway.iam.clone(),
        identities: gateway.identities.clone(),
        audit: gateway.audit.clone(),
        clock: gateway.clock.clone(),
    });
    let kms_ticker = tokio::spawn(kms_transitions(gateway.kms.clone()));
    let space_watch = tokio::spawn(watch_space(gateway.space.clone()));

    let collector = Collector::new(gateway.objects.clone());
    let collector = tokio::spawn(collector.run(
        Duration::from_secs(config.storage.gc_interval_secs.max(1)),
        gateway.started,
    ));

    let replication = Worker::new(
        Replication {
            svc: gateway.objects.clone(),
            remotes: gateway.remotes.clone(),
            account: config.account_id.clone(),
            sizes: PartSizes::from_settings(&config.replication),
        },
        &config.replication,
    );
    let replication = tokio::spawn(replication.run());

    let lifecycle = crate::lifecycle::Lifecycle::new(
        gateway.objects.clone(),
        Some(gateway.audit.clone()),
        gateway
            .membership
            .as_ref()
            .map_or(crate::lifecycle::LOCAL_NODE, |m| m.node()),
        Duration::from_secs(config.lifecycle.interval_secs.max(1)),
    );
    let lifecycle = tokio::spawn(lifecycle.run());

    let acceptor = tls.map(TlsAcceptor::from);
    let http = limits::http_builder(&config.limits);
    let gate = limits::Gate::new("api", &config.limits);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (socket, peer_addr, admitted) = tokio::select! {
            accepted = gate.accept(&listener) => accepted,
            _ = shutdown.as_mut() => break,
        };
        let _ = socket.set_nodelay(true);
        let transport = Transport {
            tls: acceptor.is_some(),
        };
        let peer = Peer {
            ip: Some(peer_addr.ip()),
            tls: acceptor.is_some(),
        };
        let watch = gate.watch();
        let svc = service.clone();
        let kms = kms.clone();
        let iam = iam.clone();
        let objects = gateway.objects.clone();
        let domains = domains.clone();
        let svc = hyper::service::service_fn({
            let watch = watch.clone();
            move |mut req: http::Request<hyper::body::Incoming>| {
                let api = if is_iam_request(&req) {
                    Api::Iam
                } else if is_kms_request(&req) {
                    Api::Kms
                } else {
                    Api::S3
                };
                let ctx = RequestContext::new(api);
                req.extensions_mut().insert(transport);
                req.extensions_mut().insert(ctx.clone());
                req.extensions_mut().insert(SourceIp(peer_addr.ip()));
                let (req, in_flight) = watch.request(req);
                let svc = svc.clone();
                let kms = kms.clone();
                let iam = iam.clone();
                let facts = compat::RequestFacts::of(&req);
                let objects = objects.clone();
                let domains = domains.clone();
                async move {
                    let arrival = Arrival::of(api, &req, peer.ip);
                    let req = req.map(|body| ctx.count_body(body));
                    let resp = match api {
                        Api::Iam => iam.handle(req, peer, &ctx).await.map(s3s::Body::from),
                        Api::Kms => kms.handle(req, peer, &ctx).await.map(s3s::Body::from),
                        Api::S3 if req.method() == http::Method::OPTIONS => {
                            ctx.note(|n| n.operation = Some("PreflightRequest".into()));
                            cors::preflight(&objects, &domains, &req, ctx.id()).await
                        }
                        Api::S3 => {
                            let cross_origin = cors::CrossOrigin::of(&domains, &req);
                            let md5 = ContentMd5::of(&req);
                            let req = match &md5 {
                                Some(md5) => {
                                    let mut req = req.map(|b| s3s::Body::http_body(md5.wrap(b)));
                                    req.extensions_mut().insert(md5.clone());
                                    req
                                }
                                None => req.map(s3s::Body::http_body),
                            };
                            let resp = match post_form::prepare(req).await {
                                Ok(req) => compat::adjust(&facts, svc.call(req).await?),
                                Err(refused) => compat::adjust(&facts, refused),
                            };
                            let resp = match &md5 {
                                Some(md5) => md5.answer(resp),
                                None => resp,
                            };
                            match cross_origin {
                                Some(c) => cors::decorate(&objects, &c, resp).await,
                                None => resp,
                            }
                        }
                    };
                    let resp = observe::finish(&ctx, arrival, resp);
                    Ok::<_, s3s::HttpError>(in_flight.answer(resp))
                }
            }
        });
        let open = OpenConnection::counted();
        let acceptor = acceptor.clone();
        let http = http.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let _held = (open, admitted);
            let conn = async {
                let stream: Box<dyn ClientStream> = match acceptor {
                    None => Box::new(socket),
                    Some(acceptor) => match acceptor.accept(socket).await {
                        Ok(tls) => Box::new(tls),
                        Err(e) => return tracing::debug!(error = %e, "TLS handshake failed"),
                    },
                };
                let conn = http.serve_connection(TokioIo::new(watch.io(stream)), svc);
                let _ = watcher.watch(conn.into_owned()).await;
            };
            watch.drive(peer_addr.ip(), conn).await;
        });
    }
    collector.abort();
    kms_ticker.abort();
    space_watch.abort();
    if let Some(admin) = &admin {
        admin.abort();
    }
    replication.abort();
    lifecycle.abort();
    tokio::select! {
        () = graceful.shutdown() => {},
        () = tokio::time::sleep(Duration::from_secs(10)) => tracing::warn!("connections still open after 10s; stopping"),
    }
    if let Some(changes) = &gateway.changes {
        changes.abort();
    }
    // Nothing audited is in flight any more: the last head can be anchored.
    if let Some(anchorer) = gateway.anchorer
        && let Err(e) = anchorer.finish().await
    {
        tracing::warn!(error = %e, "the final audit anchor was not written");
    }
    if let Some(membership) = &gateway.membership
        && let Err(e) = membership.leave().await
    {
        tracing::warn!(error = %e, "could not leave the fleet; other nodes will notice the silence");
    }
    tracing::info!("sealgate stopped");
    Ok(())
}
