//! The PKCS#11 root of trust: an AES-256 key that never leaves the HSM seals the root
//! secret (CKM_AES_GCM); the gateway holds the secret in memory only.

use std::path::{Path, PathBuf};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use zeroize::Zeroizing;

use super::{IV_LEN, RootError, SEALED_FILE, SealedRoot, seal_aad};
use crate::config::Pkcs11Config;
use crate::crypto::RootKey;

pub const PIN_ENV: &str = "SEALGATE_PKCS11_PIN";

fn fail(what: impl std::fmt::Display) -> RootError {
    RootError(format!("PKCS#11 root of trust: {what}"))
}

/// A logged-in session on the configured token.
struct Hsm {
    session: Session,
    key_label: String,
    // Keeps the module loaded while the session lives.
    _ctx: Pkcs11,
}

fn pin(cfg: &Pkcs11Config) -> Result<AuthPin, RootError> {
    if let Ok(p) = std::env::var(PIN_ENV)
        && !p.is_empty()
    {
        return Ok(AuthPin::from(p));
    }
    let Some(path) = &cfg.pin_file else {
        return Err(fail(format!(
            "no PIN: set {PIN_ENV} or root.pkcs11.pin_file"
        )));
    };
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(path)
        .map_err(|e| fail(format!("cannot read the PIN file {}: {e}", path.display())))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(fail(format!(
            "the PIN file {} is readable by other users (mode {:o}); run chmod 600 on it",
            path.display(),
            mode & 0o777
        )));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| fail(format!("cannot read the PIN file {}: {e}", path.display())))?;
    Ok(AuthPin::from(text.trim().to_owned()))
}

impl Hsm {
    fn open(cfg: &Pkcs11Config) -> Result<Hsm, RootError> {
        let ctx = Pkcs11::new(&cfg.module).map_err(|e| {
            fail(format!(
                "cannot load the module {}: {e}",
                cfg.module.display()
            ))
        })?;
        ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
            .map_err(|e| fail(format!("the module did not initialize: {e}")))?;
        let slots = ctx
            .get_slots_with_token()
            .map_err(|e| fail(format!("cannot list tokens: {e}")))?;
        let matching: Vec<_> = slots
            .into_iter()
            .filter(|s| {
                ctx.get_token_info(*s)
                    .is_ok_and(|t| t.label().trim_end() == cfg.token_label)
            })
            .collect();
        let slot = match matching.as_slice() {
            [one] => *one,
            [] => return Err(fail(format!("no token labelled '{}'", cfg.token_label))),
            _ => {
                return Err(fail(format!(
                    "more than one token labelled '{}'; refusing to guess",
                    cfg.token_label
                )));
            }
        };
        let session = ctx.open_rw_session(slot).map_err(|e| {
            fail(format!(
                "cannot open a session on '{}': {e}",
                cfg.token_label
            ))
        })?;
        session
            .login(UserType::User, Some(&pin(cfg)?))
            .map_err(|e| {
                fail(format!(
                    "login to token '{}' failed (wrong PIN?): {e}",
                    cfg.token_label
                ))
            })?;
        Ok(Hsm {
            session,
            key_label: cfg.key_label.clone(),
            _ctx: ctx,
        })
    }

    fn find_key(&self) -> Result<Option<ObjectHandle>, RootError> {
        let found = self
            .session
            .find_objects(&[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::Label(self.key_label.as_bytes().to_vec()),
            ])
            .map_err(|e| fail(format!("searching for key '{}': {e}", self.key_label)))?;
        let key = match found.as_slice() {
            [] => return Ok(None),
            [one] => *one,
            _ => {
                return Err(fail(format!(
                    "more than one key labelled '{}'; refusing to guess",
                    self.key_label
                )));
            }
        };
        // A key the token would hand out is no root of trust.
        let attrs = self
            .session
            .get_attributes(key, &[AttributeType::Sensitive, AttributeType::Extractable])
            .map_err(|e| fail(format!("reading key '{}': {e}", self.key_label)))?;
        let guarded = attrs.contains(&Attribute::Sensitive(true))
            && attrs.contains(&Attribute::Extractable(false));
        if !guarded {
            return Err(fail(format!(
                "key '{}' is extractable or not sensitive; use a key that cannot leave the HSM",
                self.key_label
            )));
        }
        Ok(Some(key))
    }

    /// A non-extractable, sensitive AES-256 key on the token, for sealing only.
    fn generate_key(&self) -> Result<ObjectHandle, RootError> {
        let template = [
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::ValueLen(32.into()),
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Encrypt(true),
            Attribute::Decrypt(true),
            Attribute::Label(self.key_label.as_bytes().to_vec()),
        ];
        self.session
            .generate_key(&Mechanism::AesKeyGen, &template)
            .map_err(|e| fail(format!("cannot create key '{}': {e}", self.key_label)))
    }

    fn seal(&self, key: ObjectHandle, secret: &[u8]) -> Result<SealedRoot, RootError> {
        let mut iv = [0u8; IV_LEN];
        crate::crypto::fill_random(&mut iv);
        let aad = seal_aad(&self.key_label);
        let mut iv_param = iv;
        let params = GcmParams::new(&mut iv_param, &aad, 128.into()).map_err(fail)?;
        let ciphertext = self
            .session
            .encrypt(&Mechanism::AesGcm(params), key, secret)
            .map_err(|e| fail(format!("sealing the root secret: {e}")))?;
        Ok(SealedRoot { iv, ciphertext })
    }

    fn unseal(&self, key: ObjectHandle, sealed: &SealedRoot) -> Result<RootKey, RootError> {
        let aad = seal_aad(&self.key_label);
        let mut iv = sealed.iv;
        let params = GcmParams::new(&mut iv, &aad, 128.into()).map_err(fail)?;
        let plain = Zeroizing::new(
            self.session
                .decrypt(&Mechanism::AesGcm(params), key, &sealed.ciphertext)
                .map_err(|e| {
                    fail(format!(
                        "{SEALED_FILE} does not open with key '{}' (tampered, or sealed by another key): {e}",
                        self.key_label
                    ))
                })?,
        );
        let bytes: [u8; 32] = plain
            .as_slice()
            .try_into()
            .map_err(|_| fail(format!("{SEALED_FILE} holds no 32-byte secret")))?;
        Ok(RootKey::from_bytes(bytes))
    }
}

pub fn sealed_path(data_dir: &Path) -> PathBuf {
    data_dir.join(SEALED_FILE)
}

/// Unseals the root secret; None when there is no sealed file yet (nothing is created).
pub fn load(cfg: &Pkcs11Config, data_dir: &Path) -> Result<Option<RootKey>, RootError> {
    let path = sealed_path(data_dir);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(fail(format!("cannot read {}: {e}", path.display()))),
    };
    let sealed = SealedRoot::decode(&bytes)?;
    let hsm = Hsm::open(cfg)?;
    let key = hsm.find_key()?.ok_or_else(|| {
        fail(format!(
            "{} exists but token '{}' has no key labelled '{}'",
            path.display(),
            cfg.token_label,
            cfg.key_label
        ))
    })?;
    hsm.unseal(key, &sealed).map(Some)
}

/// A fresh root secret sealed by the HSM (its key created if the token has none); returns
/// the secret and the file's bytes, which the caller writes durably.
pub fn create(cfg: &Pkcs11Config) -> Result<(RootKey, Vec<u8>), RootError> {
    let hsm = Hsm::open(cfg)?;
    let key = match hsm.find_key()? {
        Some(k) => k,
        None => hsm.generate_key()?,
    };
    let root = RootKey::generate();
    let sealed = hsm.seal(key, root.as_bytes())?;
    // Prove the seal opens before anything depends on it.
    let again = hsm.unseal(key, &sealed)?;
    if again.as_bytes() != root.as_bytes() {
        return Err(fail("the HSM returned a different secret than it sealed"));
    }
    Ok((root, sealed.encode()))
}
