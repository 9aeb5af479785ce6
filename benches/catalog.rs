//! ListObjectsV2's catalog work on each store: a page of 1,000 keys from a random point of
//! a bucket of 1,000,000 objects (`SEALGATE_BENCH_OBJECTS` to change it), and the page of
//! its 997 "directories" with a delimiter. The objects are
//! written straight into the tables, without blobs or sealed metadata, so filling takes
//! seconds rather than hours; what a page costs beyond that (decoding, XML) is the same
//! whichever store holds it. PostgreSQL comes from `SEALGATE_TEST_POSTGRES_URL` or a
//! throwaway server, as in the tests. `cargo bench --bench catalog`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test or benchmark fails by panicking"
)]

#[path = "../src/postgres/scratch.rs"]
#[allow(dead_code, unreachable_pub, reason = "shared with the tests")]
mod scratch;

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use sealgate::catalog::{Catalog, KeyStart};
use sealgate::config::CatalogConfig;
use sealgate::crypto::RootKey;
use sealgate::postgres::Database;

const PAGE: usize = 1000;

fn objects() -> u64 {
    std::env::var("SEALGATE_BENCH_OBJECTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

fn key(i: u64) -> String {
    format!("photos/{:03}/img-{i:08}.jpg", i % 997)
}

/// A reproducible stream of start points (not a secret: xorshift is enough).
struct Starts(u64);

impl Starts {
    fn next(&mut self, objects: u64) -> String {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        key(self.0 % objects)
    }
}

fn sqlite_catalog(dir: &std::path::Path, rt: &tokio::runtime::Runtime) -> Catalog {
    let path = dir.join("catalog.sqlite");
    let catalog = Catalog::sqlite(&path, false, RootKey::generate().catalog_sealer(), 0).unwrap();
    rt.block_on(catalog.create_bucket("bench", "us-east-1", Some("000000000000"), &[], 0))
        .unwrap();
    let started = Instant::now();
    let mut conn = rusqlite::Connection::open(&path).unwrap();
    let tx = conn.transaction().unwrap();
    {
        let mut insert = tx
            .prepare(
                "INSERT INTO versions (bucket, key, version_id, seal_id, delete_marker, is_latest,
                     size, etag, last_modified_ms, meta, sse)
                 VALUES ('bench', ?1, 'null', ?2, 0, 1, 4096, ?2, 1, x'', '{\"mode\":\"S3\"}')",
            )
            .unwrap();
        for i in 0..objects() {
            insert
                .execute(rusqlite::params![key(i), format!("{i:032x}")])
                .unwrap();
        }
    }
    tx.commit().unwrap();
    eprintln!(
        "sqlite: {} objects written in {:?}",
        objects(),
        started.elapsed()
    );
    catalog
}

fn postgres_catalog(rt: &tokio::runtime::Runtime) -> Option<Catalog> {
    let name = format!("bench_{}", std::process::id());
    let url = rt.block_on(scratch::new_database(&name))?;
    let config = CatalogConfig {
        url: Some(url),
        ..CatalogConfig::default()
    };
    rt.block_on(async {
        let db = Database::open(&config).await.unwrap();
        let catalog = Catalog::postgres(&db, "bench", RootKey::generate().catalog_sealer(), 0);
        catalog
            .create_bucket("bench", "us-east-1", Some("000000000000"), &[], 0)
            .await
            .unwrap();
        let started = Instant::now();
        sqlx::query(
            "INSERT INTO versions (bucket, key, version_id, seal_id, delete_marker, is_latest,
                 size, etag, last_modified_ms, meta, sse)
             SELECT 'bench', 'photos/' || lpad((i % 997)::text, 3, '0') || '/img-'
                     || lpad(i::text, 8, '0') || '.jpg',
                 'null', lpad(to_hex(i), 32, '0'), FALSE, TRUE, 4096, lpad(to_hex(i), 32, '0'),
                 1, '\\x'::bytea, '{\"mode\":\"S3\"}'
             FROM generate_series(0, $1 - 1) AS i",
        )
        .bind(i64::try_from(objects()).unwrap())
        .execute(db.pool())
        .await
        .unwrap();
        sqlx::query("ANALYZE versions")
            .execute(db.pool())
            .await
            .unwrap();
        eprintln!(
            "postgres: {} objects written in {:?}",
            objects(),
            started.elapsed()
        );
        Some(catalog)
    })
}

fn list_page(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut stores = vec![("sqlite", sqlite_catalog(dir.path(), &rt))];
    if let Some(pg) = postgres_catalog(&rt) {
        stores.push(("postgres", pg));
    }
    let mut group = c.benchmark_group(format!("list_page_of_{PAGE}_from_{}", objects()));
    for (name, catalog) in &stores {
        let start = KeyStart::After(String::new());
        let first = rt
            .block_on(catalog.list_latest("bench", "", "", &start, PAGE))
            .unwrap();
        assert_eq!(first.len(), PAGE);
        let mut starts = Starts(0x9e37_79b9_7f4a_7c15);
        group.bench_function(*name, |b| {
            b.iter(|| {
                let after = KeyStart::After(starts.next(objects()));
                let page = rt
                    .block_on(catalog.list_latest("bench", "", "", &after, PAGE))
                    .unwrap();
                black_box(page)
            })
        });
    }
    group.finish();
    // `aws s3 ls s3://bucket/photos/`: one row for each of the 997 directories.
    let mut group = c.benchmark_group(format!("list_997_common_prefixes_of_{}", objects()));
    for (name, catalog) in &stores {
        let start = KeyStart::After(String::new());
        group.bench_function(*name, |b| {
            b.iter(|| {
                let page = rt
                    .block_on(catalog.list_latest("bench", "photos/", "/", &start, PAGE))
                    .unwrap();
                assert_eq!(page.len(), 997);
                black_box(page)
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50);
    targets = list_page
}
criterion_main!(benches);
