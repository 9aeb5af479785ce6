//! The object service on a real catalog and blob directory, below the S3 edge: what a write
//! leaves on disk, what a read authenticates, and what the collector removes.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test or benchmark fails by panicking"
)]

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use sealgate::blobstore::BlobStore;
use sealgate::catalog::{Catalog, ObjectMeta, Precondition};
use sealgate::crypto::{AeadBackend, RootKey};
use sealgate::objects::{
    ByteStream, CompletedPart, CustomerKey, ObjectError, ObjectService, PutRequest, PutSpec,
    ReadRange, ServiceSettings, SseRequest, Stated,
};
use zeroize::Zeroizing;

const CHUNK: u32 = 4096;

struct Env {
    _dir: tempfile::TempDir,
    blobs: std::path::PathBuf,
    svc: ObjectService,
}

fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let root = RootKey::generate();
    let catalog = Catalog::sqlite(
        &dir.path().join("catalog.sqlite"),
        false,
        root.catalog_sealer(),
        0,
    )
    .unwrap();
    let blobs = dir.path().join("blobs");
    let store = BlobStore::local(&blobs, false).unwrap();
    let settings = ServiceSettings {
        aead: AeadBackend::Ring,
        chunk_size: CHUNK,
        orphan_grace_secs: 3600,
    };
    let svc = ObjectService::new(
        catalog,
        store,
        Arc::new(root),
        sealgate::clock::system(),
        settings,
    );
    Env {
        _dir: dir,
        blobs,
        svc,
    }
}

/// A fresh service with bucket "b".
async fn env_with_bucket() -> Env {
    let e = env();
    e.svc
        .catalog()
        .create_bucket("b", "us-east-1", None, &[], 0)
        .await
        .unwrap();
    e
}

async fn collect(mut s: ByteStream) -> Result<Vec<u8>, ObjectError> {
    let mut out = Vec::new();
    while let Some(piece) = s.next().await {
        out.extend_from_slice(&piece?);
    }
    Ok(out)
}

fn count_files(dir: &Path) -> usize {
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        n += if entry.file_type().unwrap().is_dir() {
            count_files(&entry.path())
        } else {
            1
        };
    }
    n
}

fn body(data: &[u8], piece: usize) -> ByteStream {
    let pieces: Vec<_> = data
        .chunks(piece)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    futures::stream::iter(pieces).boxed()
}

fn data(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 % 253) as u8).collect()
}

async fn put(svc: &ObjectService, key: &str, bytes: &[u8], sse: SseRequest) -> String {
    let spec = PutSpec {
        bucket: "b".into(),
        key: key.into(),
        len: bytes.len() as u64,
        meta: ObjectMeta::default(),
        sse,
        want_md5: false,
        checksum: None,
        caller: None,
        lock: Default::default(),
    };
    svc.put_object(put_request(spec), body(bytes, 1000))
        .await
        .unwrap()
        .version_id
}

fn put_request(spec: PutSpec) -> PutRequest {
    PutRequest {
        spec,
        stated: Stated::default(),
        precondition: Precondition::NONE,
        replica: false,
    }
}

async fn read(
    svc: &ObjectService,
    key: &str,
    range: ReadRange,
    customer: Option<&CustomerKey>,
) -> Result<Vec<u8>, ObjectError> {
    let v = svc.lookup("b", key, None).await?;
    let s = svc
        .reader(v, customer, None, true)
        .await?
        .stream(range)
        .await?;
    collect(s).await
}

fn customer(byte: u8) -> CustomerKey {
    CustomerKey {
        key: Zeroizing::new([byte; 32]),
        key_md5: format!("md5-of-{byte}"),
    }
}

#[tokio::test]
async fn objects_read_back_whole_and_by_range_and_overwrites_are_collected() {
    let e = env_with_bucket().await;
    let d = data(3 * CHUNK as usize + 123);
    put(&e.svc, "k", &d, SseRequest::S3).await;
    assert_eq!(read(&e.svc, "k", ReadRange::All, None).await.unwrap(), d);
    for (s, end) in [(0, 1), (4095, 4097), (4096, 8192), (100, d.len() as u64)] {
        let got = read(&e.svc, "k", ReadRange::Bytes(s, end), None)
            .await
            .unwrap();
        assert_eq!(got, d[s as usize..end as usize], "{s}..{end}");
    }
    assert_eq!(count_files(&e.blobs), 1);
    put(&e.svc, "k", b"second", SseRequest::S3).await;
    let collector = sealgate::objects::Collector::new(e.svc.clone());
    assert_eq!(
        collector.collect_due().await.unwrap(),
        1,
        "the overwritten version's blob"
    );
    assert_eq!(count_files(&e.blobs), 1);
    assert_eq!(
        read(&e.svc, "k", ReadRange::All, None).await.unwrap(),
        b"second"
    );
}

#[tokio::test]
async fn a_blob_a_read_holds_outlives_its_version_until_the_read_is_done() {
    let e = env_with_bucket().await;
    let d = data(2 * CHUNK as usize);
    put(&e.svc, "k", &d, SseRequest::S3).await;
    let v = e.svc.lookup("b", "k", None).await.unwrap();
    let reader = e.svc.reader(v, None, None, true).await.unwrap();
    put(&e.svc, "k", b"second", SseRequest::S3).await;
    let collector = sealgate::objects::Collector::new(e.svc.clone());
    assert_eq!(
        collector.collect_due().await.unwrap(),
        0,
        "held by the read"
    );
    let s = reader.stream(ReadRange::All).await.unwrap();
    let out = collect(s).await.unwrap();
    assert_eq!(out, d, "the read finishes on the replaced version");
    assert_eq!(
        collector.collect_due().await.unwrap(),
        1,
        "released with the read"
    );
    assert_eq!(count_files(&e.blobs), 1);
}

#[tokio::test]
async fn a_body_shorter_or_longer_than_declared_leaves_nothing_behind() {
    let e = env_with_bucket().await;
    for (declared, sent) in [(100u64, 99usize), (100, 101)] {
        let spec = PutSpec {
            bucket: "b".into(),
            key: "k".into(),
            len: declared,
            meta: ObjectMeta::default(),
            sse: SseRequest::S3,
            want_md5: false,
            checksum: None,
            caller: None,
            lock: Default::default(),
        };
        let err = e
            .svc
            .put_object(put_request(spec), body(&data(sent), 7))
            .await
            .err()
            .unwrap();
        assert!(
            matches!(err, ObjectError::IncompleteBody | ObjectError::BodyTooLong),
            "{err}"
        );
    }
    sealgate::objects::Collector::new(e.svc.clone())
        .collect_due()
        .await
        .unwrap();
    assert_eq!(count_files(&e.blobs), 0);
    assert!(matches!(
        e.svc.lookup("b", "k", None).await,
        Err(ObjectError::Catalog(_))
    ));
}

#[tokio::test]
async fn sse_c_objects_need_the_same_key() {
    let e = env_with_bucket().await;
    let k1 = customer(1);
    put(
        &e.svc,
        "secret",
        b"customer data",
        SseRequest::C(k1.clone()),
    )
    .await;
    assert_eq!(
        read(&e.svc, "secret", ReadRange::All, Some(&k1))
            .await
            .unwrap(),
        b"customer data"
    );
    let wrong = read(&e.svc, "secret", ReadRange::All, Some(&customer(2)))
        .await
        .err()
        .unwrap();
    assert!(matches!(wrong, ObjectError::CustomerKeyMismatch), "{wrong}");
    let missing = read(&e.svc, "secret", ReadRange::All, None)
        .await
        .err()
        .unwrap();
    assert!(
        matches!(missing, ObjectError::CustomerKeyRequired),
        "{missing}"
    );
    put(&e.svc, "plain", b"x", SseRequest::S3).await;
    let stray = read(&e.svc, "plain", ReadRange::All, Some(&k1))
        .await
        .err()
        .unwrap();
    assert!(
        matches!(stray, ObjectError::CustomerKeyNotApplicable),
        "{stray}"
    );
}

#[tokio::test]
async fn multipart_parts_reupload_and_complete() {
    let e = env_with_bucket().await;
    let upload = e
        .svc
        .create_upload(
            "b",
            "mp",
            ObjectMeta::default(),
            &SseRequest::S3,
            None,
            Default::default(),
        )
        .await
        .unwrap();
    let p1 = data(sealgate::objects::MIN_PART_SIZE as usize);
    let p2 = b"tail".to_vec();
    let mut etags = Vec::new();
    for (n, bytes) in [(1u32, &p1), (2, &p2), (2, &p2)] {
        let part = e
            .svc
            .upload_part(
                &upload,
                n,
                bytes.len() as u64,
                Stated::default(),
                None,
                None,
                body(bytes, 65536),
            )
            .await
            .unwrap();
        etags.push((n, part.etag));
    }
    // Part 2 was uploaded twice: the first attempt's blob is garbage now.
    let collector = sealgate::objects::Collector::new(e.svc.clone());
    assert_eq!(collector.collect_due().await.unwrap(), 1);
    let parts: Vec<CompletedPart> = [etags[0].clone(), etags[2].clone()]
        .into_iter()
        .map(|(part_number, etag)| CompletedPart {
            part_number,
            etag,
            checksum: None,
        })
        .collect();
    let version = e
        .svc
        .complete_upload(
            &upload,
            &parts,
            Precondition::NONE,
            Default::default(),
            false,
        )
        .await
        .unwrap();
    assert!(version.etag.ends_with("-2"), "{}", version.etag);
    let whole = [p1.as_slice(), &p2].concat();
    assert_eq!(
        read(&e.svc, "mp", ReadRange::All, None).await.unwrap(),
        whole
    );
    let across = p1.len() as u64 - 3..p1.len() as u64 + 2;
    let got = read(
        &e.svc,
        "mp",
        ReadRange::Bytes(across.start, across.end),
        None,
    )
    .await
    .unwrap();
    assert_eq!(got, whole[across.start as usize..across.end as usize]);
    // Parts out of order are refused.
    let upload2 = e
        .svc
        .create_upload(
            "b",
            "mp2",
            ObjectMeta::default(),
            &SseRequest::S3,
            None,
            Default::default(),
        )
        .await
        .unwrap();
    let reversed = [parts[1].clone(), parts[0].clone()];
    assert!(matches!(
        e.svc
            .complete_upload(
                &upload2,
                &reversed,
                Precondition::NONE,
                Default::default(),
                false
            )
            .await,
        Err(ObjectError::InvalidPartOrder)
    ));
}
