//! Fills a stopped gateway's catalog with object versions for the scale curves in
//! BENCHMARKS.md (`bench/scale.py` runs it). Every row goes through the catalog's own
//! commit, as a PUT's does: sealed metadata, the latest flag, the same indexes and
//! transactions. Only the blobs are left out, so that ten million objects fit on a small
//! disk: HEAD and listings of these keys are what they would be, a GET of one finds no
//! blob. Keys are those of `sealgate bench --op populate`.
//!
//! `cargo bench --bench scale_fill -- DATA_DIR BUCKET PREFIX FIRST COUNT FANOUT`

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark aid fails by panicking"
)]

use std::path::PathBuf;
use std::time::Instant;

use futures::StreamExt as _;
use sealgate::catalog::{NewVersion, ObjectMeta, PartRecord, Precondition, Sse};
use sealgate::config::Config;

/// Commits in flight: enough for the catalog's writer to group many into one transaction.
const IN_FLIGHT: usize = 512;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let [data_dir, bucket, prefix, first, count, fanout] = &args[..] else {
        eprintln!("usage: scale_fill DATA_DIR BUCKET PREFIX FIRST COUNT FANOUT");
        // `cargo test --all-targets` runs every bench target without arguments: nothing to do.
        std::process::exit(if args.is_empty() { 0 } else { 2 });
    };
    let (first, count, fanout): (u64, u64, u64) = (
        first.parse().unwrap(),
        count.parse().unwrap(),
        fanout.parse().unwrap(),
    );
    let mut config = Config::load(None).unwrap();
    config.data_dir = PathBuf::from(data_dir);
    config.storage.fsync = false;
    let root = sealgate::setup::load_root_key(&config)
        .unwrap()
        .expect("a data directory a gateway has started on");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let catalog = sealgate::setup::open_catalog(&config, &root).await.unwrap();
        let started = Instant::now();
        let commits = futures::stream::iter(first..first + count)
            .map(|i| {
                let catalog = catalog.clone();
                let key = match fanout {
                    1 => format!("{prefix}obj-{i:05}"),
                    n => format!("{prefix}d{:05}/obj-{i:010}", i % n),
                };
                let seal_id = sealgate::crypto::random_hex(16);
                // Shaped as a PUT's: a blob name under its fan-out directory, a seal header
                // of the usual size.
                let blob = format!("{}/{seal_id}", &seal_id[..2]);
                let version = NewVersion {
                    bucket: bucket.clone(),
                    key,
                    seal_id,
                    size: 0,
                    etag: "d41d8cd98f00b204e9800998ecf8427e".into(),
                    last_modified_ms: 1_780_000_000_000,
                    meta: ObjectMeta {
                        content_type: Some("application/octet-stream".into()),
                        ..ObjectMeta::default()
                    },
                    sse: Sse::S3,
                    checksum: None,
                    parts_count: None,
                    parts: vec![PartRecord {
                        part_number: 0,
                        blob,
                        size: 0,
                        etag: "d41d8cd98f00b204e9800998ecf8427e".into(),
                        header: vec![0; 131],
                        checksum: None,
                        last_modified_ms: 1_780_000_000_000,
                    }],
                    replica: false,
                    lock: Default::default(),
                };
                // As a PUT does: the blob is pending until the commit takes it.
                async move {
                    let blob = &version.parts[0].blob;
                    catalog.register_pending_blob(blob, i64::MAX).await?;
                    catalog
                        .commit_version(version, Precondition::NONE, 1_780_000_000_000)
                        .await
                }
            })
            .buffer_unordered(IN_FLIGHT);
        let mut done = 0u64;
        futures::pin_mut!(commits);
        while let Some(result) = commits.next().await {
            result.unwrap();
            done += 1;
            if done.is_multiple_of(1_000_000) {
                eprintln!("{done} versions in {:.0?}", started.elapsed());
            }
        }
        let secs = started.elapsed().as_secs_f64();
        eprintln!(
            "{done} versions committed in {secs:.1} s ({:.0}/s)",
            done as f64 / secs
        );
    });
}
