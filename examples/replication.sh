#!/usr/bin/env bash
# Replication between two regions with the aws CLI: an SSE-KMS object written in the source
# region arrives in the other one re-encrypted under that region's own replica key (no data
# key crosses regions), with the same bytes.
#
# Start the two gateways as in the README's "Replication" section: the destination with a
# user allowed to replicate, the source with [replication.remotes.REGION] pointing at it.
# Then, with the credentials of both regions' root user:
#
#   SEALGATE_ENDPOINT=http://127.0.0.1:8014 SEALGATE_REPLICA_ENDPOINT=http://127.0.0.1:9014 \
#   SEALGATE_REPLICA_REGION=eu-west-1 AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... \
#   AWS_DEFAULT_REGION=us-east-1 examples/replication.sh
#
# Exits non-zero if anything is not as described.
set -euo pipefail

src_endpoint="${SEALGATE_ENDPOINT:-http://127.0.0.1:8014}"
dst_endpoint="${SEALGATE_REPLICA_ENDPOINT:-http://127.0.0.1:9014}"
dst_region="${SEALGATE_REPLICA_REGION:-eu-west-1}"

src() { aws --endpoint-url "$src_endpoint" "$@"; }
dst() { aws --endpoint-url "$dst_endpoint" --region "$dst_region" "$@"; }
fail() { echo "FAILED: $*" >&2; exit 1; }

suffix="$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
src_bucket="example-photos-$suffix"
dst_bucket="example-photos-replica-$suffix"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# The destination: a versioned bucket in its region, and the key replicas are sealed under.
dst s3api create-bucket --bucket "$dst_bucket" \
    --create-bucket-configuration "LocationConstraint=$dst_region" >/dev/null
dst s3api put-bucket-versioning --bucket "$dst_bucket" --versioning-configuration Status=Enabled
replica_key="$(dst kms create-key --description "sealgate example: replicas" --query KeyMetadata.Arn --output text)"

# The source: replication needs versioning. SSE-KMS objects replicate only when the rule
# opts in (SseKmsEncryptedObjects) and names the destination's key, as on S3.
src s3api create-bucket --bucket "$src_bucket" >/dev/null
src s3api put-bucket-versioning --bucket "$src_bucket" --versioning-configuration Status=Enabled
src s3api put-bucket-replication --bucket "$src_bucket" --replication-configuration '{
  "Role": "arn:aws:iam::000000000000:role/replication",
  "Rules": [{"ID": "all", "Priority": 1, "Status": "Enabled", "Filter": {"Prefix": ""},
    "DeleteMarkerReplication": {"Status": "Enabled"},
    "SourceSelectionCriteria": {"SseKmsEncryptedObjects": {"Status": "Enabled"}},
    "Destination": {"Bucket": "arn:aws:s3:::'"$dst_bucket"'",
      "EncryptionConfiguration": {"ReplicaKmsKeyID": "'"$replica_key"'"}}}]}'
echo "s3://$src_bucket replicates to s3://$dst_bucket ($dst_region) under $replica_key"

head -c 300000 /dev/urandom > "$work/cat.jpg"
src s3 cp --only-show-errors --sse aws:kms "$work/cat.jpg" "s3://$src_bucket/cat.jpg"
source_key="$(src s3api head-object --bucket "$src_bucket" --key cat.jpg --query SSEKMSKeyId --output text)"

# The write is acknowledged before it is copied: wait for the source to report the outcome.
status=PENDING
for _ in $(seq 60); do
    status="$(src s3api head-object --bucket "$src_bucket" --key cat.jpg --query ReplicationStatus --output text)"
    [[ "$status" == PENDING ]] || break
    sleep 0.5
done
[[ "$status" == COMPLETED ]] || fail "source replication status $status"
echo "source: COMPLETED, sealed under $source_key"

read -r status sse key < <(dst s3api head-object --bucket "$dst_bucket" --key cat.jpg \
    --query '[ReplicationStatus, ServerSideEncryption, SSEKMSKeyId]' --output text)
[[ "$status" == REPLICA ]] || fail "replica status $status"
[[ "$sse" == aws:kms && "$key" == "$replica_key" ]] || fail "replica sealed with $sse under $key"
[[ "$source_key" != "$replica_key" ]] || fail "source and replica share a key"
dst s3 cp --only-show-errors "s3://$dst_bucket/cat.jpg" "$work/replica.jpg"
cmp -s "$work/cat.jpg" "$work/replica.jpg" || fail "the replica's bytes differ"
echo "replica: REPLICA, aws:kms under $key, the same bytes"
