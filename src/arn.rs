//! Amazon Resource Names as sealgate writes and reads them: S3 buckets and objects, IAM
//! principals, users, groups and policies, KMS keys and aliases. The one place their
//! shapes are spelled out.

/// The account's AWS managed key for S3, used when SSE-KMS names no key.
pub const AWS_S3_ALIAS: &str = "alias/aws/s3";

const S3_PREFIX: &str = "arn:aws:s3:::";

/// `arn:aws:s3:::BUCKET`
pub(crate) fn s3_bucket(bucket: &str) -> String {
    format!("{S3_PREFIX}{bucket}")
}

/// `arn:aws:s3:::BUCKET/KEY`
pub(crate) fn s3_object(bucket: &str, key: &str) -> String {
    format!("{S3_PREFIX}{bucket}/{key}")
}

/// The bucket an `arn:aws:s3:::BUCKET` names; `None` for anything else (an object ARN
/// included).
pub(crate) fn s3_bucket_name(arn: &str) -> Option<&str> {
    arn.strip_prefix(S3_PREFIX)
        .filter(|name| !name.is_empty() && !name.contains('/'))
}

/// `arn:aws:iam::ACCOUNT:root`
pub(crate) fn iam_root(account: &str) -> String {
    format!("arn:aws:iam::{account}:root")
}

/// `arn:aws:iam::ACCOUNT:user/PATH/NAME` (`path` starts and ends with `/`).
pub fn iam_user(account: &str, path: &str, name: &str) -> String {
    format!("arn:aws:iam::{account}:user{path}{name}")
}

/// `arn:aws:iam::ACCOUNT:group/PATH/NAME`
pub fn iam_group(account: &str, path: &str, name: &str) -> String {
    format!("arn:aws:iam::{account}:group{path}{name}")
}

/// `arn:aws:iam::ACCOUNT:policy/PATH/NAME`
pub fn iam_policy(account: &str, path: &str, name: &str) -> String {
    format!("arn:aws:iam::{account}:policy{path}{name}")
}

/// `arn:aws:kms:REGION:ACCOUNT:key/ID`
pub(crate) fn kms_key(region: &str, account: &str, key_id: &str) -> String {
    format!("arn:aws:kms:{region}:{account}:key/{key_id}")
}

/// `arn:aws:kms:REGION:ACCOUNT:alias/NAME` for an alias name that starts with `alias/`.
pub(crate) fn kms_alias(region: &str, account: &str, alias: &str) -> String {
    format!("arn:aws:kms:{region}:{account}:{alias}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        assert_eq!(s3_object("b", "a/k"), "arn:aws:s3:::b/a/k");
        assert_eq!(s3_bucket_name(&s3_bucket("b")), Some("b"));
        assert_eq!(s3_bucket_name("arn:aws:s3:::b/k"), None);
        assert_eq!(s3_bucket_name("arn:aws:s3:::"), None);
        assert_eq!(s3_bucket_name("b"), None);
        assert_eq!(iam_user("1", "/", "al"), "arn:aws:iam::1:user/al");
        assert_eq!(
            kms_alias("r", "1", AWS_S3_ALIAS),
            "arn:aws:kms:r:1:alias/aws/s3"
        );
        assert_eq!(kms_key("r", "1", "k"), "arn:aws:kms:r:1:key/k");
    }
}
