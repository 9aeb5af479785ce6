//! The members KMS requests and answers are made of, and the checks AWS makes on them.
//!
//! Requests are typed (`shapes`): a member of the wrong JSON type fails deserialization
//! (SerializationException, at the edge). What is left to each operation are the checks AWS
//! answers with ValidationException (a missing required member, a length, a range), made
//! with the helpers here in the order the operation always made them.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use zeroize::Zeroizing;

use super::errors::{KmsError, KmsResult};

/// Binary data, base64 on the wire in both directions. Zeroized when dropped: it may be a
/// plaintext or a data key.
#[derive(Default, Clone, PartialEq, Eq)]
pub(super) struct Blob(Zeroizing<Vec<u8>>);

impl Blob {
    pub(super) fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl From<Vec<u8>> for Blob {
    fn from(bytes: Vec<u8>) -> Blob {
        Blob(Zeroizing::new(bytes))
    }
}

impl From<Zeroizing<Vec<u8>>> for Blob {
    fn from(bytes: Zeroizing<Vec<u8>>) -> Blob {
        Blob(bytes)
    }
}

impl fmt::Debug for Blob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Blob({} bytes)", self.0.len())
    }
}

impl Serialize for Blob {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&base64::display::Base64Display::new(&self.0, &BASE64))
    }
}

impl<'de> Deserialize<'de> for Blob {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Blob, D::Error> {
        struct Base64;
        impl Visitor<'_> for Base64 {
            type Value = Blob;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a base64-encoded string")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Blob, E> {
                BASE64
                    .decode(s)
                    .map(Blob::from)
                    .map_err(|_| E::custom("not valid base64"))
            }
        }
        d.deserialize_str(Base64)
    }
}

/// A JSON object, and nothing else: serde's derived structs would also take an array of
/// their members in order, which AWS never accepts.
#[derive(Debug, Clone, Default)]
pub(super) struct Object<T>(pub T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Object<T>, D::Error> {
        struct Members<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for Members<T> {
            type Value = T;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map))
            }
        }
        d.deserialize_map(Members(PhantomData)).map(Object)
    }
}

/// A string map: EncryptionContext and grant constraints.
pub(super) type StringMap = BTreeMap<String, String>;

/// `{TagKey, TagValue}`; a tag without both is a TagException, not a type error.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct Tag {
    pub tag_key: Option<String>,
    pub tag_value: Option<String>,
}

/// A tag as answered by ListResourceTags.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct TagOut {
    pub tag_key: String,
    pub tag_value: String,
}

/// AWS names members in messages with a lower-case first letter.
fn member(name: &str) -> String {
    let mut c = name.chars();
    c.next()
        .map(|f| f.to_lowercase().chain(c).collect())
        .unwrap_or_default()
}

pub(super) fn must_not_be_null(name: &str) -> KmsError {
    KmsError::validation(format!(
        "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
        member(name)
    ))
}

pub(super) fn length_error(name: &str, min: usize, max: usize) -> KmsError {
    KmsError::validation(format!(
        "1 validation error detected: Value at '{}' failed to satisfy constraint: Member must have length between {min} and {max}",
        member(name)
    ))
}

fn range_error(name: &str, value: i64, min: i64, max: i64) -> KmsError {
    KmsError::validation(format!(
        "1 validation error detected: Value '{value}' at '{}' failed to satisfy constraint: Member must have value between {min} and {max}",
        member(name)
    ))
}

/// A required member: absent or null is AWS's "must not be null".
pub(super) fn required<'a, T>(value: &'a Option<T>, name: &str) -> KmsResult<&'a T> {
    value.as_ref().ok_or_else(|| must_not_be_null(name))
}

/// A required string of bounded length (KeyId: 1..2048 and so on).
pub(super) fn required_len<'a>(
    value: &'a Option<String>,
    name: &str,
    min: usize,
    max: usize,
) -> KmsResult<&'a str> {
    let s = required(value, name)?;
    if s.len() < min || s.len() > max {
        return Err(length_error(name, min, max));
    }
    Ok(s)
}

pub(super) fn key_id(value: &Option<String>) -> KmsResult<&str> {
    required_len(value, "KeyId", 1, 2048)
}

/// An optional integer within AWS's range for it.
pub(super) fn in_range(
    value: Option<i64>,
    name: &str,
    min: i64,
    max: i64,
) -> KmsResult<Option<i64>> {
    match value {
        Some(v) if v < min || v > max => Err(range_error(name, v, min, max)),
        v => Ok(v),
    }
}

/// An optional blob of 1..=max bytes.
pub(super) fn blob_len<'a>(
    value: &'a Option<Blob>,
    name: &str,
    max: usize,
) -> KmsResult<Option<&'a [u8]>> {
    match value {
        None => Ok(None),
        Some(b) if b.0.is_empty() || b.0.len() > max => Err(length_error(name, 1, max)),
        Some(b) => Ok(Some(b.as_bytes())),
    }
}

pub(super) fn required_blob<'a>(
    value: &'a Option<Blob>,
    name: &str,
    max: usize,
) -> KmsResult<&'a [u8]> {
    blob_len(value, name, max)?.ok_or_else(|| must_not_be_null(name))
}

/// `Tags: [{TagKey, TagValue}]` as (key, value) pairs.
pub(super) fn tags(value: &Option<Vec<Object<Tag>>>) -> KmsResult<Option<Vec<(String, String)>>> {
    let Some(items) = value else {
        return Ok(None);
    };
    items
        .iter()
        .map(|Object(t)| match (&t.tag_key, &t.tag_value) {
            (Some(k), Some(v)) => Ok((k.clone(), v.clone())),
            _ => Err(KmsError::tag("Each tag needs a TagKey and a TagValue")),
        })
        .collect::<KmsResult<Vec<_>>>()
        .map(Some)
}

/// `Limit` and `Marker` of List operations: (limit, start index).
pub(super) fn page(
    limit: Option<i64>,
    marker: Option<&str>,
    default: i64,
    max: i64,
) -> KmsResult<(usize, usize)> {
    let limit = in_range(limit, "Limit", 1, max)?.unwrap_or(default) as usize;
    let start = match marker {
        None => 0,
        Some(m) => m
            .parse::<usize>()
            .map_err(|_| KmsError::invalid_marker("Invalid marker"))?,
    };
    Ok((limit, start))
}

/// AWS's `Truncated` and `NextMarker` of a List answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct PageOut {
    pub truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
}

/// One page of a list.
pub(super) fn paginate<T>(items: Vec<T>, limit: usize, start: usize) -> (Vec<T>, PageOut) {
    let total = items.len();
    let page: Vec<T> = items.into_iter().skip(start).take(limit).collect();
    let next = start + page.len();
    let next_marker = (next < total).then(|| next.to_string());
    (
        page,
        PageOut {
            truncated: next_marker.is_some(),
            next_marker,
        },
    )
}
