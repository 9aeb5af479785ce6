//! The gateway's Prometheus metrics, served on the admin listener's `/metrics`.
//!
//! One registry per process: every layer counts what it does through [`metrics()`], and
//! the admin listener encodes the whole set. Label values are only ever names the code
//! chose (operations, results), never what a client sent, so series stay bounded.

use std::borrow::Cow;
use std::sync::LazyLock;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub api: &'static str,
    pub operation: Cow<'static, str>,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DurationLabels {
    pub api: &'static str,
    pub operation: Cow<'static, str>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KmsLabels {
    pub operation: String,
    /// `kms` for a call of the KMS API, `s3` for a use by the object service.
    pub caller_service: &'static str,
    /// `Success` or the error code.
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RefusalLabels {
    /// `api` (S3, KMS, IAM) or `admin`.
    pub listener: &'static str,
    /// The `[limits]` field that refused the connection.
    pub limit: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LifecycleLabels {
    /// The audit operation of the action, e.g. `LifecycleExpiration`.
    pub action: &'static str,
    /// `done`, or `skipped` (Object Lock refused it; retried next pass).
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TimeoutLabels {
    pub listener: &'static str,
    /// `header_read`, `body_read` or `idle`.
    pub timeout: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

type Seconds = Gauge<f64, AtomicU64>;

pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub request_duration: Family<DurationLabels, Histogram>,
    pub bytes_received: Counter,
    pub bytes_sent: Counter,
    pub kms_operations: Family<KmsLabels, Counter>,
    pub bucket_key_cache_hits: Counter,
    pub catalog_commit_batch_size: Histogram,
    pub catalog_commit_duration: Histogram,
    pub gc_pending_blobs: Gauge,
    pub replication_backlog_versions: Gauge,
    pub replication_failures: Counter,
    pub replication_lag: Seconds,
    pub replication_parts_sent: Counter,
    pub replication_part_bytes_sent: Counter,
    pub replication_multipart_versions: Gauge,
    pub replication_multipart_parts_sent: Gauge,
    pub replication_multipart_parts_total: Gauge,
    pub replication_multipart_bytes_sent: Gauge,
    pub replication_multipart_bytes_total: Gauge,
    pub audit_append_duration: Histogram,
    pub open_connections: Gauge,
    pub connections_refused: Family<RefusalLabels, Counter>,
    pub lifecycle_actions: Family<LifecycleLabels, Counter>,
    pub client_timeouts: Family<TimeoutLabels, Counter>,
}

/// 100 µs to about 100 s, doubling.
fn latency() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 21))
}

impl Metrics {
    fn new() -> Metrics {
        let mut m = Metrics {
            registry: Registry::default(),
            requests: Family::default(),
            request_duration: Family::new_with_constructor(latency),
            bytes_received: Counter::default(),
            bytes_sent: Counter::default(),
            kms_operations: Family::default(),
            bucket_key_cache_hits: Counter::default(),
            catalog_commit_batch_size: Histogram::new(exponential_buckets(1.0, 2.0, 10)),
            catalog_commit_duration: latency(),
            gc_pending_blobs: Gauge::default(),
            replication_backlog_versions: Gauge::default(),
            replication_failures: Counter::default(),
            replication_lag: Seconds::default(),
            replication_parts_sent: Counter::default(),
            replication_part_bytes_sent: Counter::default(),
            replication_multipart_versions: Gauge::default(),
            replication_multipart_parts_sent: Gauge::default(),
            replication_multipart_parts_total: Gauge::default(),
            replication_multipart_bytes_sent: Gauge::default(),
            replication_multipart_bytes_total: Gauge::default(),
            audit_append_duration: latency(),
            open_connections: Gauge::default(),
            connections_refused: Family::default(),
            lifecycle_actions: Family::default(),
            client_timeouts: Family::default(),
        };
        let r = &mut m.registry;
        r.register(
            "sealgate_requests",
            "Requests answered, by API, operation and HTTP status",
            m.requests.clone(),
        );
        r.register(
            "sealgate_request_duration_seconds",
            "Time from a request's arrival to the end of its answer's body",
            m.request_duration.clone(),
        );
        r.register(
            "sealgate_bytes_received",
            "Request body bytes read from clients",
            m.bytes_received.clone(),
        );
        r.register(
            "sealgate_bytes_sent",
            "Response body bytes sent to clients",
            m.bytes_sent.clone(),
        );
        r.register(
            "sealgate_kms_operations",
            "KMS operations, from the KMS API and from the object service, by result",
            m.kms_operations.clone(),
        );
        r.register(
            "sealgate_bucket_key_cache_hits",
            "SSE-KMS data keys served from a cached bucket key instead of a KMS call",
            m.bucket_key_cache_hits.clone(),
        );
        r.register(
            "sealgate_catalog_commit_batch_size",
            "Catalog writes committed together in one transaction",
            m.catalog_commit_batch_size.clone(),
        );
        r.register(
            "sealgate_catalog_commit_duration_seconds",
            "Time to commit one catalog transaction (fsync included)",
            m.catalog_commit_duration.clone(),
        );
        r.register(
            "sealgate_gc_pending_blobs",
            "Blobs written but not yet committed or collected",
            m.gc_pending_blobs.clone(),
        );
        r.register(
            "sealgate_replication_backlog_versions",
            "Versions queued for replication and not yet replicated",
            m.replication_backlog_versions.clone(),
        );
        r.register(
            "sealgate_replication_failures",
            "Replication attempts that failed (retried or given up)",
            m.replication_failures.clone(),
        );
        r.register(
            "sealgate_replication_lag_seconds",
            "Age of the oldest version still waiting to replicate",
            m.replication_lag.clone(),
        );
        r.register(
            "sealgate_lifecycle_actions",
            "Lifecycle actions this node took (or skipped), by action",
            m.lifecycle_actions.clone(),
        );
        r.register(
            "sealgate_replication_parts_sent",
            "Parts of multipart replicas this node sent and the destination acknowledged",
            m.replication_parts_sent.clone(),
        );
        r.register(
            "sealgate_replication_part_bytes_sent",
            "Bytes of those parts",
            m.replication_part_bytes_sent.clone(),
        );
        let multipart = [
            (
                "sealgate_replication_multipart_versions",
                "Versions being replicated as multipart uploads",
                &m.replication_multipart_versions,
            ),
            (
                "sealgate_replication_multipart_parts_sent",
                "Parts of those uploads the destinations acknowledged",
                &m.replication_multipart_parts_sent,
            ),
            (
                "sealgate_replication_multipart_parts",
                "Parts of those uploads, sent or not",
                &m.replication_multipart_parts_total,
            ),
            (
                "sealgate_replication_multipart_bytes_sent",
                "Bytes of the acknowledged parts",
                &m.replication_multipart_bytes_sent,
            ),
            (
                "sealgate_replication_multipart_bytes",
                "Bytes of the versions being replicated as multipart uploads",
                &m.replication_multipart_bytes_total,
            ),
        ];
        for (name, help, gauge) in multipart {
            r.register(name, help, gauge.clone());
        }
        r.register(
            "sealgate_audit_append_duration_seconds",
            "Time from handing an audit record to the writer to its being durable",
            m.audit_append_duration.clone(),
        );
        r.register(
            "sealgate_open_connections",
            "Client connections open on the S3/KMS/IAM listener",
            m.open_connections.clone(),
        );
        r.register(
            "sealgate_connections_refused",
            "Connections closed on arrival because a [limits] connection limit was reached",
            m.connections_refused.clone(),
        );
        r.register(
            "sealgate_client_timeouts",
            "Connections closed, or request bodies failed, because a client outlasted a [limits] timeout",
            m.client_timeouts.clone(),
        );
        let build = Family::<BuildLabels, Gauge>::default();
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        r.register(
            "sealgate_build_info",
            "The running sealgate's version",
            build,
        );
        m
    }

    /// The whole registry in the Prometheus text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// The process's metrics.
pub fn metrics() -> &'static Metrics {
    static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);
    &METRICS
}

/// Observes the time since `since` in seconds.
pub fn observe_since(histogram: &Histogram, since: std::time::Instant) {
    histogram.observe(since.elapsed().as_secs_f64());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_is_exposed_with_its_type() {
        let m = metrics();
        m.requests
            .get_or_create(&RequestLabels {
                api: "s3",
                operation: "GetObject".into(),
                status: 200,
            })
            .inc();
        let text = m.encode();
        for line in [
            "# TYPE sealgate_requests counter",
            "sealgate_requests_total{api=\"s3\",operation=\"GetObject\",status=\"200\"}",
            "# TYPE sealgate_catalog_commit_duration_seconds histogram",
            "# TYPE sealgate_open_connections gauge",
            "sealgate_build_info{version=",
            "# EOF",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
    }
}
