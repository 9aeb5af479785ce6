//! Tags as S3 has them on objects and buckets: S3's limits, its character set and the
//! `x-amz-tagging` header's URL-query form. Pure: the edge maps [`TagError`] to S3's codes.
//!
//! A tag set is kept in key order: S3 answers tags by key, whatever order they came in.

use std::collections::BTreeMap;

/// A tag set: unique keys, each with its value (possibly empty).
pub type TagSet = BTreeMap<String, String>;

/// What is tagged: the limits differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tagged {
    /// At most 10 tags.
    Object,
    /// At most 50 tags.
    Bucket,
}

impl Tagged {
    fn max_tags(self) -> usize {
        match self {
            Tagged::Object => 10,
            Tagged::Bucket => 50,
        }
    }
}

const MAX_KEY: usize = 128;
const MAX_VALUE: usize = 256;

/// A tag set S3 refuses. The messages are S3's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TagError {
    /// More than 10 tags on an object (S3 answers this one `BadRequest`).
    #[error("Object tags cannot be greater than 10")]
    TooManyObjectTags,
    #[error("Bucket tag count cannot be greater than 50")]
    TooManyBucketTags,
    #[error("The TagKey you have provided is too long, max 128")]
    KeyTooLong,
    #[error("The TagValue you have provided is too long, max 256")]
    ValueTooLong,
    #[error("The TagKey you have provided is invalid")]
    InvalidKey,
    #[error("The TagValue you have provided is invalid")]
    InvalidValue,
    #[error("Your TagKey cannot be prefixed with aws:")]
    ReservedPrefix,
    #[error("Cannot provide multiple Tags with the same key")]
    DuplicateKey,
    /// The `x-amz-tagging` header is not a URL query of unique names.
    #[error(
        "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates."
    )]
    Header,
}

/// S3 counts lengths in UTF-16 positions: a character outside the BMP takes two.
fn length(s: &str) -> usize {
    s.encode_utf16().count()
}

/// Unicode letters and numbers, spaces, and `_ . : / = + - @`.
fn allowed(s: &str) -> bool {
    s.chars().all(|c| {
        c.is_alphanumeric() || (c.is_whitespace() && !c.is_control()) || "_.:/=+-@".contains(c)
    })
}

/// Checks one tag: S3's length limits, its character set, and no `aws:` key.
fn check_tag(key: &str, value: &str) -> Result<(), TagError> {
    if key.is_empty() || !allowed(key) {
        return Err(TagError::InvalidKey);
    }
    if length(key) > MAX_KEY {
        return Err(TagError::KeyTooLong);
    }
    if length(value) > MAX_VALUE {
        return Err(TagError::ValueTooLong);
    }
    if !allowed(value) {
        return Err(TagError::InvalidValue);
    }
    if key.starts_with("aws:") {
        return Err(TagError::ReservedPrefix);
    }
    Ok(())
}

/// A tag set from the pairs a request brought, in any order, checked against S3's rules.
pub fn tag_set(
    pairs: impl IntoIterator<Item = (String, String)>,
    tagged: Tagged,
) -> Result<TagSet, TagError> {
    let mut set = TagSet::new();
    for (key, value) in pairs {
        check_tag(&key, &value)?;
        if set.insert(key, value).is_some() {
            return Err(TagError::DuplicateKey);
        }
    }
    if set.len() > tagged.max_tags() {
        return Err(match tagged {
            Tagged::Object => TagError::TooManyObjectTags,
            Tagged::Bucket => TagError::TooManyBucketTags,
        });
    }
    Ok(set)
}

/// The object tags of an `x-amz-tagging` header: `k1=v1&k2=v2`, form-encoded (`+` is a
/// space), a name without `=` holding the empty value.
pub fn parse_header(header: &str) -> Result<TagSet, TagError> {
    let mut pairs = Vec::new();
    let mut names = std::collections::HashSet::new();
    for raw in header.split('&').filter(|p| !p.is_empty()) {
        // A second '=' means the value was not URL-encoded (S3 refuses it as the header's).
        if raw.matches('=').count() > 1 {
            return Err(TagError::Header);
        }
        let Some((key, value)) = form_urlencoded::parse(raw.as_bytes()).next() else {
            continue;
        };
        if !names.insert(key.clone()) {
            return Err(TagError::Header);
        }
        pairs.push((key.into_owned(), value.into_owned()));
    }
    tag_set(pairs, Tagged::Object)
}

/// The `x-amz-tagging` header that carries `tags`.
pub fn to_header(tags: &TagSet) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(tags)
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(n: usize) -> Vec<(String, String)> {
        (0..n).map(|i| (format!("k{i}"), format!("v{i}"))).collect()
    }

    #[test]
    fn limits_are_s3s() {
        assert_eq!(tag_set(pairs(10), Tagged::Object).unwrap().len(), 10);
        assert_eq!(
            tag_set(pairs(11), Tagged::Object),
            Err(TagError::TooManyObjectTags)
        );
        assert_eq!(tag_set(pairs(50), Tagged::Bucket).unwrap().len(), 50);
        assert_eq!(
            tag_set(pairs(51), Tagged::Bucket),
            Err(TagError::TooManyBucketTags)
        );
        let one = |k: String, v: String| tag_set([(k, v)], Tagged::Object);
        assert!(one("k".repeat(128), "v".repeat(256)).is_ok());
        assert_eq!(
            one("k".repeat(129), String::new()),
            Err(TagError::KeyTooLong)
        );
        assert_eq!(
            one("k".into(), "v".repeat(257)),
            Err(TagError::ValueTooLong)
        );
        // Counted as S3 counts them (UTF-16): é is one position, 𝐀 (U+1D400) two.
        assert!(one("é".repeat(128), String::new()).is_ok());
        assert!(one("𝐀".repeat(64), String::new()).is_ok());
        assert_eq!(
            one("𝐀".repeat(65), String::new()),
            Err(TagError::KeyTooLong)
        );
        assert_eq!(one(String::new(), "v".into()), Err(TagError::InvalidKey));
        assert_eq!(one("a{b".into(), "v".into()), Err(TagError::InvalidKey));
        assert_eq!(one("k".into(), "v\n".into()), Err(TagError::InvalidValue));
        assert_eq!(
            one("aws:owner".into(), "v".into()),
            Err(TagError::ReservedPrefix)
        );
        assert!(one("Projekt Ä-1_x.y:z/w=+@".into(), "Wert 42".into()).is_ok());
        assert_eq!(
            tag_set(
                [("a".into(), "1".into()), ("a".into(), "2".into())],
                Tagged::Object
            ),
            Err(TagError::DuplicateKey)
        );
    }

    #[test]
    fn the_header_is_a_url_query() {
        let tags = parse_header("project=blue%20sky&team=a+b&empty&k%3Dx=1").unwrap();
        let expected: TagSet = [
            ("empty", ""),
            ("k=x", "1"),
            ("project", "blue sky"),
            ("team", "a b"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert_eq!(tags, expected);
        assert_eq!(parse_header(&to_header(&tags)).unwrap(), tags);
        assert!(parse_header("").unwrap().is_empty());
        assert_eq!(parse_header("a=1&a=2"), Err(TagError::Header));
        assert_eq!(
            parse_header("TagSet=[{Key=string,Value=string}]"),
            Err(TagError::Header)
        );
        assert_eq!(
            parse_header("TagSet%3D%5B%7BKey%3Dstring%7D%5D"),
            Err(TagError::InvalidKey)
        );
        let eleven: Vec<String> = (0..11).map(|i| format!("k{i}=v")).collect();
        assert_eq!(
            parse_header(&eleven.join("&")),
            Err(TagError::TooManyObjectTags)
        );
    }
}
