//! `sealgate bench`: a load generator for any S3 server (sealgate, s3s-fs, MinIO) on the
//! same machine. N workers, each with its own keep-alive connection, PUT and/or GET objects
//! of one size for a duration or a count; the report gives throughput, latency percentiles
//! and errors by HTTP status.

use sealgate::client::http as client;

use crate::progress::{Progress, Unit};
mod kms;
mod report;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use clap::{Args, ValueEnum};
use http::{Method, StatusCode};
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use s3s::crypto::{Checksum as _, Md5};

use client::{Client, ClientError, Endpoint, Headers, Request, Signer, Trust};
use report::{Failure, OpKind, ReportHeader, ServerCpu, Tally};

const MAX_OBJECT_SIZE: u64 = 5 << 30;
/// Error bodies read beyond this are cut: the code and message come first.
const MAX_ERROR_BODY: usize = 64 << 10;

#[derive(Args, Debug)]
pub(crate) struct BenchArgs {
    /// S3 endpoint, e.g. http://127.0.0.1:8014 (path-style requests are sent).
    #[arg(long)]
    endpoint: String,
    #[arg(long, env = "AWS_ACCESS_KEY_ID")]
    access_key: String,
    #[arg(long, env = "AWS_SECRET_ACCESS_KEY", hide_env_values = true)]
    secret_key: String,
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// Bucket to use; created if missing.
    #[arg(long, default_value = "sealgate-bench")]
    bucket: String,
    #[arg(long, value_enum, default_value_t = Op::Put)]
    op: Op,
    /// Object size: bytes, or with a unit: KiB, MiB, GiB (also K, M, G), KB, MB, GB.
    #[arg(long, default_value = "1MiB", value_parser = parse_size)]
    size: u64,
    /// Concurrent workers, each with its own connection.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=4096))]
    concurrency: u32,
    /// How long to run, e.g. 10s, 500ms, 2m [default: 10s unless --count is given].
    #[arg(long, value_parser = parse_duration, conflicts_with = "count")]
    duration: Option<Duration>,
    /// Run exactly this many operations (over all workers) instead of for a duration.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,
    /// Distinct object keys: GET reads these (uploaded first), PUT overwrites them in turn
    /// so disk use stays bounded [default: 256 MiB worth, between --concurrency and 64].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    objects: Option<u64>,
    #[arg(long, value_enum, default_value_t = SseMode::None)]
    sse: SseMode,
    /// KMS key for --sse sse-kms (id, ARN or alias); the server's default key otherwise.
    #[arg(long)]
    kms_key_id: Option<String>,
    /// With --sse sse-kms: ask for an S3 Bucket Key (one KMS data key serves many objects).
    #[arg(long)]
    bucket_key: bool,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Compare every GET body with what was uploaded, not only its length.
    #[arg(long)]
    verify: bool,
    /// Accept any TLS certificate (for a server started with --tls-self-signed).
    #[arg(long, conflicts_with = "ca_cert")]
    insecure: bool,
    /// PEM file of the certificates to trust for an https endpoint.
    #[arg(long)]
    ca_cert: Option<PathBuf>,
    /// Longest wait for one request; a request that takes longer counts as a "timeout" error.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    timeout: Duration,
    /// Key prefix of the run's objects [default: sealgate-bench/<random>/]. A fixed prefix
    /// lets populate, list and head runs work on one data set.
    #[arg(long)]
    prefix: Option<String>,
    /// Spread the keys over this many "directories" under --prefix (d00000/, d00001/ …),
    /// as a file tree would.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    fanout: u64,
    /// With --op list or list-versions: group keys into common prefixes at this delimiter.
    #[arg(long)]
    delimiter: Option<String>,
    /// Leave the run's objects in place instead of deleting them (populate always does).
    #[arg(long)]
    keep: bool,
    /// The server's process id (on this machine): report the CPU time it spent over the
    /// run, per operation and per GiB moved.
    #[arg(long)]
    server_pid: Option<u32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Op {
    Put,
    Get,
    /// Half PUT, half GET, over the same objects.
    Mixed,
    /// HEAD the objects (uploaded first).
    Head,
    /// ListObjectsV2 pages of up to 1,000 under --prefix (and --delimiter); each worker
    /// pages through the listing and starts over at its end.
    List,
    /// ListObjectVersions pages, as --op list.
    ListVersions,
    /// PUT --count new objects under --prefix, over --fanout directories, and keep them: the
    /// data set for list and head runs at scale.
    Populate,
    /// KMS GenerateDataKey (AES_256, with an encryption context) against --endpoint.
    KmsGenerateDataKey,
    /// KMS Decrypt of one data key blob, over and over.
    KmsDecrypt,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum SseMode {
    /// No encryption headers (what s3s-fs understands).
    None,
    /// x-amz-server-side-encryption: AES256
    SseS3,
    /// x-amz-server-side-encryption: aws:kms (+ --kms-key-id)
    SseKms,
    /// SSE-C headers with a random key made for this run, on PUT and GET.
    SseC,
}

impl SseMode {
    fn name(self) -> &'static str {
        match self {
            SseMode::None => "none",
            SseMode::SseS3 => "sse-s3",
            SseMode::SseKms => "sse-kms",
            SseMode::SseC => "sse-c",
        }
    }
}

/// Parses `4KiB`, `1MiB`, `1.5M`, `4096`, `10MB` (decimal units are powers of 1000).
pub(crate) fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        _ => {
            return Err(format!(
                "unknown size unit in {s:?} (use B, KiB, MiB, GiB, KB, MB, GB)"
            ));
        }
    };
    let value: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a size such as 4KiB or 1MiB"))?;
    let bytes = value * scale as f64;
    if bytes.fract() != 0.0 {
        return Err(format!("{s:?} is not a whole number of bytes"));
    }
    if bytes > MAX_OBJECT_SIZE as f64 {
        return Err(format!(
            "{s:?} is over 5 GiB, the largest single PUT S3 allows"
        ));
    }
    Ok(bytes as u64)
}

/// Parses `10s`, `500ms`, `1.5m`, `1h`, or plain seconds.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let scale = match unit.trim() {
        "" | "s" => 1.0,
        "ms" => 0.001,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => return Err(format!("unknown unit in {s:?} (use ms, s, m or h)")),
    };
    let value: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration such as 10s or 500ms"))?;
    let secs = value * scale;
    // The upper bound keeps Duration::from_secs_f64 from panicking on absurd input.
    if !(secs > 0.0 && secs <= 366.0 * 24.0 * 3600.0) {
        return Err(format!(
            "{s:?}: the duration must be above 0 and at most a year"
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

enum Limit {
    Count(u64),
    Until(Instant),
}

impl Limit {
    /// Whether operation number `n` (from 0) is still to run.
    fn allows(&self, n: u64) -> bool {
        match *self {
            Limit::Count(count) => n < count,
            Limit::Until(deadline) => Instant::now() < deadline,
        }
    }
}

/// Everything a worker needs, shared read-only (apart from the operation counter).
struct Plan {
    op: Op,
    bucket_path: String,
    prefix: String,
    fanout: u64,
    delimiter: Option<String>,
    objects: u64,
    body: Bytes,
    put_headers: Headers,
    get_headers: Headers,
    verify: bool,
    timeout: Duration,
    next: AtomicU64,
}

impl Plan {
    fn key_path(&self, index: u64) -> String {
        let prefix = client::encode_path(&self.prefix);
        match self.fanout {
            1 => format!("{}/{prefix}obj-{index:05}", self.bucket_path),
            n => format!(
                "{}/{prefix}d{:05}/obj-{index:010}",
                self.bucket_path,
                index % n
            ),
        }
    }

    /// Whether the run writes objects of its own to read (and, unless kept, delete).
    fn seeds(&self) -> bool {
        matches!(self.op, Op::Get | Op::Mixed | Op::Head)
    }
}

/// Runs the benchmark, prints the report and writes `--json`. Fails when setting up fails,
/// or, after reporting, when any operation failed, so that CI notices.
pub(crate) fn run(args: BenchArgs) -> Result<(), String> {
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let report = runtime.block_on(bench(&args))?;
    print!("{report}");
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
        std::fs::write(path, json + "\n").map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let failed = report.total.errors;
    if failed > 0 {
        return Err(format!(
            "{failed} of {} operations failed",
            failed + report.total.ops
        ));
    }
    Ok(())
}

async fn bench(args: &BenchArgs) -> Result<report::Report, String> {
    let endpoint = Arc::new(Endpoint::parse(&args.endpoint)?);
    let tls = if endpoint.tls {
        let trust = match (&args.ca_cert, args.insecure) {
            (Some(path), _) => Trust::CaFile(path.clone()),
            (None, true) => Trust::Insecure,
            (None, false) => {
                return Err(
                    "an https endpoint needs --ca-cert FILE, or --insecure for a self-signed certificate"
                        .into(),
                );
            }
        };
        Some(client::tls_connector(&trust)?)
    } else {
        None
    };
    if matches!(args.op, Op::KmsGenerateDataKey | Op::KmsDecrypt) {
        return kms::bench(args, endpoint, tls).await;
    }
    if args.kms_key_id.is_some() && args.sse != SseMode::SseKms {
        return Err("--kms-key-id needs --sse sse-kms".into());
    }
    if args.bucket_key && args.sse != SseMode::SseKms {
        return Err("--bucket-key needs --sse sse-kms".into());
    }
    let signer = Arc::new(Signer::new(
        &args.access_key,
        &args.secret_key,
        &args.region,
    ));
    let concurrency = args.concurrency as usize;
    let objects = match (args.op, args.count) {
        (Op::Populate, Some(count)) => count,
        (Op::Populate, None) => return Err("--op populate needs --count N".into()),
        _ => args.objects.unwrap_or_else(|| {
            ((256u64 << 20) / args.size.max(1))
                .min(64)
                .max(u64::from(args.concurrency))
        }),
    };
    let mut clients: Vec<Client> = (0..concurrency)
        .map(|_| Client::new(endpoint.clone(), tls.clone(), signer.clone()))
        .collect();

    let bucket_path = client::encode_path(&format!("/{}", args.bucket));
    ensure_bucket(&mut clients[0], &bucket_path, &args.region).await?;

    let (put_headers, get_headers) = sse_headers(args)?;
    let plan = Arc::new(Plan {
        op: args.op,
        bucket_path,
        prefix: args
            .prefix
            .clone()
            .unwrap_or_else(|| format!("sealgate-bench/{}/", sealgate::crypto::random_hex(6))),
        fanout: args.fanout,
        delimiter: args.delimiter.clone(),
        objects,
        body: random_body(args.size)?,
        put_headers,
        get_headers,
        verify: args.verify,
        timeout: args.timeout,
        next: AtomicU64::new(0),
    });

    if plan.seeds() {
        clients = seed(&plan, clients).await?;
    }

    eprintln!(
        "sealgate bench: {:?} {} × {concurrency} workers against {} under {}/{} …",
        args.op,
        report::format_size(args.size),
        endpoint.url,
        plan.bucket_path,
        plan.prefix
    );
    let limit = match (args.count, args.duration) {
        (Some(n), _) => Limit::Count(n),
        (None, d) => Limit::Until(Instant::now() + d.unwrap_or(Duration::from_secs(10))),
    };
    let total_ops = match limit {
        Limit::Count(n) => Some(n),
        Limit::Until(_) => None,
    };
    let limit = Arc::new(limit);
    let counted = plan.clone();
    let progress = Progress::start(
        format!("{:?}", args.op).to_lowercase(),
        total_ops,
        Unit::Items,
        move || {
            let taken = counted.next.load(Ordering::Relaxed);
            total_ops.map_or(taken, |n| taken.min(n))
        },
    );
    let cpu_before = args.server_pid.map(process_cpu_seconds).transpose()?;
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(concurrency);
    for c in clients {
        let tally = Tally::new()?;
        tasks.push(tokio::spawn(worker(c, plan.clone(), limit.clone(), tally)));
    }
    let mut total = Tally::new()?;
    let mut clients = Vec::with_capacity(concurrency);
    for task in tasks {
        let (c, tally) = task.await.map_err(|e| format!("worker: {e}"))?;
        total.merge(&tally)?;
        clients.push(c);
    }
    let elapsed = started.elapsed();
    let cpu = match (args.server_pid, cpu_before) {
        (Some(pid), Some((user, system))) => {
            let (user_now, system_now) = process_cpu_seconds(pid)?;
            Some((pid, user_now - user, system_now - system))
        }
        _ => None,
    };
    progress.finish();

    let writes = matches!(plan.op, Op::Put | Op::Mixed) || plan.seeds();
    if writes && !args.keep && plan.op != Op::Populate {
        cleanup(&plan, clients).await;
    }

    let mut report = report::build(
        ReportHeader {
            endpoint: endpoint.url.clone(),
            bucket: args.bucket.clone(),
            op: format!("{:?}", args.op).to_lowercase(),
            object_size: args.size,
            objects,
            concurrency,
            sse: args.sse.name().into(),
        },
        &total,
        elapsed,
    )?;
    report.server_cpu =
        cpu.map(|(pid, user, system)| ServerCpu::new(pid, user, system, &report.total));
    Ok(report)
}

/// A process's CPU time so far over all its threads, in user and system mode: fields 14
/// and 15 of /proc/PID/stat, in USER_HZ ticks (100 a second on Linux, whatever the HZ).
fn process_cpu_seconds(pid: u32) -> Result<(f64, f64), String> {
    const USER_HZ: f64 = 100.0;
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).map_err(|e| format!("--server-pid: {path}: {e}"))?;
    // The command name (field 2) may hold spaces; the fields after it are plain numbers.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok());
    match (ticks(11), ticks(12)) {
        (Some(user), Some(system)) => Ok((user as f64 / USER_HZ, system as f64 / USER_HZ)),
        _ => Err(format!(
            "--server-pid: {path} is not in the expected format"
        )),
    }
}

/// The SSE headers of PUTs, and of GETs.
fn sse_headers(args: &BenchArgs) -> Result<(Headers, Headers), String> {
    const SSE: &str = "x-amz-server-side-encryption";
    Ok(match args.sse {
        SseMode::None => (vec![], vec![]),
        SseMode::SseS3 => (vec![(SSE.into(), "AES256".into())], vec![]),
        SseMode::SseKms => {
            let mut put: Headers = vec![(SSE.into(), "aws:kms".into())];
            if let Some(id) = &args.kms_key_id {
                put.push((
                    "x-amz-server-side-encryption-aws-kms-key-id".into(),
                    id.clone(),
                ));
            }
            if args.bucket_key {
                put.push((
                    "x-amz-server-side-encryption-bucket-key-enabled".into(),
                    "true".into(),
                ));
            }
            (put, vec![])
        }
        SseMode::SseC => {
            let mut key = [0u8; 32];
            sealgate::crypto::fill_random(&mut key);
            let headers: Headers = vec![
                (
                    "x-amz-server-side-encryption-customer-algorithm".into(),
                    "AES256".into(),
                ),
                (
                    "x-amz-server-side-encryption-customer-key".into(),
                    BASE64.encode(key),
                ),
                (
                    "x-amz-server-side-encryption-customer-key-md5".into(),
                    BASE64.encode(Md5::checksum(&key)),
                ),
            ];
            (headers.clone(), headers)
        }
    })
}

/// Random, so that neither a compressing store nor a deduplicating one flatters the figures.
fn random_body(size: u64) -> Result<Bytes, String> {
    let len = usize::try_from(size).map_err(|_| format!("--size {size} is too large here"))?;
    let mut body = vec![0u8; len];
    sealgate::crypto::fill_random(&mut body);
    Ok(Bytes::from(body))
}

/// HEAD, then PUT if missing. A 409 BucketAlreadyOwnedByYou from a racing run is fine.
async fn ensure_bucket(c: &mut Client, bucket_path: &str, region: &str) -> Result<(), String> {
    let what = format!("bucket {bucket_path}");
    let head = Request {
        method: Method::HEAD,
        path: bucket_path.to_string(),
        headers: vec![],
        body: Bytes::new(),
    };
    let resp = c.send(&head).await.map_err(|e| format!("{what}: {e}"))?;
    let status = resp.status();
    drain(resp.into_body(), None)
        .await
        .map_err(|e| format!("{what}: {}", e.detail))?;
    match status {
        s if s.is_success() => return Ok(()),
        StatusCode::NOT_FOUND => {}
        s => return Err(format!("{what}: HEAD answered {s}")),
    }
    // us-east-1 is the one region where S3 wants no location constraint.
    let body = if region == "us-east-1" {
        Bytes::new()
    } else {
        Bytes::from(format!(
            "<CreateBucketConfiguration><LocationConstraint>{region}</LocationConstraint></CreateBucketConfiguration>"
        ))
    };
    let create = Request {
        method: Method::PUT,
        path: bucket_path.to_string(),
        headers: vec![],
        body,
    };
    let resp = c.send(&create).await.map_err(|e| format!("{what}: {e}"))?;
    let status = resp.status();
    if status.is_success() {
        drain(resp.into_body(), None)
            .await
            .map_err(|e| format!("{what}: {}", e.detail))?;
        return Ok(());
    }
    let detail = error_detail(resp.into_body()).await;
    if status == StatusCode::CONFLICT && detail.starts_with("BucketAlreadyOwnedByYou") {
        return Ok(());
    }
    Err(format!("creating {what}: {status} {detail}"))
}

/// Uploads the objects GET reads, spread over the workers' connections. Any failure stops
/// the run: a GET benchmark over missing objects would measure 404s.
async fn seed(plan: &Arc<Plan>, clients: Vec<Client>) -> Result<Vec<Client>, String> {
    let workers = clients.len() as u64;
    let mut tasks = Vec::new();
    for (w, mut c) in clients.into_iter().enumerate() {
        let plan = plan.clone();
        tasks.push(tokio::spawn(async move {
            let mut result = Ok(());
            for index in (w as u64..plan.objects).step_by(workers as usize) {
                if let Err(f) = timed(plan.timeout, put(&mut c, &plan, index)).await {
                    c.reset();
                    result = Err(format!(
                        "uploading the objects to read: PUT {} failed: {} {}",
                        plan.key_path(index),
                        f.kind,
                        f.detail
                    ));
                    break;
                }
            }
            (c, result)
        }));
    }
    let mut clients = Vec::new();
    let mut first_error = None;
    for task in tasks {
        let (c, result) = task.await.map_err(|e| format!("worker: {e}"))?;
        clients.push(c);
        if let Err(e) = result {
            first_error.get_or_insert(e);
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(clients),
    }
}

async fn worker(
    mut c: Client,
    plan: Arc<Plan>,
    limit: Arc<Limit>,
    mut tally: Tally,
) -> (Client, Tally) {
    let mut cursor = ListCursor::new();
    loop {
        let n = plan.next.fetch_add(1, Ordering::Relaxed);
        if !limit.allows(n) {
            break;
        }
        // Mixed alternates, and both halves sweep every key.
        let (kind, index) = match plan.op {
            // KMS operations run in kms.rs and never reach this worker.
            Op::Put | Op::Populate | Op::KmsGenerateDataKey | Op::KmsDecrypt => (OpKind::Put, n),
            Op::Get => (OpKind::Get, n),
            Op::Head => (OpKind::Head, n),
            Op::List | Op::ListVersions => (OpKind::List, n),
            Op::Mixed if n.is_multiple_of(2) => (OpKind::Put, n / 2),
            Op::Mixed => (OpKind::Get, n / 2),
        };
        let index = index % plan.objects;
        let start = Instant::now();
        let result = match kind {
            OpKind::Put => timed(plan.timeout, put(&mut c, &plan, index)).await,
            OpKind::Get | OpKind::Kms => timed(plan.timeout, get(&mut c, &plan, index)).await,
            OpKind::Head => timed(plan.timeout, head(&mut c, &plan, index)).await,
            OpKind::List => timed(plan.timeout, list_page(&mut c, &plan, &mut cursor)).await,
        };
        match result {
            Ok(bytes) => tally.of(kind).record_ok(start.elapsed(), bytes),
            Err(failure) => {
                let no_connection = failure.kind == "connection";
                if failure.kind == "timeout" {
                    // The response may be half read: the connection cannot be reused.
                    c.reset();
                }
                tally.of(kind).record_err(failure);
                if no_connection {
                    // A server that is down must not turn the loop into a busy spin.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
    (c, tally)
}

async fn timed(
    timeout: Duration,
    op: impl Future<Output = Result<u64, Failure>>,
) -> Result<u64, Failure> {
    match tokio::time::timeout(timeout, op).await {
        Ok(r) => r,
        Err(_) => Err(Failure {
            kind: "timeout".into(),
            detail: format!("no complete response within {timeout:?}"),
        }),
    }
}

fn transport_failure(e: ClientError) -> Failure {
    Failure {
        kind: match e {
            ClientError::Request(_) => "request",
            ClientError::Connect(_) | ClientError::Transport(_) => "connection",
        }
        .into(),
        detail: e.to_string(),
    }
}

async fn put(c: &mut Client, plan: &Plan, index: u64) -> Result<u64, Failure> {
    let req = Request {
        method: Method::PUT,
        path: plan.key_path(index),
        headers: plan.put_headers.clone(),
        body: plan.body.clone(),
    };
    let resp = c.send(&req).await.map_err(transport_failure)?;
    let status = resp.status();
    if !status.is_success() {
        return Err(http_failure(status, resp.into_body()).await);
    }
    drain(resp.into_body(), None).await?;
    Ok(plan.body.len() as u64)
}

/// A GET or HEAD of object `index`, with the run's SSE headers for reads.
fn read_request(plan: &Plan, method: Method, index: u64) -> Request {
    Request {
        method,
        path: plan.key_path(index),
        headers: plan.get_headers.clone(),
        body: Bytes::new(),
    }
}

async fn get(c: &mut Client, plan: &Plan, index: u64) -> Result<u64, Failure> {
    let req = read_request(plan, Method::GET, index);
    let resp = c.send(&req).await.map_err(transport_failure)?;
    let status = resp.status();
    if !status.is_success() {
        return Err(http_failure(status, resp.into_body()).await);
    }
    let expected = plan.verify.then_some(&plan.body);
    let got = drain(resp.into_body(), expected).await?;
    if got != plan.body.len() as u64 {
        return Err(Failure {
            kind: "length-mismatch".into(),
            detail: format!(
                "GET returned {got} bytes, {} were uploaded",
                plan.body.len()
            ),
        });
    }
    Ok(got)
}

async fn head(c: &mut Client, plan: &Plan, index: u64) -> Result<u64, Failure> {
    let req = read_request(plan, Method::HEAD, index);
    let resp = c.send(&req).await.map_err(transport_failure)?;
    let status = resp.status();
    if !status.is_success() {
        return Err(Failure {
            kind: status.as_str().to_string(),
            detail: "HEAD has no error body".into(),
        });
    }
    drain(resp.into_body(), None).await
}

/// The query parameters that continue a worker's listing; empty: start from the beginning.
type ListCursor = Vec<(&'static str, String)>;

/// One page of ListObjectsV2 or ListObjectVersions; the bytes counted are the XML's.
async fn list_page(c: &mut Client, plan: &Plan, cursor: &mut ListCursor) -> Result<u64, Failure> {
    let versions = plan.op == Op::ListVersions;
    let mut params: ListCursor = vec![
        if versions {
            ("versions", String::new())
        } else {
            ("list-type", "2".into())
        },
        ("max-keys", "1000".into()),
        ("prefix", plan.prefix.clone()),
    ];
    if let Some(d) = &plan.delimiter {
        params.push(("delimiter", d.clone()));
    }
    params.append(cursor);
    let query: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{k}={}", client::encode_query_value(v)))
        .collect();
    let req = Request {
        method: Method::GET,
        path: format!("{}?{}", plan.bucket_path, query.join("&")),
        headers: vec![],
        body: Bytes::new(),
    };
    let resp = c.send(&req).await.map_err(transport_failure)?;
    let status = resp.status();
    if !status.is_success() {
        return Err(http_failure(status, resp.into_body()).await);
    }
    let mut body = resp.into_body();
    let mut xml = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| Failure {
            kind: "connection".into(),
            detail: format!("reading the listing: {e}"),
        })?;
        if let Ok(data) = frame.into_data() {
            xml.extend_from_slice(&data);
        }
    }
    let text = String::from_utf8_lossy(&xml);
    let field = |name: &str| sealgate::client::xml::element_text(&text, name);
    if field("IsTruncated").as_deref() == Some("true") {
        let next: &[(&'static str, &str)] = if versions {
            &[
                ("key-marker", "NextKeyMarker"),
                ("version-id-marker", "NextVersionIdMarker"),
            ]
        } else {
            &[("continuation-token", "NextContinuationToken")]
        };
        for (param, element) in next {
            if let Some(value) = field(element) {
                cursor.push((param, value));
            }
        }
        if cursor.is_empty() {
            return Err(Failure {
                kind: "bad-listing".into(),
                detail: "a truncated listing without a marker to continue from".into(),
            });
        }
    }
    Ok(xml.len() as u64)
}

/// Reads a body to its end (so the connection can carry the next request), counting its
/// bytes and, when `expected` is given, comparing them with it as they arrive.
async fn drain(mut body: Incoming, expected: Option<&Bytes>) -> Result<u64, Failure> {
    let mut seen: u64 = 0;
    let mut mismatch = false;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| Failure {
            kind: "connection".into(),
            detail: format!("reading the body: {e}"),
        })?;
        if let Ok(data) = frame.into_data() {
            if let Some(want) = expected {
                let start = usize::try_from(seen).unwrap_or(usize::MAX);
                let end = start.saturating_add(data.len());
                mismatch |= want.get(start..end) != Some(&data[..]);
            }
            seen += data.len() as u64;
        }
    }
    if mismatch {
        return Err(Failure {
            kind: "content-mismatch".into(),
            detail: "GET returned bytes other than those uploaded".into(),
        });
    }
    Ok(seen)
}

async fn http_failure(status: StatusCode, body: Incoming) -> Failure {
    Failure {
        kind: status.as_str().to_string(),
        detail: error_detail(body).await,
    }
}

/// "Code: Message" from an S3 error body, or the start of whatever came instead.
async fn error_detail(mut body: Incoming) -> String {
    let mut buf = Vec::new();
    while let Some(Ok(frame)) = body.frame().await {
        if let Ok(data) = frame.into_data() {
            buf.extend_from_slice(&data);
            if buf.len() > MAX_ERROR_BODY {
                break;
            }
        }
    }
    let text = String::from_utf8_lossy(&buf);
    let field = |name: &str| sealgate::client::xml::element_text(&text, name);
    match (field("Code"), field("Message")) {
        (Some(code), Some(msg)) => format!("{code}: {msg}"),
        (Some(code), None) => code,
        _ => text.chars().take(200).collect(),
    }
}

/// Deletes the run's objects so repeated runs do not fill the disk. Best effort: the
/// figures are already taken, so a failure here is only a warning.
async fn cleanup(plan: &Arc<Plan>, clients: Vec<Client>) {
    let workers = clients.len() as u64;
    let mut tasks = Vec::new();
    for (w, mut c) in clients.into_iter().enumerate() {
        let plan = plan.clone();
        tasks.push(tokio::spawn(async move {
            let mut failed = 0u64;
            for index in (w as u64..plan.objects).step_by(workers as usize) {
                let req = Request {
                    method: Method::DELETE,
                    path: plan.key_path(index),
                    headers: vec![],
                    body: Bytes::new(),
                };
                let ok = match tokio::time::timeout(plan.timeout, c.send(&req)).await {
                    Ok(Ok(resp)) => {
                        let ok = resp.status().is_success();
                        ok && drain(resp.into_body(), None).await.is_ok()
                    }
                    _ => false,
                };
                if !ok {
                    failed += 1;
                    c.reset();
                }
            }
            failed
        }));
    }
    let mut failed = 0;
    for task in tasks {
        failed += task.await.unwrap_or(1);
    }
    if failed > 0 {
        eprintln!(
            "sealgate bench: warning: {failed} objects under {}/{} could not be deleted",
            plan.bucket_path, plan.prefix
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4KiB"), Ok(4096));
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("64mib"), Ok(64 << 20));
        assert_eq!(parse_size("1.5M"), Ok(3 << 19));
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert_eq!(parse_size("10MB"), Ok(10_000_000));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size(" 8 KiB "), Ok(8192));
        assert_eq!(parse_size("5GiB"), Ok(5 << 30));
        assert!(parse_size("6GiB").is_err(), "over S3's single-PUT limit");
        assert!(parse_size("1.1B").is_err());
        assert!(parse_size("4XB").is_err());
        assert!(parse_size("MiB").is_err());
        assert!(parse_size("").is_err());
        assert!(parse_size("-1").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("10d").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("1e400s").is_err());
        assert!(parse_duration("99999999999999h").is_err());
    }

    #[test]
    fn command_line() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            args: BenchArgs,
        }
        let base = [
            "bench",
            "--endpoint",
            "http://127.0.0.1:1",
            "--access-key",
            "a",
            "--secret-key",
            "s",
        ];
        let parse = |extra: &[&str]| Cli::try_parse_from(base.iter().chain(extra)).map(|c| c.args);
        let a = parse(&[]).unwrap();
        assert_eq!(
            (a.op, a.size, a.concurrency, a.sse),
            (Op::Put, 1 << 20, 4, SseMode::None)
        );
        let a = parse(&["--op", "mixed", "--size", "4KiB", "--sse", "sse-c"]).unwrap();
        assert_eq!((a.op, a.size, a.sse), (Op::Mixed, 4096, SseMode::SseC));
        assert!(parse(&["--duration", "1s", "--count", "5"]).is_err());
        assert!(parse(&["--concurrency", "0"]).is_err());
        assert!(parse(&["--count", "0"]).is_err());
        assert!(parse(&["--insecure", "--ca-cert", "x.pem"]).is_err());
    }
}
