//! KMS load: GenerateDataKey or Decrypt requests over HTTP, signed like the AWS SDKs sign
//! them, from N workers with a connection each. The key comes from --kms-key-id or is
//! created for the run (and scheduled for deletion after it).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Method;
use http_body_util::BodyExt as _;
use serde_json::{Value, json};

use super::client::{Client, Endpoint, Request, Signer};
use super::report::{self, Failure, OpKind, ReportHeader, Tally};
use super::{BenchArgs, Limit, Op, http_failure, timed, transport_failure};

struct KmsPlan {
    target: &'static str,
    body: Bytes,
    timeout: Duration,
    next: std::sync::atomic::AtomicU64,
}

fn request(target: &str, body: Bytes) -> Request {
    Request {
        method: Method::POST,
        path: "/".into(),
        headers: vec![
            ("content-type".into(), "application/x-amz-json-1.1".into()),
            ("x-amz-target".into(), format!("TrentService.{target}")),
        ],
        body,
    }
}

/// One call made outside the measurement (set-up and clean-up).
async fn call(c: &mut Client, target: &str, input: Value) -> Result<Value, String> {
    let resp = c
        .send(&request(target, Bytes::from(input.to_string())))
        .await
        .map_err(|e| format!("{target}: {e}"))?;
    let status = resp.status();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("{target}: {e}"))?
        .to_bytes();
    if !status.is_success() {
        return Err(format!(
            "{target}: {status} {}",
            String::from_utf8_lossy(&body)
        ));
    }
    serde_json::from_slice(&body).map_err(|e| format!("{target}: {e}"))
}

async fn one(c: &mut Client, plan: &KmsPlan) -> Result<u64, Failure> {
    let resp = c
        .send(&request(plan.target, plan.body.clone()))
        .await
        .map_err(transport_failure)?;
    let status = resp.status();
    if !status.is_success() {
        return Err(http_failure(status, resp.into_body()).await);
    }
    let body = resp.into_body().collect().await.map_err(|e| Failure {
        kind: "connection".into(),
        detail: e.to_string(),
    })?;
    Ok(body.to_bytes().len() as u64)
}

async fn worker(
    mut c: Client,
    plan: Arc<KmsPlan>,
    limit: Arc<Limit>,
    mut tally: Tally,
) -> (Client, Tally) {
    loop {
        let n = plan.next.fetch_add(1, Ordering::Relaxed);
        if !limit.allows(n) {
            break;
        }
        let start = Instant::now();
        match timed(plan.timeout, one(&mut c, &plan)).await {
            Ok(bytes) => tally.of(OpKind::Kms).record_ok(start.elapsed(), bytes),
            Err(failure) => {
                if failure.kind == "timeout" {
                    // The response may be half read: the connection cannot be reused.
                    c.reset();
                }
                tally.of(OpKind::Kms).record_err(failure);
            }
        }
    }
    (c, tally)
}

pub(super) async fn bench(
    args: &BenchArgs,
    endpoint: Arc<Endpoint>,
    tls: Option<tokio_rustls::TlsConnector>,
) -> Result<report::Report, String> {
    let signer = Arc::new(Signer::for_service(
        &args.access_key,
        &args.secret_key,
        &args.region,
        "kms",
    ));
    let concurrency = args.concurrency as usize;
    let mut clients: Vec<Client> = (0..concurrency)
        .map(|_| Client::new(endpoint.clone(), tls.clone(), signer.clone()))
        .collect();
    let (key_id, created) = match &args.kms_key_id {
        Some(k) => (k.clone(), false),
        None => {
            let md = call(
                &mut clients[0],
                "CreateKey",
                json!({"Description": "sealgate bench"}),
            )
            .await?;
            let id = md["KeyMetadata"]["KeyId"]
                .as_str()
                .ok_or("CreateKey answered no KeyId")?
                .to_owned();
            (id, true)
        }
    };
    let context = json!({"aws:s3:arn": "arn:aws:s3:::sealgate-bench/object"});
    let (target, body) = match args.op {
        Op::KmsDecrypt => {
            let dk = call(
                &mut clients[0],
                "GenerateDataKey",
                json!({"KeyId": key_id, "KeySpec": "AES_256", "EncryptionContext": context}),
            )
            .await?;
            let blob = dk["CiphertextBlob"].clone();
            (
                "Decrypt",
                json!({"CiphertextBlob": blob, "EncryptionContext": context}),
            )
        }
        _ => (
            "GenerateDataKey",
            json!({"KeyId": key_id, "KeySpec": "AES_256", "EncryptionContext": context}),
        ),
    };
    let plan = Arc::new(KmsPlan {
        target,
        body: Bytes::from(body.to_string()),
        timeout: args.timeout,
        next: std::sync::atomic::AtomicU64::new(0),
    });
    eprintln!(
        "sealgate bench: {target} × {concurrency} workers against {} …",
        endpoint.url
    );
    let limit = Arc::new(match (args.count, args.duration) {
        (Some(n), _) => Limit::Count(n),
        (None, d) => Limit::Until(Instant::now() + d.unwrap_or(Duration::from_secs(10))),
    });
    let started = Instant::now();
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|c| Tally::new().map(|t| tokio::spawn(worker(c, plan.clone(), limit.clone(), t))))
        .collect::<Result<_, _>>()?;
    let mut total = Tally::new()?;
    let mut clients = Vec::new();
    for task in tasks {
        let (c, tally) = task.await.map_err(|e| format!("worker: {e}"))?;
        total.merge(&tally)?;
        clients.push(c);
    }
    let elapsed = started.elapsed();
    if created
        && let Some(c) = clients.first_mut()
        && let Err(e) = call(
            c,
            "ScheduleKeyDeletion",
            json!({"KeyId": key_id, "PendingWindowInDays": 7}),
        )
        .await
    {
        eprintln!("sealgate bench: could not schedule the bench key for deletion: {e}");
    }
    report::build(
        ReportHeader {
            endpoint: endpoint.url.clone(),
            bucket: String::new(),
            op: target.to_owned(),
            object_size: 32,
            objects: 1,
            concurrency,
            sse: "none".into(),
        },
        &total,
        elapsed,
    )
}
