//! Bucket replication: copies object versions to a bucket of another region (another
//! sealgate or any S3 endpoint), re-encrypted there under the destination's own keys, so no
//! data key ever crosses regions.
//!
//! - the configuration and which rule a version falls under are bucket settings
//!   ([`crate::bucket_settings::replication`]), below the catalog, which queues matches;
//! - `remote`: the endpoints of other regions and where a destination bucket lives;
//! - the queue itself is in the catalog (`replication_tasks`), written in the transaction
//!   that makes a version visible.

pub mod backoff;
pub mod batch;
pub mod multipart;
pub mod remote;
pub mod replicate;
pub mod worker;

/// Marks a PUT or DELETE sent by replication. A destination sealgate honours it only for
/// callers allowed `s3:ReplicateObject` (PUT) or `s3:ReplicateDelete` (DELETE) on the
/// object, and shows what it writes as `x-amz-replication-status: REPLICA`.
pub const REPLICA_HEADER: &str = "x-sealgate-replica";
