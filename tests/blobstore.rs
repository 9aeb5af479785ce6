//! One conformance suite for the blob store, run against every backend sealgate supports
//! (object_store's own style): local disk, S3 (s3s-fs in this process, and moto), Azure
//! (Azurite) and GCS (fake-gcs-server, reads only: it cannot take object_store's XML-API
//! writes). Streaming writes around S3's 5 MiB part minimum, ranges across chunk and part
//! boundaries, overwrite, delete, missing blobs, listing, the start-up probe, and a backend
//! that dies mid-write.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking"
)]

mod common;

use bytes::Bytes;
use futures::StreamExt as _;
use sealgate::blobstore::{BlobError, BlobStore};

use common::backends::{External, InProcessS3};

const MIB: usize = 1024 * 1024;
const PART: usize = 5 * MIB;

fn pattern(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u32).wrapping_mul(2654435761).to_le_bytes()[1] ^ seed)
        .collect()
}

async fn write(store: &BlobStore, name: &str, data: &[u8], piece: usize) {
    let mut w = store.writer(name, data.len() as u64);
    for chunk in data.chunks(piece.max(1)) {
        w.write(Bytes::copy_from_slice(chunk)).await.unwrap();
    }
    assert_eq!(w.finish().await.unwrap(), data.len() as u64);
}

async fn read(store: &BlobStore, name: &str, range: std::ops::Range<u64>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut s = store.read(name, range).await.unwrap();
    while let Some(piece) = s.next().await {
        out.extend_from_slice(&piece.unwrap());
    }
    out
}

/// Everything a backend must do, in one pass over one store.
async fn conformance(store: &BlobStore, large: usize) {
    store.probe().await.unwrap();

    for (i, size) in [0, 1, PART - 1, PART, PART + 1, large]
        .into_iter()
        .enumerate()
    {
        let name = format!("{:02x}/size-{size}", i);
        let data = pattern(size, i as u8);
        write(store, &name, &data, 256 * 1024 + 7).await;
        if size == 0 {
            continue;
        }
        assert_eq!(read(store, &name, 0..size as u64).await, data, "{size}");
        let n = size as u64;
        let boundaries = [
            0,
            1,
            65_535,
            65_536,
            PART as u64 - 1,
            PART as u64,
            n / 2,
            n - 1,
        ];
        for at in boundaries.into_iter().filter(|b| *b < n) {
            let end = (at + 3).min(n);
            assert_eq!(
                read(store, &name, at..end).await,
                &data[at as usize..end as usize],
                "{size}: {at}..{end}"
            );
        }
    }

    // Overwrite: the second write wins whole.
    write(store, "ow/blob", &pattern(2 * PART + 3, 1), MIB).await;
    write(store, "ow/blob", b"short", 2).await;
    assert_eq!(read(store, "ow/blob", 0..5).await, b"short");

    // Delete, twice; a missing blob is Missing, not some other error.
    store.delete("ow/blob").await.unwrap();
    store.delete("ow/blob").await.unwrap();
    assert!(matches!(
        store.read("ow/blob", 0..1).await,
        Err(BlobError::Missing(_))
    ));
    assert!(matches!(
        store.read("never/written", 0..1).await,
        Err(BlobError::Missing(_))
    ));

    // Listing finds what was written, under a prefix or all.
    let mut under: Vec<String> = store
        .list("00")
        .map(|r| r.unwrap())
        .collect::<Vec<_>>()
        .await;
    under.sort();
    assert_eq!(under, ["00/size-0"]);
    let all: Vec<String> = store.list("").map(|r| r.unwrap()).collect().await;
    let largest = format!("05/size-{large}");
    assert!(all.contains(&largest), "{all:?}");
    assert!(store.holds_blobs().await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_disk() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::local(dir.path(), false).unwrap();
    conformance(&store, 100 * MIB).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_in_process() {
    let s3 = InProcessS3::start().await;
    let store = BlobStore::open(&s3.config("deploy-a")).unwrap();
    conformance(&store, 100 * MIB).await;
    // Every blob beyond a part as a multipart upload instead of one streamed PUT.
    let mut multipart = s3.config("deploy-b");
    multipart.storage.single_put_max_mib = 0;
    conformance(&BlobStore::open(&multipart).unwrap(), 20 * MIB).await;
    // Blobs rest under the prefix, as opaque names.
    let root = s3
        .root()
        .join(common::backends::TEST_BUCKET)
        .join("deploy-a");
    assert!(root.join("00").join("size-0").exists());
}

/// The backend dies while a blob is being written: the write fails as "unavailable" (which
/// the gateway answers with 503 SlowDown), and once the backend is back nothing of the blob
/// is visible.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_backend_dying_mid_write() {
    let s3 = InProcessS3::start().await;
    let store = BlobStore::open(&s3.config("dying")).unwrap();
    let mut w = store.writer("ab/cut", 6 * PART as u64);
    for _ in 0..2 {
        w.write(Bytes::from(pattern(PART, 3))).await.unwrap();
    }
    s3.kill();
    let failed = async {
        for _ in 0..4 {
            w.write(Bytes::from(pattern(PART, 4))).await?;
        }
        w.finish().await
    }
    .await;
    assert!(
        matches!(failed, Err(BlobError::Unavailable(_))),
        "{failed:?}"
    );
    s3.restart().await;
    assert!(matches!(
        store.read("ab/cut", 0..1).await,
        Err(BlobError::Missing(_))
    ));
    // The store works again.
    write(&store, "ab/after", b"back", 4).await;
    assert_eq!(read(&store, "ab/after", 0..4).await, b"back");
}

/// A probe of a store that cannot be used names the backend and the cause in one line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_probe_says_what_is_wrong() {
    let s3 = InProcessS3::start().await;
    let mut wrong_key = s3.config("");
    wrong_key.storage.secret_access_key = Some("not-the-secret".into());
    let err = BlobStore::open(&wrong_key)
        .unwrap()
        .probe()
        .await
        .unwrap_err();
    assert!(err.contains("access refused"), "{err}");
    assert!(err.contains("s3 bucket sealgate-test"), "{err}");
    let mut no_bucket = s3.config("");
    no_bucket.storage.bucket = Some("no-such-bucket".into());
    let err = BlobStore::open(&no_bucket)
        .unwrap()
        .probe()
        .await
        .unwrap_err();
    assert!(err.contains("does not exist"), "{err}");
    s3.kill();
    let err = BlobStore::open(&s3.config(""))
        .unwrap()
        .probe()
        .await
        .unwrap_err();
    assert!(err.contains("unreachable"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_moto() {
    let Some(mut moto) = External::start("moto") else {
        return;
    };
    let store = BlobStore::open(&moto.config("moto/prefix")).unwrap();
    conformance(&store, 20 * MIB).await;

    // A multipart write (of a blob beyond S3's 5 GiB PUT limit) left unfinished, its
    // process dead, shows as an unfinished upload, which can be aborted.
    let mut w = store.writer("cd/abandoned", 6 << 30);
    w.write(Bytes::from(pattern(2 * PART, 9))).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    std::mem::forget(w);
    let uploads = store.unfinished_uploads().await.unwrap();
    let ours: Vec<_> = uploads
        .iter()
        .filter(|u| u.blob == "cd/abandoned")
        .collect();
    assert_eq!(ours.len(), 1, "{uploads:?}");
    store.abort_upload(ours[0]).await.unwrap();
    assert!(
        store
            .unfinished_uploads()
            .await
            .unwrap()
            .iter()
            .all(|u| u.blob != "cd/abandoned")
    );
    assert_eq!(moto.command("uploads"), r#"{"status": 200, "uploads": 0}"#);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_azurite() {
    let Some(azurite) = External::start("azurite") else {
        return;
    };
    let store = BlobStore::open(&azurite.config("azure/prefix")).unwrap();
    conformance(&store, 20 * MIB).await;
}

/// fake-gcs-server serves object_store's XML-API reads, listing and deletes, but not its
/// writes; blobs are seeded through the JSON API to check those.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcs_fake_gcs_server_reads() {
    let Some(mut gcs) = External::start("fake-gcs") else {
        return;
    };
    let data = pattern(3 * 65_536 + 5, 7);
    let answer = gcs.command(&format!("seed gcs/ab/seeded {}", hex::encode(&data)));
    assert_eq!(answer, "ok");
    let store = BlobStore::open(&gcs.config("gcs")).unwrap();
    assert_eq!(read(&store, "ab/seeded", 0..data.len() as u64).await, data);
    assert_eq!(
        read(&store, "ab/seeded", 65_535..65_540).await,
        &data[65_535..65_540]
    );
    let listed: Vec<String> = store.list("").map(|r| r.unwrap()).collect().await;
    assert_eq!(listed, ["ab/seeded"]);
    assert!(matches!(
        store.read("ab/missing", 0..1).await,
        Err(BlobError::Missing(_))
    ));
    store.delete("ab/seeded").await.unwrap();
    assert!(!store.holds_blobs().await.unwrap());
}
