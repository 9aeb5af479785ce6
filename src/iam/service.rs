//! The IAM service: changes to users, access keys, groups and policies, each made durable
//! before it is answered, and the identities (access key -> principal + policies) that
//! S3, the KMS and IAM itself authenticate against, rebuilt after every change. With a
//! store shared by a fleet, the state in memory is a copy kept current: a change is
//! computed on the stored state under the store's lock, and lookups fail rather than trust
//! a copy that could not be confirmed current within the bound.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, RwLock, Weak};

use futures::future::BoxFuture;

use super::model::{AccessKey, AccountIam, Group, IamState, ManagedPolicy, User};
use super::store::IamStore;
use crate::clock::SharedClock;
use crate::identity::{Identity, IdentityUnavailable, UserDirectory};
use crate::policy::{Policy, PolicyKind, Principal};
use crate::postgres::changes::{CatchUpError, Replica, Watch};

/// AWS's limit of access keys per user.
const MAX_KEYS_PER_USER: usize = 2;
const MAX_NAME: usize = 64;
const MAX_POLICY_NAME: usize = 128;

crate::aws_error::aws_error_enum! {
    /// An IAM error with the code, HTTP status and message AWS answers.
    pub enum IamError {
        NoSuchEntity => no_such_entity, "NoSuchEntity", NOT_FOUND;
        EntityAlreadyExists => exists, "EntityAlreadyExists", CONFLICT;
        DeleteConflict => conflict, "DeleteConflict", CONFLICT;
        LimitExceeded => limit, "LimitExceeded", CONFLICT;
        Validation => validation, "ValidationError", BAD_REQUEST;
        MalformedPolicy => malformed_policy, "MalformedPolicyDocument", BAD_REQUEST;
        UnmodifiableEntity => unmodifiable, "UnmodifiableEntity", BAD_REQUEST;
        AccessDenied => access_denied, "AccessDenied", FORBIDDEN;
        MissingAuthenticationToken => missing_authentication, "MissingAuthenticationToken", FORBIDDEN;
        InvalidClientTokenId => invalid_client_token, "InvalidClientTokenId", FORBIDDEN;
        IncompleteSignature => incomplete_signature, "IncompleteSignature", BAD_REQUEST;
        SignatureDoesNotMatch => signature_mismatch, "SignatureDoesNotMatch", FORBIDDEN;
        MissingAction => missing_action, "MissingAction", BAD_REQUEST;
        InvalidAction => invalid_action, "InvalidAction", BAD_REQUEST;
        ServiceFailure => internal, "ServiceFailure", INTERNAL_SERVER_ERROR;
        ServiceUnavailable => unavailable, "ServiceUnavailable", SERVICE_UNAVAILABLE;
    }
}

pub type IamResult<T> = Result<T, IamError>;

/// A new access key, the only time its secret is shown.
#[derive(Debug)]
pub struct NewAccessKey {
    pub user_name: String,
    pub key: AccessKey,
}

pub struct IamService {
    current: Arc<Current>,
    clock: SharedClock,
    /// Users defined in the config, (account, lowercase name) -> name: the API shows them
    /// but cannot create or change them.
    config_users: HashMap<(String, String), String>,
    /// When this process loaded its config: the creation date shown for config users.
    opened: String,
}

/// The state in memory and who may authenticate by it.
struct Current {
    store: IamStore,
    /// How current the copy is, when the store is shared with other nodes.
    watch: Option<Arc<Watch>>,
    state: RwLock<Held>,
    identities: RwLock<HashMap<String, Arc<Identity>>>,
    /// Changes from this node are serialized; each is stored before the copy moves on.
    write: tokio::sync::Mutex<()>,
}

struct Held {
    state: IamState,
    /// The store revision `state` reflects (always 0 for a file).
    revision: i64,
}

/// Why the IAM state cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Store(#[from] super::store::StoreError),
    #[error(
        "users.{name}: account {account} also has a user {stored} made through the IAM API; remove one of them (delete the IAM user with the config user left out, then add it back)"
    )]
    ConfigUserTaken {
        account: String,
        name: String,
        stored: String,
    },
}

fn check_name(kind: &str, name: &str, max: usize) -> IamResult<()> {
    let ok = !name.is_empty()
        && name.len() <= max
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(IamError::validation(format!(
            "1 validation error detected: Value '{name}' at '{kind}' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+ and have length at most {max}"
        )))
    }
}

/// IAM's path pattern, `(\u002F)|(\u002F[\u0021-\u007E]+\u002F)`: the path goes into ARNs.
fn check_path(path: &str) -> IamResult<()> {
    if path.starts_with('/')
        && path.ends_with('/')
        && path.len() <= 512
        && path.bytes().all(|b| (0x21..=0x7e).contains(&b))
    {
        Ok(())
    } else {
        Err(IamError::validation(
            "The specified value for path is invalid. It must begin and end with / and contain only alphanumeric characters and/or / characters.",
        ))
    }
}

fn parse_policy(document: &str) -> IamResult<Arc<Policy>> {
    Policy::parse(document, PolicyKind::Identity)
        .map(Arc::new)
        .map_err(|e| IamError::malformed_policy(e.to_string()))
}

/// An id in AWS's style: a prefix and 16 (or `len`) uppercase letters and digits.
fn random_id(prefix: &str, len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut bytes = vec![0u8; len];
    crate::crypto::fill_random(&mut bytes);
    let tail: String = bytes
        .iter()
        .map(|b| ALPHABET[(*b as usize) % ALPHABET.len()] as char)
        .collect();
    format!("{prefix}{tail}")
}

fn config_user_id(account: &str, name: &str) -> String {
    use sha2::Digest as _;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let digest = sha2::Sha256::digest(format!("sealgate config user\0{account}\0{name}"));
    let tail: String = digest
        .iter()
        .take(17)
        .map(|b| ALPHABET[(*b as usize) % ALPHABET.len()] as char)
        .collect();
    format!("AIDA{tail}")
}

fn random_secret() -> String {
    use base64::Engine as _;
    let mut bytes = [0u8; 30];
    crate::crypto::fill_random(&mut bytes);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

impl IamService {
    /// The IAM service on `store`. With a shared store, the copy read now is kept current
    /// by [`crate::postgres::changes::Feed`] over [`IamService::watch`].
    pub async fn open(
        store: IamStore,
        clock: SharedClock,
        config_users: HashSet<(String, String)>,
    ) -> Result<IamService, OpenError> {
        let started = std::time::Instant::now();
        let (state, revision) = store.load().await?;
        // IAM names are unique regardless of case; two users of one name would share an ARN.
        for (account, name) in &config_users {
            let stored = state.accounts.get(account).and_then(|a| {
                a.users
                    .keys()
                    .find(|n| n.eq_ignore_ascii_case(name))
                    .cloned()
            });
            if let Some(stored) = stored {
                return Err(OpenError::ConfigUserTaken {
                    account: account.clone(),
                    name: name.clone(),
                    stored,
                });
            }
        }
        let opened = crate::audit::format_time(clock.now());
        let bound = store.bound();
        let current = Arc::new_cyclic(|me: &Weak<Current>| {
            let replica: Weak<dyn Replica> = me.clone();
            Current {
                store,
                watch: bound.map(|b| Arc::new(Watch::new("iam", b, replica))),
                state: RwLock::new(Held {
                    state: IamState::default(),
                    revision,
                }),
                identities: RwLock::default(),
                write: tokio::sync::Mutex::new(()),
            }
        });
        current.install(revision, revision, state);
        if let Some(watch) = &current.watch {
            watch.confirm(started);
        }
        Ok(IamService {
            current,
            clock,
            config_users: config_users
                .into_iter()
                .map(|(a, n)| ((a, n.to_ascii_lowercase()), n))
                .collect(),
            opened,
        })
    }

    /// How current this node's copy of a shared store is; None for a store of its own.
    pub fn watch(&self) -> Option<Arc<Watch>> {
        self.current.watch.clone()
    }

    /// Fails when the copy of a shared store cannot be confirmed current.
    pub async fn ensure_fresh(&self) -> Result<(), IdentityUnavailable> {
        self.current.ensure_fresh().await
    }

    fn now(&self) -> String {
        crate::audit::format_time(self.clock.now())
    }

    /// Applies `change` to the stored state, stores the result, then makes it current. A
    /// change that fails, or cannot be stored, leaves everything as it was.
    async fn change<T>(
        &self,
        account: &str,
        change: impl FnOnce(&mut AccountIam, &str) -> IamResult<T>,
    ) -> IamResult<T> {
        let cur = &self.current;
        let stored = |e: super::store::StoreError| {
            tracing::error!(error = %e, "IAM state could not be stored");
            IamError::internal("The IAM change could not be stored")
        };
        let _serial = cur.write.lock().await;
        let mut tx = cur.store.begin().await.map_err(stored)?;
        let base = tx.revision();
        if cur.held().revision != base {
            // Changed through another node: this change is computed on that.
            let state = tx.state(&cur.store).await.map_err(stored)?;
            cur.install_latest(base, state);
        }
        let mut next = cur.held().state.clone();
        let out = change(
            next.accounts.entry(account.to_owned()).or_default(),
            &self.now(),
        )?;
        let revision = cur.store.commit(tx, &next).await.map_err(stored)?;
        cur.install(base, revision, next);
        Ok(out)
    }

    /// Reads one account's IAM state.
    pub fn read<T>(&self, account: &str, f: impl FnOnce(&AccountIam) -> T) -> T {
        let held = self.current.held();
        let empty = AccountIam::default();
        f(held.state.accounts.get(account).unwrap_or(&empty))
    }

    pub fn is_config_user(&self, account: &str, name: &str) -> bool {
        self.config_users
            .contains_key(&(account.to_owned(), name.to_ascii_lowercase()))
    }

    /// A config user as the API shows it, with its name as configured: read-only, path `/`,
    /// a user id derived from its account and name (stable across restarts), created when
    /// the config was loaded.
    pub fn config_user(&self, account: &str, name: &str) -> Option<(String, User)> {
        let name = self
            .config_users
            .get(&(account.to_owned(), name.to_ascii_lowercase()))?;
        let user = User {
            user_id: config_user_id(account, name),
            path: "/".into(),
            created: self.opened.clone(),
            keys: Vec::new(),
            inline: Default::default(),
            attached: BTreeSet::new(),
        };
        Some((name.clone(), user))
    }

    /// The names of one account's config users.
    pub fn config_user_names(&self, account: &str) -> Vec<String> {
        let mut names: Vec<String> = self
            .config_users
            .iter()
            .filter(|((a, _), _)| a == account)
            .map(|(_, n)| n.clone())
            .collect();
        names.sort();
        names
    }

    pub async fn create_user(&self, account: &str, name: &str, path: &str) -> IamResult<User> {
        check_name("userName", name, MAX_NAME)?;
        check_path(path)?;
        if self.is_config_user(account, name) {
            return Err(IamError::exists(format!(
                "User with name {name} already exists (defined in the gateway's config)."
            )));
        }
        self.change(account, |iam, now| {
            if iam.users.keys().any(|n| n.eq_ignore_ascii_case(name)) {
                return Err(IamError::exists(format!(
                    "User with name {name} already exists."
                )));
            }
            let user = User {
                user_id: random_id("AIDA", 17),
                path: path.to_owned(),
                created: now.to_owned(),
                keys: Vec::new(),
                inline: Default::default(),
                attached: BTreeSet::new(),
            };
            iam.users.insert(name.to_owned(), user.clone());
            Ok(user)
        })
        .await
    }

    pub async fn delete_user(&self, account: &str, name: &str) -> IamResult<()> {
        self.change(account, |iam, _| {
            let user = user_of(iam, name)?;
            let in_group = iam.groups.values().any(|g| g.members.contains(name));
            if !user.keys.is_empty()
                || !user.inline.is_empty()
                || !user.attached.is_empty()
                || in_group
            {
                return Err(IamError::conflict(
                    "Cannot delete entity, must delete access keys, policies and group memberships first.",
                ));
            }
            iam.users.remove(name);
            Ok(())
        })
        .await
    }

    pub async fn create_access_key(
        &self,
        account: &str,
        user_name: &str,
    ) -> IamResult<NewAccessKey> {
        self.change(account, |iam, now| {
            let user = user_mut(iam, user_name)?;
            if user.keys.len() >= MAX_KEYS_PER_USER {
                return Err(IamError::limit(format!(
                    "Cannot exceed quota for AccessKeysPerUser: {MAX_KEYS_PER_USER}"
                )));
            }
            let key = AccessKey {
                id: random_id("AKIA", 16),
                secret: random_secret(),
                active: true,
                created: now.to_owned(),
            };
            user.keys.push(key.clone());
            Ok(NewAccessKey {
                user_name: user_name.to_owned(),
                key,
            })
        })
        .await
    }

    pub async fn update_access_key(
        &self,
        account: &str,
        user_name: &str,
        key_id: &str,
        active: bool,
    ) -> IamResult<()> {
        self.change(account, |iam, _| {
            let user = user_mut(iam, user_name)?;
            let key = user
                .keys
                .iter_mut()
                .find(|k| k.id == key_id)
                .ok_or_else(|| no_such_key(key_id))?;
            key.active = active;
            Ok(())
        })
        .await
    }

    pub async fn delete_access_key(
        &self,
        account: &str,
        user_name: &str,
        key_id: &str,
    ) -> IamResult<()> {
        self.change(account, |iam, _| {
            let user = user_mut(iam, user_name)?;
            let before = user.keys.len();
            user.keys.retain(|k| k.id != key_id);
            if user.keys.len() == before {
                return Err(no_such_key(key_id));
            }
            Ok(())
        })
        .await
    }

    /// The user an access key id of this account belongs to (for calls naming no user).
    pub fn user_of_key(&self, account: &str, key_id: &str) -> Option<String> {
        self.read(account, |iam| {
            iam.users
                .iter()
                .find(|(_, u)| u.keys.iter().any(|k| k.id == key_id))
                .map(|(n, _)| n.clone())
        })
    }

    /// Sets an inline policy of a user or group.
    pub async fn put_inline_policy(
        &self,
        account: &str,
        target: Target<'_>,
        policy_name: &str,
        document: &str,
    ) -> IamResult<()> {
        check_name("policyName", policy_name, MAX_POLICY_NAME)?;
        parse_policy(document)?;
        self.change(account, |iam, _| {
            inline_mut(iam, target)?.insert(policy_name.to_owned(), document.to_owned());
            Ok(())
        })
        .await
    }

    pub async fn delete_inline_policy(
        &self,
        account: &str,
        target: Target<'_>,
        policy_name: &str,
    ) -> IamResult<()> {
        self.change(account, |iam, _| {
            inline_mut(iam, target)?
                .remove(policy_name)
                .map(|_| ())
                .ok_or_else(|| no_such_policy_name(policy_name))
        })
        .await
    }

    pub async fn create_policy(
        &self,
        account: &str,
        name: &str,
        path: &str,
        description: &str,
        document: &str,
    ) -> IamResult<(String, ManagedPolicy)> {
        check_name("policyName", name, MAX_POLICY_NAME)?;
        check_path(path)?;
        parse_policy(document)?;
        self.change(account, |iam, now| {
            if iam.policies.contains_key(name) {
                return Err(IamError::exists(format!(
                    "A policy called {name} already exists. Duplicate names are not allowed."
                )));
            }
            let policy = ManagedPolicy {
                policy_id: random_id("ANPA", 17),
                path: path.to_owned(),
                description: description.to_owned(),
                document: document.to_owned(),
                created: now.to_owned(),
            };
            iam.policies.insert(name.to_owned(), policy.clone());
            Ok((name.to_owned(), policy))
        })
        .await
    }

    pub async fn delete_policy(&self, account: &str, arn: &str) -> IamResult<()> {
        self.change(account, |iam, _| {
            let name = policy_name_of(iam, account, arn)?;
            if iam.attachment_count(arn) > 0 {
                return Err(IamError::conflict(
                    "Cannot delete a policy attached to entities.",
                ));
            }
            iam.policies.remove(&name);
            Ok(())
        })
        .await
    }

    /// Attaches (or detaches) a managed policy to a user or a group.
    pub async fn set_attachment(
        &self,
        account: &str,
        target: Target<'_>,
        arn: &str,
        attach: bool,
    ) -> IamResult<()> {
        self.change(account, |iam, _| {
            policy_name_of(iam, account, arn)?;
            let set = match target {
                Target::User(n) => &mut user_mut(iam, n)?.attached,
                Target::Group(n) => &mut group_mut(iam, n)?.attached,
            };
            if attach {
                set.insert(arn.to_owned());
            } else if !set.remove(arn) {
                return Err(IamError::no_such_entity(format!(
                    "Policy {arn} was not found."
                )));
            }
            Ok(())
        })
        .await
    }

    pub async fn create_group(&self, account: &str, name: &str, path: &str) -> IamResult<Group> {
        check_name("groupName", name, 128)?;
        check_path(path)?;
        self.change(account, |iam, now| {
            if iam.groups.keys().any(|n| n.eq_ignore_ascii_case(name)) {
                return Err(IamError::exists(format!(
                    "Group with name {name} already exists."
                )));
            }
            let group = Group {
                group_id: random_id("AGPA", 17),
                path: path.to_owned(),
                created: now.to_owned(),
                members: BTreeSet::new(),
                inline: Default::default(),
                attached: BTreeSet::new(),
            };
            iam.groups.insert(name.to_owned(), group.clone());
            Ok(group)
        })
        .await
    }

    pub async fn delete_group(&self, account: &str, name: &str) -> IamResult<()> {
        self.change(account, |iam, _| {
            let g = group_mut(iam, name)?;
            if !g.members.is_empty() || !g.inline.is_empty() || !g.attached.is_empty() {
                return Err(IamError::conflict(
                    "Cannot delete entity, must remove users and policies from group first.",
                ));
            }
            iam.groups.remove(name);
            Ok(())
        })
        .await
    }

    pub async fn set_membership(
        &self,
        account: &str,
        group: &str,
        user: &str,
        member: bool,
    ) -> IamResult<()> {
        self.change(account, |iam, _| {
            user_of(iam, user)?;
            let g = group_mut(iam, group)?;
            if member {
                g.members.insert(user.to_owned());
            } else if !g.members.remove(user) {
                return Err(IamError::no_such_entity(format!(
                    "The user with name {user} is not in group {group}."
                )));
            }
            Ok(())
        })
        .await
    }
}

/// Access key -> identity of a state (policies were validated when stored).
fn identities_of(state: &IamState) -> HashMap<String, Arc<Identity>> {
    let mut map = HashMap::new();
    for (account, iam) in &state.accounts {
        for (name, user) in &iam.users {
            let parsed = effective_documents(account, iam, name, user)
                .into_iter()
                .map(|doc| Policy::parse(doc, PolicyKind::Identity).map(Arc::new))
                .collect::<Result<Vec<_>, _>>();
            // Every stored policy parsed when it was stored; one that no longer does (a
            // stricter grammar after an upgrade) may hold a Deny, so dropping it alone could
            // widen what the user may do. Such a user does not authenticate until fixed.
            let policies = match parsed {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!(
                        account = %account,
                        user = %name,
                        error = %e,
                        "a stored policy of this IAM user no longer parses; its access keys are refused"
                    );
                    continue;
                }
            };
            // A user made with a path has it in its ARN, as on AWS, so policies that name
            // the user by the ARN IAM reports match it.
            let principal = Principal {
                arn: super::model::user_arn(account, &user.path, name),
                ..Principal::user(account, name)
            };
            for key in user.keys.iter().filter(|k| k.active) {
                let identity = Identity {
                    principal: principal.clone(),
                    secret_key: key.secret.clone(),
                    policies: policies.clone(),
                };
                map.insert(key.id.clone(), Arc::new(identity));
            }
        }
    }
    map
}

impl Current {
    fn held(&self) -> std::sync::RwLockReadGuard<'_, Held> {
        // A poisoned lock means a panic between plain map updates of a cloned state that
        // was never installed; the state behind it is the last installed one.
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes `state` (of `revision`) current, unless the copy has moved past `base` since
    /// it was read (then the copy is newer). Answers whether it did.
    fn install(&self, base: i64, revision: i64, state: IamState) -> bool {
        let mut held = self.state.write().unwrap_or_else(|e| e.into_inner());
        if held.revision != base {
            return false;
        }
        let identities = identities_of(&state);
        *held = Held { state, revision };
        *self.identities.write().unwrap_or_else(|e| e.into_inner()) = identities;
        true
    }

    /// Makes the stored state current, read under the store's lock: nothing newer exists.
    fn install_latest(&self, revision: i64, state: IamState) {
        // Another catch-up may move the copy between the two reads; it reads no further.
        loop {
            let base = self.held().revision;
            if self.install(base, revision, state.clone()) {
                return;
            }
        }
    }

    async fn ensure_fresh(&self) -> Result<(), IdentityUnavailable> {
        let Some(watch) = &self.watch else {
            return Ok(());
        };
        watch.ensure_fresh().await.map_err(|e| {
            tracing::warn!(error = %e, "refusing to look up access keys: the IAM state may be stale");
            IdentityUnavailable(e.to_string())
        })
    }
}

/// Catching up: the stored state, when its revision is not the copy's.
impl Replica for Current {
    fn catch_up(&self) -> BoxFuture<'_, Result<(), CatchUpError>> {
        Box::pin(async move {
            loop {
                let base = self.held().revision;
                match self.store.other_than(base).await? {
                    None => return Ok(()),
                    Some((state, revision)) => {
                        if self.install(base, revision, state) {
                            return Ok(());
                        }
                    }
                }
            }
        })
    }
}

/// The identities of active IAM-made access keys, for S3, the KMS and IAM itself.
#[async_trait::async_trait]
impl UserDirectory for IamService {
    async fn lookup(&self, access_key: &str) -> Result<Option<Arc<Identity>>, IdentityUnavailable> {
        self.current.ensure_fresh().await?;
        Ok(self
            .current
            .identities
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(access_key)
            .cloned())
    }
}

/// What a managed policy is attached to.
#[derive(Clone, Copy)]
pub enum Target<'a> {
    User(&'a str),
    Group(&'a str),
}

fn inline_mut<'a>(
    iam: &'a mut AccountIam,
    target: Target<'_>,
) -> IamResult<&'a mut std::collections::BTreeMap<String, String>> {
    Ok(match target {
        Target::User(n) => &mut user_mut(iam, n)?.inline,
        Target::Group(n) => &mut group_mut(iam, n)?.inline,
    })
}

/// The policy documents that apply to a user: its inline and attached policies and those
/// of its groups.
fn effective_documents<'a>(
    account: &str,
    iam: &'a AccountIam,
    name: &str,
    user: &'a User,
) -> Vec<&'a str> {
    let groups: Vec<&Group> = iam
        .groups
        .values()
        .filter(|g| g.members.contains(name))
        .collect();
    let mut docs: Vec<&str> = user.inline.values().map(String::as_str).collect();
    docs.extend(
        groups
            .iter()
            .flat_map(|g| g.inline.values().map(String::as_str)),
    );
    let attached = user
        .attached
        .iter()
        .chain(groups.iter().flat_map(|g| g.attached.iter()));
    docs.extend(attached.filter_map(|arn| {
        iam.policy_by_arn(account, arn)
            .map(|(_, p)| p.document.as_str())
    }));
    docs
}

pub fn user_of<'a>(iam: &'a AccountIam, name: &str) -> IamResult<&'a User> {
    iam.users.get(name).ok_or_else(|| no_such_user(name))
}

fn user_mut<'a>(iam: &'a mut AccountIam, name: &str) -> IamResult<&'a mut User> {
    iam.users.get_mut(name).ok_or_else(|| no_such_user(name))
}

pub fn group_of<'a>(iam: &'a AccountIam, name: &str) -> IamResult<&'a Group> {
    iam.groups.get(name).ok_or_else(|| no_such_group(name))
}

fn group_mut<'a>(iam: &'a mut AccountIam, name: &str) -> IamResult<&'a mut Group> {
    iam.groups.get_mut(name).ok_or_else(|| no_such_group(name))
}

pub fn policy_name_of(iam: &AccountIam, account: &str, arn: &str) -> IamResult<String> {
    iam.policy_by_arn(account, arn)
        .map(|(n, _)| n.clone())
        .ok_or_else(|| {
            IamError::no_such_entity(format!("Policy {arn} does not exist or is not attachable."))
        })
}

fn no_such_user(name: &str) -> IamError {
    IamError::no_such_entity(format!("The user with name {name} cannot be found."))
}

fn no_such_group(name: &str) -> IamError {
    IamError::no_such_entity(format!("The group with name {name} cannot be found."))
}

fn no_such_key(id: &str) -> IamError {
    IamError::no_such_entity(format!("The Access Key with id {id} cannot be found."))
}

pub fn no_such_policy_name(name: &str) -> IamError {
    IamError::no_such_entity(format!("The user policy with name {name} cannot be found."))
}
