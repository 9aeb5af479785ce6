//! Listings in key order, a batch at a time, for the edges to page through.

use super::{ObjectService, Result};
use crate::catalog::{ObjectVersion, PartRecord, Upload};

impl ObjectService {
    /// Latest live versions with key > `after` and the given prefix, in key order.
    pub async fn list_latest(
        &self,
        bucket: &str,
        prefix: &str,
        after: &str,
        limit: usize,
    ) -> Result<Vec<ObjectVersion>> {
        Ok(self
            .catalog
            .list_latest(bucket, prefix, after, limit)
            .await?)
    }

    /// Every version and delete marker, key ascending then newest first, resuming after
    /// (`key_marker`, `version_marker`).
    pub async fn list_versions(
        &self,
        bucket: &str,
        prefix: &str,
        key_marker: &str,
        version_marker: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ObjectVersion>> {
        Ok(self
            .catalog
            .list_versions(bucket, prefix, key_marker, version_marker, limit)
            .await?)
    }

    /// Unfinished uploads in (key, upload id) order after the markers.
    pub async fn list_uploads(
        &self,
        bucket: &str,
        prefix: &str,
        key_after: &str,
        id_after: &str,
        limit: usize,
    ) -> Result<Vec<Upload>> {
        Ok(self
            .catalog
            .list_uploads(bucket, prefix, key_after, id_after, limit)
            .await?)
    }

    /// The parts of an upload with numbers above `marker`.
    pub async fn list_parts(
        &self,
        upload: &Upload,
        marker: u32,
        limit: usize,
    ) -> Result<Vec<PartRecord>> {
        Ok(self
            .catalog
            .list_parts(&upload.upload_id, marker, limit)
            .await?)
    }
}
