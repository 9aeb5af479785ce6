//! ListObjects (v1, v2) and ListObjectVersions: prefix, delimiter, pagination.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use super::SealgateS3;
use super::request::{etag, reported_version, timestamp, url_encode};
use crate::catalog::{KeyStart, ObjectVersion, common_prefix, prefix_end};

const MAX_KEYS: i32 = 1000;
const BATCH: usize = 1000;

/// One page of a listing: entries and common prefixes in key order.
pub(super) struct Page<T> {
    pub entries: Vec<T>,
    pub prefixes: Vec<String>,
    pub truncated: bool,
    /// The last key or common prefix returned: where the next page resumes.
    pub last: Option<String>,
}

impl<T> Page<T> {
    /// The page's common prefixes as S3 lists them, each through `enc`.
    pub(super) fn common_prefixes(
        &self,
        enc: impl Fn(&str) -> String,
    ) -> Option<Vec<CommonPrefix>> {
        Some(
            self.prefixes
                .iter()
                .map(|p| CommonPrefix {
                    prefix: Some(enc(p)),
                })
                .collect(),
        )
    }
}

fn max_keys(n: Option<i32>) -> S3Result<usize> {
    match n {
        None => Ok(MAX_KEYS as usize),
        Some(n) if n < 0 => Err(s3_error!(InvalidArgument, "max-keys must not be negative")),
        Some(n) => Ok(n.min(MAX_KEYS) as usize),
    }
}

/// Where the next batch of a listing starts.
pub(super) enum Resume<T> {
    /// At the request's markers.
    Markers,
    /// After the last row read (inside its key, for versions and uploads).
    After(T),
    /// At this key: past every key under a common prefix already listed.
    From(String),
}

impl<T> Resume<T> {
    /// The catalog start of a key-only listing (no version or upload id inside a key).
    pub(super) fn key_start(self, marker: &str, key_of: fn(&T) -> &str) -> KeyStart {
        match self {
            Resume::Markers => KeyStart::After(marker.to_owned()),
            Resume::After(row) => KeyStart::After(key_of(&row).to_owned()),
            Resume::From(key) => KeyStart::AtOrAfter(key),
        }
    }
}

/// Groups rows (after the marker, in key order) into a page, asking for at most one row
/// beyond it. `fetch(resume, n)` returns up to `n` rows from `resume`, fewer only at the end
/// of the listing; a batch may end anywhere, even between two versions of one key. The
/// catalog gives one row per common prefix (see
/// [`crate::catalog::store::VersionStore::list_latest`]), and a page that continues after a
/// common prefix starts past it.
pub(super) async fn paginate<T: Clone, F, Fut>(
    prefix: &str,
    delimiter: &str,
    marker: &str,
    limit: usize,
    key_of: fn(&T) -> &str,
    mut fetch: F,
) -> S3Result<Page<T>>
where
    F: FnMut(Resume<T>, usize) -> Fut,
    Fut: std::future::Future<Output = S3Result<Vec<T>>>,
{
    let mut page = Page {
        entries: Vec::new(),
        prefixes: Vec::new(),
        truncated: false,
        last: None,
    };
    if limit == 0 {
        return Ok(page);
    }
    let past = |cp: &str| prefix_end(cp).map(Resume::From);
    let mut resume = Resume::Markers;
    // A marker that is itself a common prefix resumes after everything under it.
    if !delimiter.is_empty()
        && marker.len() > prefix.len()
        && marker.ends_with(delimiter)
        && marker.starts_with(prefix)
    {
        match past(marker) {
            Some(r) => resume = r,
            None => return Ok(page),
        }
    }
    loop {
        // Up to one row beyond the page: enough to tell whether the page is truncated.
        let want = (limit + 1 - page.entries.len() - page.prefixes.len()).min(BATCH);
        let rows = fetch(resume, want).await?;
        let exhausted = rows.len() < want;
        // The next batch starts past the last row's common prefix, or after the row.
        let next = match rows.last() {
            None => return Ok(page),
            Some(last) => match common_prefix(key_of(last), prefix, delimiter) {
                Some(cp) => prefix_end(cp).map(Resume::From),
                None => Some(Resume::After(last.clone())),
            },
        };
        for row in rows {
            let key = key_of(&row);
            if let Some(cp) = common_prefix(key, prefix, delimiter) {
                if page.prefixes.last().map(String::as_str) == Some(cp) {
                    continue;
                }
                if page.entries.len() + page.prefixes.len() == limit {
                    page.truncated = true;
                    return Ok(page);
                }
                page.last = Some(cp.to_owned());
                page.prefixes.push(cp.to_owned());
                continue;
            }
            if page.entries.len() + page.prefixes.len() == limit {
                page.truncated = true;
                return Ok(page);
            }
            page.last = Some(key.to_owned());
            page.entries.push(row);
        }
        match next {
            Some(r) if !exhausted => resume = r,
            _ => return Ok(page),
        }
    }
}

fn object_entry(v: &ObjectVersion, encode: bool, owner: Option<Owner>) -> Object {
    Object {
        key: Some(if encode {
            url_encode(&v.key)
        } else {
            v.key.clone()
        }),
        last_modified: Some(timestamp(v.last_modified_ms)),
        e_tag: Some(etag(&v.etag)),
        size: Some(v.size as i64),
        storage_class: Some(ObjectStorageClass::from_static(
            ObjectStorageClass::STANDARD,
        )),
        owner,
        ..Default::default()
    }
}

fn encoder(encoding_type: Option<&EncodingType>) -> S3Result<impl Fn(&str) -> String> {
    let encode = match encoding_type.map(EncodingType::as_str) {
        None => false,
        Some("url") => true,
        Some(other) => {
            return Err(s3_error!(
                InvalidArgument,
                "Invalid Encoding Method specified in Request: {other}"
            ));
        }
    };
    Ok(move |s: &str| if encode { url_encode(s) } else { s.to_owned() })
}

impl SealgateS3 {
    async fn list_page(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: &str,
        marker: &str,
        limit: usize,
    ) -> S3Result<Page<ObjectVersion>> {
        let svc = self.svc.clone();
        paginate(
            prefix,
            delimiter,
            marker,
            limit,
            |v: &ObjectVersion| v.key.as_str(),
            |resume: Resume<ObjectVersion>, n| {
                let svc = svc.clone();
                let (bucket, prefix, delimiter) =
                    (bucket.to_owned(), prefix.to_owned(), delimiter.to_owned());
                let start = resume.key_start(marker, |v| v.key.as_str());
                async move {
                    Ok(svc
                        .list_latest(&bucket, &prefix, &delimiter, &start, n)
                        .await?)
                }
            },
        )
        .await
    }

    pub(super) async fn list_objects_op(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        let input = req.input;
        let enc = encoder(input.encoding_type.as_ref())?;
        let encoding_type = input.encoding_type.clone();
        let (prefix, delimiter) = (
            input.prefix.unwrap_or_default(),
            input.delimiter.unwrap_or_default(),
        );
        let marker = input.marker.unwrap_or_default();
        let limit = max_keys(input.max_keys)?;
        let page = self
            .list_page(&input.bucket, &prefix, &delimiter, &marker, limit)
            .await?;
        let encode = input.encoding_type.is_some();
        let output = ListObjectsOutput {
            name: Some(input.bucket),
            prefix: Some(enc(&prefix)),
            delimiter: (!delimiter.is_empty()).then(|| enc(&delimiter)),
            marker: Some(enc(&marker)),
            max_keys: Some(limit as i32),
            is_truncated: Some(page.truncated),
            // S3 gives NextMarker only with a delimiter; clients use the last key otherwise.
            next_marker: (page.truncated && !delimiter.is_empty())
                .then(|| page.last.as_deref().map(&enc))
                .flatten(),
            contents: Some(
                page.entries
                    .iter()
                    .map(|v| object_entry(v, encode, Some(self.version_owner(&req.extensions, v))))
                    .collect(),
            ),
            common_prefixes: page.common_prefixes(&enc),
            encoding_type,
            ..Default::default()
        };
        Ok(S3Response::new(output))
    }

    pub(super) async fn list_objects_v2_op(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let input = req.input;
        let enc = encoder(input.encoding_type.as_ref())?;
        let encoding_type = input.encoding_type.clone();
        let (prefix, delimiter) = (
            input.prefix.unwrap_or_default(),
            input.delimiter.unwrap_or_default(),
        );
        let start_after = input.start_after.clone().unwrap_or_default();
        let marker = match &input.continuation_token {
            Some(token) => URL_SAFE_NO_PAD
                .decode(token)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| {
                    s3_error!(
                        InvalidArgument,
                        "The continuation token provided is incorrect"
                    )
                })?,
            None => start_after.clone(),
        };
        let limit = max_keys(input.max_keys)?;
        let page = self
            .list_page(&input.bucket, &prefix, &delimiter, &marker, limit)
            .await?;
        let encode = input.encoding_type.is_some();
        let fetch_owner = input.fetch_owner.unwrap_or(false);
        let output = ListObjectsV2Output {
            name: Some(input.bucket),
            prefix: Some(enc(&prefix)),
            delimiter: (!delimiter.is_empty()).then(|| enc(&delimiter)),
            max_keys: Some(limit as i32),
            key_count: Some((page.entries.len() + page.prefixes.len()) as i32),
            is_truncated: Some(page.truncated),
            continuation_token: input.continuation_token,
            next_continuation_token: page
                .truncated
                .then(|| page.last.as_ref().map(|l| URL_SAFE_NO_PAD.encode(l)))
                .flatten(),
            start_after: input.start_after.as_deref().map(&enc),
            contents: Some(
                page.entries
                    .iter()
                    .map(|v| {
                        let owner = fetch_owner.then(|| self.version_owner(&req.extensions, v));
                        object_entry(v, encode, owner)
                    })
                    .collect(),
            ),
            common_prefixes: page.common_prefixes(&enc),
            encoding_type,
            ..Default::default()
        };
        Ok(S3Response::new(output))
    }

    pub(super) async fn list_object_versions_op(
        &self,
        req: S3Request<ListObjectVersionsInput>,
    ) -> S3Result<S3Response<ListObjectVersionsOutput>> {
        let input = req.input;
        let enc = encoder(input.encoding_type.as_ref())?;
        let encoding_type = input.encoding_type.clone();
        let (prefix, delimiter) = (
            input.prefix.unwrap_or_default(),
            input.delimiter.unwrap_or_default(),
        );
        let key_marker = input.key_marker.clone().unwrap_or_default();
        let version_marker = input.version_id_marker.clone().filter(|v| !v.is_empty());
        let limit = max_keys(input.max_keys)?;
        self.svc.bucket(&input.bucket).await?;

        // Versions of one key stay together; the (key, version) marker resumes inside a key.
        let svc = self.svc.clone();
        let page = paginate(
            &prefix,
            &delimiter,
            &key_marker,
            limit,
            |v: &ObjectVersion| v.key.as_str(),
            |resume: Resume<ObjectVersion>, n| {
                let svc = svc.clone();
                let (bucket, prefix, delimiter) =
                    (input.bucket.clone(), prefix.clone(), delimiter.clone());
                // Resume inside a key: after the last version seen, or the request's markers.
                let (start, version_after) = match resume {
                    Resume::Markers => {
                        (KeyStart::After(key_marker.clone()), version_marker.clone())
                    }
                    Resume::After(v) => (KeyStart::After(v.key), Some(v.version_id)),
                    Resume::From(key) => (KeyStart::AtOrAfter(key), None),
                };
                async move {
                    Ok(svc
                        .list_versions(
                            &bucket,
                            &prefix,
                            &delimiter,
                            &start,
                            version_after.as_deref(),
                            n,
                        )
                        .await?)
                }
            },
        )
        .await?;

        let (mut versions, mut markers) = (Vec::new(), Vec::new());
        for v in &page.entries {
            let key = Some(enc(&v.key));
            if v.delete_marker {
                markers.push(DeleteMarkerEntry {
                    key,
                    version_id: Some(v.version_id.clone()),
                    is_latest: Some(v.is_latest),
                    last_modified: Some(timestamp(v.last_modified_ms)),
                    owner: Some(self.bucket_owner(&req.extensions)),
                });
            } else {
                versions.push(s3s::dto::ObjectVersion {
                    key,
                    version_id: Some(v.version_id.clone()),
                    is_latest: Some(v.is_latest),
                    last_modified: Some(timestamp(v.last_modified_ms)),
                    e_tag: Some(etag(&v.etag)),
                    size: Some(v.size as i64),
                    storage_class: Some(ObjectVersionStorageClass::from_static(
                        ObjectVersionStorageClass::STANDARD,
                    )),
                    owner: Some(self.version_owner(&req.extensions, v)),
                    ..Default::default()
                });
            }
        }
        let last_entry = page.entries.last();
        let last_is_entry =
            last_entry.is_some_and(|v| page.last.as_deref() == Some(v.key.as_str()));
        let output = ListObjectVersionsOutput {
            name: Some(input.bucket),
            prefix: Some(enc(&prefix)),
            delimiter: (!delimiter.is_empty()).then(|| enc(&delimiter)),
            key_marker: Some(enc(&key_marker)),
            version_id_marker: input.version_id_marker,
            max_keys: Some(limit as i32),
            is_truncated: Some(page.truncated),
            next_key_marker: page
                .truncated
                .then(|| page.last.as_deref().map(&enc))
                .flatten(),
            next_version_id_marker: (page.truncated && last_is_entry)
                .then(|| {
                    last_entry
                        .map(|v| reported_version(&v.version_id).unwrap_or_else(|| "null".into()))
                })
                .flatten(),
            versions: Some(versions),
            delete_markers: Some(markers),
            common_prefixes: page.common_prefixes(&enc),
            encoding_type,
            ..Default::default()
        };
        Ok(S3Response::new(output))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn page(
        keys: &[&str],
        prefix: &str,
        delimiter: &str,
        marker: &str,
        limit: usize,
    ) -> Page<String> {
        let all: Vec<String> = keys.iter().map(|s| s.to_string()).collect();
        paginate(
            prefix,
            delimiter,
            marker,
            limit,
            |s: &String| s.as_str(),
            |resume: Resume<String>, n| {
                let rows: Vec<String> = match resume.key_start(marker, |s| s.as_str()) {
                    KeyStart::After(k) => all.iter().filter(|s| **s > k).cloned().collect(),
                    KeyStart::AtOrAfter(k) => all.iter().filter(|s| **s >= k).cloned().collect(),
                };
                let rows = rows
                    .into_iter()
                    .filter(|k| k.starts_with(prefix))
                    .take(n)
                    .collect();
                async move { Ok(rows) }
            },
        )
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn delimiter_groups_and_pages_resume_after_prefixes() {
        let keys = ["a/1", "a/2", "b", "c/x/1", "c/y", "d"];
        let p = page(&keys, "", "/", "", 2).await;
        assert_eq!(p.prefixes, vec!["a/"]);
        assert_eq!(p.entries, vec!["b"]);
        assert!(p.truncated);
        let p2 = page(&keys, "", "/", p.last.as_deref().unwrap(), 2).await;
        assert_eq!(p2.prefixes, vec!["c/"]);
        assert_eq!(p2.entries, vec!["d"]);
        assert!(!p2.truncated);
        let p3 = page(&keys, "c/", "/", "", 10).await;
        assert_eq!(p3.prefixes, vec!["c/x/"]);
        assert_eq!(p3.entries, vec!["c/y"]);
        let p4 = page(&keys, "a/", "/", "a/", 10).await;
        assert_eq!(
            p4.entries,
            vec!["a/1", "a/2"],
            "a marker equal to the prefix is not a rolled-up prefix"
        );
        assert!(page(&keys, "", "", "", 0).await.entries.is_empty());
    }
}
