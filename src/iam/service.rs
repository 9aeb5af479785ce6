//! The IAM service: changes to users, access keys, groups and policies, each made durable
//! before it is answered, and the identities (access key -> principal + policies) that
//! S3, the KMS and IAM itself authenticate against, rebuilt after every change.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};

use super::model::{AccessKey, AccountIam, Group, IamState, ManagedPolicy, User};
use super::store::IamStore;
use crate::clock::SharedClock;
use crate::identity::{Identity, UserDirectory};
use crate::policy::{Policy, PolicyKind, Principal};

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
    store: IamStore,
    clock: SharedClock,
    /// Changes are serialized; each one is saved before the in-memory state moves on.
    state: Mutex<IamState>,
    identities: RwLock<HashMap<String, Arc<Identity>>>,
    /// Users defined in the config, (account, lowercase name) -> name: the API shows them
    /// but cannot create or change them.
    config_users: HashMap<(String, String), String>,
    /// When this process loaded its config: the creation date shown for config users.
    opened: String,
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
    pub fn open(
        store: IamStore,
        clock: SharedClock,
        config_users: HashSet<(String, String)>,
    ) -> Result<IamService, OpenError> {
        let state = store.load()?;
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
        let svc = IamService {
            store,
            clock,
            state: Mutex::new(state),
            identities: RwLock::default(),
            config_users: config_users
                .into_iter()
                .map(|(a, n)| ((a, n.to_ascii_lowercase()), n))
                .collect(),
            opened,
        };
        let state = svc.lock().clone();
        svc.rebuild(&state);
        Ok(svc)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, IamState> {
        // A poisoned lock means a panic between plain map updates of a cloned state that
        // was never stored; the state behind it is the last saved one.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn now(&self) -> String {
        crate::audit::format_time(self.clock.now())
    }

    /// Rebuilds access key -> identity from a state (policies were validated when stored).
    fn rebuild(&self, state: &IamState) {
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
        *self.identities.write().unwrap_or_else(|e| e.into_inner()) = map;
    }

    /// Applies `change` to a copy of the state, saves it, then makes it current. A change
    /// that fails, or cannot be saved, leaves everything as it was.
    fn change<T>(
        &self,
        account: &str,
        change: impl FnOnce(&mut AccountIam, &str) -> IamResult<T>,
    ) -> IamResult<T> {
        let mut guard = self.lock();
        let mut next = guard.clone();
        let now = self.now();
        let out = change(next.accounts.entry(account.to_owned()).or_default(), &now)?;
        self.store.save(&next).map_err(|e| {
            tracing::error!(error = %e, "IAM state could not be saved");
            IamError::internal("The IAM change could not be stored")
        })?;
        self.rebuild(&next);
        *guard = next;
        Ok(out)
    }

    /// Reads one account's IAM state.
    pub fn read<T>(&self, account: &str, f: impl FnOnce(&AccountIam) -> T) -> T {
        let guard = self.lock();
        let empty = AccountIam::default();
        f(guard.accounts.get(account).unwrap_or(&empty))
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

    pub fn create_user(&self, account: &str, name: &str, path: &str) -> IamResult<User> {
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
    }

    pub fn delete_user(&self, account: &str, name: &str) -> IamResult<()> {
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
    }

    pub fn create_access_key(&self, account: &str, user_name: &str) -> IamResult<NewAccessKey> {
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
    }

    pub fn update_access_key(
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
    }

    pub fn delete_access_key(&self, account: &str, user_name: &str, key_id: &str) -> IamResult<()> {
        self.change(account, |iam, _| {
            let user = user_mut(iam, user_name)?;
            let before = user.keys.len();
            user.keys.retain(|k| k.id != key_id);
            if user.keys.len() == before {
                return Err(no_such_key(key_id));
            }
            Ok(())
        })
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
    pub fn put_inline_policy(
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
    }

    pub fn delete_inline_policy(
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
    }

    pub fn create_policy(
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
    }

    pub fn delete_policy(&self, account: &str, arn: &str) -> IamResult<()> {
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
    }

    /// Attaches (or detaches) a managed policy to a user or a group.
    pub fn set_attachment(
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
    }

    pub fn create_group(&self, account: &str, name: &str, path: &str) -> IamResult<Group> {
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
    }

    pub fn delete_group(&self, account: &str, name: &str) -> IamResult<()> {
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
    }

    pub fn set_membership(
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
    }
}

/// The identities of active IAM-made access keys, for S3, the KMS and IAM itself.
impl UserDirectory for IamService {
    fn lookup(&self, access_key: &str) -> Option<Arc<Identity>> {
        self.identities
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(access_key)
            .cloned()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::RootKey;

    const ACCT: &str = "000000000000";

    fn service(dir: &std::path::Path, root: &RootKey) -> IamService {
        let store = IamStore::new(dir, root.iam_sealer(), false);
        let config_users = HashSet::from([(ACCT.to_owned(), "fromconfig".to_owned())]);
        IamService::open(store, crate::clock::system(), config_users).unwrap()
    }

    const LIST_KEYS: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:ListKeys","Resource":"*"}]}"#;

    #[test]
    fn identities_follow_every_change_and_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let root = RootKey::generate();
        let iam = service(dir.path(), &root);
        iam.create_user(ACCT, "alice", "/").unwrap();
        let key = iam.create_access_key(ACCT, "alice").unwrap().key;
        assert!(iam.lookup(&key.id).unwrap().policies.is_empty());
        // Policies reach a user inline, attached, and through a group.
        iam.put_inline_policy(ACCT, Target::User("alice"), "inline", LIST_KEYS)
            .unwrap();
        let (name, p) = iam
            .create_policy(ACCT, "managed", "/", "", LIST_KEYS)
            .unwrap();
        let arn = crate::iam::model::policy_arn(ACCT, &p.path, &name);
        iam.set_attachment(ACCT, Target::User("alice"), &arn, true)
            .unwrap();
        iam.create_group(ACCT, "team", "/").unwrap();
        iam.set_membership(ACCT, "team", "alice", true).unwrap();
        iam.put_inline_policy(ACCT, Target::Group("team"), "g", LIST_KEYS)
            .unwrap();
        assert_eq!(iam.lookup(&key.id).unwrap().policies.len(), 3);
        assert_eq!(
            iam.lookup(&key.id).unwrap().principal.arn,
            "arn:aws:iam::000000000000:user/alice"
        );
        iam.update_access_key(ACCT, "alice", &key.id, false)
            .unwrap();
        assert!(
            iam.lookup(&key.id).is_none(),
            "inactive keys do not authenticate"
        );
        iam.update_access_key(ACCT, "alice", &key.id, true).unwrap();
        iam.create_user(ACCT, "dave", "/team/a/").unwrap();
        let dave = iam.create_access_key(ACCT, "dave").unwrap().key;
        let principal = iam.lookup(&dave.id).unwrap().principal.clone();
        assert_eq!(principal.arn, "arn:aws:iam::000000000000:user/team/a/dave");
        assert_eq!(
            principal.kind,
            crate::policy::PrincipalKind::User {
                name: "dave".into()
            }
        );
        drop(iam);
        let again = service(dir.path(), &root);
        let identity = again.lookup(&key.id).unwrap();
        assert_eq!(identity.secret_key, key.secret);
        assert_eq!(identity.policies.len(), 3);
    }

    #[test]
    fn config_users_are_shown_read_only_and_their_names_stay_theirs() {
        let dir = tempfile::tempdir().unwrap();
        let root = RootKey::generate();
        let iam = service(dir.path(), &root);
        // Names are compared without case, as IAM does.
        assert_eq!(
            iam.create_user(ACCT, "FromConfig", "/").unwrap_err().code(),
            "EntityAlreadyExists"
        );
        let (name, user) = iam.config_user(ACCT, "FROMCONFIG").unwrap();
        assert_eq!(name, "fromconfig");
        assert!(user.user_id.starts_with("AIDA") && user.user_id.len() == 21);
        assert_eq!(
            user.user_id,
            service(dir.path(), &root)
                .config_user(ACCT, "fromconfig")
                .unwrap()
                .1
                .user_id,
            "a config user's id is the same after a restart"
        );
        assert!(iam.config_user("111111111111", "fromconfig").is_none());
        assert_eq!(iam.config_user_names(ACCT), ["fromconfig"]);

        // A user made through the API before the config gained that name stops start-up.
        iam.create_user(ACCT, "Later", "/").unwrap();
        drop(iam);
        let store = IamStore::new(dir.path(), root.iam_sealer(), false);
        let taken = HashSet::from([(ACCT.to_owned(), "later".to_owned())]);
        let err = IamService::open(store, crate::clock::system(), taken)
            .err()
            .unwrap();
        assert!(
            matches!(&err, OpenError::ConfigUserTaken { stored, .. } if stored == "Later"),
            "{err}"
        );
    }

    #[test]
    fn a_stored_policy_that_no_longer_parses_locks_its_user_out() {
        let dir = tempfile::tempdir().unwrap();
        let root = RootKey::generate();
        let iam = service(dir.path(), &root);
        iam.create_user(ACCT, "carol", "/").unwrap();
        let key = iam.create_access_key(ACCT, "carol").unwrap().key;
        iam.put_inline_policy(ACCT, Target::User("carol"), "p", LIST_KEYS)
            .unwrap();
        drop(iam);
        // As if a later grammar refused what an earlier one stored.
        let store = IamStore::new(dir.path(), root.iam_sealer(), false);
        let mut state = store.load().unwrap();
        let carol = state
            .accounts
            .get_mut(ACCT)
            .unwrap()
            .users
            .get_mut("carol")
            .unwrap();
        carol.inline.insert(
            "deny".into(),
            r#"{"Statement":[{"Effect":"Maybe"}]}"#.into(),
        );
        store.save(&state).unwrap();
        let again = service(dir.path(), &root);
        assert!(
            again.lookup(&key.id).is_none(),
            "without its (possibly denying) policy the user would be allowed more"
        );
    }

    #[test]
    fn refused_changes_leave_the_state_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let iam = service(dir.path(), &RootKey::generate());
        assert_eq!(
            iam.create_user(ACCT, "fromconfig", "/").unwrap_err().code(),
            "EntityAlreadyExists"
        );
        for bad in ["team/", "/team", "/a team/", "/équipe/"] {
            assert_eq!(
                iam.create_user(ACCT, "bob", bad).unwrap_err().code(),
                "ValidationError",
                "{bad}"
            );
        }
        iam.create_user(ACCT, "bob", "/").unwrap();
        let err = iam
            .put_inline_policy(
                ACCT,
                Target::User("bob"),
                "p",
                r#"{"Statement":[{"Effect":"Maybe"}]}"#,
            )
            .unwrap_err();
        assert_eq!(err.code(), "MalformedPolicyDocument");
        iam.create_access_key(ACCT, "bob").unwrap();
        iam.create_access_key(ACCT, "bob").unwrap();
        assert_eq!(
            iam.create_access_key(ACCT, "bob").unwrap_err().code(),
            "LimitExceeded"
        );
        assert_eq!(
            iam.delete_user(ACCT, "bob").unwrap_err().code(),
            "DeleteConflict"
        );
        iam.read(ACCT, |a| {
            let bob = &a.users["bob"];
            assert!(bob.inline.is_empty());
            assert_eq!(bob.keys.len(), 2);
        });
        assert_eq!(
            iam.read("111111111111", |a| a.users.len()),
            0,
            "accounts do not see each other's users"
        );
    }
}
