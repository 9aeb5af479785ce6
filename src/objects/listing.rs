//! Listings in key order, a batch at a time, for the edges to page through.

use super::{ObjectService, Result};
use crate::catalog::{KeyStart, ObjectVersion, PartRecord, Upload};

impl ObjectService {
    /// Latest live versions with the given prefix from `start`, in key order, one per
    /// common prefix of `delimiter`.
    pub async fn list_latest(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: &str,
        start: &KeyStart,
        limit: usize,
    ) -> Result<Vec<ObjectVersion>> {
        Ok(self
            .catalog
            .list_latest(bucket, prefix, delimiter, start, limit)
            .await?)
    }

    /// Every version and delete marker, key ascending then newest first, from `start`
    /// (inside its key after `version_marker`, if given).
    pub async fn list_versions(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: &str,
        start: &KeyStart,
        version_marker: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ObjectVersion>> {
        Ok(self
            .catalog
            .list_versions(bucket, prefix, delimiter, start, version_marker, limit)
            .await?)
    }

    /// Unfinished uploads in (key, upload id) order from `start` (inside its key after
    /// `id_marker`, if given).
    pub async fn list_uploads(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: &str,
        start: &KeyStart,
        id_marker: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Upload>> {
        Ok(self
            .catalog
            .list_uploads(bucket, prefix, delimiter, start, id_marker, limit)
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
