//! Audited operations per second: 64 concurrent appenders on a 2-worker runtime sharing one
//! log, with fsync on and off. `cargo bench --bench audit`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test or benchmark fails by panicking"
)]

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use sealgate::audit::{AuditLog, AuditRecord, AuditSettings};
use sealgate::crypto::RootKey;

const APPENDERS: u64 = 64;

/// A GenerateDataKey record as the KMS writes it for an SSE-KMS PUT.
fn record(i: u64) -> AuditRecord {
    AuditRecord {
        time: "2026-03-01T12:00:00.000Z".into(),
        request_id: format!("5f0c1f7e-6f8a-4d4b-9d1e-{i:012}"),
        principal: "arn:aws:iam::000000000000:user/alice".into(),
        source_ip: Some("192.0.2.7".into()),
        service: "kms".into(),
        operation: "GenerateDataKey".into(),
        key_arn: Some(
            "arn:aws:kms:us-east-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab".into(),
        ),
        key_version: Some("2a6f0e4c9b1d".into()),
        encryption_context: Some(
            [(
                "aws:s3:arn".to_owned(),
                format!("arn:aws:s3:::photos/2026/03/img-{i}.jpg"),
            )]
            .into(),
        ),
        result: "Success".into(),
    }
}

fn appends(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut g = c.benchmark_group("audit_append");
    g.throughput(Throughput::Elements(1));
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(8));
    for fsync in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let settings = AuditSettings {
            fsync,
            ..AuditSettings::default()
        };
        let log = AuditLog::open(dir.path(), RootKey::generate().audit_key(), settings).unwrap();
        let name = if fsync { "fsync" } else { "no_fsync" };
        g.bench_function(BenchmarkId::new("64_appenders", name), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    let tasks: Vec<_> = (0..APPENDERS)
                        .map(|t| {
                            let log = log.clone();
                            // Spread iters exactly: the first (iters % 64) tasks take one more.
                            let n = iters / APPENDERS + u64::from(t < iters % APPENDERS);
                            tokio::spawn(async move {
                                for i in 0..n {
                                    log.append(record(t << 32 | i)).await.unwrap();
                                }
                            })
                        })
                        .collect();
                    for t in tasks {
                        t.await.unwrap();
                    }
                    start.elapsed()
                })
            })
        });
        drop(log);
    }
    g.finish();
}

criterion_group!(benches, appends);
criterion_main!(benches);
