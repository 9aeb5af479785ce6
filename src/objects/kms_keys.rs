//! SSE-KMS data keys. The KMS is asked as the calling principal, through S3 (so
//! `kms:ViaService` conditions apply), with the object's ARN in the encryption context.
//! An S3 Bucket Key lets one KMS data key serve many objects of a bucket: each object's
//! data key derives from it and a random salt kept in the blob header.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use zeroize::Zeroizing;

use super::{ObjectError, ObjectService, Result};
use crate::catalog::Sse;
use crate::crypto::{DataKey, WrappedKey, Wrapping};
use crate::kms::{Caller, KmsError, KmsService, Note};

pub use crate::arn::AWS_S3_ALIAS;
/// How long one bucket key serves new objects before a fresh one is asked of the KMS.
const BUCKET_KEY_LIFETIME_MS: i64 = 10 * 60 * 1000;
/// Bound on cached bucket keys; past it the cache starts over (each entry is re-derivable).
const BUCKET_KEY_CACHE_MAX: usize = 4096;

/// SSE-KMS as a write asks for it.
#[derive(Clone, Debug, Default)]
pub struct KmsRequest {
    /// Key id, key ARN, alias or alias ARN; `None` means the account's `alias/aws/s3`.
    pub key_id: Option<String>,
    /// The caller's own encryption context, without `aws:s3:arn`.
    pub context: BTreeMap<String, String>,
    pub bucket_key: bool,
}

/// A bucket key's plaintext and KMS blob.
struct BucketKey {
    key: Zeroizing<[u8; 32]>,
    blob: Vec<u8>,
    key_arn: String,
    material_id: String,
    /// For writes: when a fresh bucket key is due.
    until_ms: i64,
}

/// The KMS as the object service uses it.
pub(crate) struct KmsLink {
    pub(super) kms: KmsService,
    /// `s3.REGION.amazonaws.com`: the service the KMS sees calling.
    via_service: String,
    /// (bucket, key ARN, caller context) -> the bucket key new objects derive from.
    writing: Mutex<HashMap<(String, String, String), Arc<BucketKey>>>,
    /// KMS blob -> bucket key, for reads.
    reading: Mutex<HashMap<Vec<u8>, Arc<BucketKey>>>,
    /// Held while a new bucket key is asked for, so concurrent first writers share one.
    minting: tokio::sync::Mutex<()>,
}

impl KmsLink {
    pub(crate) fn new(kms: KmsService) -> KmsLink {
        let via_service = format!("s3.{}.amazonaws.com", kms.region());
        KmsLink {
            kms,
            via_service,
            writing: Mutex::default(),
            reading: Mutex::default(),
            minting: tokio::sync::Mutex::new(()),
        }
    }
}

fn insert_bounded<K: std::hash::Hash + Eq, V>(map: &Mutex<HashMap<K, V>>, k: K, v: V) {
    // A poisoned lock only means a panic between two plain map operations.
    let mut m = map.lock().unwrap_or_else(|e| e.into_inner());
    if m.len() >= BUCKET_KEY_CACHE_MAX {
        m.clear();
    }
    m.insert(k, v);
}

fn cached<K: std::hash::Hash + Eq, V: Clone>(map: &Mutex<HashMap<K, V>>, k: &K) -> Option<V> {
    map.lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(k)
        .cloned()
}

/// The encryption context S3 uses: the caller's, plus `aws:s3:arn` naming the object (or,
/// under a bucket key, the bucket).
pub fn s3_context(
    user: &BTreeMap<String, String>,
    bucket: &str,
    key: Option<&str>,
) -> BTreeMap<String, String> {
    let mut ctx = user.clone();
    let arn = match key {
        Some(k) => crate::arn::s3_object(bucket, k),
        None => crate::arn::s3_bucket(bucket),
    };
    ctx.insert("aws:s3:arn".into(), arn);
    ctx
}

fn data_key_from(plaintext: &[u8]) -> Result<DataKey> {
    let bytes: [u8; 32] = plaintext
        .try_into()
        .map_err(|_| ObjectError::Kms(KmsError::internal("a data key is not 32 bytes")))?;
    Ok(DataKey::from_bytes(bytes))
}

impl ObjectService {
    pub(super) fn kms_link(&self) -> Result<&KmsLink> {
        self.kms.as_deref().ok_or_else(|| {
            ObjectError::Kms(KmsError::unsupported(
                "SSE-KMS needs the key service, which this object service was built without",
            ))
        })
    }

    /// The caller as the KMS sees it when S3 acts for it.
    fn via_s3(&self, caller: Option<&Caller>) -> Result<Caller> {
        let link = self.kms_link()?;
        let Some(caller) = caller else {
            return Err(ObjectError::Kms(KmsError::access_denied(
                "Anonymous requests cannot use objects encrypted with SSE-KMS",
            )));
        };
        let mut c = caller.clone();
        c.via_service = Some(link.via_service.clone());
        Ok(c)
    }

    /// Writes the audit record of one KMS operation S3 made for the caller; the operation
    /// fails if its record cannot be written, as on the KMS API.
    async fn audited<T>(
        &self,
        caller: &Caller,
        operation: &str,
        note: &Note,
        result: std::result::Result<T, KmsError>,
    ) -> Result<T> {
        let kms = &self.kms_link()?.kms;
        let outcome = result.as_ref().err().map_or("Success", |e| e.code());
        let request_id = caller
            .request_id
            .clone()
            .unwrap_or_else(|| crate::crypto::random_uuid().to_string());
        kms.record(caller, &request_id, operation, note, outcome)
            .await
            .map_err(ObjectError::Kms)?;
        result.map_err(ObjectError::Kms)
    }

    /// GenerateDataKey as the caller, checked to open again before anything is sealed.
    async fn kms_generate(
        &self,
        caller: &Caller,
        key_ref: &str,
        context: &BTreeMap<String, String>,
    ) -> Result<crate::kms::DataKeyOutput> {
        let kms = &self.kms_link()?.kms;
        let mut note = Note {
            context: Some(context.clone()),
            ..Note::default()
        };
        let result = kms
            .generate_data_key(caller, key_ref, context, 32, &mut note)
            .await;
        let out = self
            .audited(caller, "GenerateDataKey", &note, result)
            .await?;
        kms.verify_data_key(&out.ciphertext_blob, context, &out.plaintext)
            .map_err(ObjectError::Kms)?;
        Ok(out)
    }

    async fn kms_decrypt(
        &self,
        caller: &Caller,
        blob: &[u8],
        context: &BTreeMap<String, String>,
    ) -> Result<Zeroizing<Vec<u8>>> {
        let kms = &self.kms_link()?.kms;
        let mut note = Note {
            context: Some(context.clone()),
            ..Note::default()
        };
        let result = kms
            .decrypt_blob(
                caller,
                blob,
                None,
                context,
                ("kms:Decrypt", "Decrypt"),
                &mut note,
            )
            .await
            .map(|(plain, _, _)| plain);
        self.audited(caller, "Decrypt", &note, result).await
    }

    /// A fresh data key for one object under SSE-KMS, and how the catalog records it.
    pub(super) async fn kms_data_key(
        &self,
        req: &KmsRequest,
        caller: Option<&Caller>,
        bucket: &str,
        key: &str,
    ) -> Result<(DataKey, WrappedKey, Sse)> {
        let caller = self.via_s3(caller)?;
        let key_ref = req.key_id.as_deref().unwrap_or(AWS_S3_ALIAS);
        if req.bucket_key {
            return self
                .bucket_key_data_key(req, &caller, key_ref, bucket)
                .await;
        }
        let context = s3_context(&req.context, bucket, Some(key));
        let out = self.kms_generate(&caller, key_ref, &context).await?;
        let data_key = data_key_from(&out.plaintext)?;
        let wrapped = WrappedKey {
            wrapping: Wrapping::Kms {
                key_arn: out.key_arn.clone(),
                key_version: out.material_id,
            },
            ciphertext: out.ciphertext_blob,
        };
        let sse = Sse::Kms {
            key_arn: out.key_arn,
            context: req.context.clone(),
            bucket_key: false,
        };
        Ok((data_key, wrapped, sse))
    }

    async fn bucket_key_data_key(
        &self,
        req: &KmsRequest,
        caller: &Caller,
        key_ref: &str,
        bucket: &str,
    ) -> Result<(DataKey, WrappedKey, Sse)> {
        let link = self.kms_link()?;
        let context = s3_context(&req.context, bucket, None);
        let key_arn = link
            .kms
            .resolve(key_ref, true)
            .await
            .map_err(ObjectError::Kms)?
            .record
            .arn();
        let slot = (
            bucket.to_owned(),
            key_arn.clone(),
            serde_json::to_string(&req.context).unwrap_or_default(),
        );
        let bk = match self
            .usable_bucket_key(link, caller, &slot, &context)
            .await?
        {
            Some(bk) => bk,
            None => {
                let _minting = link.minting.lock().await;
                // Another writer may have made one while this one waited.
                match self
                    .usable_bucket_key(link, caller, &slot, &context)
                    .await?
                {
                    Some(bk) => bk,
                    None => {
                        let out = self.kms_generate(caller, &key_arn, &context).await?;
                        let mut key = Zeroizing::new([0u8; 32]);
                        key.copy_from_slice(data_key_from(&out.plaintext)?.as_bytes());
                        let bk = Arc::new(BucketKey {
                            key,
                            blob: out.ciphertext_blob,
                            key_arn: out.key_arn,
                            material_id: out.material_id,
                            until_ms: self.now_ms().saturating_add(BUCKET_KEY_LIFETIME_MS),
                        });
                        insert_bounded(&link.writing, slot, bk.clone());
                        insert_bounded(&link.reading, bk.blob.clone(), bk.clone());
                        bk
                    }
                }
            }
        };
        let mut object_salt = [0u8; 32];
        crate::crypto::fill_random(&mut object_salt);
        let data_key = DataKey::derive_from_bucket_key(&bk.key, &object_salt, bucket);
        let wrapped = WrappedKey {
            wrapping: Wrapping::KmsBucketKey {
                key_arn: bk.key_arn.clone(),
                key_version: bk.material_id.clone(),
                object_salt,
            },
            ciphertext: bk.blob.clone(),
        };
        let sse = Sse::Kms {
            key_arn: bk.key_arn.clone(),
            context: req.context.clone(),
            bucket_key: true,
        };
        Ok((data_key, wrapped, sse))
    }

    /// The cached bucket key of `slot` if it is still in its lifetime and of the key's
    /// current material. A cached key still answers to the key's state and the caller's
    /// rights: those are checked on every use.
    async fn usable_bucket_key(
        &self,
        link: &KmsLink,
        caller: &Caller,
        slot: &(String, String, String),
        context: &BTreeMap<String, String>,
    ) -> Result<Option<Arc<BucketKey>>> {
        let Some(bk) = cached(&link.writing, slot).filter(|bk| bk.until_ms > self.now_ms()) else {
            return Ok(None);
        };
        let material = link
            .kms
            .check_use(
                caller,
                &bk.key_arn,
                ("kms:GenerateDataKey", "GenerateDataKey"),
                context,
            )
            .await
            .map_err(ObjectError::Kms)?;
        let usable = (material == bk.material_id).then_some(bk);
        if usable.is_some() {
            crate::metrics::metrics().bucket_key_cache_hits.inc();
        }
        Ok(usable)
    }

    /// Opens a KMS-wrapped data key as the caller: KMS Decrypt, or a bucket key (cached
    /// ones re-checked against the key's state and the caller's rights).
    pub(super) async fn kms_unwrap(
        &self,
        wrapped: &WrappedKey,
        sse: Option<&Sse>,
        caller: Option<&Caller>,
        bucket: &str,
        key: &str,
    ) -> Result<DataKey> {
        let caller = self.via_s3(caller)?;
        let empty = BTreeMap::new();
        let user_context = match sse {
            Some(Sse::Kms { context, .. }) => context,
            _ => &empty,
        };
        match &wrapped.wrapping {
            Wrapping::Kms { .. } => {
                let context = s3_context(user_context, bucket, Some(key));
                let plain = self
                    .kms_decrypt(&caller, &wrapped.ciphertext, &context)
                    .await?;
                data_key_from(&plain)
            }
            Wrapping::KmsBucketKey {
                key_arn,
                object_salt,
                ..
            } => {
                let link = self.kms_link()?;
                let context = s3_context(user_context, bucket, None);
                let bk = match cached(&link.reading, &wrapped.ciphertext) {
                    Some(bk) => {
                        link.kms
                            .check_use(&caller, key_arn, ("kms:Decrypt", "Decrypt"), &context)
                            .await
                            .map_err(ObjectError::Kms)?;
                        crate::metrics::metrics().bucket_key_cache_hits.inc();
                        bk
                    }
                    None => {
                        let plain = self
                            .kms_decrypt(&caller, &wrapped.ciphertext, &context)
                            .await?;
                        let mut k = Zeroizing::new([0u8; 32]);
                        k.copy_from_slice(data_key_from(&plain)?.as_bytes());
                        let bk = Arc::new(BucketKey {
                            key: k,
                            blob: wrapped.ciphertext.clone(),
                            key_arn: key_arn.clone(),
                            material_id: String::new(),
                            until_ms: 0,
                        });
                        insert_bounded(&link.reading, wrapped.ciphertext.clone(), bk.clone());
                        bk
                    }
                };
                Ok(DataKey::derive_from_bucket_key(
                    &bk.key,
                    object_salt,
                    bucket,
                ))
            }
            _ => Err(ObjectError::Kms(KmsError::internal(
                "not a KMS-wrapped data key",
            ))),
        }
    }
}

/// The key deletion guard (`[kms] key_deletion_guard`): a key that still protects a version
/// under COMPLIANCE retention is not scheduled for deletion, since deleting its material
/// would destroy data nobody may delete. A protection AWS does not offer, hence opt-in.
pub struct ComplianceKeyGuard {
    catalog: crate::catalog::Catalog,
}

impl ObjectService {
    pub fn compliance_key_guard(&self) -> Arc<ComplianceKeyGuard> {
        Arc::new(ComplianceKeyGuard {
            catalog: self.catalog.clone(),
        })
    }
}

#[async_trait::async_trait]
impl crate::kms::DeletionGuard for ComplianceKeyGuard {
    async fn refusal(
        &self,
        key_arn: &str,
        now_ms: i64,
    ) -> std::result::Result<Option<String>, String> {
        let held = self
            .catalog
            .compliance_locked_under(key_arn, now_ms)
            .await
            .map_err(|e| e.to_string())?;
        Ok(held.map(|v| {
            let until = crate::clock::format_ms(v.until_ms);
            format!(
                "{key_arn} protects object versions in bucket {} under COMPLIANCE retention until {until}: the key deletion guard refuses to schedule its deletion before then.",
                v.bucket
            )
        }))
    }
}
