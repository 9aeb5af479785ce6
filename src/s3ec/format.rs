//! The S3 Encryption Client's metadata: the `x-amz-*` map stored as user metadata (or in an
//! instruction file) and the envelope it describes. Detection follows the spec's
//! `content-metadata.md` ("determining S3EC object status"); docs/FORMAT.md has the tables.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

/// User metadata names, lower-case, without the `x-amz-meta-` prefix.
pub type Metadata = BTreeMap<String, String>;
/// A KMS encryption context.
pub type Context = BTreeMap<String, String>;

pub const INSTRUCTION_SUFFIX: &str = ".instruction";
/// The suite id of AES-256-GCM with HKDF-SHA512 key commitment (0x0073).
pub const V3_SUITE: &str = "115";
pub const V2_CEK_ALG: &str = "AES/GCM/NoPadding";
pub const CBC_CEK_ALG: &str = "AES/CBC/PKCS5Padding";
/// Encryption-context key the clients reserve for the content algorithm.
pub const CEK_ALG_CONTEXT_KEY: &str = "aws:x-amz-cek-alg";
/// Encryption-context key of the legacy `kms` wrapping.
pub const CMK_ID_CONTEXT_KEY: &str = "kms_cmk_id";

const V3_WRAP_KMS_CONTEXT: &str = "12";

mod key {
    pub(super) const V1_KEY: &str = "x-amz-key";
    pub(super) const V2_KEY: &str = "x-amz-key-v2";
    pub(super) const V2_IV: &str = "x-amz-iv";
    pub(super) const V2_CEK_ALG: &str = "x-amz-cek-alg";
    pub(super) const V2_WRAP_ALG: &str = "x-amz-wrap-alg";
    pub(super) const V2_MATDESC: &str = "x-amz-matdesc";
    pub(super) const V2_TAG_LEN: &str = "x-amz-tag-len";
    pub(super) const V3_KEY: &str = "x-amz-3";
    pub(super) const V3_CONTENT_CIPHER: &str = "x-amz-c";
    pub(super) const V3_WRAP_ALG: &str = "x-amz-w";
    pub(super) const V3_MESSAGE_ID: &str = "x-amz-i";
    pub(super) const V3_COMMITMENT: &str = "x-amz-d";
    pub(super) const V3_CONTEXT: &str = "x-amz-t";
    pub(super) const V3_MATDESC: &str = "x-amz-m";
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FormatError {
    #[error("not an S3 Encryption Client object: no envelope in its metadata or instruction file")]
    NotEncrypted,
    #[error("invalid envelope: {0}")]
    Invalid(String),
    #[error("unsupported envelope: {0}")]
    Unsupported(String),
    #[error(
        "the object uses {mode}, a legacy mode the official clients also refuse by default; pass {flag} to read it"
    )]
    Legacy {
        mode: &'static str,
        flag: &'static str,
    },
}

fn invalid(s: impl Into<String>) -> FormatError {
    FormatError::Invalid(s.into())
}

/// How the data key was wrapped by KMS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wrap {
    /// `kms+context`: the encryption context is stored and includes the content algorithm.
    KmsContext,
    /// `kms` (SDK v1): the context is `{"kms_cmk_id": ...}`; nothing binds the algorithm.
    Kms,
}

/// Everything needed to decrypt an object, parsed from its metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Envelope {
    V3 {
        encrypted_key: Vec<u8>,
        message_id: [u8; 28],
        commitment: [u8; 28],
        context: Context,
    },
    V2 {
        encrypted_key: Vec<u8>,
        cipher: V2Cipher,
        wrap: Wrap,
        context: Context,
    },
}

/// The content cipher of a V2 envelope, with its IV.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum V2Cipher {
    /// `AES/GCM/NoPadding`, 12-byte IV, 128-bit tag.
    Gcm([u8; 12]),
    /// `AES/CBC/PKCS5Padding`, 16-byte IV: legacy, not authenticated.
    Cbc([u8; 16]),
}

impl V2Cipher {
    pub fn name(&self) -> &'static str {
        match self {
            V2Cipher::Gcm(_) => V2_CEK_ALG,
            V2Cipher::Cbc(_) => CBC_CEK_ALG,
        }
    }
}

impl Envelope {
    pub fn encrypted_key(&self) -> &[u8] {
        match self {
            Envelope::V3 { encrypted_key, .. } | Envelope::V2 { encrypted_key, .. } => {
                encrypted_key
            }
        }
    }

    /// The encryption context the data key was wrapped under.
    pub fn context(&self) -> &Context {
        match self {
            Envelope::V3 { context, .. } | Envelope::V2 { context, .. } => context,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Envelope::V3 { .. } => "v3 (AES-256-GCM, HKDF-SHA512 key commitment)",
            Envelope::V2 {
                cipher: V2Cipher::Gcm(_),
                ..
            } => "v2 (AES-256-GCM)",
            Envelope::V2 {
                cipher: V2Cipher::Cbc(_),
                ..
            } => "v2 (AES-256-CBC, unauthenticated)",
        }
    }

    /// The metadata entries that describe this envelope, to be stored as user metadata.
    pub fn to_metadata(&self) -> Metadata {
        let mut m = Metadata::new();
        let mut put = |k: &str, v: String| {
            m.insert(k.to_string(), v);
        };
        match self {
            Envelope::V3 {
                encrypted_key,
                message_id,
                commitment,
                context,
            } => {
                put(key::V3_CONTENT_CIPHER, V3_SUITE.into());
                put(key::V3_KEY, BASE64.encode(encrypted_key));
                put(key::V3_WRAP_ALG, V3_WRAP_KMS_CONTEXT.into());
                put(key::V3_MESSAGE_ID, BASE64.encode(message_id));
                put(key::V3_COMMITMENT, BASE64.encode(commitment));
                put(key::V3_CONTEXT, context_json(context));
            }
            Envelope::V2 {
                encrypted_key,
                cipher,
                wrap,
                context,
            } => {
                put(key::V2_KEY, BASE64.encode(encrypted_key));
                match cipher {
                    V2Cipher::Gcm(iv) => put(key::V2_IV, BASE64.encode(iv)),
                    V2Cipher::Cbc(iv) => put(key::V2_IV, BASE64.encode(iv)),
                }
                put(key::V2_CEK_ALG, cipher.name().into());
                put(
                    key::V2_WRAP_ALG,
                    match wrap {
                        Wrap::KmsContext => "kms+context",
                        Wrap::Kms => "kms",
                    }
                    .into(),
                );
                if let V2Cipher::Gcm(_) = cipher {
                    put(key::V2_TAG_LEN, "128".into());
                }
                put(key::V2_MATDESC, context_json(context));
            }
        }
        m
    }
}

/// Compact JSON with sorted keys: deterministic, and what the readers parse back.
pub fn context_json(c: &Context) -> String {
    serde_json::to_string(c).unwrap_or_else(|_| "{}".into())
}

fn parse_context(what: &str, s: &str) -> Result<Context, FormatError> {
    serde_json::from_str(s)
        .map_err(|e| invalid(format!("{what} is not a JSON object of strings: {e}")))
}

fn b64(m: &Metadata, k: &str) -> Result<Vec<u8>, FormatError> {
    let v = m.get(k).ok_or_else(|| invalid(format!("{k} is missing")))?;
    BASE64
        .decode(v.trim())
        .map_err(|e| invalid(format!("{k} is not base64: {e}")))
}

fn fixed<const N: usize>(m: &Metadata, k: &str) -> Result<[u8; N], FormatError> {
    b64(m, k)?
        .try_into()
        .map_err(|v: Vec<u8>| invalid(format!("{k} is {} bytes, not {N}", v.len())))
}

fn get<'m>(m: &'m Metadata, k: &str) -> Result<&'m str, FormatError> {
    m.get(k)
        .map(String::as_str)
        .ok_or_else(|| invalid(format!("{k} is missing")))
}

const V3_OBJECT_KEYS: [&str; 3] = [
    key::V3_CONTENT_CIPHER,
    key::V3_MESSAGE_ID,
    key::V3_COMMITMENT,
];

/// What the object's own metadata says about where its envelope is.
#[derive(Debug, PartialEq, Eq)]
pub enum Location {
    /// The object metadata holds the whole envelope.
    Object,
    /// The envelope (or its key-wrapping half, for V3) is in `KEY.instruction`.
    InstructionFile,
}

pub fn locate(meta: &Metadata) -> Result<Location, FormatError> {
    let present = [key::V1_KEY, key::V2_KEY, key::V3_KEY]
        .iter()
        .filter(|k| meta.contains_key(**k))
        .count();
    match present {
        0 => Ok(Location::InstructionFile),
        1 => Ok(Location::Object),
        _ => Err(invalid(
            "more than one of x-amz-key, x-amz-key-v2 and x-amz-3 is present",
        )),
    }
}

/// Parses the envelope from the object's metadata, merged with its instruction file when
/// [`locate`] asked for one.
pub fn parse(meta: &Metadata, instruction: Option<&Metadata>) -> Result<Envelope, FormatError> {
    let merged;
    let m = match instruction {
        None => meta,
        Some(ins) => {
            if let Some(k) = V3_OBJECT_KEYS.iter().find(|k| ins.contains_key(**k)) {
                return Err(invalid(format!(
                    "{k} must be in the object metadata, not the instruction file"
                )));
            }
            let v3_split = V3_OBJECT_KEYS.iter().all(|k| meta.contains_key(*k));
            if !v3_split
                && let Some(k) = [key::V2_CEK_ALG, key::V2_IV, key::V2_WRAP_ALG]
                    .iter()
                    .find(|k| meta.contains_key(**k))
            {
                return Err(invalid(format!(
                    "{k} is in both the object metadata and the instruction file"
                )));
            }
            let mut all = meta.clone();
            all.extend(ins.iter().map(|(k, v)| (k.clone(), v.clone())));
            merged = all;
            &merged
        }
    };
    if locate(m)? == Location::InstructionFile {
        return Err(FormatError::NotEncrypted);
    }
    if m.contains_key(key::V1_KEY) {
        return Err(FormatError::Unsupported(
            "v1 (x-amz-key) envelopes come from client-side master keys, not KMS".into(),
        ));
    }
    if m.contains_key(key::V3_KEY) {
        return parse_v3(m);
    }
    if let Some(k) = V3_OBJECT_KEYS.iter().find(|k| m.contains_key(**k)) {
        // A V2 key beside V3 content keys would let a writer downgrade the content cipher.
        return Err(invalid(format!("v2 envelope with v3 key {k}")));
    }
    parse_v2(m)
}

fn parse_v3(m: &Metadata) -> Result<Envelope, FormatError> {
    let suite = get(m, key::V3_CONTENT_CIPHER)?;
    if suite != V3_SUITE {
        return Err(FormatError::Unsupported(format!(
            "content cipher {suite} (only {V3_SUITE}, AES-256-GCM with key commitment)"
        )));
    }
    let wrap = get(m, key::V3_WRAP_ALG)?;
    if wrap != V3_WRAP_KMS_CONTEXT {
        return Err(FormatError::Unsupported(format!(
            "key wrapping {wrap} (only {V3_WRAP_KMS_CONTEXT}, kms+context)"
        )));
    }
    if m.contains_key(key::V3_MATDESC) {
        return Err(invalid("x-amz-m (material description) with kms+context"));
    }
    let context = match m.get(key::V3_CONTEXT) {
        Some(t) => parse_context(key::V3_CONTEXT, t)?,
        None => Context::new(),
    };
    Ok(Envelope::V3 {
        encrypted_key: b64(m, key::V3_KEY)?,
        message_id: fixed(m, key::V3_MESSAGE_ID)?,
        commitment: fixed(m, key::V3_COMMITMENT)?,
        context,
    })
}

fn parse_v2(m: &Metadata) -> Result<Envelope, FormatError> {
    let wrap = match get(m, key::V2_WRAP_ALG)? {
        "kms+context" => Wrap::KmsContext,
        "kms" => Wrap::Kms,
        other => {
            return Err(FormatError::Unsupported(format!(
                "key wrapping {other} (only kms+context and kms)"
            )));
        }
    };
    let cipher = match get(m, key::V2_CEK_ALG)? {
        V2_CEK_ALG => V2Cipher::Gcm(fixed(m, key::V2_IV)?),
        CBC_CEK_ALG => V2Cipher::Cbc(fixed(m, key::V2_IV)?),
        other => return Err(FormatError::Unsupported(format!("content cipher {other}"))),
    };
    if let Some(t) = m.get(key::V2_TAG_LEN)
        && t != "128"
    {
        return Err(FormatError::Unsupported(format!("tag length {t} bits")));
    }
    let context = match m.get(key::V2_MATDESC) {
        Some(t) => parse_context(key::V2_MATDESC, t)?,
        None => Context::new(),
    };
    Ok(Envelope::V2 {
        encrypted_key: b64(m, key::V2_KEY)?,
        cipher,
        wrap,
        context,
    })
}

/// Parses an instruction file's body: a JSON object of strings.
pub fn parse_instruction_file(body: &[u8]) -> Result<Metadata, FormatError> {
    let m: Metadata = serde_json::from_slice(body).map_err(|e| {
        invalid(format!(
            "instruction file is not a JSON object of strings: {e}"
        ))
    })?;
    Ok(m.into_iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect())
}

/// The context sent to KMS for a new object: the user's, plus the content algorithm.
pub fn context_for_put(user: &Context, cek_alg: &str) -> Result<Context, FormatError> {
    if user.contains_key(CEK_ALG_CONTEXT_KEY) {
        return Err(invalid(format!(
            "{CEK_ALG_CONTEXT_KEY} is reserved; it is added to the encryption context automatically"
        )));
    }
    let mut c = user.clone();
    c.insert(CEK_ALG_CONTEXT_KEY.into(), cek_alg.into());
    Ok(c)
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ContextError {
    #[error("{0} is reserved and may not be given as encryption context")]
    Reserved(&'static str),
    #[error(
        "the encryption context given does not match the one the object was written with (expected keys: {expected})"
    )]
    Mismatch { expected: String },
    #[error("the stored encryption context names content algorithm {found:?}, not {expected:?}")]
    Algorithm { found: String, expected: String },
    #[error("an object with the legacy kms wrapping takes no encryption context")]
    LegacyWithContext,
}

/// Checks the caller's context against the stored one, as the official clients do: equal
/// once the reserved keys are set aside. The content algorithm recorded in a `kms+context`
/// envelope must be the one its metadata names, so that KMS's binding of the context also
/// binds the algorithm.
pub fn check_context(envelope: &Envelope, given: &Context) -> Result<(), ContextError> {
    for reserved in [CEK_ALG_CONTEXT_KEY, CMK_ID_CONTEXT_KEY] {
        if given.contains_key(reserved) {
            return Err(ContextError::Reserved(reserved));
        }
    }
    let (stored, expected_alg) = match envelope {
        Envelope::V3 { context, .. } => (context, V3_SUITE),
        Envelope::V2 {
            context,
            wrap: Wrap::KmsContext,
            cipher,
            ..
        } => (context, cipher.name()),
        Envelope::V2 {
            wrap: Wrap::Kms, ..
        } => {
            return if given.is_empty() {
                Ok(())
            } else {
                Err(ContextError::LegacyWithContext)
            };
        }
    };
    match stored.get(CEK_ALG_CONTEXT_KEY) {
        Some(a) if a == expected_alg => {}
        found => {
            return Err(ContextError::Algorithm {
                found: found.cloned().unwrap_or_default(),
                expected: expected_alg.into(),
            });
        }
    }
    let user_part: Context = stored
        .iter()
        .filter(|(k, _)| *k != CEK_ALG_CONTEXT_KEY && *k != CMK_ID_CONTEXT_KEY)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if &user_part != given {
        let expected = user_part.keys().cloned().collect::<Vec<_>>().join(", ");
        return Err(ContextError::Mismatch {
            expected: if expected.is_empty() {
                "none".into()
            } else {
                expected
            },
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md(pairs: &[(&str, &str)]) -> Metadata {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// Metadata as the official Python client 4.0.0 wrote it (the wire capture in the
    /// reference notes), with its `json.dumps` spacing.
    fn python_v3() -> Metadata {
        md(&[
            ("x-amz-3", "AQIDBA=="),
            ("x-amz-c", "115"),
            ("x-amz-d", "7jlechMutLz4eiSDBUklq+oq1gjgtLIiBhKhug=="),
            ("x-amz-i", "LaYe8SW3JF/4DCMDZJJF1ntqt3tAi8cqT3VPWQ=="),
            ("x-amz-t", r#"{"aws:x-amz-cek-alg": "115", "tenant": "t1"}"#),
            ("x-amz-w", "12"),
            ("unrelated", "kept out of the envelope"),
        ])
    }

    #[test]
    fn v3_from_the_python_client() {
        let e = parse(&python_v3(), None).unwrap();
        let Envelope::V3 {
            encrypted_key,
            message_id,
            commitment,
            context,
        } = &e
        else {
            panic!("{e:?}")
        };
        assert_eq!(encrypted_key, &[1, 2, 3, 4]);
        assert_eq!(message_id[..3], [0x2d, 0xa6, 0x1e]);
        assert_eq!(commitment[..3], [0xee, 0x39, 0x5e]);
        assert_eq!(context.get("tenant").map(String::as_str), Some("t1"));
        check_context(&e, &md(&[("tenant", "t1")])).unwrap();
        assert!(matches!(
            check_context(&e, &md(&[("tenant", "t2")])),
            Err(ContextError::Mismatch { .. })
        ));
        assert!(matches!(
            check_context(&e, &Context::new()),
            Err(ContextError::Mismatch { .. })
        ));
        assert_eq!(
            check_context(&e, &md(&[("tenant", "t1"), ("aws:x-amz-cek-alg", "115")])),
            Err(ContextError::Reserved(CEK_ALG_CONTEXT_KEY))
        );
    }

    #[test]
    fn v3_metadata_round_trips_byte_exact() {
        let e = parse(&python_v3(), None).unwrap();
        let m = e.to_metadata();
        assert_eq!(
            m,
            md(&[
                ("x-amz-3", "AQIDBA=="),
                ("x-amz-c", "115"),
                ("x-amz-d", "7jlechMutLz4eiSDBUklq+oq1gjgtLIiBhKhug=="),
                ("x-amz-i", "LaYe8SW3JF/4DCMDZJJF1ntqt3tAi8cqT3VPWQ=="),
                ("x-amz-t", r#"{"aws:x-amz-cek-alg":"115","tenant":"t1"}"#),
                ("x-amz-w", "12"),
            ])
        );
        assert_eq!(parse(&m, None).unwrap(), e);
    }

    #[test]
    fn v2_kms_context() {
        let m = md(&[
            ("x-amz-key-v2", "AQID"),
            ("x-amz-iv", "oKGio6Slpqeoqaqr"),
            ("x-amz-cek-alg", "AES/GCM/NoPadding"),
            ("x-amz-wrap-alg", "kms+context"),
            ("x-amz-tag-len", "128"),
            (
                "x-amz-matdesc",
                r#"{"aws:x-amz-cek-alg":"AES/GCM/NoPadding"}"#,
            ),
        ]);
        let e = parse(&m, None).unwrap();
        assert!(matches!(
            &e,
            Envelope::V2 { cipher: V2Cipher::Gcm(iv), wrap: Wrap::KmsContext, .. } if iv[0] == 0xa0
        ));
        check_context(&e, &Context::new()).unwrap();
        assert_eq!(e.to_metadata(), m);
        // A v2 envelope recorded under the v3 algorithm name is a downgrade attempt.
        let mut bad = m.clone();
        bad.insert(
            "x-amz-matdesc".into(),
            r#"{"aws:x-amz-cek-alg":"115"}"#.into(),
        );
        assert!(matches!(
            check_context(&parse(&bad, None).unwrap(), &Context::new()),
            Err(ContextError::Algorithm { .. })
        ));
    }

    #[test]
    fn refusals() {
        let mut cbc = md(&[
            ("x-amz-key-v2", "AQID"),
            ("x-amz-iv", "AAAAAAAAAAAAAAAAAAAAAA=="),
            ("x-amz-cek-alg", "AES/CBC/PKCS5Padding"),
            ("x-amz-wrap-alg", "kms"),
        ]);
        // Legacy CBC parses (reading it is gated in the reader); a 12-byte IV is not CBC's.
        assert!(matches!(
            parse(&cbc, None),
            Ok(Envelope::V2 {
                cipher: V2Cipher::Cbc(iv),
                wrap: Wrap::Kms,
                ..
            }) if iv == [0; 16]
        ));
        let mut short_iv = cbc.clone();
        short_iv.insert("x-amz-iv".into(), "oKGio6Slpqeoqaqr".into());
        assert!(matches!(
            parse(&short_iv, None),
            Err(FormatError::Invalid(_))
        ));
        let mut unknown = cbc.clone();
        unknown.insert("x-amz-cek-alg".into(), "AES/CTR/NoPadding".into());
        assert!(matches!(
            parse(&unknown, None),
            Err(FormatError::Unsupported(_))
        ));
        cbc.insert("x-amz-3".into(), "AQID".into());
        assert!(matches!(parse(&cbc, None), Err(FormatError::Invalid(_))));
        let mut downgrade = python_v3();
        downgrade.remove("x-amz-3");
        downgrade.insert("x-amz-key-v2".into(), "AQID".into());
        assert!(matches!(
            parse(&downgrade, None),
            Err(FormatError::Invalid(_))
        ));
        assert_eq!(
            parse(&md(&[("color", "blue")]), None),
            Err(FormatError::NotEncrypted)
        );
        let mut short = python_v3();
        short.insert("x-amz-i".into(), "AAAA".into());
        assert!(matches!(parse(&short, None), Err(FormatError::Invalid(_))));
        let legacy = md(&[
            ("x-amz-key", "AQID"),
            ("x-amz-iv", "AAAAAAAAAAAAAAAAAAAAAA=="),
            ("x-amz-matdesc", "{}"),
        ]);
        assert!(matches!(
            parse(&legacy, None),
            Err(FormatError::Unsupported(_))
        ));
    }

    #[test]
    fn v3_split_with_instruction_file() {
        let full = python_v3();
        let object: Metadata = full
            .iter()
            .filter(|(k, _)| V3_OBJECT_KEYS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        assert_eq!(locate(&object).unwrap(), Location::InstructionFile);
        let body = br#"{"x-amz-3":"AQIDBA==","x-amz-w":"12","x-amz-t":"{\"aws:x-amz-cek-alg\":\"115\",\"tenant\":\"t1\"}"}"#;
        let ins = parse_instruction_file(body).unwrap();
        let e = parse(&object, Some(&ins)).unwrap();
        assert_eq!(e, parse(&full, None).unwrap());
        // Content keys belong in the object; an instruction file may not override them.
        let mut bad = ins.clone();
        bad.insert("x-amz-d".into(), "AAAA".into());
        assert!(matches!(
            parse(&object, Some(&bad)),
            Err(FormatError::Invalid(_))
        ));
    }

    #[test]
    fn v2_in_instruction_file() {
        let body = br#"{"x-amz-key-v2":"AQID","x-amz-iv":"oKGio6Slpqeoqaqr","x-amz-cek-alg":"AES/GCM/NoPadding","x-amz-wrap-alg":"kms","x-amz-matdesc":"{\"kms_cmk_id\":\"alias/k\"}"}"#;
        let ins = parse_instruction_file(body).unwrap();
        let e = parse(&Metadata::new(), Some(&ins)).unwrap();
        assert!(matches!(
            e,
            Envelope::V2 {
                wrap: Wrap::Kms,
                ..
            }
        ));
        check_context(&e, &Context::new()).unwrap();
        assert_eq!(
            check_context(&e, &md(&[("a", "b")])),
            Err(ContextError::LegacyWithContext)
        );
        // The v2 content keys may not also sit in the object's metadata.
        let object = md(&[("x-amz-iv", "oKGio6Slpqeoqaqr")]);
        assert!(matches!(
            parse(&object, Some(&ins)),
            Err(FormatError::Invalid(_))
        ));
        assert!(parse_instruction_file(b"[1]").is_err());
    }

    #[test]
    fn put_context_adds_the_algorithm_and_reserves_its_key() {
        let c = context_for_put(&md(&[("tenant", "t1")]), V3_SUITE).unwrap();
        assert_eq!(
            context_json(&c),
            r#"{"aws:x-amz-cek-alg":"115","tenant":"t1"}"#
        );
        assert!(context_for_put(&md(&[("aws:x-amz-cek-alg", "x")]), V3_SUITE).is_err());
    }
}
