//! The admin listener: `/metrics` for Prometheus, `/health/live` and `/health/ready` for
//! load balancers and orchestrators, and the web console under `/console/`. It never
//! shares the S3 port, so an operator can keep it on a private interface.

mod console;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Response, StatusCode, header};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::audit::AuditLog;
use crate::clock::SharedClock;
use crate::config::{Config, Limits};
use crate::iam::IamService;
use crate::identity::Peer;
use crate::kms::{KmsApi, KmsService};
use crate::limits::{self, Gate, TimedIncoming};
use crate::metrics::metrics;
use crate::objects::ObjectService;
use crate::s3::Authorizer;
use crate::setup::Gateway;

/// The longest a readiness check waits for one dependency before calling it unusable.
const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// What the admin endpoints look at: the gateway's services.
#[derive(Clone)]
pub struct Admin {
    objects: ObjectService,
    kms: KmsService,
    iam: Arc<IamService>,
    audit: AuditLog,
    clock: SharedClock,
    console: console::Console,
}

impl Admin {
    /// `kms` serves the console's key operations (the KMS API's dispatch and quotas),
    /// `s3` decides what the console shows of buckets, as the S3 edge decides requests.
    pub fn new(gateway: &Gateway, config: &Config, kms: Arc<KmsApi>, s3: Authorizer) -> Admin {
        Admin {
            objects: gateway.objects.clone(),
            kms: gateway.kms.clone(),
            iam: gateway.iam.clone(),
            audit: gateway.audit.clone(),
            clock: gateway.clock.clone(),
            console: console::Console::new(gateway, config, kms, s3),
        }
    }

    async fn route(&self, req: http::Request<TimedIncoming>, peer: Peer) -> Response<Full<Bytes>> {
        let path = req.uri().path();
        if path == "/console" || path.starts_with("/console/") {
            return self.console.handle(req, peer).await;
        }
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return text(StatusCode::METHOD_NOT_ALLOWED, "only GET is served here\n");
        }
        match req.uri().path() {
            "/metrics" => {
                self.refresh_state_gauges().await;
                let mut resp = Response::new(Full::from(metrics().encode()));
                resp.headers_mut().insert(
                    header::CONTENT_TYPE,
                    header::HeaderValue::from_static(OPENMETRICS),
                );
                resp
            }
            "/" => {
                let mut resp = text(StatusCode::SEE_OTHER, "");
                resp.headers_mut().insert(
                    header::LOCATION,
                    header::HeaderValue::from_static("/console/"),
                );
                resp
            }
            "/health/live" => text(StatusCode::OK, "live\n"),
            "/health/ready" => match self.unready().await {
                None => text(StatusCode::OK, "ready\n"),
                Some(why) => text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &format!("not ready: {why}\n"),
                ),
            },
            _ => text(StatusCode::NOT_FOUND, "not found\n"),
        }
    }

    /// The gauges that describe stored state (queues), read from the catalog at scrape
    /// time so that every node of a fleet reports the same figures.
    async fn refresh_state_gauges(&self) {
        let m = metrics();
        let catalog = self.objects.catalog();
        match catalog.queued_blob_count().await {
            Ok(n) => {
                m.gc_pending_blobs.set(i64::try_from(n).unwrap_or(i64::MAX));
            }
            Err(e) => tracing::warn!(error = %e, "metrics: counting queued blobs failed"),
        }
        match catalog.replication_stats(None).await {
            Ok(stats) => {
                m.replication_backlog_versions
                    .set(i64::try_from(stats.pending).unwrap_or(i64::MAX));
                let now = self.clock.now_ms();
                let lag_ms = stats
                    .oldest_pending_ms
                    .map_or(0, |t| now.saturating_sub(t).max(0));
                m.replication_lag.set(lag_ms as f64 / 1000.0);
                let gauge = |g: &prometheus_client::metrics::gauge::Gauge, v: u64| {
                    g.set(i64::try_from(v).unwrap_or(i64::MAX));
                };
                gauge(&m.replication_multipart_versions, stats.uploading);
                gauge(&m.replication_multipart_parts_sent, stats.upload_parts_sent);
                gauge(&m.replication_multipart_parts_total, stats.upload_parts);
                gauge(&m.replication_multipart_bytes_sent, stats.upload_bytes_sent);
                gauge(&m.replication_multipart_bytes_total, stats.upload_bytes);
            }
            Err(e) => tracing::warn!(error = %e, "metrics: reading the replication queue failed"),
        }
    }

    /// Why the gateway cannot serve now, naming the first dependency that fails; None
    /// when catalog, blob store, key service and audit trail are all usable.
    async fn unready(&self) -> Option<String> {
        let g = self;
        if let Some(why) = g.audit.unusable() {
            return Some(format!("audit trail: {why}"));
        }
        let checks = async {
            match g.objects.catalog().bucket(READINESS_BUCKET).await {
                Ok(_) | Err(crate::catalog::CatalogError::NoSuchBucket) => {}
                Err(e) => return Some(format!("catalog: {e}")),
            }
            if let Err(e) = g.objects.storage_reachable().await {
                return Some(format!("blob store: {e}"));
            }
            for watch in [g.kms.watch(), g.iam.watch()].into_iter().flatten() {
                if let Err(e) = watch.ensure_fresh().await {
                    return Some(format!("{} state: {e}", watch.store()));
                }
            }
            None
        };
        match tokio::time::timeout(CHECK_TIMEOUT, checks).await {
            Ok(why) => why,
            Err(_) => Some(format!(
                "a dependency did not answer within {}s",
                CHECK_TIMEOUT.as_secs()
            )),
        }
    }
}

/// A bucket name S3 cannot create (too short): looking it up reaches the catalog and
/// finds nothing.
const READINESS_BUCKET: &str = "-";

fn text(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::from(body.to_owned()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// Serves the admin endpoints on `listener` until the task is aborted, under the same
/// `[limits]` as the API listener but counting its own connections, so that a flood there
/// does not starve health checks and scrapes.
pub async fn serve(admin: Admin, listener: TcpListener, limits: Limits) {
    let http = limits::http_builder(&limits);
    let gate = Gate::new("admin", &limits);
    loop {
        let (socket, addr, admitted) = gate.accept(&listener).await;
        let admin = admin.clone();
        // The admin listener speaks plain HTTP: keep it on a private interface.
        let peer = Peer {
            ip: Some(addr.ip()),
            tls: false,
        };
        let watch = gate.watch();
        let svc = hyper::service::service_fn({
            let watch = watch.clone();
            move |req| {
                let admin = admin.clone();
                let (req, in_flight) = watch.request(req);
                async move {
                    let resp = admin.route(req, peer).await;
                    Ok::<_, std::convert::Infallible>(in_flight.answer(resp))
                }
            }
        });
        let conn = http
            .serve_connection(TokioIo::new(watch.io(socket)), svc)
            .into_owned();
        tokio::spawn(async move {
            let _admitted = admitted;
            watch.drive(addr.ip(), conn).await;
        });
    }
}
