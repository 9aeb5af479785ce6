//! The fuzz entry points: one function per parser of untrusted bytes, each handing its input
//! to the real parser the way the gateway (or `sealgate cse get`, or `sealgate audit verify`)
//! does, and checking what must hold whatever the input: no panic, no internal error, and
//! where the format has one, the round trip `parse(serialize(x)) == x`.
//!
//! `fuzz/` runs [`TARGETS`] under libFuzzer (`cargo +nightly fuzz run NAME`);
//! `tests/fuzz_targets.rs` runs them on stable over the committed seed corpus, the
//! regression inputs and a bounded number of generated ones. Targets whose input is text
//! (headers, documents) read it as UTF-8, lossily, as an HTTP stack would refuse or replace
//! what is not; multi-part inputs are `Name: value` header lines, an empty line, then a body.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use s3s::xml;

use crate::crypto::{
    AeadBackend, BlobCipher, DataKey, ObjectIdentity, Opener, RootKey, SealHeader, Wrapping,
};
use crate::identity::{Identity, Peer};
use crate::kms::quota::Quotas;
use crate::kms::{Caller, KmsApi};
use crate::policy::{self, Policy, PolicyKind};
use crate::s3ec::format::{self as s3ec_format, Envelope, Location, V2Cipher};

/// A fuzz target: takes any bytes, panics only on a bug.
pub type Target = fn(&[u8]);

/// Every target, by the name its `fuzz/fuzz_targets/NAME.rs`, seed corpus
/// (`fuzz/corpus/NAME/`) and regression inputs (`fuzz/regressions/NAME/`) go by.
pub const TARGETS: &[(&str, Target)] = &[
    ("sealed_blob", sealed_blob),
    ("kms_ciphertext", kms_ciphertext),
    ("s3ec_object", s3ec_object),
    ("s3ec_instruction_file", s3ec_instruction_file),
    ("bucket_policy", bucket_policy),
    ("key_policy", key_policy),
    ("iam_policy", iam_policy),
    ("sse_headers", sse_headers),
    ("checksum_headers", checksum_headers),
    ("range_header", range_header),
    ("replication_xml", replication_xml),
    ("encryption_xml", encryption_xml),
    ("versioning_xml", versioning_xml),
    ("delete_xml", delete_xml),
    ("complete_xml", complete_xml),
    ("kms_request", kms_request),
    ("iam_request", iam_request),
    ("sigv4_header", sigv4_header),
    ("audit_log", audit_log),
    ("post_form", post_form),
];

/// The data key the `sealed_blob` seeds are sealed under.
pub const BLOB_DATA_KEY: [u8; 32] = [0x5e; 32];
/// The root key that wraps the `sealed_blob` seeds' SSE-S3 keys.
pub const ROOT_KEY: [u8; 32] = [0x07; 32];
/// The SSE-C key of the `sealed_blob` seeds.
pub const CUSTOMER_KEY: [u8; 32] = [0xc5; 32];
/// Whose blob the `sealed_blob` seeds are: bound into every chunk.
pub const BLOB_IDENTITY: ObjectIdentity<'static> = ObjectIdentity {
    bucket: "fuzz-bucket",
    key: "photos/cat.jpg",
    version: "seal-0001",
    part_number: 0,
};
/// The key material the `kms_ciphertext` seeds are encrypted under, and their context.
pub const KMS_MATERIAL: [u8; 32] = [0x6b; 32];
pub const KMS_CONTEXT: (&str, &str) = ("aws:s3:arn", "arn:aws:s3:::fuzz-bucket/photos/cat.jpg");
/// The data key KMS would return for the `s3ec_object` seeds.
pub const CSE_DATA_KEY: [u8; 32] = [0xce; 32];
/// The secret, and the clock, the `sigv4_header` seeds are signed with.
pub const SIGV4_SECRET: &str = "fuzz-secret-key";
pub const SIGV4_NOW: &str = "20250601T120000Z";

fn text(data: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(data)
}

/// `Name: value` lines up to the first empty line, and the bytes after it. Lines that are
/// not a valid header are dropped, as an HTTP stack would refuse them before the gateway.
fn header_block(data: &[u8]) -> (http::HeaderMap, &[u8]) {
    let (head, body) = match data.windows(2).position(|w| w == b"\n\n") {
        Some(i) => (&data[..i], &data[i + 2..]),
        None => (data, &[][..]),
    };
    let mut headers = http::HeaderMap::new();
    for line in head.split(|&b| b == b'\n') {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii());
        if let (Ok(n), Ok(v)) = (
            http::HeaderName::from_bytes(name),
            http::HeaderValue::from_bytes(value),
        ) {
            headers.append(n, v);
        }
    }
    (headers, body)
}

fn header<'h>(headers: &'h http::HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// A sealed blob as the read path meets it: the header decoded (and its key unwrapped
/// where the root or customer key can), then every chunk after it opened.
pub fn sealed_blob(data: &[u8]) {
    let Ok((header, len)) = SealHeader::decode(data) else {
        return;
    };
    assert_eq!(header.encode(), data[..len], "a decoded header re-encodes");
    let root = RootKey::from_bytes(ROOT_KEY);
    match &header.wrapped_key.wrapping {
        Wrapping::SseS3 { .. } => drop(root.unwrap_sse_s3(&header.wrapped_key)),
        Wrapping::SseC { .. } => drop(root.unwrap_sse_c(&CUSTOMER_KEY, &header.wrapped_key)),
        Wrapping::Kms { .. } | Wrapping::KmsBucketKey { .. } => {}
    }
    let dk = DataKey::from_bytes(BLOB_DATA_KEY);
    let body = &data[len..];
    for (start, end) in [(0, header.plaintext_len), (1, 2)] {
        let cipher = BlobCipher::new(&dk, &header, &BLOB_IDENTITY, AeadBackend::Ring);
        let mut opener = Opener::new(cipher, &header, start, end);
        let span = opener.span();
        let from = span.blob_start.saturating_sub(len as u64);
        let Some(sealed) = usize::try_from(from).ok().and_then(|f| body.get(f..)) else {
            continue;
        };
        let (a, b) = sealed.split_at(sealed.len() / 2);
        let mut out = Vec::new();
        let opened = opener
            .update(a, &mut out)
            .and_then(|()| opener.update(b, &mut out))
            .and_then(|()| opener.finish(&mut out));
        if opened.is_ok() {
            assert_eq!(out.len() as u64, span.take, "an opened range is whole");
        }
    }
}

/// A KMS ciphertext blob as Decrypt reads it: the header, then the authenticated body.
pub fn kms_ciphertext(data: &[u8]) {
    use crate::kms::ciphertext;
    let Ok(header) = ciphertext::parse_header(data) else {
        assert!(ciphertext::decrypt(data, &KMS_MATERIAL, &BTreeMap::new()).is_err());
        return;
    };
    let _ = header.key_id;
    let context = BTreeMap::from([(KMS_CONTEXT.0.to_owned(), KMS_CONTEXT.1.to_owned())]);
    if let Ok(plain) = ciphertext::decrypt(data, &KMS_MATERIAL, &context) {
        assert_eq!(plain.len() + 16 + 37, data.len());
    }
}

/// What `sealgate cse get` does with an object's response, KMS standing by with
/// [`CSE_DATA_KEY`]: the envelope from the user metadata, the context check, the content
/// cipher over the body.
pub fn s3ec_object(data: &[u8]) {
    let (headers, body) = header_block(data);
    let meta = crate::s3ec::object::user_metadata(&headers);
    if !matches!(s3ec_format::locate(&meta), Ok(Location::Object)) {
        return;
    }
    let Ok(envelope) = s3ec_format::parse(&meta, None) else {
        return;
    };
    envelope_round_trips(&envelope);
    let _ = s3ec_format::check_context(&envelope, &s3ec_format::Context::new());
    let mut opener = match &envelope {
        Envelope::V3 {
            message_id,
            commitment,
            ..
        } => match crate::s3ec::v3::open(&CSE_DATA_KEY, message_id, commitment) {
            Ok(key) => crate::s3ec::Opener::gcm(&key),
            Err(_) => return,
        },
        Envelope::V2 {
            cipher: V2Cipher::Gcm(iv),
            ..
        } => crate::s3ec::Opener::gcm(&crate::s3ec::v2::content_key(&CSE_DATA_KEY, iv)),
        Envelope::V2 {
            cipher: V2Cipher::Cbc(iv),
            ..
        } => crate::s3ec::Opener::Cbc(Box::new(crate::s3ec::cbc::Decryptor::new(
            &CSE_DATA_KEY,
            iv,
        ))),
    };
    let (a, b) = body.split_at(body.len() / 3);
    let _ = opener
        .push(a)
        .and_then(|_| opener.push(b))
        .and_then(|_| opener.finish());
}

fn envelope_round_trips(envelope: &Envelope) {
    let again = s3ec_format::parse(&envelope.to_metadata(), None);
    assert_eq!(
        again.as_ref(),
        Ok(envelope),
        "an envelope's metadata reads back"
    );
}

/// An instruction file's body, merged with object metadata as `cse get` merges them: a
/// V2 object (nothing in its metadata) and a V3 one (its content half in the metadata).
pub fn s3ec_instruction_file(data: &[u8]) {
    let Ok(instruction) = s3ec_format::parse_instruction_file(data) else {
        return;
    };
    let v3_object = s3ec_format::Metadata::from([
        ("x-amz-c".to_owned(), s3ec_format::V3_SUITE.to_owned()),
        (
            "x-amz-d".to_owned(),
            "3VU8BCiOqfgT6zSbf4S3ixXH2VqW4SdS1mu8dA==".to_owned(),
        ),
        (
            "x-amz-i".to_owned(),
            "QWxhZGRpbjpvcGVuIHNlc2FtZUFsYWRkaW46".to_owned(),
        ),
    ]);
    for meta in [s3ec_format::Metadata::new(), v3_object] {
        if let Ok(envelope) = s3ec_format::parse(&meta, Some(&instruction)) {
            envelope_round_trips(&envelope);
            let _ = s3ec_format::check_context(&envelope, &s3ec_format::Context::new());
        }
    }
}

/// Decides requests with a parsed policy, with the condition keys policies test most: as
/// the caller's identity policy, or as the resource's under `mode`.
fn decide(policy: &Policy, as_identity: bool, mode: policy::Mode) {
    let principal = policy::Principal::user("111122223333", "alice");
    let mut context = policy::Context::new();
    context.set("aws:SourceIp", "192.0.2.10");
    context.set("aws:SecureTransport", "true");
    context.set("aws:CurrentTime", "2025-06-01T12:00:00Z");
    context.set("aws:username", "alice");
    context.set("s3:x-amz-server-side-encryption", "aws:kms");
    context.set("kms:ViaService", "s3.us-east-1.amazonaws.com");
    context.set_multi("aws:TagKeys", vec!["team".into(), "cost".into()]);
    context.set("s3:max-keys", "100");
    for (action, resource) in [
        ("s3:GetObject", "arn:aws:s3:::fuzz-bucket/photos/cat.jpg"),
        (
            "kms:Decrypt",
            "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        ),
        ("iam:CreateUser", "arn:aws:iam::111122223333:user/bob"),
    ] {
        let req = policy::Request {
            principal: &principal,
            action,
            resource,
            context: &context,
        };
        let (identity, resource): (Vec<&Policy>, Option<&Policy>) = if as_identity {
            (vec![policy], None)
        } else {
            (Vec::new(), Some(policy))
        };
        let _ = policy::authorize(&req, &identity, resource, "111122223333", mode);
    }
}

/// PutBucketPolicy's body: S3's own checks, then the policy grammar, then a decision.
pub fn bucket_policy(data: &[u8]) {
    let doc = text(data);
    let checked = crate::s3::bucket_policy::validate("fuzz-bucket", &doc);
    let _ = crate::s3::bucket_policy::is_public(&doc);
    if checked.is_ok()
        && let Ok(p) = Policy::parse(&doc, PolicyKind::Resource)
    {
        decide(&p, false, policy::Mode::Bucket);
    }
}

/// PutKeyPolicy's (and CreateKey's) policy document.
pub fn key_policy(data: &[u8]) {
    if let Ok(p) = Policy::parse(&text(data), PolicyKind::Resource) {
        decide(&p, false, policy::Mode::KeyPolicy);
    }
}

/// An identity policy (PutUserPolicy, CreatePolicy, a configured user's policy).
pub fn iam_policy(data: &[u8]) {
    if let Ok(p) = Policy::parse(&text(data), PolicyKind::Identity) {
        decide(&p, true, policy::Mode::Bucket);
        decide(&p, true, policy::Mode::KeyPolicy);
    }
}

/// A write's SSE headers, and a copy source's SSE-C headers, as the S3 edge reads them.
pub fn sse_headers(data: &[u8]) {
    use crate::s3::sse::{CustomerHeaders, KmsHeaders, SsePolicy, Transport};
    let (h, _) = header_block(data);
    let owned = |name: &str| header(&h, name).map(str::to_owned);
    let sse = owned("x-amz-server-side-encryption").map(s3s::dto::ServerSideEncryption::from);
    let prefix = "x-amz-server-side-encryption-customer-";
    let copy_prefix = "x-amz-copy-source-server-side-encryption-customer-";
    let customer = |p: &str| {
        (
            owned(&format!("{p}algorithm")),
            owned(&format!("{p}key")),
            owned(&format!("{p}key-md5")),
        )
    };
    let (own, copy) = (customer(prefix), customer(copy_prefix));
    fn headers(c: &(Option<String>, Option<String>, Option<String>)) -> CustomerHeaders<'_> {
        CustomerHeaders {
            algorithm: c.0.as_ref(),
            key: c.1.as_ref(),
            key_md5: c.2.as_ref(),
        }
    }
    let kms = KmsHeaders {
        key_id: header(&h, "x-amz-server-side-encryption-aws-kms-key-id"),
        context: header(&h, "x-amz-server-side-encryption-context"),
        bucket_key: header(&h, "x-amz-server-side-encryption-bucket-key-enabled")
            .and_then(|v| v.parse().ok()),
    };
    for tls in [true, false] {
        let policy = SsePolicy {
            allow_sse_c_over_http: false,
        };
        let transport = Transport { tls };
        let _ = policy.asked_for_write(sse.as_ref(), headers(&own), kms, transport);
        let _ = policy.customer_key(headers(&copy), transport);
    }
}

/// A write's `Content-MD5` and flexible-checksum headers, checked against its body.
pub fn checksum_headers(data: &[u8]) {
    use crate::objects::Digests;
    let (h, body) = header_block(data);
    let checksums = crate::s3::request::ChecksumHeaders {
        algorithm: header(&h, "x-amz-sdk-checksum-algorithm"),
        crc32: header(&h, "x-amz-checksum-crc32"),
        crc32c: header(&h, "x-amz-checksum-crc32c"),
        crc64nvme: header(&h, "x-amz-checksum-crc64nvme"),
        sha1: header(&h, "x-amz-checksum-sha1"),
        sha256: header(&h, "x-amz-checksum-sha256"),
    };
    let stated = crate::s3::request::stated_digests(header(&h, "content-md5"), checksums, &h, None);
    let Ok(stated) = stated else {
        return;
    };
    let mut digests = Digests::new(stated.wants_md5(), stated.algorithm());
    digests.update(body);
    let _ = stated.verify(&digests.finish());
}

/// Line 1: the object's size; line 2: a GET's `Range`; line 3: UploadPartCopy's
/// `x-amz-copy-source-range`.
pub fn range_header(data: &[u8]) {
    let text = text(data);
    let mut lines = text.split('\n');
    let size = lines
        .next()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(0u64);
    if let Some(range) = lines.next()
        && let Ok(r) = s3s::dto::Range::parse(range)
        && let Ok((read, content_range)) = crate::s3::object_ops::byte_range(&r, size)
    {
        let crate::objects::ReadRange::Bytes(start, end) = read else {
            panic!("a Range header reads some bytes");
        };
        assert!(
            start < end && end <= size,
            "{range} of {size}: {start}..{end}"
        );
        assert_eq!(content_range, format!("bytes {start}-{}/{size}", end - 1));
    }
    if let Ok(crate::objects::ReadRange::Bytes(start, end)) =
        crate::s3::multipart::copy_range(lines.next(), size)
    {
        assert!(
            start < end && end <= size,
            "copy range of {size}: {start}..{end}"
        );
    }
}

/// Line 1: a form's boundary; the rest: the form (POST Object). However its bytes arrive,
/// the form is handed on the same; a `tagging` document's tags survive as `x-amz-tagging`.
pub fn post_form(data: &[u8]) {
    use crate::s3::post_form::{header_of, scan_in_pieces};
    let (boundary, form) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    if boundary.is_empty() {
        return;
    }
    let whole = scan_in_pieces(form, boundary, usize::MAX);
    for piece in [1, 7] {
        assert_eq!(
            scan_in_pieces(form, boundary, piece),
            whole,
            "read in pieces of {piece}"
        );
    }
    if let Some((_, Some(doc))) = whole
        && let Ok(Some(header)) = header_of(&doc)
    {
        assert!(
            crate::tagging::parse_header(&header).is_ok(),
            "{doc} as {header}"
        );
    }
}

/// An XML body as s3s reads it for the gateway: the whole document, nothing after it.
fn xml_body<T: for<'x> xml::Deserialize<'x>>(data: &[u8]) -> Option<T> {
    let mut d = xml::Deserializer::new(data);
    let value = T::deserialize(&mut d).ok()?;
    d.expect_eof().ok()?;
    Some(value)
}

/// PutBucketReplication's body: the rules S3 accepts, stored and rendered back unchanged.
pub fn replication_xml(data: &[u8]) {
    use crate::bucket_settings::{decode, encode, replication};
    use crate::s3::bucket_replication::{from_dto, to_dto};
    let Some(dto) = xml_body::<s3s::dto::ReplicationConfiguration>(data) else {
        return;
    };
    let Ok(cfg) = from_dto(&dto) else {
        return;
    };
    let _ = replication::validate(&cfg, "fuzz-bucket");
    assert_eq!(from_dto(&to_dto(&cfg)).as_ref().ok(), Some(&cfg));
    assert_eq!(decode(&encode(&cfg)).as_ref(), Ok(&cfg));
}

/// PutBucketEncryption's body, which the gateway reads itself; what it renders reads back.
pub fn encryption_xml(data: &[u8]) {
    use crate::s3::bucket_encryption::{parse, render};
    let Ok(cfg) = parse(data) else {
        return;
    };
    let Ok(xml) = render(&cfg) else {
        panic!("an accepted configuration renders");
    };
    assert_eq!(parse(xml.as_bytes()).ok(), Some(cfg));
}

/// PutBucketVersioning's body.
pub fn versioning_xml(data: &[u8]) {
    if let Some(v) = xml_body::<s3s::dto::VersioningConfiguration>(data) {
        let _ = crate::s3::buckets::versioning_state(&v);
    }
}

/// DeleteObjects' body: the keys and version ids S3 checks before deleting any.
pub fn delete_xml(data: &[u8]) {
    if let Some(d) = xml_body::<s3s::dto::Delete>(data)
        && crate::s3::object_ops::check_delete(&d).is_ok()
    {
        for o in &d.objects {
            let _ = crate::s3::request::check_version_id(o.version_id.as_deref());
        }
    }
}

/// CompleteMultipartUpload's body: the parts to assemble.
pub fn complete_xml(data: &[u8]) {
    if let Some(m) = xml_body::<s3s::dto::CompletedMultipartUpload>(data) {
        let _ = crate::s3::multipart::requested_parts(Some(m));
    }
}

/// The gateway the request-body targets talk to: a real one, in a scratch directory, with
/// its KMS and IAM edges as `sealgate serve` builds them (quotas off).
struct Fixture {
    runtime: tokio::runtime::Runtime,
    kms: KmsApi,
    iam: crate::iam::IamApi,
    root: Arc<Identity>,
    audit_dir: Mutex<PathBuf>,
    _gateway: crate::setup::Gateway,
}

static SCRATCH: OnceLock<PathBuf> = OnceLock::new();

/// Where the request-body targets keep their gateway's data (a directory the caller owns
/// and removes); without it, a new directory under the system's temporary directory.
pub fn use_scratch_dir(dir: &Path) {
    let _ = SCRATCH.set(dir.to_owned());
}

#[allow(
    clippy::expect_used,
    reason = "a fuzz target that cannot start is a failed run"
)]
fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = SCRATCH
            .get_or_init(|| {
                std::env::temp_dir().join(format!("sealgate-fuzz-{}", std::process::id()))
            })
            .clone();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let mut config: crate::config::Config = toml::from_str("").expect("default config");
        config.data_dir = dir.join("data");
        config.storage.fsync = false;
        config.audit.fsync = false;
        config.credentials.root_access_key = Some("AKIAFUZZROOT00000001".into());
        config.credentials.root_secret_key = Some(SIGV4_SECRET.into());
        let gateway = runtime
            .block_on(crate::setup::open(&config, crate::clock::system()))
            .expect("a gateway");
        let root = runtime
            .block_on(gateway.identities.lookup("AKIAFUZZROOT00000001"))
            .ok()
            .flatten()
            .expect("the root identity");
        let audit_dir = dir.join("audit-under-test");
        std::fs::create_dir_all(&audit_dir).expect("audit directory");
        Fixture {
            kms: KmsApi {
                service: gateway.kms.clone(),
                identities: gateway.identities.clone(),
                quotas: Quotas::new(0, 0),
            },
            iam: crate::iam::IamApi {
                iam: gateway.iam.clone(),
                identities: gateway.identities.clone(),
                audit: gateway.audit.clone(),
                clock: gateway.clock.clone(),
            },
            root,
            audit_dir: Mutex::new(audit_dir),
            runtime,
            _gateway: gateway,
        }
    })
}

const PEER: Peer = Peer {
    ip: None,
    tls: true,
};

/// A KMS request as the root user sends it: line 1 the operation (the `X-Amz-Target`
/// after `TrentService.`), the rest its JSON body. Any answer but an internal failure.
pub fn kms_request(data: &[u8]) {
    let f = fixture();
    let (operation, body) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (text(&data[..i]), &data[i + 1..]),
        None => (text(data), &[][..]),
    };
    let caller = Caller::direct(&f.root, PEER);
    let result = f
        .runtime
        .block_on(f.kms.invoke(&caller, "fuzz", operation.trim(), body));
    if let Err(e) = result {
        assert!(
            e.status() != http::StatusCode::INTERNAL_SERVER_ERROR,
            "{operation}: {} {}",
            e.code(),
            e.message()
        );
    }
}

/// An IAM request's form body (`Action=CreateUser&UserName=bob&…`) from the root user.
pub fn iam_request(data: &[u8]) {
    let f = fixture();
    let result = f
        .runtime
        .block_on(f.iam.invoke(f.root.clone(), PEER, "fuzz", &text(data)));
    if let Err(e) = result {
        assert!(
            e.status() != http::StatusCode::INTERNAL_SERVER_ERROR,
            "{}: {e}",
            e.code()
        );
    }
}

/// A KMS or IAM request's signature: line 1 `METHOD /path?query`, then its headers, an
/// empty line and its body, checked with [`SIGV4_SECRET`] at [`SIGV4_NOW`].
pub fn sigv4_header(data: &[u8]) {
    let (request_line, rest) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (text(&data[..i]), &data[i + 1..]),
        None => return,
    };
    let (headers, body) = header_block(rest);
    let (method, target) = request_line.split_once(' ').unwrap_or(("POST", "/"));
    let (Ok(method), Ok(uri)) = (
        http::Method::from_bytes(method.as_bytes()),
        target.trim().parse::<http::Uri>(),
    ) else {
        return;
    };
    let Some(auth) = header(&headers, "authorization") else {
        return;
    };
    let Ok(auth) = crate::sigv4::parse_authorization(auth) else {
        return;
    };
    let fmt = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let Ok(now) = time::PrimitiveDateTime::parse(SIGV4_NOW, fmt) else {
        panic!("SIGV4_NOW is a date");
    };
    let _ = crate::sigv4::verify(
        &auth,
        SIGV4_SECRET,
        &method,
        &uri,
        &headers,
        body,
        now.assume_utc(),
    );
}

/// An audit log file as `sealgate audit verify` reads it, under the fixture root key's
/// audit key.
pub fn audit_log(data: &[u8]) {
    let f = fixture();
    let dir = f.audit_dir.lock().unwrap_or_else(|e| e.into_inner());
    let path = dir.join("audit-000001.log");
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let key = RootKey::from_bytes(ROOT_KEY).audit_key();
    let _ = crate::audit::verify(&dir, &key);
}
