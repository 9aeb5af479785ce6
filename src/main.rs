//! The `sealgate` command: `serve`, `audit verify`, `cse put/get`, `replicate`, `bench`,
//! `migrate`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use sealgate::config::{Config, LogConfig, LogFormat};

mod bench;
mod cse;
mod progress;

/// jemalloc keeps freed megabyte buffers for reuse. The system allocator hands them back
/// to the kernel, so every sealed batch and read piece faulted in fresh zeroed pages: as
/// much CPU as encrypting them (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser)]
#[command(
    name = "sealgate",
    version,
    about = "S3-compatible gateway that encrypts every object it stores"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the gateway.
    Serve(ServeArgs),
    /// Load-test an S3 endpoint (sealgate or any other) and report throughput and latency.
    Bench(bench::BenchArgs),
    /// Batch-replicate a bucket's existing versions, or show where replication stands.
    Replicate(ReplicateArgs),
    /// Client-side encryption compatible with the AWS S3 Encryption Client (docs/FORMAT.md):
    /// only ciphertext reaches the server.
    Cse {
        #[command(subcommand)]
        command: cse::CseCommand,
    },
    /// Work with the tamper-evident audit log (docs/AUDIT.md).
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Bring a fleet's PostgreSQL schema up to this binary's version (docs/DEPLOY.md).
    Migrate(MigrateArgs),
}

#[derive(Args)]
struct MigrateArgs {
    /// TOML configuration file whose [catalog] url names the database.
    #[arg(long)]
    config: PathBuf,
    /// Only report the schema's version; exit 1 unless it is this binary's.
    #[arg(long)]
    check: bool,
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the whole chain; exit 0 when intact, 1 at the first break, 2 on errors. With
    /// --dir or --logs: every node's chain of a fleet, against its anchor in the database.
    Verify(AuditVerifyArgs),
}

#[derive(Args)]
struct AuditVerifyArgs {
    /// TOML configuration file; names the data dir, the root key's home, and audit.dir
    /// (and, for a fleet, the database: [catalog] url).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Data directory holding root.key (and, by default, audit/) [default: ./data].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// A fleet node's audit directory; repeat once per node. Checks these logs against the
    /// anchors in the fleet's database instead of checking audit.dir alone.
    #[arg(long = "dir", value_name = "DIR")]
    dirs: Vec<PathBuf>,
    /// A directory whose subdirectories are the fleet nodes' audit directories (as --dir).
    #[arg(long, value_name = "PARENT")]
    logs: Option<PathBuf>,
    /// The fleet's database, when the configuration's [catalog] url does not name it.
    #[arg(long, value_name = "URL")]
    catalog_url: Option<String>,
}

#[derive(Args)]
struct ReplicateArgs {
    /// TOML configuration file of the (source) gateway.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Data directory of the source gateway [default: ./data].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// The source bucket (with --status: optional, all buckets when absent).
    #[arg(long)]
    bucket: Option<String>,
    /// Show the backlog, what replicated, failures with their reasons, and the lag.
    #[arg(long)]
    status: bool,
    /// With --status: only the figures, in Prometheus' text format.
    #[arg(long, requires = "status")]
    prometheus: bool,
    /// After queueing, wait until the gateway's workers have replicated the backlog.
    #[arg(long, conflicts_with = "status")]
    wait: bool,
}

#[derive(Args)]
struct ServeArgs {
    /// TOML configuration file (see config/sealgate.example.toml); flags override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8014].
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Directory for the catalog, root key, credentials and blobs [default: ./data].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Address of the admin listener: metrics, health, console [default: 127.0.0.1:8015].
    #[arg(long)]
    admin_listen: Option<SocketAddr>,
    /// Region reported to clients [default: us-east-1].
    #[arg(long)]
    region: Option<String>,
    /// PEM certificate chain for TLS (with --tls-key).
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for TLS (with --tls-cert).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Serve TLS with a certificate generated at start for localhost (local use only).
    #[arg(long, conflicts_with_all = ["tls_cert", "tls_key"])]
    tls_self_signed: bool,
}

impl ServeArgs {
    fn into_config(self) -> Result<Config, String> {
        let mut c = Config::load(self.config.as_deref()).map_err(|e| e.to_string())?;
        if let Some(l) = self.listen {
            c.listen = l;
        }
        if let Some(d) = self.data_dir {
            c.data_dir = d;
        }
        if let Some(a) = self.admin_listen {
            c.admin.listen = a;
        }
        if let Some(r) = self.region {
            c.region = r;
        }
        if self.tls_cert.is_some() {
            c.tls.cert = self.tls_cert;
            c.tls.key = self.tls_key;
            c.tls.self_signed = false;
        }
        if self.tls_self_signed {
            c.tls.self_signed = true;
            c.tls.cert = None;
            c.tls.key = None;
        }
        c.validate().map_err(|e| e.to_string())?;
        Ok(c)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Serve(_)) {
        init_logging(&LogConfig::default(), std::io::stderr);
    }
    let result = match cli.command {
        Command::Serve(args) => serve(args),
        Command::Bench(args) => bench::run(args),
        Command::Replicate(args) => replicate(args),
        Command::Migrate(args) => migrate(args),
        Command::Cse { command } => cse::run(command),
        Command::Audit {
            command: AuditCommand::Verify(args),
        } => return audit_verify(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sealgate: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Logs to stderr, as text or JSON lines (`[log] format`).
fn init_logging<W>(log: &LogConfig, writer: W)
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let logger = tracing_subscriber::fmt()
        .with_env_filter(log_filter(log.access))
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(writer);
    match log.format {
        LogFormat::Text => logger.init(),
        LogFormat::Json => logger.json().flatten_event(true).init(),
    }
}

/// `SEALGATE_LOG` (default `info`), with the HTTP and S3 protocol crates held at `info`
/// whatever it says: their debug output dumps request headers, SSE-C keys included. The
/// S3 protocol crate's own error lines are off: every answer has its access-log line,
/// and internal errors are logged with their cause where they arise.
fn log_filter(access: bool) -> tracing_subscriber::EnvFilter {
    let base = std::env::var("SEALGATE_LOG").unwrap_or_else(|_| "info".into());
    let filter = tracing_subscriber::EnvFilter::try_new(&base).unwrap_or_else(|e| {
        eprintln!("sealgate: ignoring invalid SEALGATE_LOG {base:?}: {e}");
        tracing_subscriber::EnvFilter::new("info")
    });
    [
        "s3s=info",
        "s3s::ops=off",
        "s3s::service=off",
        "hyper=info",
        "hyper_util=info",
        "h2=info",
        "rustls=info",
    ]
    .into_iter()
    .chain((!access).then_some("sealgate::access=off"))
    .filter_map(|d| d.parse().ok())
    .fold(filter, |f, d| f.add_directive(d))
}

fn serve(args: ServeArgs) -> Result<(), String> {
    let config = args.into_config()?;
    // A line per request: written by a thread of its own, in batches, so request tasks
    // never wait on stderr. Nothing is dropped (a full buffer makes loggers wait), and the
    // guard flushes what is left when serve returns.
    let (writer, _flush_at_exit) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("sealgate-log")
        .finish(std::io::BufWriter::new(std::io::stderr()));
    init_logging(&config.log, writer);
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let gateway = sealgate::setup::open(&config, sealgate::clock::from_env())
            .await
            .map_err(|e| e.to_string())?;
        sealgate::server::run(gateway, &config)
            .await
            .map_err(|e| e.to_string())
    })
}

/// Applies the schema migrations a fleet's database lacks. Nodes of an older binary refuse
/// the newer schema, so the fleet is upgraded binary first, then `migrate`.
fn migrate(args: MigrateArgs) -> Result<(), String> {
    use sealgate::postgres::{Database, SCHEMA_VERSION, SchemaStatus};
    let config = Config::load(Some(&args.config)).map_err(|e| e.to_string())?;
    config.validate().map_err(|e| e.to_string())?;
    if config.catalog.url.is_none() {
        println!("the catalog is SQLite in the data directory: it migrates itself when opened");
        return Ok(());
    }
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let db = Database::connect(&config.catalog)
            .await
            .map_err(|e| e.to_string())?;
        let status = db.schema_status().await.map_err(|e| e.to_string())?;
        if args.check {
            println!("schema: {status:?}; this binary's version is {SCHEMA_VERSION}");
            return match status {
                SchemaStatus::Current => Ok(()),
                _ => Err("the schema is not this binary's".into()),
            };
        }
        let (before, after) = db.migrate().await.map_err(|e| e.to_string())?;
        if before == after {
            println!("schema is at version {after}; nothing to do");
        } else {
            println!("schema migrated from version {before} to {after}");
        }
        Ok(())
    })
}

/// The configuration of an existing data directory and its root key (never created here);
/// `what` names what cannot be read without the key.
fn config_and_root_key(
    config: Option<PathBuf>,
    data_dir: Option<PathBuf>,
    what: &str,
) -> Result<(Config, sealgate::crypto::RootKey), String> {
    let mut config = Config::load(config.as_deref()).map_err(|e| e.to_string())?;
    if let Some(d) = data_dir {
        config.data_dir = d;
    }
    config.validate().map_err(|e| e.to_string())?;
    let root = sealgate::setup::load_root_key(&config)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| {
            format!(
                "no root key in {}; {what} cannot be read without it",
                config.data_dir.display()
            )
        })?;
    Ok((config, root))
}

/// Queues a bucket's existing versions for replication (resuming an interrupted run), or
/// reports the replication status; the running gateway's workers do the copying.
fn replicate(args: ReplicateArgs) -> Result<(), String> {
    use progress::{Progress, Unit};
    use sealgate::replication::batch;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    let (config, root) = config_and_root_key(args.config, args.data_dir, "its catalog")?;
    let clock = sealgate::clock::from_env();
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let catalog = sealgate::setup::open_catalog(&config, &root)
            .await
            .map_err(|e| e.to_string())?;
        if args.prometheus {
            let stats = catalog
                .replication_stats(args.bucket.as_deref())
                .await
                .map_err(|e| e.to_string())?;
            print!(
                "{}",
                batch::render_prometheus(&stats, args.bucket.as_deref(), clock.now_ms())
            );
            return Ok(());
        }
        if args.status {
            let report = batch::status_report(&catalog, args.bucket.as_deref(), clock.now_ms())
                .await
                .map_err(|e| e.to_string())?;
            print!("{report}");
            return Ok(());
        }
        let bucket = args
            .bucket
            .ok_or("--bucket is required unless --status is given")?;
        let (progress, queued) =
            Progress::counting(format!("queueing versions of {bucket}"), None, Unit::Items);
        let done = batch::enqueue_existing(&catalog, &bucket, clock.now_ms(), |p, resumed| {
            queued.store(p.enqueued, Ordering::Relaxed);
            if resumed {
                progress.set_message(format!("queueing versions of {bucket} (resumed)"));
            }
        })
        .await;
        progress.finish();
        let done = done.map_err(|e| e.to_string())?;
        println!(
            "queued {} versions of {bucket} for replication",
            done.enqueued
        );
        if !args.wait {
            return Ok(());
        }
        let backlog = Arc::new(AtomicU64::new(0));
        let shown = backlog.clone();
        let first = catalog
            .replication_stats(Some(&bucket))
            .await
            .map_err(|e| e.to_string())?;
        let progress = Progress::start(
            format!("replicating {bucket}"),
            Some(first.pending),
            Unit::Items,
            move || first.pending.saturating_sub(shown.load(Ordering::Relaxed)),
        );
        let finished = loop {
            let s = match catalog.replication_stats(Some(&bucket)).await {
                Ok(s) => s,
                Err(e) => break Err(e.to_string()),
            };
            backlog.store(s.pending, Ordering::Relaxed);
            if s.pending == 0 {
                break Ok(s);
            }
            progress.set_message(format!("replicating {bucket}: {} failed", s.failed));
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        };
        progress.finish();
        let s = finished?;
        println!(
            "pending {} ({} bytes), completed {}, failed {}",
            s.pending, s.pending_bytes, s.completed, s.failed
        );
        Ok(())
    })
}

const BROKEN: u8 = 1;
const ERROR: u8 = 2;

/// Read-only: never creates a root key or touches the log, so it is safe beside a running
/// gateway.
fn audit_verify(args: AuditVerifyArgs) -> ExitCode {
    if !args.dirs.is_empty() || args.logs.is_some() {
        return audit_verify_fleet(args);
    }
    if args.catalog_url.is_some() {
        eprintln!("sealgate: --catalog-url goes with --dir or --logs (the nodes' audit logs)");
        return ExitCode::from(ERROR);
    }
    let run = || -> Result<sealgate::audit::VerifyReport, String> {
        let (config, root) = config_and_root_key(args.config, args.data_dir, "the audit log")?;
        let dir = config.audit_dir();
        let spinner = progress::Spinner::start(format!("verifying {}", dir.display()));
        let report = sealgate::audit::verify(&dir, &root.audit_key());
        spinner.finish();
        report.map_err(|e| e.to_string())
    };
    match run() {
        Ok(report) => {
            if let Some(torn) = &report.torn_tail {
                println!(
                    "note: {} ends with a torn line of {} bytes after seq {} (an append cut short by a crash, never acknowledged)",
                    torn.file, torn.bytes, torn.after_seq
                );
            }
            match &report.first_break {
                None => {
                    println!(
                        "ok: {} records in {} files, chain intact",
                        report.records, report.files
                    );
                    ExitCode::SUCCESS
                }
                Some(b) => {
                    println!("broken: {b}");
                    println!(
                        "{} records before the break verified in {} files",
                        report.records, report.files
                    );
                    ExitCode::from(BROKEN)
                }
            }
        }
        Err(e) => {
            eprintln!("sealgate: {e}");
            ExitCode::from(ERROR)
        }
    }
}

/// Every node's log against its anchor in the fleet's database. Reads the database and the
/// logs, writes nothing.
fn audit_verify_fleet(args: AuditVerifyArgs) -> ExitCode {
    let run = || -> Result<sealgate::audit::FleetReport, String> {
        let (mut config, root) = config_and_root_key(args.config, args.data_dir, "the audit log")?;
        if let Some(url) = args.catalog_url {
            config.catalog.url = Some(url);
            config.validate().map_err(|e| e.to_string())?;
        }
        if config.catalog.url.is_none() {
            return Err(
                "checking a fleet's logs needs its database: [catalog] url in --config, or --catalog-url"
                    .into(),
            );
        }
        let mut dirs = args.dirs;
        if let Some(parent) = &args.logs {
            dirs.extend(node_dirs(parent)?);
        }
        let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
        // The anchors before the logs: a running node anchors only what its log already
        // holds, so logs read afterwards are never behind the anchors read.
        let anchors = runtime.block_on(async {
            let db = sealgate::postgres::Database::connect(&config.catalog)
                .await
                .map_err(|e| e.to_string())?;
            match db.schema_status().await.map_err(|e| e.to_string())? {
                sealgate::postgres::SchemaStatus::Current => {}
                other => {
                    return Err(format!(
                        "the database's schema is not this binary's ({other:?}); use the sealgate that serves it"
                    ));
                }
            }
            sealgate::audit::load_anchors(&db)
                .await
                .map_err(|e| e.to_string())
        })?;
        let spinner =
            progress::Spinner::start(format!("verifying {} nodes' audit logs", dirs.len()));
        let report = sealgate::audit::verify_fleet(&root.audit_key(), &dirs, &anchors);
        spinner.finish();
        Ok(report)
    };
    match run() {
        Ok(report) => {
            print!("{report}");
            if report.problems.iter().any(|p| p.is_error()) {
                ExitCode::from(ERROR)
            } else if report.problems.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(BROKEN)
            }
        }
        Err(e) => {
            eprintln!("sealgate: {e}");
            ExitCode::from(ERROR)
        }
    }
}

/// The subdirectories of `parent`, by name: one audit directory per node.
fn node_dirs(parent: &std::path::Path) -> Result<Vec<PathBuf>, String> {
    let entries = std::fs::read_dir(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    let mut dirs = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| format!("{}: {e}", parent.display()))?;
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        if !hidden && entry.path().is_dir() {
            dirs.push(entry.path());
        }
    }
    dirs.sort();
    Ok(dirs)
}
