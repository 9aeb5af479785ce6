//! Policy evaluation as an S3 request meets it: an identity policy and a bucket policy
//! with SSE, prefix and IP conditions, decided for a GetObject and a PutObject; and the
//! parse of that bucket policy. `cargo bench --bench policy`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test or benchmark fails by panicking"
)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sealgate::policy::{
    Context, Decision, Mode, Policy, PolicyKind, Principal, Request, authorize,
};

const BUCKET_POLICY: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "DenyUnencrypted", "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
     "Resource": "arn:aws:s3:::photos/*",
     "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption-aws-kms-key-id":
       "arn:aws:kms:us-east-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab"}}},
    {"Sid": "DenyPlainHttp", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
     "Resource": ["arn:aws:s3:::photos", "arn:aws:s3:::photos/*"],
     "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
    {"Sid": "TeamReads", "Effect": "Allow",
     "Principal": {"AWS": ["arn:aws:iam::000000000000:user/dev1", "arn:aws:iam::000000000000:user/dev2"]},
     "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": ["arn:aws:s3:::photos", "arn:aws:s3:::photos/${aws:username}/*"],
     "Condition": {"IpAddress": {"aws:SourceIp": ["192.0.2.0/24", "198.51.100.0/24"]}}}
  ]
}"#;

const IDENTITY_POLICY: &str = r#"{"Version": "2012-10-17", "Statement": [
  {"Effect": "Allow", "Action": ["s3:PutObject", "s3:GetObject"], "Resource": "arn:aws:s3:::photos/dev1/*"}]}"#;

fn evaluation(c: &mut Criterion) {
    let bucket = Policy::parse(BUCKET_POLICY, PolicyKind::Resource).unwrap();
    let identity = Policy::parse(IDENTITY_POLICY, PolicyKind::Identity).unwrap();
    let dev1 = Principal::user("000000000000", "dev1");
    let mut cx = Context::new();
    cx.set("aws:SecureTransport", "true");
    cx.set("aws:SourceIp", "192.0.2.7");
    cx.set(
        "s3:x-amz-server-side-encryption-aws-kms-key-id",
        "arn:aws:kms:us-east-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    );
    let get = Request {
        principal: &dev1,
        action: "s3:GetObject",
        resource: "arn:aws:s3:::photos/dev1/2026/img-1.jpg",
        context: &cx,
    };
    let put = Request {
        action: "s3:PutObject",
        ..get
    };
    assert_eq!(
        authorize(
            &get,
            &[&identity],
            Some(&bucket),
            "000000000000",
            Mode::Bucket
        ),
        Decision::Allow
    );
    assert_eq!(
        authorize(
            &put,
            &[&identity],
            Some(&bucket),
            "000000000000",
            Mode::Bucket
        ),
        Decision::Allow
    );

    let mut g = c.benchmark_group("policy");
    g.throughput(Throughput::Elements(1));
    g.bench_function("authorize_get", |b| {
        b.iter(|| {
            authorize(
                &get,
                &[&identity],
                Some(&bucket),
                "000000000000",
                Mode::Bucket,
            )
        })
    });
    g.bench_function("authorize_put", |b| {
        b.iter(|| {
            authorize(
                &put,
                &[&identity],
                Some(&bucket),
                "000000000000",
                Mode::Bucket,
            )
        })
    });
    g.bench_function("parse_bucket_policy", |b| {
        b.iter(|| Policy::parse(BUCKET_POLICY, PolicyKind::Resource).unwrap())
    });
    g.finish();
}

criterion_group!(benches, evaluation);
criterion_main!(benches);
