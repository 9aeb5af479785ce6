//! Cryptographic operations: Encrypt, Decrypt, ReEncrypt, data keys and key pairs,
//! random bytes, signatures and MACs.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};
use zeroize::Zeroizing;

use super::caller::Caller;
use super::ciphertext::{self, BlobHeader};
use super::errors::{KmsError, KmsResult};
use super::input::{Input, b64, must_not_be_null};
use super::material::{Secret, random_bytes};
use super::model::{KeySpec, KeyState, KeyUsage};
use super::service::{KeyEntry, KmsService, Note};

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

fn dry_run(input: &Input) -> KmsResult<()> {
    if input.opt_bool("DryRun")? == Some(true) {
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

fn encryption_algorithm(input: &Input, name: &str) -> KmsResult<String> {
    Ok(input
        .opt_str(name)?
        .unwrap_or("SYMMETRIC_DEFAULT")
        .to_owned())
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

fn data_key_len(input: &Input) -> KmsResult<usize> {
    match (
        input.opt_str("KeySpec")?,
        input.opt_int("NumberOfBytes", 1, 1024)?,
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
        let entry = self.by_id(&id).ok_or_else(|| {
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
        input: &Input,
        note: &mut Note,
    ) -> KmsResult<Value> {
        let plaintext = Zeroizing::new(input.blob("Plaintext", MAX_PLAINTEXT)?);
        let context = input.context("EncryptionContext")?;
        let algorithm = encryption_algorithm(input, "EncryptionAlgorithm")?;
        note.context = Some(context.clone());
        let entry = self
            .encrypting_key(
                caller,
                input.key_id()?,
                "kms:Encrypt",
                "Encrypt",
                &context,
                note,
            )
            .await?;
        check_algorithm(&entry, &algorithm)?;
        dry_run(input)?;
        let (blob, material_id) = encrypt_with(&entry, &algorithm, &context, &plaintext)?;
        note.key_version = Some(material_id.clone());
        Ok(json!({
            "CiphertextBlob": b64(&blob),
            "KeyId": entry.record.arn(),
            "EncryptionAlgorithm": algorithm,
        }))
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
        input: &Input,
        note: &mut Note,
    ) -> KmsResult<Value> {
        let blob = input.blob("CiphertextBlob", MAX_CIPHERTEXT)?;
        let context = input.context("EncryptionContext")?;
        let algorithm = encryption_algorithm(input, "EncryptionAlgorithm")?;
        note.context = Some(context.clone());
        if input.object("Recipient")?.is_some() {
            return Err(KmsError::unsupported(
                "Recipient (Nitro Enclaves attestation) is not supported",
            ));
        }
        let (plain, entry, material_id) = self
            .open_any(
                caller,
                Sealed {
                    blob: &blob,
                    key_ref: input.opt_str("KeyId")?,
                    algorithm: &algorithm,
                    context: &context,
                },
                ("kms:Decrypt", "Decrypt"),
                note,
            )
            .await?;
        dry_run(input)?;
        Ok(json!({
            "KeyId": entry.record.arn(),
            "Plaintext": b64(&plain),
            "EncryptionAlgorithm": algorithm,
            "KeyMaterialId": material_id,
        }))
    }

    pub(super) async fn re_encrypt(
        &self,
        caller: &Caller,
        input: &Input,
        note: &mut Note,
    ) -> KmsResult<Value> {
        let blob = input.blob("CiphertextBlob", MAX_CIPHERTEXT)?;
        let source_context = input.context("SourceEncryptionContext")?;
        let dest_context = input.context("DestinationEncryptionContext")?;
        let source_alg = encryption_algorithm(input, "SourceEncryptionAlgorithm")?;
        let dest_alg = encryption_algorithm(input, "DestinationEncryptionAlgorithm")?;
        let dest_ref = input.str_len("DestinationKeyId", 1, 2048)?;
        let (plain, source, source_material) = self
            .open_any(
                caller,
                Sealed {
                    blob: &blob,
                    key_ref: input.opt_str("SourceKeyId")?,
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
        dry_run(input)?;
        let (new_blob, dest_material) = encrypt_with(&dest, &dest_alg, &dest_context, &plain)?;
        Ok(json!({
            "CiphertextBlob": b64(&new_blob),
            "SourceKeyId": source.record.arn(),
            "KeyId": dest.record.arn(),
            "SourceEncryptionAlgorithm": source_alg,
            "DestinationEncryptionAlgorithm": dest_alg,
            "SourceKeyMaterialId": source_material,
            "DestinationKeyMaterialId": dest_material,
        }))
    }

    pub(super) async fn generate_data_key_op(
        &self,
        caller: &Caller,
        input: &Input,
        note: &mut Note,
        with_plaintext: bool,
    ) -> KmsResult<Value> {
        let len = data_key_len(input)?;
        let context = input.context("EncryptionContext")?;
        note.context = Some(context.clone());
        if input.object("Recipient")?.is_some() {
            return Err(KmsError::unsupported(
                "Recipient (Nitro Enclaves attestation) is not supported",
            ));
        }
        let key_ref = input.key_id()?;
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
        dry_run(input)?;
        note.key_version = Some(out.material_id.clone());
        let mut v = json!({
            "CiphertextBlob": b64(&out.ciphertext_blob),
            "KeyId": out.key_arn,
            "KeyMaterialId": out.material_id,
        });
        if with_plaintext {
            v["Plaintext"] = b64(&out.plaintext);
        }
        Ok(v)
    }

    pub(super) async fn generate_data_key_pair(
        &self,
        caller: &Caller,
        input: &Input,
        note: &mut Note,
        with_plaintext: bool,
    ) -> KmsResult<Value> {
        let pair_spec_text = input.str("KeyPairSpec")?;
        let pair_spec = KeySpec::parse(pair_spec_text)
            .filter(|s| s.is_asymmetric())
            .ok_or_else(|| {
                KmsError::unsupported(format!("KeyPairSpec {pair_spec_text} is not supported"))
            })?;
        let context = input.context("EncryptionContext")?;
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
            .encrypting_key(caller, input.key_id()?, action, op, &context, note)
            .await?;
        if entry.record.spec != KeySpec::SymmetricDefault {
            return Err(KmsError::invalid_key_usage(
                "Data key pairs are protected by a symmetric key.",
            ));
        }
        dry_run(input)?;
        let pair = tokio::task::spawn_blocking(move || Secret::generate(pair_spec))
            .await
            .map_err(|e| KmsError::internal(format!("key generation: {e}")))??;
        let private = pair.encode()?;
        let public = pair.public_key_der()?;
        let (blob, material_id) = seal_symmetric(&entry, &context, &private)?;
        note.key_version = Some(material_id.clone());
        let mut v = json!({
            "PrivateKeyCiphertextBlob": b64(&blob),
            "PublicKey": b64(&public),
            "KeyId": entry.record.arn(),
            "KeyPairSpec": pair_spec.as_str(),
            "KeyMaterialId": material_id,
        });
        if with_plaintext {
            v["PrivateKeyPlaintext"] = b64(&private);
        }
        Ok(v)
    }

    pub(super) async fn generate_random(&self, caller: &Caller, input: &Input) -> KmsResult<Value> {
        let n = input
            .opt_int("NumberOfBytes", 1, 1024)?
            .ok_or_else(|| must_not_be_null("NumberOfBytes"))?;
        if input.opt_str("CustomKeyStoreId")?.is_some() {
            return Err(KmsError::unsupported("Custom key stores are not supported"));
        }
        self.authorize_account(caller, "kms:GenerateRandom")?;
        Ok(json!({ "Plaintext": b64(&random_bytes(n as usize)) }))
    }

    /// The key of Sign, Verify, GenerateMac and VerifyMac after every check.
    async fn usage_key(
        &self,
        caller: &Caller,
        input: &Input,
        allow_alias: bool,
        usage: KeyUsage,
        op: &str,
        note: &mut Note,
    ) -> KmsResult<(Arc<KeyEntry>, Arc<Secret>)> {
        let entry = self.resolve(input.key_id()?, allow_alias).await?;
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

    fn message(input: &Input) -> KmsResult<(Vec<u8>, bool)> {
        let message = input.blob("Message", MAX_PLAINTEXT)?;
        let is_digest = match input.opt_str("MessageType")? {
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

    fn signing_algorithm<'a>(input: &'a Input, entry: &KeyEntry) -> KmsResult<&'a str> {
        let alg = input.str("SigningAlgorithm")?;
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
        input: &Input,
        note: &mut Note,
    ) -> KmsResult<Value> {
        let (message, is_digest) = Self::message(input)?;
        let (entry, secret) = self
            .usage_key(caller, input, true, KeyUsage::SignVerify, "Sign", note)
            .await?;
        let alg = Self::signing_algorithm(input, &entry)?.to_owned();
        dry_run(input)?;
        let a = alg.clone();
        let signature = tokio::task::spawn_blocking(move || secret.sign(&a, &message, is_digest))
            .await
            .map_err(|e| KmsError::internal(format!("signing: {e}")))??;
        Ok(
            json!({ "KeyId": entry.record.arn(), "Signature": b64(&signature), "SigningAlgorithm": alg }),
        )
    }

    pub(super) async fn verify(
        &self,
        caller: &Caller,
        input: &Input,
        note: &mut Note,
    ) -> KmsResult<Value> {
        let (message, is_digest) = Self::message(input)?;
        let signature = input.blob("Signature", MAX_CIPHERTEXT)?;
        let (entry, secret) = self
            .usage_key(caller, input, true, KeyUsage::SignVerify, "Verify", note)
            .await?;
        let alg = Self::signing_algorithm(input, &entry)?.to_owned();
        dry_run(input)?;
        if !secret.verify(&alg, &message, is_digest, &signature)? {
            return Err(KmsError::invalid_signature_value(""));
        }
        Ok(json!({ "KeyId": entry.record.arn(), "SignatureValid": true, "SigningAlgorithm": alg }))
    }

    pub(super) async fn get_public_key(
        &self,
        caller: &Caller,
        input: &Input,
        note: &mut Note,
    ) -> KmsResult<Value> {
        let entry = self.resolve(input.key_id()?, true).await?;
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
        let mut v = json!({
            "KeyId": r.arn(),
            "PublicKey": b64(&secret.public_key_der()?),
            "CustomerMasterKeySpec": r.spec.as_str(),
            "KeySpec": r.spec.as_str(),
            "KeyUsage": r.usage.as_str(),
        });
        match r.usage {
            KeyUsage::SignVerify => {
                v["SigningAlgorithms"] = json!(r.spec.signing_algorithms(r.usage))
            }
            _ => v["EncryptionAlgorithms"] = json!(r.spec.encryption_algorithms(r.usage)),
        }
        Ok(v)
    }

    fn mac_algorithm<'a>(input: &'a Input, entry: &KeyEntry) -> KmsResult<&'a str> {
        let alg = input.str("MacAlgorithm")?;
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
        input: &Input,
        op: &str,
        note: &mut Note,
    ) -> KmsResult<(String, String, Vec<u8>)> {
        let message = input.blob("Message", MAX_PLAINTEXT)?;
        let (entry, secret) = self
            .usage_key(caller, input, false, KeyUsage::GenerateVerifyMac, op, note)
            .await?;
        let alg = Self::mac_algorithm(input, &entry)?.to_owned();
        dry_run(input)?;
        let mac = secret.mac(&alg, &message)?;
        Ok((entry.record.arn(), alg, mac))
    }

    pub(super) async fn generate_mac(
        &self,
        caller: &Caller,
        input: &Input,
        note: &mut Note,
    ) -> KmsResult<Value> {
        let (arn, alg, mac) = self.mac_of(caller, input, "GenerateMac", note).await?;
        Ok(json!({ "KeyId": arn, "Mac": b64(&mac), "MacAlgorithm": alg }))
    }

    pub(super) async fn verify_mac(
        &self,
        caller: &Caller,
        input: &Input,
        note: &mut Note,
    ) -> KmsResult<Value> {
        let given = input.blob("Mac", MAX_CIPHERTEXT)?;
        let (arn, alg, mac) = self.mac_of(caller, input, "VerifyMac", note).await?;
        use subtle::ConstantTimeEq as _;
        if !bool::from(mac.ct_eq(&given)) {
            return Err(KmsError::invalid_mac(""));
        }
        Ok(json!({ "KeyId": arn, "MacValid": true, "MacAlgorithm": alg }))
    }
}
