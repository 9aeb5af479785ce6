//! A bucket's tags (`PutBucketTagging`), a setting like the others: S3 keeps them with the
//! bucket, not with its objects.

use serde::{Deserialize, Serialize};

use super::StoredSetting;
use crate::tagging::TagSet;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BucketTagging {
    pub(crate) tags: TagSet,
}

impl StoredSetting for BucketTagging {
    const NAME: &'static str = "bucket tagging";
    const VERSION: u32 = 1;
}
