//! The fuzz targets on stable, in every `cargo test`: each one over its committed seed
//! corpus (`fuzz/corpus/NAME/`), over every input that once crashed it
//! (`fuzz/regressions/NAME/`), and over a bounded number of generated inputs (random bytes,
//! and seeds with bytes overwritten, inserted, removed or cut off). `PROPTEST_CASES` sets
//! how many (default 1000 a target). The long runs are libFuzzer's: `cargo +nightly fuzz run
//! NAME` in `fuzz/`.
//!
//! `cargo test --test fuzz_targets -- --ignored write_seed_corpus` rewrites the seeds that
//! are made with keys (sealed blobs, KMS ciphertexts, S3EC objects, signed requests, audit
//! logs); the others are written by hand.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a test fails by panicking"
)]

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::test_runner::{Config, TestRunner};
use sealgate::fuzzing::{self, TARGETS, Target};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// The files of `dir`, sorted; none when it does not exist. Seeds have an extension; what
/// libFuzzer adds to a corpus (named by its hash) is not in git.
fn inputs(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<(PathBuf, Vec<u8>)> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && p.extension().is_some())
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    files.sort();
    files
}

/// The gateway-backed targets keep their data here, removed when the tests end.
fn scratch() {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    let dir = DIR.get_or_init(|| tempfile::tempdir().unwrap());
    fuzzing::use_scratch_dir(dir.path());
}

fn target(name: &str) -> Target {
    TARGETS
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no fuzz target {name}"))
        .1
}

#[derive(Debug, Clone)]
enum Edit {
    Overwrite(Index, u8),
    Insert(Index, u8),
    Remove(Index),
    Truncate(Index),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Edit::Overwrite(i, b)),
        (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Edit::Insert(i, b)),
        any::<Index>().prop_map(Edit::Remove),
        any::<Index>().prop_map(Edit::Truncate),
    ]
}

fn apply(mut input: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        let at = |i: &Index, len: usize| if len == 0 { 0 } else { i.index(len) };
        match e {
            Edit::Overwrite(i, b) if !input.is_empty() => {
                let at = at(i, input.len());
                input[at] = *b;
            }
            Edit::Insert(i, b) => {
                let at = at(i, input.len() + 1);
                input.insert(at, *b);
            }
            Edit::Remove(i) if !input.is_empty() => {
                input.remove(at(i, input.len()));
            }
            Edit::Truncate(i) => input.truncate(at(i, input.len() + 1)),
            _ => {}
        }
    }
    input
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000)
}

/// Runs a target over its seeds, its regressions and generated inputs.
fn exercise(name: &str) {
    scratch();
    let run = target(name);
    let dir = fuzz_dir();
    let seeds = inputs(&dir.join("corpus").join(name));
    let regressions = inputs(&dir.join("regressions").join(name));
    assert!(!seeds.is_empty(), "{name} has no seed corpus");
    for (path, bytes) in seeds.iter().chain(&regressions) {
        if catch_unwind(AssertUnwindSafe(|| run(bytes))).is_err() {
            panic!("{name} failed on {}", path.display());
        }
    }
    let seeds: Vec<Vec<u8>> = seeds.into_iter().map(|(_, b)| b).collect();
    let generated = prop_oneof![
        1 => proptest::collection::vec(any::<u8>(), 0..512),
        3 => (select(seeds), proptest::collection::vec(edit(), 1..8))
            .prop_map(|(seed, edits)| apply(seed, &edits)),
    ];
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&generated, |input| {
        run(&input);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{name}: {e}\n(save the input under fuzz/regressions/{name}/ once it is fixed)");
    }
}

macro_rules! targets {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                exercise(stringify!($name));
            }
        )*
        const TESTED: &[&str] = &[$(stringify!($name)),*];
    };
}

targets!(
    sealed_blob,
    kms_ciphertext,
    s3ec_object,
    s3ec_instruction_file,
    bucket_policy,
    key_policy,
    iam_policy,
    sse_headers,
    checksum_headers,
    range_header,
    replication_xml,
    encryption_xml,
    versioning_xml,
    delete_xml,
    complete_xml,
    kms_request,
    iam_request,
    sigv4_header,
    audit_log,
    post_form,
);

#[test]
fn every_target_is_tested_and_has_a_cargo_fuzz_target_and_seeds() {
    let names: Vec<&str> = TARGETS.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, TESTED, "tests/fuzz_targets.rs runs every target");
    let dir = fuzz_dir();
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    for name in &names {
        let file = dir.join("fuzz_targets").join(format!("{name}.rs"));
        let source = std::fs::read_to_string(&file)
            .unwrap_or_else(|_| panic!("{} is missing", file.display()));
        assert!(
            source.contains(&format!("fuzzing::{name}(")),
            "{} calls fuzzing::{name}",
            file.display()
        );
        assert!(
            manifest.contains(&format!("name = \"{name}\"")),
            "fuzz/Cargo.toml has a [[bin]] {name}"
        );
        assert!(
            !inputs(&dir.join("corpus").join(name)).is_empty(),
            "fuzz/corpus/{name}/ holds seeds"
        );
    }
    let files = std::fs::read_dir(dir.join("fuzz_targets")).unwrap().count();
    assert_eq!(
        files,
        names.len(),
        "fuzz/fuzz_targets/ holds only the targets"
    );
}

/// Writes the seeds that need keys to be real: each target's fixed keys open them.
#[test]
#[ignore = "rewrites fuzz/corpus; run by hand when a format changes"]
fn write_seed_corpus() {
    let corpus = fuzz_dir().join("corpus");
    let put = |target: &str, name: &str, bytes: &[u8]| {
        let dir = corpus.join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), bytes).unwrap();
    };
    for (name, bytes) in sealed_blobs() {
        put("sealed_blob", name, &bytes);
    }
    for (name, bytes) in kms_blobs() {
        put("kms_ciphertext", name, &bytes);
    }
    for (name, bytes) in s3ec_objects() {
        put("s3ec_object", name, &bytes);
    }
    for (name, bytes) in signed_requests() {
        put("sigv4_header", name, &bytes);
    }
    put("audit_log", "three-records.log", &audit_records());
}

fn sealed_blobs() -> Vec<(&'static str, Vec<u8>)> {
    use sealgate::crypto::{
        AeadBackend, BlobCipher, DataKey, RootKey, SealHeader, Sealer, WrappedKey, Wrapping,
    };
    let dk = DataKey::from_bytes(fuzzing::BLOB_DATA_KEY);
    let root = RootKey::from_bytes(fuzzing::ROOT_KEY);
    let seal = |wrapped: WrappedKey, data: &[u8], chunk: u32| {
        let header = SealHeader::with_salt(data.len() as u64, chunk, wrapped, [3; 32]);
        let cipher = BlobCipher::new(&dk, &header, &fuzzing::BLOB_IDENTITY, AeadBackend::Ring);
        let mut sealer = Sealer::new(cipher, &header, 1);
        let mut out = header.encode();
        sealer.update(data).unwrap();
        while let Some(sealed) = sealer.take_sealed() {
            out.extend_from_slice(&sealed);
        }
        out.extend_from_slice(&sealer.finish().unwrap());
        out
    };
    let text = b"Every object version has its own random 256-bit data key.";
    let kms = WrappedKey {
        wrapping: Wrapping::Kms {
            key_arn: "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
                .into(),
            key_version: "1".into(),
        },
        ciphertext: vec![1; 85],
    };
    let bucket_key = WrappedKey {
        wrapping: Wrapping::KmsBucketKey {
            key_arn: "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
                .into(),
            key_version: "2".into(),
            object_salt: [4; 32],
        },
        ciphertext: vec![2; 85],
    };
    vec![
        (
            "sse-s3-16-byte-chunks.bin",
            seal(root.wrap_sse_s3(&dk), text, 16),
        ),
        ("sse-s3-empty.bin", seal(root.wrap_sse_s3(&dk), b"", 0)),
        (
            "sse-c-one-chunk.bin",
            seal(root.wrap_sse_c(&fuzzing::CUSTOMER_KEY, &dk), text, 0),
        ),
        ("sse-kms-7-byte-chunks.bin", seal(kms, &text[..20], 7)),
        ("sse-kms-bucket-key.bin", seal(bucket_key, text, 32)),
    ]
}

fn kms_blobs() -> Vec<(&'static str, Vec<u8>)> {
    use sealgate::kms::ciphertext::{BlobHeader, encrypt};
    let header = BlobHeader {
        key_id: uuid::Uuid::from_bytes([0x12; 16]),
        material_seq: 1,
    };
    let (k, v) = fuzzing::KMS_CONTEXT;
    let context = BTreeMap::from([(k.to_owned(), v.to_owned())]);
    vec![
        (
            "data-key.bin",
            encrypt(header, &fuzzing::KMS_MATERIAL, &context, &[9; 32]),
        ),
        (
            "no-context.bin",
            encrypt(header, &fuzzing::KMS_MATERIAL, &BTreeMap::new(), b"hello"),
        ),
    ]
}

fn s3ec_objects() -> Vec<(&'static str, Vec<u8>)> {
    use base64::Engine as _;
    use sealgate::s3ec::format::{Envelope, V2Cipher, Wrap};
    use sealgate::s3ec::{v2, v3};
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let plain = b"client-side encrypted before it left the laptop";
    let object = |envelope: &Envelope, key: &sealgate::s3ec::ContentKey| {
        let mut out = String::new();
        for (k, v) in envelope.to_metadata() {
            out.push_str(&format!("x-amz-meta-{k}: {v}\n"));
        }
        out.push_str("content-type: application/octet-stream\n\n");
        let mut body = plain.to_vec();
        let mut enc = key.encryptor();
        enc.update(&mut body).unwrap();
        body.extend_from_slice(&enc.finish());
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&body);
        bytes
    };
    let message_id = [0x1d; 28];
    let (v3_key, commitment) = v3::derive(&fuzzing::CSE_DATA_KEY, &message_id);
    let v3 = Envelope::V3 {
        encrypted_key: vec![1; 85],
        message_id,
        commitment,
        context: BTreeMap::from([("aws:x-amz-cek-alg".into(), "115".into())]),
    };
    let iv = [0x1f; 12];
    let v2 = Envelope::V2 {
        encrypted_key: vec![1; 85],
        cipher: V2Cipher::Gcm(iv),
        wrap: Wrap::KmsContext,
        context: BTreeMap::from([
            ("aws:x-amz-cek-alg".into(), "AES/GCM/NoPadding".into()),
            ("project".into(), "fuzz".into()),
        ]),
    };
    let cbc = format!(
        "x-amz-meta-x-amz-key-v2: {}\nx-amz-meta-x-amz-iv: {}\n\
         x-amz-meta-x-amz-cek-alg: AES/CBC/PKCS5Padding\nx-amz-meta-x-amz-wrap-alg: kms\n\
         x-amz-meta-x-amz-matdesc: {{\"kms_cmk_id\":\"alias/fuzz\"}}\n\n0123456789abcdef0123456789abcdef",
        b64(&[1; 85]),
        b64(&[2; 16])
    );
    vec![
        ("v3.http", object(&v3, &v3_key)),
        (
            "v2-gcm.http",
            object(&v2, &v2::content_key(&fuzzing::CSE_DATA_KEY, &iv)),
        ),
        ("v2-cbc-kms.http", cbc.into_bytes()),
    ]
}

/// Requests signed as the AWS SDKs sign them, at `SIGV4_NOW`.
fn signed_requests() -> Vec<(&'static str, Vec<u8>)> {
    use aws_credential_types::Credentials;
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    use aws_sigv4::sign::v4;
    let at = time::PrimitiveDateTime::parse(
        fuzzing::SIGV4_NOW,
        time::macros::format_description!("[year][month][day]T[hour][minute][second]Z"),
    )
    .unwrap()
    .assume_utc();
    let identity = Credentials::new("AKIAFUZZ", fuzzing::SIGV4_SECRET, None, None, "fuzz").into();
    let request = |service: &str, target: &str, extra: &[(&str, &str)], body: &[u8]| {
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name(service)
            .time(at.into())
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let mut headers = vec![("host", "127.0.0.1:8014")];
        headers.extend_from_slice(extra);
        let url = format!("http://127.0.0.1:8014{target}");
        let signable = SignableRequest::new(
            "POST",
            &url,
            headers.iter().copied(),
            SignableBody::Bytes(body),
        )
        .unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        let (signed, _) = instructions.into_parts();
        let mut out = format!("POST {target}\n");
        for (k, v) in &headers {
            out.push_str(&format!("{k}: {v}\n"));
        }
        for h in signed {
            out.push_str(&format!("{}: {}\n", h.name(), h.value()));
        }
        out.push('\n');
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(body);
        bytes
    };
    vec![
        (
            "kms-list-keys.http",
            request(
                "kms",
                "/",
                &[
                    ("x-amz-target", "TrentService.ListKeys"),
                    ("content-type", "application/x-amz-json-1.1"),
                ],
                b"{\"Limit\": 10}",
            ),
        ),
        (
            "iam-create-user.http",
            request(
                "iam",
                "/?Version=2010-05-08",
                &[("content-type", "application/x-www-form-urlencoded")],
                b"Action=CreateUser&UserName=bob&Path=%2Fteam%2F",
            ),
        ),
    ]
}

fn audit_records() -> Vec<u8> {
    use sealgate::audit::{AuditLog, AuditRecord, AuditSettings};
    let dir = tempfile::tempdir().unwrap();
    let key = sealgate::crypto::RootKey::from_bytes(fuzzing::ROOT_KEY).audit_key();
    let log = AuditLog::open(dir.path(), key, AuditSettings::default()).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for (i, operation) in ["CreateKey", "GenerateDataKey", "Decrypt"]
        .iter()
        .enumerate()
    {
        let record = AuditRecord {
            time: format!("2025-06-01T12:00:0{i}.000Z"),
            request_id: format!("req-{i}"),
            principal: "arn:aws:iam::111122223333:root".into(),
            source_ip: Some("192.0.2.10".into()),
            service: "kms".into(),
            operation: (*operation).into(),
            key_arn: Some(
                "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
                    .into(),
            ),
            key_version: Some("1".into()),
            encryption_context: (i == 1).then(|| {
                BTreeMap::from([("aws:s3:arn".into(), "arn:aws:s3:::fuzz-bucket/k".into())])
            }),
            result: "Success".into(),
        };
        runtime.block_on(log.append(record)).unwrap();
    }
    std::fs::read(dir.path().join("audit-000001.log")).unwrap()
}
