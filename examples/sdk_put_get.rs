//! The AWS SDK for Rust against sealgate: a bucket, an SSE-KMS object written and read
//! back whole and by range, checked byte for byte.
//!
//! ```sh
//! SEALGATE_ENDPOINT=http://127.0.0.1:8014 AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... \
//!     AWS_DEFAULT_REGION=us-east-1 cargo run --release --example sdk_put_get
//! ```
//!
//! Exits non-zero if anything is not as described.

use std::error::Error;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};

fn var(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("{name} is not set"))
}

fn check(ok: bool, what: &str) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(format!("FAILED: {what}"))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let endpoint = var("SEALGATE_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:8014".into());
    let region = var("AWS_REGION")
        .or_else(|_| var("AWS_DEFAULT_REGION"))
        .unwrap_or_else(|_| "us-east-1".into());
    let credentials = Credentials::new(
        var("AWS_ACCESS_KEY_ID")?,
        var("AWS_SECRET_ACCESS_KEY")?,
        None,
        None,
        "environment",
    );
    // With the SDK's default features an HTTP client comes built in; this crate builds it
    // without them (TLS through ring only), so it names one.
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(region))
        .credentials_provider(credentials)
        // /BUCKET/KEY works on any host name; BUCKET.HOST needs the gateway's [s3] domains.
        .force_path_style(true)
        .http_client(http)
        .build();
    let s3 = aws_sdk_s3::Client::from_conf(config);

    let bucket = format!(
        "example-sdk-{}",
        SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis()
    );
    s3.create_bucket().bucket(&bucket).send().await?;

    // Large enough to span several of the sealed format's 64 KiB chunks.
    let body: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    // No key id: the account's AWS managed key, alias/aws/s3, made on first use.
    let put = s3
        .put_object()
        .bucket(&bucket)
        .key("data.bin")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .body(ByteStream::from(body.clone()))
        .send()
        .await?;
    check(
        put.server_side_encryption() == Some(&ServerSideEncryption::AwsKms),
        "the PUT was not sealed under SSE-KMS",
    )?;
    println!(
        "PUT s3://{bucket}/data.bin under {}",
        put.ssekms_key_id().unwrap_or("?")
    );

    let got = s3
        .get_object()
        .bucket(&bucket)
        .key("data.bin")
        .send()
        .await?;
    let bytes = got.body.collect().await?.into_bytes();
    check(
        bytes.as_ref() == body.as_slice(),
        "GET returned other bytes",
    )?;
    println!("GET: the same {} bytes", bytes.len());

    // A range is decrypted from the chunks that cover it alone.
    let part = s3
        .get_object()
        .bucket(&bucket)
        .key("data.bin")
        .range("bytes=200000-200099")
        .send()
        .await?;
    let bytes = part.body.collect().await?.into_bytes();
    check(
        bytes.as_ref() == &body[200_000..200_100],
        "the ranged GET returned other bytes",
    )?;
    println!("GET bytes=200000-200099: the same 100 bytes");
    Ok(())
}
