//! The S3 edge through the AWS SDK for Rust, against a real gateway in this process:
//! objects, ranges, conditions, copies, multipart uploads, checksums, versioning, listings
//! the encryption each write gets and ACLs where Object Ownership enables them, happy and
//! unhappy paths, as an SDK user sees them.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test or benchmark fails by panicking"
)]

mod common;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketVersioningStatus, ChecksumAlgorithm, ChecksumMode, CompletedMultipartUpload,
    CompletedPart, MetadataDirective, ServerSideEncryption, VersioningConfiguration,
};
use base64::Engine as _;
use common::{TestGateway, failure};

const MIB: usize = 1024 * 1024;

fn data(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 251) as u8).collect()
}

async fn body_of(out: aws_sdk_s3::operation::get_object::GetObjectOutput) -> Vec<u8> {
    out.body
        .collect()
        .await
        .expect("body")
        .into_bytes()
        .to_vec()
}

async fn bucket(s3: &aws_sdk_s3::Client, name: &str) {
    s3.create_bucket()
        .bucket(name)
        .send()
        .await
        .expect("create bucket");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_round_trip_under_sse_s3_and_sse_kms() {
    let gw = TestGateway::start().await;
    let s3 = gw.s3();
    bucket(&s3, "plain").await;
    let bytes = data(300_000);
    let put = s3
        .put_object()
        .bucket("plain")
        .key("a/b.bin")
        .content_type("application/x-test")
        .metadata("team", "blue")
        .body(ByteStream::from(bytes.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        put.server_side_encryption(),
        Some(&ServerSideEncryption::Aes256)
    );
    let md5 = format!("\"{}\"", hex::encode(md5_of(&bytes)));
    assert_eq!(put.e_tag(), Some(md5.as_str()), "SSE-S3 ETag is the MD5");
    let got = s3
        .get_object()
        .bucket("plain")
        .key("a/b.bin")
        .send()
        .await
        .unwrap();
    assert_eq!(got.content_type(), Some("application/x-test"));
    assert_eq!(
        got.metadata()
            .and_then(|m| m.get("team"))
            .map(String::as_str),
        Some("blue")
    );
    assert_eq!(body_of(got).await, bytes);

    let kms = s3
        .put_object()
        .bucket("plain")
        .key("kms")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .body(ByteStream::from_static(b"under a KMS data key"))
        .send()
        .await
        .unwrap();
    let key_arn = kms.ssekms_key_id().expect("the key ARN is reported");
    assert!(key_arn.starts_with("arn:aws:kms:us-east-1:"), "{key_arn}");
    assert_ne!(kms.e_tag(), None);
    let head = s3
        .head_object()
        .bucket("plain")
        .key("kms")
        .send()
        .await
        .unwrap();
    assert_eq!(
        head.server_side_encryption(),
        Some(&ServerSideEncryption::AwsKms)
    );
    assert_eq!(head.ssekms_key_id(), Some(key_arn));
    let got = s3
        .get_object()
        .bucket("plain")
        .key("kms")
        .send()
        .await
        .unwrap();
    assert_eq!(body_of(got).await, b"under a KMS data key");

    let missing = s3.get_object().bucket("plain").key("nope").send().await;
    assert_eq!(failure(missing.unwrap_err()), ("NoSuchKey".into(), 404));
    let no_bucket = s3.get_object().bucket("nobucket").key("k").send().await;
    assert_eq!(
        failure(no_bucket.unwrap_err()),
        ("NoSuchBucket".into(), 404)
    );
    let long_key = "k".repeat(1025);
    let too_long = s3
        .put_object()
        .bucket("plain")
        .key(long_key)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await;
    assert_eq!(failure(too_long.unwrap_err()).0, "KeyTooLongError");
}

fn md5_of(bytes: &[u8]) -> [u8; 16] {
    use s3s::crypto::{Checksum as _, Md5};
    Md5::checksum(bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_c_objects_need_their_key_on_every_read() {
    let gw = TestGateway::with_config("[s3]\nallow_sse_c_over_http = true\n").await;
    let s3 = gw.s3();
    bucket(&s3, "sse-c").await;
    let key = [9u8; 32];
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let (key_b64, md5_b64) = (b64(&key), b64(&md5_of(&key)));
    s3.put_object()
        .bucket("sse-c")
        .key("secret")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&key_b64)
        .sse_customer_key_md5(&md5_b64)
        .body(ByteStream::from_static(b"customer keyed"))
        .send()
        .await
        .unwrap();
    let without = s3.get_object().bucket("sse-c").key("secret").send().await;
    assert_eq!(
        failure(without.unwrap_err()),
        ("InvalidRequest".into(), 400)
    );
    let other = [1u8; 32];
    let wrong = s3
        .get_object()
        .bucket("sse-c")
        .key("secret")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(b64(&other))
        .sse_customer_key_md5(b64(&md5_of(&other)))
        .send()
        .await;
    assert_eq!(failure(wrong.unwrap_err()), ("AccessDenied".into(), 403));
    let got = s3
        .get_object()
        .bucket("sse-c")
        .key("secret")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&key_b64)
        .sse_customer_key_md5(&md5_b64)
        .send()
        .await
        .unwrap();
    assert_eq!(got.sse_customer_key_md5(), Some(md5_b64.as_str()));
    assert_eq!(body_of(got).await, b"customer keyed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranges_and_conditional_reads() {
    let gw = TestGateway::start().await;
    let s3 = gw.s3();
    bucket(&s3, "ranges").await;
    let bytes = data(200_000);
    let put = s3
        .put_object()
        .bucket("ranges")
        .key("k")
        .body(ByteStream::from(bytes.clone()))
        .send()
        .await
        .unwrap();
    let etag = put.e_tag().unwrap().to_owned();
    for (range, want) in [
        ("bytes=2-5", &bytes[2..6]),
        ("bytes=-10", &bytes[bytes.len() - 10..]),
        ("bytes=65530-65545", &bytes[65530..65546]),
    ] {
        let got = s3
            .get_object()
            .bucket("ranges")
            .key("k")
            .range(range)
            .send()
            .await
            .unwrap();
        assert!(got.content_range().is_some(), "{range}");
        assert_eq!(body_of(got).await, want, "{range}");
    }
    let beyond = s3
        .get_object()
        .bucket("ranges")
        .key("k")
        .range("bytes=300000-300001")
        .send()
        .await;
    assert_eq!(failure(beyond.unwrap_err()), ("InvalidRange".into(), 416));
    // Any range of an empty object is unsatisfiable, a suffix range included.
    s3.put_object()
        .bucket("ranges")
        .key("empty")
        .body(ByteStream::from_static(b""))
        .send()
        .await
        .unwrap();
    for range in ["bytes=0-", "bytes=-1"] {
        let empty = s3
            .get_object()
            .bucket("ranges")
            .key("empty")
            .range(range)
            .send()
            .await;
        assert_eq!(
            failure(empty.unwrap_err()),
            ("InvalidRange".into(), 416),
            "{range}"
        );
    }
    let not_modified = s3
        .get_object()
        .bucket("ranges")
        .key("k")
        .if_none_match(&etag)
        .send()
        .await;
    assert_eq!(failure(not_modified.unwrap_err()).1, 304);
    let changed = s3
        .get_object()
        .bucket("ranges")
        .key("k")
        .if_match("\"0000\"")
        .send()
        .await;
    assert_eq!(
        failure(changed.unwrap_err()),
        ("PreconditionFailed".into(), 412)
    );
}

/// Uploads `parts` (numbered from 1) to an upload; the parts to complete it with.
async fn upload_parts(
    s3: &aws_sdk_s3::Client,
    (bucket, key, id): (&str, &str, &str),
    parts: &[&[u8]],
) -> Vec<CompletedPart> {
    let mut done = Vec::new();
    for (n, part) in (1..).zip(parts) {
        let up = s3
            .upload_part()
            .bucket(bucket)
            .key(key)
            .upload_id(id)
            .part_number(n)
            .body(ByteStream::from(part.to_vec()))
            .send()
            .await
            .unwrap();
        done.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(up.e_tag().unwrap())
                .build(),
        );
    }
    done
}

async fn complete(
    s3: &aws_sdk_s3::Client,
    (bucket, key, id): (&str, &str, &str),
    parts: Vec<CompletedPart>,
) -> Result<
    aws_sdk_s3::operation::complete_multipart_upload::CompleteMultipartUploadOutput,
    (String, u16),
> {
    s3.complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .map_err(failure)
}

async fn list_parts(
    s3: &aws_sdk_s3::Client,
    (bucket, key, id): (&str, &str, &str),
) -> Result<usize, (String, u16)> {
    s3.list_parts()
        .bucket(bucket)
        .key(key)
        .upload_id(id)
        .send()
        .await
        .map(|l| l.parts().len())
        .map_err(failure)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_uploads_complete_list_and_abort() {
    let gw = TestGateway::start().await;
    let s3 = gw.s3();
    bucket(&s3, "multipart").await;
    let create = s3
        .create_multipart_upload()
        .bucket("multipart")
        .key("big")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .send()
        .await
        .unwrap();
    assert_eq!(
        create.server_side_encryption(),
        Some(&ServerSideEncryption::AwsKms)
    );
    let big = ("multipart", "big", create.upload_id().unwrap());
    let (p1, p2) = (data(5 * MIB), b"the tail".to_vec());
    let done = upload_parts(&s3, big, &[&p1, &p2]).await;
    assert_eq!(list_parts(&s3, big).await, Ok(2));
    let wrong_etag = CompletedPart::builder()
        .part_number(1)
        .e_tag("\"ffff\"")
        .build();
    assert_eq!(
        complete(&s3, big, vec![wrong_etag]).await.unwrap_err(),
        ("InvalidPart".into(), 400)
    );
    let completed = complete(&s3, big, done).await.unwrap();
    assert!(
        completed.e_tag().unwrap().ends_with("-2\""),
        "{completed:?}"
    );
    let whole = s3
        .get_object()
        .bucket("multipart")
        .key("big")
        .send()
        .await
        .unwrap();
    assert_eq!(whole.content_length(), Some((p1.len() + p2.len()) as i64));
    assert_eq!(body_of(whole).await, [p1.as_slice(), &p2].concat());
    let part2 = s3
        .get_object()
        .bucket("multipart")
        .key("big")
        .part_number(2)
        .send()
        .await
        .unwrap();
    assert_eq!(part2.parts_count(), Some(2));
    assert_eq!(body_of(part2).await, p2);

    // A small part that is not the last is refused at completion; an aborted upload is gone.
    let small = s3
        .create_multipart_upload()
        .bucket("multipart")
        .key("small")
        .send()
        .await
        .unwrap();
    let small = ("multipart", "small", small.upload_id().unwrap());
    let parts = upload_parts(&s3, small, &[b"tiny", b"tiny"]).await;
    assert_eq!(
        complete(&s3, small, parts).await.unwrap_err(),
        ("EntityTooSmall".into(), 400)
    );
    s3.abort_multipart_upload()
        .bucket("multipart")
        .key("small")
        .upload_id(small.2)
        .send()
        .await
        .unwrap();
    assert_eq!(
        list_parts(&s3, small).await,
        Err(("NoSuchUpload".into(), 404))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_change_encryption_and_metadata() {
    let gw = TestGateway::start().await;
    let s3 = gw.s3();
    bucket(&s3, "copies").await;
    s3.put_object()
        .bucket("copies")
        .key("src")
        .metadata("v", "1")
        .body(ByteStream::from_static(b"copied bytes"))
        .send()
        .await
        .unwrap();
    let copy = s3
        .copy_object()
        .bucket("copies")
        .key("dst")
        .copy_source("copies/src")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .metadata_directive(MetadataDirective::Replace)
        .metadata("v", "2")
        .send()
        .await
        .unwrap();
    assert_eq!(
        copy.server_side_encryption(),
        Some(&ServerSideEncryption::AwsKms)
    );
    let got = s3
        .get_object()
        .bucket("copies")
        .key("dst")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.metadata().and_then(|m| m.get("v")).map(String::as_str),
        Some("2")
    );
    assert_eq!(body_of(got).await, b"copied bytes");
    let to_itself = s3
        .copy_object()
        .bucket("copies")
        .key("src")
        .copy_source("copies/src")
        .send()
        .await;
    assert_eq!(
        failure(to_itself.unwrap_err()),
        ("InvalidRequest".into(), 400)
    );
    let from_nothing = s3
        .copy_object()
        .bucket("copies")
        .key("x")
        .copy_source("copies/none")
        .send()
        .await;
    assert_eq!(
        failure(from_nothing.unwrap_err()),
        ("NoSuchKey".into(), 404)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditional_writes_versions_and_delete_markers() {
    let gw = TestGateway::start().await;
    let s3 = gw.s3();
    bucket(&s3, "versions").await;
    let create_only = || {
        s3.put_object()
            .bucket("versions")
            .key("once")
            .if_none_match("*")
            .body(ByteStream::from_static(b"first"))
            .send()
    };
    create_only().await.unwrap();
    assert_eq!(
        failure(create_only().await.unwrap_err()),
        ("PreconditionFailed".into(), 412)
    );

    s3.put_bucket_versioning()
        .bucket("versions")
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let mut ids = Vec::new();
    for text in ["one", "two"] {
        let put = s3
            .put_object()
            .bucket("versions")
            .key("k")
            .body(ByteStream::from(text.as_bytes().to_vec()))
            .send()
            .await
            .unwrap();
        ids.push(put.version_id().unwrap().to_owned());
    }
    let marker = s3
        .delete_object()
        .bucket("versions")
        .key("k")
        .send()
        .await
        .unwrap();
    assert_eq!(marker.delete_marker(), Some(true));
    let hidden = s3.get_object().bucket("versions").key("k").send().await;
    assert_eq!(failure(hidden.unwrap_err()), ("NoSuchKey".into(), 404));
    let old = s3
        .get_object()
        .bucket("versions")
        .key("k")
        .version_id(&ids[0])
        .send()
        .await
        .unwrap();
    assert_eq!(body_of(old).await, b"one");
    let versions = s3
        .list_object_versions()
        .bucket("versions")
        .prefix("k")
        .send()
        .await
        .unwrap();
    assert_eq!(versions.versions().len(), 2);
    assert_eq!(versions.delete_markers().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checksums_are_verified_and_returned() {
    let gw = TestGateway::start().await;
    let s3 = gw.s3();
    bucket(&s3, "checksums").await;
    let put = s3
        .put_object()
        .bucket("checksums")
        .key("k")
        .checksum_algorithm(ChecksumAlgorithm::Crc32C)
        .body(ByteStream::from(data(100_000)))
        .send()
        .await
        .unwrap();
    let crc = put
        .checksum_crc32_c()
        .expect("the checksum is echoed")
        .to_owned();
    let head = s3
        .head_object()
        .bucket("checksums")
        .key("k")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert_eq!(head.checksum_crc32_c(), Some(crc.as_str()));
    let bad = s3
        .put_object()
        .bucket("checksums")
        .key("bad")
        .checksum_crc32("AAAAAA==")
        .body(ByteStream::from_static(b"not that"))
        .send()
        .await;
    assert_eq!(failure(bad.unwrap_err()), ("BadDigest".into(), 400));
    let wrong_md5 = s3
        .put_object()
        .bucket("checksums")
        .key("bad")
        .content_md5(base64::engine::general_purpose::STANDARD.encode([0u8; 16]))
        .body(ByteStream::from_static(b"not that"))
        .send()
        .await;
    assert_eq!(failure(wrong_md5.unwrap_err()), ("BadDigest".into(), 400));
    let nothing = s3.head_object().bucket("checksums").key("bad").send().await;
    assert_eq!(
        failure(nothing.unwrap_err()).1,
        404,
        "a refused write left nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listings_group_by_delimiter_and_page() {
    let gw = TestGateway::start().await;
    let s3 = gw.s3();
    bucket(&s3, "listing").await;
    for key in ["a/1", "a/2", "b", "c/x/1", "d"] {
        s3.put_object()
            .bucket("listing")
            .key(key)
            .body(ByteStream::from_static(b"."))
            .send()
            .await
            .unwrap();
    }
    let top = s3
        .list_objects_v2()
        .bucket("listing")
        .delimiter("/")
        .send()
        .await
        .unwrap();
    let prefixes: Vec<_> = top
        .common_prefixes()
        .iter()
        .filter_map(|p| p.prefix())
        .collect();
    let keys: Vec<_> = top.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(prefixes, ["a/", "c/"]);
    assert_eq!(keys, ["b", "d"]);
    let mut seen = Vec::new();
    let mut token = None;
    loop {
        let page = s3
            .list_objects_v2()
            .bucket("listing")
            .max_keys(2)
            .set_continuation_token(token)
            .send()
            .await
            .unwrap();
        seen.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned)),
        );
        token = page.next_continuation_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(seen, ["a/1", "a/2", "b", "c/x/1", "d"]);
}

/// The encryption a policy sees is the one the write gets: a bucket that defaults to
/// SSE-KMS takes a PUT without SSE headers from a writer whose policy demands SSE-KMS,
/// and refuses one that asks for SSE-S3.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_see_the_encryption_the_write_gets() {
    let writer_policy = r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Action":["s3:*","kms:GenerateDataKey","kms:Decrypt"],"Resource":"*"},
        {"Effect":"Deny","Action":"s3:PutObject","Resource":"*",
         "Condition":{"StringNotEquals":{"sealgate:EffectiveServerSideEncryption":"aws:kms"}}}]}"#;
    let config = format!(
        "[[users]]\nname = \"writer\"\naccess_key_id = \"AKIAWRITER0000000001\"\nsecret_access_key = \"writer-secret\"\npolicies = [{}]\n",
        toml::Value::String(writer_policy.into())
    );
    let gw = TestGateway::with_config(&config).await;
    let s3 = gw.s3();
    bucket(&s3, "encrypted").await;
    let kms_default = aws_sdk_s3::types::ServerSideEncryptionConfiguration::builder()
        .rules(
            aws_sdk_s3::types::ServerSideEncryptionRule::builder()
                .apply_server_side_encryption_by_default(
                    aws_sdk_s3::types::ServerSideEncryptionByDefault::builder()
                        .sse_algorithm(ServerSideEncryption::AwsKms)
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .build()
        .unwrap();
    s3.put_bucket_encryption()
        .bucket("encrypted")
        .server_side_encryption_configuration(kms_default)
        .send()
        .await
        .unwrap();
    let writer = gw.s3_as("AKIAWRITER0000000001", "writer-secret");
    let by_default = writer
        .put_object()
        .bucket("encrypted")
        .key("k")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        by_default.server_side_encryption(),
        Some(&ServerSideEncryption::AwsKms)
    );
    let as_sse_s3 = writer
        .put_object()
        .bucket("encrypted")
        .key("k2")
        .server_side_encryption(ServerSideEncryption::Aes256)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await;
    assert_eq!(
        failure(as_sse_s3.unwrap_err()),
        ("AccessDenied".into(), 403)
    );
}

/// The SDK's default addressing: `BUCKET.DOMAIN` for one of `[s3] domains`. Path style keeps
/// working on the same gateway and sees the same buckets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn virtual_hosted_style_names_the_bucket_in_the_host() {
    let gw = TestGateway::with_config("[s3]\ndomains = [\"s3.sealgate.test\"]\n").await;
    let vs3 = gw.s3_virtual("s3.sealgate.test");
    for name in ["vhost", "dotted.bucket.name"] {
        vs3.create_bucket().bucket(name).send().await.unwrap();
        let body = data(70_000);
        vs3.put_object()
            .bucket(name)
            .key("dir/a b.bin")
            .body(ByteStream::from(body.clone()))
            .send()
            .await
            .unwrap();
        let got = vs3
            .get_object()
            .bucket(name)
            .key("dir/a b.bin")
            .range("bytes=10-19")
            .send()
            .await
            .unwrap();
        assert_eq!(body_of(got).await, body[10..20].to_vec());
        let listed = vs3
            .list_objects_v2()
            .bucket(name)
            .prefix("dir/")
            .send()
            .await
            .unwrap();
        let keys: Vec<_> = listed.contents().iter().filter_map(|o| o.key()).collect();
        assert_eq!(keys, ["dir/a b.bin"]);
        // The same object, path style.
        let got = gw
            .s3()
            .get_object()
            .bucket(name)
            .key("dir/a b.bin")
            .send()
            .await
            .unwrap();
        assert_eq!(body_of(got).await, body);
    }
    // A bucket setting answered before the protocol crate finds the bucket in the host too.
    let enc = vs3
        .get_bucket_encryption()
        .bucket("vhost")
        .send()
        .await
        .unwrap();
    assert!(enc.server_side_encryption_configuration().is_some());
    let missing = vs3
        .get_object()
        .bucket("absent")
        .key("k")
        .send()
        .await
        .unwrap_err();
    assert_eq!(failure(missing), ("NoSuchBucket".into(), 404));
    vs3.delete_object()
        .bucket("vhost")
        .key("dir/a b.bin")
        .send()
        .await
        .unwrap();
    vs3.delete_bucket().bucket("vhost").send().await.unwrap();
    let gone = gw
        .s3()
        .head_bucket()
        .bucket("vhost")
        .send()
        .await
        .unwrap_err();
    assert_eq!(failure(gone).1, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_writer_buckets_store_and_honour_acls() {
    use aws_sdk_s3::types::{ObjectCannedAcl, ObjectOwnership, Permission, Type};
    let gw = TestGateway::start().await;
    let (s3, anonymous) = (gw.s3(), gw.s3_anonymous());
    s3.create_bucket()
        .bucket("shared")
        .object_ownership(ObjectOwnership::ObjectWriter)
        .send()
        .await
        .unwrap();
    let public_put = s3
        .put_object()
        .bucket("shared")
        .key("k")
        .acl(ObjectCannedAcl::PublicRead)
        .body(ByteStream::from_static(b"open"))
        .send()
        .await;
    assert_eq!(
        failure(public_put.unwrap_err()),
        ("AccessDenied".to_owned(), 403),
        "new buckets block public ACLs"
    );
    s3.delete_public_access_block()
        .bucket("shared")
        .send()
        .await
        .unwrap();
    s3.put_object()
        .bucket("shared")
        .key("k")
        .acl(ObjectCannedAcl::PublicRead)
        .body(ByteStream::from_static(b"open"))
        .send()
        .await
        .unwrap();
    let acl = s3
        .get_object_acl()
        .bucket("shared")
        .key("k")
        .send()
        .await
        .unwrap();
    let everyone = acl.grants().iter().find(|g| {
        g.grantee().is_some_and(|e| e.r#type() == &Type::Group)
            && g.permission() == Some(&Permission::Read)
    });
    assert!(everyone.is_some(), "{acl:?}");
    let got = anonymous
        .get_object()
        .bucket("shared")
        .key("k")
        .send()
        .await
        .unwrap();
    assert_eq!(body_of(got).await, b"open");
    s3.put_object_acl()
        .bucket("shared")
        .key("k")
        .acl(ObjectCannedAcl::Private)
        .send()
        .await
        .unwrap();
    let denied = anonymous
        .get_object()
        .bucket("shared")
        .key("k")
        .send()
        .await;
    assert_eq!(
        failure(denied.unwrap_err()),
        ("AccessDenied".to_owned(), 403)
    );
}
