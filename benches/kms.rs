//! The in-process KMS data-key path S3 takes for SSE-KMS: GenerateDataKey and Decrypt of
//! a 32-byte data key under `alias/aws/s3` with the object's encryption context (policy
//! evaluation, HKDF, AES-GCM; no HTTP, no audit), and the permission re-check a cached
//! S3 Bucket Key gets on every use. `cargo bench --bench kms`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test or benchmark fails by panicking"
)]

use std::collections::BTreeMap;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sealgate::crypto::RootKey;
use sealgate::kms::{Caller, KmsService, KmsSettings, Note};
use sealgate::policy::Principal;

const ACCOUNT: &str = "000000000000";

fn data_key_path(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kms = KmsService::open(
        &dir.path().join("kms.sqlite"),
        &RootKey::generate(),
        sealgate::clock::system(),
        KmsSettings {
            region: "us-east-1".into(),
            account: ACCOUNT.into(),
            fsync: false,
            audit: None,
        },
    )
    .unwrap();
    let caller = Caller {
        principal: Principal::root(ACCOUNT),
        identity_policies: Vec::new(),
        source_ip: Some("192.0.2.7".into()),
        secure_transport: true,
        via_service: Some("s3.us-east-1.amazonaws.com".into()),
        request_id: None,
    };
    let context: BTreeMap<String, String> = [(
        "aws:s3:arn".to_owned(),
        "arn:aws:s3:::photos/2026/03/img-1.jpg".to_owned(),
    )]
    .into();
    let blob = rt
        .block_on(kms.generate_data_key(
            &caller,
            "alias/aws/s3",
            &context,
            32,
            &mut Note::default(),
        ))
        .unwrap()
        .ciphertext_blob;

    let mut g = c.benchmark_group("kms_data_key");
    g.throughput(Throughput::Elements(1));
    g.bench_function("generate_data_key", |b| {
        b.iter(|| {
            rt.block_on(kms.generate_data_key(
                &caller,
                "alias/aws/s3",
                &context,
                32,
                &mut Note::default(),
            ))
            .unwrap()
        })
    });
    g.bench_function("decrypt", |b| {
        b.iter(|| {
            rt.block_on(kms.decrypt_blob(
                &caller,
                &blob,
                None,
                &context,
                ("kms:Decrypt", "Decrypt"),
                &mut Note::default(),
            ))
            .unwrap()
        })
    });
    g.bench_function("bucket_key_recheck", |b| {
        b.iter(|| {
            rt.block_on(kms.check_use(
                &caller,
                "alias/aws/s3",
                ("kms:Decrypt", "Decrypt"),
                &context,
            ))
            .unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, data_key_path);
criterion_main!(benches);
