//! Object and bucket tagging: Put/Get/DeleteObjectTagging (on a version with `versionId`),
//! Put/Get/DeleteBucketTagging, and the `x-amz-tagging` header of writes. Object tags rest
//! sealed in the version's metadata; bucket tags are a bucket setting.

use s3s::dto::*;
use s3s::{S3Error, S3Request, S3Response, S3Result, s3_error};

use super::SealgateS3;
use super::request::reported_version;
use crate::bucket_settings::BucketTagging;
use crate::catalog::{CatalogError, MetaChange, ObjectVersion};
use crate::objects::ObjectError;
use crate::tagging::{self, TagSet, Tagged};

/// The tags of a `<Tagging>` document: every tag needs a key and a value.
pub(super) fn from_dto(tagging: &Tagging, tagged: Tagged) -> S3Result<TagSet> {
    let pairs = tagging
        .tag_set
        .iter()
        .map(|t| match (&t.key, &t.value) {
            (Some(k), Some(v)) => Ok((k.clone(), v.clone())),
            _ => Err(super::errors::malformed_xml()),
        })
        .collect::<S3Result<Vec<_>>>()?;
    Ok(tagging::tag_set(pairs, tagged)?)
}

fn to_dto(tags: &TagSet) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag {
            key: Some(k.clone()),
            value: Some(v.clone()),
        })
        .collect()
}

/// The tags of a write's `x-amz-tagging` header (none without one).
pub(super) fn header_tags(header: Option<&str>) -> S3Result<TagSet> {
    Ok(header
        .map(tagging::parse_header)
        .transpose()?
        .unwrap_or_default())
}

/// The tags a copy writes: the source's (`COPY`, the default) or the header's (`REPLACE`).
pub(super) fn copy_tags(
    directive: Option<&TaggingDirective>,
    header: Option<&str>,
    source: &TagSet,
) -> S3Result<TagSet> {
    match directive.map(TaggingDirective::as_str) {
        None | Some(TaggingDirective::COPY) => Ok(source.clone()),
        Some(TaggingDirective::REPLACE) => header_tags(header),
        Some(_) => Err(s3_error!(InvalidArgument, "Unknown tagging directive.")),
    }
}

/// `x-amz-tagging-count` of a GET or HEAD: present when the version has tags.
pub(super) fn tag_count(v: &ObjectVersion) -> Option<i32> {
    (!v.meta.tags.is_empty()).then(|| i32::try_from(v.meta.tags.len()).unwrap_or(i32::MAX))
}

impl SealgateS3 {
    /// Replaces the tags of the latest or named version (404/405 for a delete marker, as
    /// S3 answers reads), and answers its version id.
    async fn retag(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        tags: TagSet,
    ) -> S3Result<Option<String>> {
        let v = self.live_version(bucket, key, version_id).await?;
        self.svc
            .set_meta(&v, MetaChange::Tags(tags))
            .await
            .map_err(|e| match e {
                // Deleted since it was found.
                ObjectError::Catalog(CatalogError::NoSuchKey) if version_id.is_some() => {
                    CatalogError::NoSuchVersion.into()
                }
                e => S3Error::from(e),
            })?;
        Ok(reported_version(&v.version_id))
    }

    pub(super) async fn put_object_tagging_op(
        &self,
        req: S3Request<PutObjectTaggingInput>,
    ) -> S3Result<S3Response<PutObjectTaggingOutput>> {
        let i = req.input;
        let tags = from_dto(&i.tagging, Tagged::Object)?;
        let version_id = self
            .retag(&i.bucket, &i.key, i.version_id.as_deref(), tags)
            .await?;
        Ok(S3Response::new(PutObjectTaggingOutput { version_id }))
    }

    pub(super) async fn get_object_tagging_op(
        &self,
        req: S3Request<GetObjectTaggingInput>,
    ) -> S3Result<S3Response<GetObjectTaggingOutput>> {
        let i = req.input;
        let v = self
            .live_version(&i.bucket, &i.key, i.version_id.as_deref())
            .await?;
        Ok(S3Response::new(GetObjectTaggingOutput {
            tag_set: to_dto(&v.meta.tags),
            version_id: reported_version(&v.version_id),
        }))
    }

    pub(super) async fn delete_object_tagging_op(
        &self,
        req: S3Request<DeleteObjectTaggingInput>,
    ) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
        let i = req.input;
        let version_id = self
            .retag(&i.bucket, &i.key, i.version_id.as_deref(), TagSet::new())
            .await?;
        Ok(S3Response::new(DeleteObjectTaggingOutput { version_id }))
    }

    /// Replaces the bucket's tags; an empty set leaves it without any.
    pub(super) async fn put_bucket_tagging_op(
        &self,
        req: S3Request<PutBucketTaggingInput>,
    ) -> S3Result<S3Response<PutBucketTaggingOutput>> {
        let i = req.input;
        let tags = from_dto(&i.tagging, Tagged::Bucket)?;
        let record = (!tags.is_empty()).then_some(BucketTagging { tags });
        self.svc
            .set_bucket_setting(&i.bucket, record.as_ref())
            .await?;
        Ok(S3Response::new(PutBucketTaggingOutput::default()))
    }

    pub(super) async fn get_bucket_tagging_op(
        &self,
        req: S3Request<GetBucketTaggingInput>,
    ) -> S3Result<S3Response<GetBucketTaggingOutput>> {
        let bucket = self.svc.bucket(&req.input.bucket).await?;
        let tagging = bucket
            .tagging()?
            .ok_or_else(|| s3_error!(NoSuchTagSet, "The TagSet does not exist"))?;
        Ok(S3Response::new(GetBucketTaggingOutput {
            tag_set: to_dto(&tagging.tags),
        }))
    }

    pub(super) async fn delete_bucket_tagging_op(
        &self,
        req: S3Request<DeleteBucketTaggingInput>,
    ) -> S3Result<S3Response<DeleteBucketTaggingOutput>> {
        self.svc
            .set_bucket_setting::<BucketTagging>(&req.input.bucket, None)
            .await?;
        Ok(S3Response::new(DeleteBucketTaggingOutput::default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_without_key_or_value_is_malformed() {
        let doc = |key: Option<&str>, value: Option<&str>| Tagging {
            tag_set: vec![Tag {
                key: key.map(str::to_owned),
                value: value.map(str::to_owned),
            }],
        };
        assert!(from_dto(&doc(Some("k"), Some("")), Tagged::Object).is_ok());
        for bad in [doc(None, Some("v")), doc(Some("k"), None)] {
            let e = from_dto(&bad, Tagged::Object).unwrap_err();
            assert_eq!(e.code().as_str(), "MalformedXML");
        }
    }

    #[test]
    fn a_copy_keeps_or_replaces_tags_by_its_directive() {
        let source: TagSet = [("a".to_owned(), "1".to_owned())].into();
        let d = |s: &str| TaggingDirective::from(s.to_owned());
        assert_eq!(copy_tags(None, Some("b=2"), &source).unwrap(), source);
        assert_eq!(
            copy_tags(Some(&d("COPY")), Some("b=2"), &source).unwrap(),
            source
        );
        let replaced = copy_tags(Some(&d("REPLACE")), Some("b=2"), &source).unwrap();
        assert_eq!(replaced, [("b".to_owned(), "2".to_owned())].into());
        assert!(
            copy_tags(Some(&d("REPLACE")), None, &source)
                .unwrap()
                .is_empty()
        );
        let e = copy_tags(Some(&d("MERGE")), None, &source).unwrap_err();
        assert_eq!(e.code().as_str(), "InvalidArgument");
        assert_eq!(e.status_code(), Some(http::StatusCode::BAD_REQUEST));
    }

    #[test]
    fn too_many_object_tags_is_s3s_bad_request() {
        let e = S3Error::from(crate::tagging::TagError::TooManyObjectTags);
        assert_eq!(e.code().as_str(), "BadRequest");
        assert_eq!(e.status_code(), Some(http::StatusCode::BAD_REQUEST));
        let e = S3Error::from(crate::tagging::TagError::DuplicateKey);
        assert_eq!(e.code().as_str(), "InvalidTag");
    }
}
