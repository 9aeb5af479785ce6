//! Cryptographic operations: Encrypt, Decrypt, ReEncrypt, data keys and key pairs,
//! random bytes, signatures and MACs.

use std::collections::BTreeMap;
use std::sync::Arc;

use zeroize::Zeroizing;

use super::caller::Caller;
use super::ciphertext::{self, BlobHeader};
use super::errors::{KmsError, KmsResult};
use super::input::{
    StringMap, in_range, key_id, must_not_be_null, required, required_blob, required_len,
};
use super::material::{Secret, random_bytes};
use super::model::{KeySpec, KeyState, KeyUsage};
use super::service::{KeyEntry, KmsService, Note};
use super::shapes::{
    DecryptRequest, DecryptResponse, EncryptRequest, EncryptResponse, GenerateDataKeyPairRequest,
    GenerateDataKeyPairResponse, GenerateDataKeyRequest, GenerateDataKeyResponse,
    GenerateMacResponse, GenerateRandomRequest, GenerateRandomResponse, GetPublicKeyResponse,
    KeyWithGrantTokensRequest, MacRequest, ReEncryptRequest, ReEncryptResponse, SignResponse,
    SignatureRequest, VerifyMacResponse, VerifyResponse,
};

const MAX_PLAINTEXT: usize = 4096;
const MAX_CIPHERTEXT: usize = 6144;

/// A data key fresh from GenerateDataKey.
pub struct DataKeyOutput {
    pub plaintext: Zeroizing<Vec<u8>>,
    pub ciphertext_blob: Vec<u8>,
    pub key_arn: String,
    pub material_id: String,
}

/// A ciphertext to open and what the request says about it.
struct Sealed<'a> {
    blob: &'a [u8],
    key_ref: Option<&'a str>,
    algorithm: &'a str,
    context: &'a BTreeMap<String, String>,
}

fn usable(entry: &KeyEntry) -> KmsResult<()> {
    match entry.record.state {
        KeyState::Enabled => Ok(()),
        s => Err(s.refusal(&entry.record.arn())),
    }
}

fn needs_usage(entry: &KeyEntry, usage: KeyUsage, op: &str) -> KmsResult<()> {
    if entry.record.usage != usage {
        return Err(KmsError::invalid_key_usage(format!(
            "{} key usage is {} which is not valid for {op}.",
            entry.record.arn(),
            entry.record.usage.as_str()
        )));
    }
    Ok(())
}

fn dry_run(dry_run: Option<bool>) -> KmsResult<()> {
    if dry_run == Some(true) {
        return Err(KmsError::dry_run(
            "The request would have succeeded, but the DryRun option is set.",
        ));
    }
    Ok(())
}

fn no_context_for_asymmetric(context: &BTreeMap<String, String>) -> KmsResult<()> {
    if !context.is_empty() {
        return Err(KmsError::validation(
            "EncryptionContext is not supported with asymmetric keys",
        ));
    }
    Ok(())
}

/// (current material seq and id, symmetric material) of a usable symmetric key.
fn symmetric_current(entry: &KeyEntry) -> KmsResult<(u32, String, [u8; 32])> {
    let (info, secret) = entry
        .current_secret()
        .ok_or_else(|| KeyState::PendingImport.refusal(&entry.record.arn()))?;
    let material = secret
        .symmetric()
        .ok_or_else(|| KmsError::internal("symmetric key without symmetric material"))?;
    Ok((info.seq, info.material_id.clone(), *material))
}

fn seal_symmetric(
    entry: &KeyEntry,
    context: &BTreeMap<String, String>,
    plaintext: &[u8],
) -> KmsResult<(Vec<u8>, String)> {
    let (seq, material_id, material) = symmetric_current(entry)?;
    let material = Zeroizing::new(material);
    let key_id = uuid::Uuid::parse_str(&entry.record.id)
        .map_err(|_| KmsError::internal("key id is not a UUID"))?;
    let header = BlobHeader {
        key_id,
        material_seq: seq,
    };
    Ok((
        ciphertext::encrypt(header, &material, context, plaintext),
        material_id,
    ))
}

/// Decrypts a symmetric blob with the material it names.
fn open_symmetric(
    entry: &KeyEntry,
    blob: &[u8],
    context: &BTreeMap<String, String>,
) -> KmsResult<(Zeroizing<Vec<u8>>, String)> {
    let header = ciphertext::parse_header(blob)?;
    let info = entry
        .record
        .material(header.material_seq)
        .ok_or_else(|| KmsError::invalid_ciphertext(""))?;
    let secret = entry
        .secrets
        .get(&header.material_seq)
        .and_then(|s| s.symmetric())
        .ok_or_else(|| KmsError::invalid_ciphertext(""))?;
    Ok((
        ciphertext::decrypt(blob, secret, context)?,
        info.material_id.clone(),
    ))
}

/// Encrypts under the key's current material: the symmetric blob, or RSA-OAEP.
fn encrypt_with(
    entry: &KeyEntry,
    algorithm: &str,
    context: &BTreeMap<String, String>,
    plaintext: &[u8],
) -> KmsResult<(Vec<u8>, String)> {
    if entry.record.spec == KeySpec::SymmetricDefault {
        return seal_symmetric(entry, context, plaintext);
    }
    no_context_for_asymmetric(context)?;
    let (info, secret) = entry
        .current_secret()
        .ok_or_else(|| KmsError::internal("key without material"))?;
    Ok((
        secret.rsa_encrypt(algorithm, plaintext)?,
        info.material_id.clone(),
    ))
}

fn encryption_algorithm(algorithm: &Option<String>) -> String {
    algorithm
        .as_deref()
        .unwrap_or("SYMMETRIC_DEFAULT")
        .to_owned()
}

/// The context a request gives, empty when it gives none.
fn context(context: &Option<StringMap>) -> StringMap {
    context.clone().unwrap_or_default()
}

fn check_algorithm(entry: &KeyEntry, algorithm: &str) -> KmsResult<()> {
    let allowed = entry.record.spec.encryption_algorithms(entry.record.usage);
    if !allowed.contains(&algorithm) {
        return Err(KmsError::invalid_key_usage(format!(
            "Encryption algorithm {algorithm} is not supported by {}; it supports {}.",
            entry.record.arn(),
            allowed.join(", ")
        )));
    }
    Ok(())
}

fn data_key_len(req: &GenerateDataKeyRequest) -> KmsResult<usize> {
    match (
        req.key_spec.as_deref(),
        in_range(req.number_of_bytes, "NumberOfBytes", 1, 1024)?,
    ) {
        (Some(_), Some(_)) => Err(KmsError::validation(
            "Please specify either number of bytes or key spec, not both.",
        )),
        (None, None) => Err(KmsError::validation(
            "Please specify either number of bytes or key spec.",
        )),
        (Some("AES_256"), None) => Ok(32),
        (Some("AES_128"), None) => Ok(16),
        (Some(other), None) => Err(KmsError::validation(format!(
            "1 validation error detected: Value '{other}' at 'keySpec' failed to satisfy constraint: Member must satisfy enum value set: [AES_256, AES_128]"
        ))),
        (None, Some(n)) => Ok(n as usize),
    }
}

impl KmsService {
    /// The part of Encrypt, GenerateDataKey and friends that picks and checks the key.
    async fn encrypting_key(
        &self,
        caller: &Caller,
        key_ref: &str,
        action: &str,
        grant_op: &str,
        context: &BTreeMap<String, String>,
        note: &mut Note,
    ) -> KmsResult<Arc<KeyEntry>> {
        let entry = self.resolve(key_ref, true).await?;
        note.key_arn = Some(entry.record.arn());
        self.authorize(
            caller,
            &entry.record,
            action,
            Some(grant_op),
            Some(context),
            &[],
        )?;
        usable(&entry)?;
        needs_usage(&entry, KeyUsage::EncryptDecrypt, grant_op)?;
        Ok(entry)
    }

    /// GenerateDataKey for an in-process caller (the S3 side): a fresh data key and its blob.
    pub async fn generate_data_key(
        &self,
        caller: &Caller,
        key_ref: &str,
        context: &BTreeMap<String, String>,
        len: usize,
        note: &mut Note,
    ) -> KmsResult<DataKeyOutput> {
        let entry = self
            .encrypting_key(
                caller,
                key_ref,
                "kms:GenerateDataKey",
                "GenerateDataKey",
                context,
                note,
            )
            .await?;
        if entry.record.spec != KeySpec::SymmetricDefault {
            return Err(KmsError::invalid_key_usage(format!(
                "{} is not a symmetric key; data keys need one.",
                entry.record.arn()
            )));
        }
        let plaintext = Zeroizing::new(random_bytes(len));
        let (blob, material_id) = seal_symmetric(&entry, context, &plaintext)?;
        note.key_version = Some(material_id.clone());
        Ok(DataKeyOutput {
            plaintext,
            ciphertext_blob: blob,
            key_arn: entry.record.arn(),
            material_id,
        })
    }

    /// Decrypt of a symmetric blob for an in-process caller; the blob names its key.
    pub async fn decrypt_blob(
        &self,
        caller: &Caller,
        blob: &[u8],
        key_ref: Option<&str>,
        context: &BTreeMap<String, String>,
        action: (&str, &str),
        note: &mut Note,
    ) -> KmsResult<(Zeroizing<Vec<u8>>, Arc<KeyEntry>, String)> {
        let header = ciphertext::parse_header(blob)?;
        let id = header.key_id.to_string();
        let expected = match key_ref {
            Some(r) => Some(self.resolve(r, true).await?),
            None => None,
        };
        self.apply_due().await?;
        let entry = self
            .key(&id, Some(header.material_seq))
            .await?
            .ok_or_else(|| {
                KmsError::not_found(format!("Key '{}' does not exist", self.key_arn(&id)))
            })?;
        note.key_arn = Some(entry.record.arn());
        if let Some(e) = expected
            && e.record.id != entry.record.id
        {
            return Err(KmsError::incorrect_key(
                "The key ID in the request does not identify a KMS key that can perform this operation.",
            ));
        }
        self.authorized_use(caller, &entry, action, context)?;
        let (plain, material_id) = open_symmetric(&entry, blob, context)?;
        note.key_version = Some(material_id.clone());
        Ok((plain, entry, material_id))
    }

    /// Proves that a data key blob just generated opens again to `plaintext` with the
    /// stored material. An internal self-check before a write is acknowledged, so it is
    /// neither authorized nor audited as a use of the key.
    pub fn verify_data_key(
        &self,
        blob: &[u8],
        context: &BTreeMap<String, String>,
        plaintext: &[u8],
    ) -> KmsResult<()> {
        let header = ciphertext::parse_header(blob)?;
        let entry = self
            .by_id(&header.key_id.to_string())
            .ok_or_else(|| KmsError::not_found("The key of a new data key vanished"))?;
        let (opened, _) = open_symmetric(&entry, blob, context)?;
        if opened.as_slice() != plaintext {
            return Err(KmsError::internal("A new data key does not open to itself"));
        }
        Ok(())
    }

    /// Whether `caller` may use the key for `action` now: its state and every policy and
    /// grant, but no cryptography. A cached S3 Bucket Key is re-checked against this on
    /// each use, so disabling a key or revoking a permission takes effect at once. Returns
    /// the id of the key's current material.
    pub async fn check_use(
        &self,
        caller: &Caller,
        key_ref: &str,
        action: (&str, &str),
        context: &BTreeMap<String, String>,
    ) -> KmsResult<String> {
        let entry = self.resolve(key_ref, true).await?;
        self.authorized_use(caller, &entry, action, context)?;
        let (_, material_id, _) = symmetric_current(&entry)?;
        Ok(material_id)
    }

    /// A use of the key by an in-process caller: allowed by its policies or grants, and
    /// the key in a state that permits use.
    fn authorized_use(
        &self,
        caller: &Caller,
        entry: &KeyEntry,
        action: (&str, &str),
        context: &BTreeMap<String, String>,
    ) -> KmsResult<()> {
        self.authorize(
            caller,
            &entry.record,
            action.0,
            Some(action.1),
            Some(context),
            &[],
        )?;
        usable(entry)
    }

    pub(super) async fn encrypt(
        &self,
        caller: &Caller,
        req: &EncryptRequest,
        note: &mut Note,
    ) -> KmsResult<EncryptResponse> {
        let plaintext = required_blob(&req.plaintext, "Plaintext", MAX_PLAINTEXT)?;
        let context = context(&req.encryption_context);
        let algorithm = encryption_algorithm(&req.encryption_algorithm);
        note.context = Some(context.clone());
        let entry = self
            .encrypting_key(
                caller,
                key_id(&req.key_id)?,
                "kms:Encrypt",
                "Encrypt",
                &context,
                note,
            )
            .await?;
        check_algorithm(&entry, &algorithm)?;
        dry_run(req.dry_run)?;
        let (blob, material_id) = encrypt_with(&entry, &algorithm, &context, plaintext)?;
        note.key_version = Some(material_id.clone());
        Ok(EncryptResponse {
            ciphertext_blob: blob.into(),
            key_id: entry.record.arn(),
            encryption_algorithm: algorithm,
        })
    }

    /// Opens any ciphertext (symmetric or RSA) for Decrypt and ReEncrypt.
    async fn open_any(
        &self,
        caller: &Caller,
        sealed: Sealed<'_>,
        action: (&str, &str),
        note: &mut Note,
    ) -> KmsResult<(Zeroizing<Vec<u8>>, Arc<KeyEntry>, String)> {
        let Sealed {
            blob,
            key_ref,
            algorithm,
            context,
        } = sealed;
        if algorithm == "SYMMETRIC_DEFAULT" {
            return self
                .decrypt_blob(caller, blob, key_ref, context, action, note)
                .await;
        }
        let key_ref = key_ref.ok_or_else(|| {
            KmsError::validation("KeyId is required to decrypt with an asymmetric key")
        })?;
        let entry = self.resolve(key_ref, true).await?;
        note.key_arn = Some(entry.record.arn());
        self.authorize(
            caller,
            &entry.record,
            action.0,
            Some(action.1),
            Some(context),
            &[],
        )?;
        usable(&entry)?;
        needs_usage(&entry, KeyUsage::EncryptDecrypt, action.1)?;
        check_algorithm(&entry, algorithm)?;
        no_context_for_asymmetric(context)?;
        let (info, secret) = entry
            .current_secret()
            .ok_or_else(|| KmsError::internal("key without material"))?;
        let material_id = info.material_id.clone();
        Ok((
            secret.rsa_decrypt(algorithm, blob)?,
            entry.clone(),
            material_id,
        ))
    }

    pub(super) async fn decrypt(
        &self,
        caller: &Caller,
        req: &DecryptRequest,
        note: &mut Note,
    ) -> KmsResult<DecryptResponse> {
        let blob = required_blob(&req.ciphertext_blob, "CiphertextBlob", MAX_CIPHERTEXT)?;
        let context = context(&req.encryption_context);
        let algorithm = encryption_algorithm(&req.encryption_algorithm);
        note.context = Some(context.clone());
        if req.recipient.is_some() {
            return Err(KmsError::unsupported(
                "Recipient (Nitro Enclaves attestation) is not supported",
            ));
        }
        let (plain, entry, material_id) = self
            .open_any(
                caller,
                Sealed {
                    blob,
                    key_ref: req.key_id.as_deref(),
                    algorithm: &algorithm,
                    context: &context,
                },
                ("kms:Decrypt", "Decrypt"),
                note,
            )
            .await?;
        dry_run(req.dry_run)?;
        Ok(DecryptResponse {
            key_id: entry.record.arn(),
            plaintext: plain.into(),
            encryption_algorithm: algorithm,
            key_material_id: material_id,
        })
    }

    pub(super) async fn re_encrypt(
        &self,
        caller: &Caller,
        req: &ReEncryptRequest,
        note: &mut Note,
    ) -> KmsResult<ReEncryptResponse> {
        let blob = required_blob(&req.ciphertext_blob, "CiphertextBlob", MAX_CIPHERTEXT)?;
        let source_context = context(&req.source_encryption_context);
        let dest_context = context(&req.destination_encryption_context);
        let source_alg = encryption_algorithm(&req.source_encryption_algorithm);
        let dest_alg = encryption_algorithm(&req.destination_encryption_algorithm);
        let dest_ref = required_len(&req.destination_key_id, "DestinationKeyId", 1, 2048)?;
        let (plain, source, source_material) = self
            .open_any(
                caller,
                Sealed {
                    blob,
                    key_ref: req.source_key_id.as_deref(),
                    algorithm: &source_alg,
                    context: &source_context,
                },
                ("kms:ReEncryptFrom", "ReEncryptFrom"),
                note,
            )
            .await?;
        let mut dest_note = Note::default();
        let dest = self
            .encrypting_key(
                caller,
                dest_ref,
                "kms:ReEncryptTo",
                "ReEncryptTo",
                &dest_context,
                &mut dest_note,
            )
            .await?;
        check_algorithm(&dest, &dest_alg)?;
        dry_run(req.dry_run)?;
        let (new_blob, dest_material) = encrypt_with(&dest, &dest_alg, &dest_context, &plain)?;
        Ok(ReEncryptResponse {
            ciphertext_blob: new_blob.into(),
            source_key_id: source.record.arn(),
            key_id: dest.record.arn(),
            source_encryption_algorithm: source_alg,
            destination_encryption_algorithm: dest_alg,
            source_key_material_id: source_material,
            destination_key_material_id: dest_material,
        })
    }

    pub(super) async fn generate_data_key_op(
        &self,
        caller: &Caller,
        req: &GenerateDataKeyRequest,
        note: &mut Note,
        with_plaintext: bool,
    ) -> KmsResult<GenerateDataKeyResponse> {
        let len = data_key_len(req)?;
        let context = context(&req.encryption_context);
        note.context = Some(context.clone());
        if req.recipient.is_some() {
            return Err(KmsError::unsupported(
                "Recipient (Nitro Enclaves attestation) is not supported",
            ));
        }
        let key_ref = key_id(&req.key_id)?;
        let out = if with_plaintext {
            self.generate_data_key(caller, key_ref, &context, len, note)
                .await?
        } else {
            let entry = self
                .encrypting_key(
                    caller,
                    key_ref,
                    "kms:GenerateDataKeyWithoutPlaintext",
                    "GenerateDataKeyWithoutPlaintext",
                    &context,
                    note,
                )
                .await?;
            if entry.record.spec != KeySpec::SymmetricDefault {
                return Err(KmsError::invalid_key_usage(
                    "Data keys need a symmetric key.",
                ));
            }
            let plaintext = Zeroizing::new(random_bytes(len));
            let (blob, material_id) = seal_symmetric(&entry, &context, &plaintext)?;
            DataKeyOutput {
                plaintext,
                ciphertext_blob: blob,
                key_arn: entry.record.arn(),
                material_id,
            }
        };
        dry_run(req.dry_run)?;
        note.key_version = Some(out.material_id.clone());
        Ok(GenerateDataKeyResponse {
            ciphertext_blob: out.ciphertext_blob.into(),
            plaintext: with_plaintext.then(|| out.plaintext.into()),
            key_id: out.key_arn,
            key_material_id: out.material_id,
        })
    }

    pub(super) async fn generate_data_key_pair(
        &self,
        caller: &Caller,
        req: &GenerateDataKeyPairRequest,
        note: &mut Note,
        with_plaintext: bool,
    ) -> KmsResult<GenerateDataKeyPairResponse> {
        let pair_spec_text = required(&req.key_pair_spec, "KeyPairSpec")?;
        let pair_spec = KeySpec::parse(pair_spec_text)
            .filter(|s| s.is_asymmetric())
            .ok_or_else(|| {
                KmsError::unsupported(format!("KeyPairSpec {pair_spec_text} is not supported"))
            })?;
        let context = context(&req.encryption_context);
        note.context = Some(context.clone());
        let (action, op) = if with_plaintext {
            ("kms:GenerateDataKeyPair", "GenerateDataKeyPair")
        } else {
            (
                "kms:GenerateDataKeyPairWithoutPlaintext",
                "GenerateDataKeyPairWithoutPlaintext",
            )
        };
        let entry = self
            .encrypting_key(caller, key_id(&req.key_id)?, action, op, &context, note)
            .await?;
        if entry.record.spec != KeySpec::SymmetricDefault {
            return Err(KmsError::invalid_key_usage(
                "Data key pairs are protected by a symmetric key.",
            ));
        }
        dry_run(req.dry_run)?;
        let pair = tokio::task::spawn_blocking(move || Secret::generate(pair_spec))
            .await
            .map_err(|e| KmsError::internal(format!("key generation: {e}")))??;
        let private = pair.encode()?;
        let public = pair.public_key_der()?;
        let (blob, material_id) = seal_symmetric(&entry, &context, &private)?;
        note.key_version = Some(material_id.clone());
        Ok(GenerateDataKeyPairResponse {
            private_key_ciphertext_blob: blob.into(),
            private_key_plaintext: with_plaintext.then(|| private.into()),
            public_key: public.into(),
            key_id: entry.record.arn(),
            key_pair_spec: pair_spec.as_str(),
            key_material_id: material_id,
        })
    }

    pub(super) async fn generate_random(
        &self,
        caller: &Caller,
        req: &GenerateRandomRequest,
    ) -> KmsResult<GenerateRandomResponse> {
        let n = in_range(req.number_of_bytes, "NumberOfBytes", 1, 1024)?
            .ok_or_else(|| must_not_be_null("NumberOfBytes"))?;
        if req.custom_key_store_id.is_some() {
            return Err(KmsError::unsupported("Custom key stores are not supported"));
        }
        self.authorize_account(caller, "kms:GenerateRandom")?;
        Ok(GenerateRandomResponse {
            plaintext: random_bytes(n as usize).into(),
        })
    }

    /// The key of Sign, Verify, GenerateMac and VerifyMac after every check.
    async fn usage_key(
        &self,
        caller: &Caller,
        key: &Option<String>,
        allow_alias: bool,
        usage: KeyUsage,
        op: &str,
        note: &mut Note,
    ) -> KmsResult<(Arc<KeyEntry>, Arc<Secret>)> {
        let entry = self.resolve(key_id(key)?, allow_alias).await?;
        note.key_arn = Some(entry.record.arn());
        self.authorize(
            caller,
            &entry.record,
            &format!("kms:{op}"),
            Some(op),
            None,
            &[],
        )?;
        usable(&entry)?;
        needs_usage(&entry, usage, op)?;
        let (info, secret) = entry
            .current_secret()
            .ok_or_else(|| KmsError::internal("key without material"))?;
        note.key_version = Some(info.material_id.clone());
        let secret = secret.clone();
        Ok((entry, secret))
    }

    fn message(req: &SignatureRequest) -> KmsResult<(Vec<u8>, bool)> {
        let message = required_blob(&req.message, "Message", MAX_PLAINTEXT)?.to_vec();
        let is_digest = match req.message_type.as_deref() {
            None | Some("RAW") => false,
            Some("DIGEST") => true,
            Some(other) => {
                return Err(KmsError::validation(format!(
                    "1 validation error detected: Value '{other}' at 'messageType' failed to satisfy constraint: Member must satisfy enum value set: [RAW, DIGEST]"
                )));
            }
        };
        Ok((message, is_digest))
    }

    fn signing_algorithm<'a>(req: &'a SignatureRequest, entry: &KeyEntry) -> KmsResult<&'a str> {
        let alg = required(&req.signing_algorithm, "SigningAlgorithm")?.as_str();
        if !entry
            .record
            .spec
            .signing_algorithms(entry.record.usage)
            .contains(&alg)
        {
            return Err(KmsError::invalid_key_usage(format!(
                "Signing algorithm {alg} is not supported by {}.",
                entry.record.arn()
            )));
        }
        Ok(alg)
    }

    pub(super) async fn sign(
        &self,
        caller: &Caller,
        req: &SignatureRequest,
        note: &mut Note,
    ) -> KmsResult<SignResponse> {
        let (message, is_digest) = Self::message(req)?;
        let (entry, secret) = self
            .usage_key(
                caller,
                &req.key_id,
                true,
                KeyUsage::SignVerify,
                "Sign",
                note,
            )
            .await?;
        let alg = Self::signing_algorithm(req, &entry)?.to_owned();
        dry_run(req.dry_run)?;
        let a = alg.clone();
        let signature = tokio::task::spawn_blocking(move || secret.sign(&a, &message, is_digest))
            .await
            .map_err(|e| KmsError::internal(format!("signing: {e}")))??;
        Ok(SignResponse {
            key_id: entry.record.arn(),
            signature: signature.into(),
            signing_algorithm: alg,
        })
    }

    pub(super) async fn verify(
        &self,
        caller: &Caller,
        req: &SignatureRequest,
        note: &mut Note,
    ) -> KmsResult<VerifyResponse> {
        let (message, is_digest) = Self::message(req)?;
        let signature = required_blob(&req.signature, "Signature", MAX_CIPHERTEXT)?;
        let (entry, secret) = self
            .usage_key(
                caller,
                &req.key_id,
                true,
                KeyUsage::SignVerify,
                "Verify",
                note,
            )
            .await?;
        let alg = Self::signing_algorithm(req, &entry)?.to_owned();
        dry_run(req.dry_run)?;
        if !secret.verify(&alg, &message, is_digest, signature)? {
            return Err(KmsError::invalid_signature_value(""));
        }
        Ok(VerifyResponse {
            key_id: entry.record.arn(),
            signature_valid: true,
            signing_algorithm: alg,
        })
    }

    pub(super) async fn get_public_key(
        &self,
        caller: &Caller,
        req: &KeyWithGrantTokensRequest,
        note: &mut Note,
    ) -> KmsResult<GetPublicKeyResponse> {
        let entry = self.resolve(key_id(&req.key_id)?, true).await?;
        note.key_arn = Some(entry.record.arn());
        self.authorize(
            caller,
            &entry.record,
            "kms:GetPublicKey",
            Some("GetPublicKey"),
            None,
            &[],
        )?;
        usable(&entry)?;
        let r = &entry.record;
        if !r.spec.is_asymmetric() {
            return Err(KmsError::unsupported(format!(
                "{} is not an asymmetric key.",
                r.arn()
            )));
        }
        let (_, secret) = entry
            .current_secret()
            .ok_or_else(|| KmsError::internal("key without material"))?;
        let signing = r.usage == KeyUsage::SignVerify;
        Ok(GetPublicKeyResponse {
            key_id: r.arn(),
            public_key: secret.public_key_der()?.into(),
            customer_master_key_spec: r.spec.as_str(),
            key_spec: r.spec.as_str(),
            key_usage: r.usage.as_str(),
            signing_algorithms: signing.then(|| r.spec.signing_algorithms(r.usage)),
            encryption_algorithms: (!signing).then(|| r.spec.encryption_algorithms(r.usage)),
        })
    }

    fn mac_algorithm<'a>(req: &'a MacRequest, entry: &KeyEntry) -> KmsResult<&'a str> {
        let alg = required(&req.mac_algorithm, "MacAlgorithm")?.as_str();
        if !entry.record.spec.mac_algorithms().contains(&alg) {
            return Err(KmsError::invalid_key_usage(format!(
                "MAC algorithm {alg} is not supported by {}.",
                entry.record.arn()
            )));
        }
        Ok(alg)
    }

    /// The HMAC of the request's message under its key: (key ARN, algorithm, MAC).
    async fn mac_of(
        &self,
        caller: &Caller,
        req: &MacRequest,
        op: &str,
        note: &mut Note,
    ) -> KmsResult<(String, String, Vec<u8>)> {
        let message = required_blob(&req.message, "Message", MAX_PLAINTEXT)?;
        let (entry, secret) = self
            .usage_key(
                caller,
                &req.key_id,
                false,
                KeyUsage::GenerateVerifyMac,
                op,
                note,
            )
            .await?;
        let alg = Self::mac_algorithm(req, &entry)?.to_owned();
        dry_run(req.dry_run)?;
        let mac = secret.mac(&alg, message)?;
        Ok((entry.record.arn(), alg, mac))
    }

    pub(super) async fn generate_mac(
        &self,
        caller: &Caller,
        req: &MacRequest,
        note: &mut Note,
    ) -> KmsResult<GenerateMacResponse> {
        let (key_id, mac_algorithm, mac) = self.mac_of(caller, req, "GenerateMac", note).await?;
        Ok(GenerateMacResponse {
            key_id,
            mac: mac.into(),
            mac_algorithm,
        })
    }

    pub(super) async fn verify_mac(
        &self,
        caller: &Caller,
        req: &MacRequest,
        note: &mut Note,
    ) -> KmsResult<VerifyMacResponse> {
        let given = required_blob(&req.mac, "Mac", MAX_CIPHERTEXT)?;
        let (key_id, mac_algorithm, mac) = self.mac_of(caller, req, "VerifyMac", note).await?;
        use subtle::ConstantTimeEq as _;
        if !bool::from(mac.ct_eq(given)) {
            return Err(KmsError::invalid_mac(""));
        }
        Ok(VerifyMacResponse {
            key_id,
            mac_valid: true,
            mac_algorithm,
        })
    }
}
