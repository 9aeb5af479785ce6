//! Buckets and their typed settings, as the edges and services use them: every change to
//! a bucket goes through here, and the rules between settings (replication and Object Lock
//! need versioning Enabled, which cannot then be suspended) are kept by the catalog in the
//! transaction that makes the change.

use super::{ObjectService, Result};
use crate::bucket_settings::{self, BucketAccessControl, ObjectLockConfig, PublicAccessBlock};
use crate::catalog::{Bucket, BucketEntry, BucketSetting, Versioning};

impl ObjectService {
    /// Creates a bucket owned by `owner_account`, with every public access blocked as S3
    /// creates buckets (its owner may lift that afterwards); with `object_lock`, Object
    /// Lock is enabled from the start (and with it versioning, for good). `access_control`
    /// is the ownership and ACL the request asked for (none: BucketOwnerEnforced).
    pub async fn create_bucket(
        &self,
        name: &str,
        region: &str,
        owner_account: &str,
        object_lock: bool,
        access_control: Option<&BucketAccessControl>,
    ) -> Result<()> {
        let mut settings = vec![(
            PublicAccessBlock::COLUMN,
            bucket_settings::encode(&PublicAccessBlock::NEW_BUCKET),
        )];
        if object_lock {
            settings.push((
                ObjectLockConfig::COLUMN,
                bucket_settings::encode(&ObjectLockConfig::default()),
            ));
        }
        if let Some(ac) = access_control {
            settings.push((BucketAccessControl::COLUMN, bucket_settings::encode(ac)));
        }
        Ok(self
            .catalog
            .create_bucket(name, region, Some(owner_account), &settings, self.now_ms())
            .await?)
    }

    /// Deletes an empty bucket; its unfinished multipart uploads are aborted with it.
    pub async fn delete_bucket(&self, name: &str) -> Result<()> {
        Ok(self.catalog.delete_bucket(name, self.now_ms()).await?)
    }

    /// A bucket with its settings; an unreadable setting is an error, never a default.
    pub async fn bucket(&self, name: &str) -> Result<Bucket> {
        Ok(self.catalog.bucket(name).await?)
    }

    pub async fn list_buckets(&self) -> Result<Vec<BucketEntry>> {
        Ok(self.catalog.list_buckets().await?)
    }

    pub async fn set_versioning(&self, name: &str, versioning: Versioning) -> Result<()> {
        Ok(self.catalog.set_versioning(name, versioning).await?)
    }

    /// Stores a bucket policy (already validated by the edge) or removes it.
    pub async fn set_bucket_policy(&self, name: &str, policy: Option<String>) -> Result<()> {
        Ok(self.catalog.set_policy(name, policy).await?)
    }

    /// Puts (or, with `None`, deletes) a setting: default encryption or replication.
    pub(crate) async fn set_bucket_setting<T: BucketSetting>(
        &self,
        name: &str,
        value: Option<&T>,
    ) -> Result<()> {
        Ok(self.catalog.set_setting(name, value).await?)
    }
}
