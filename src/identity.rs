//! Who a request comes from: the root users of the gateway's accounts, the IAM users of
//! the config, and the users made at run time (through the IAM API), each with an access
//! key and the identity policies that say what it may do. Run-time users come from a
//! [`UserDirectory`] handed in at setup, so this module knows no IAM service.

use std::collections::HashMap;
use std::sync::Arc;

use crate::config::Config;
use crate::policy::{Policy, PolicyKind, Principal};

/// Per-connection facts an edge knows about who it talks to.
#[derive(Debug, Clone, Copy)]
pub struct Peer {
    pub ip: Option<std::net::IpAddr>,
    pub tls: bool,
}

pub struct Identity {
    pub principal: Principal,
    pub secret_key: String,
    pub policies: Vec<Arc<Policy>>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("principal", &self.principal.arn)
            .finish_non_exhaustive()
    }
}

/// The users made at run time could not be looked up: their directory could not confirm
/// that it is current (a fleet's database out of reach). Requests fail, as unavailable,
/// rather than be decided on a copy that may still hold a deleted key or an old policy.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the identity directory is unavailable: {0}")]
pub struct IdentityUnavailable(pub String);

/// Users made while the gateway runs, looked up by access key.
#[async_trait::async_trait]
pub trait UserDirectory: Send + Sync {
    async fn lookup(&self, access_key: &str) -> Result<Option<Arc<Identity>>, IdentityUnavailable>;
}

#[derive(Default)]
pub struct Identities {
    /// Root users and config users: fixed for the life of the process.
    configured: HashMap<String, Arc<Identity>>,
    directory: Option<Arc<dyn UserDirectory>>,
}

impl Identities {
    pub fn new(
        config: &Config,
        root_access_key: &str,
        root_secret_key: &str,
    ) -> Result<Identities, String> {
        let mut ids = Identities::default();
        let mut add = |ak: &str, identity: Identity| {
            if ids
                .configured
                .insert(ak.to_owned(), Arc::new(identity))
                .is_some()
            {
                return Err(format!("access key {ak} is configured twice"));
            }
            Ok(())
        };
        let root = |account: &str, secret: &str| Identity {
            principal: Principal::root(account),
            secret_key: secret.to_owned(),
            policies: Vec::new(),
        };
        add(root_access_key, root(&config.account_id, root_secret_key))?;
        for a in &config.accounts {
            add(
                &a.root_access_key_id,
                root(&a.id, &a.root_secret_access_key),
            )?;
        }
        for user in &config.users {
            let policies = user
                .policies
                .iter()
                .enumerate()
                .map(|(i, text)| {
                    Policy::parse(text, PolicyKind::Identity)
                        .map(Arc::new)
                        .map_err(|e| format!("users.{}: policy {}: {e}", user.name, i + 1))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let account = user.account.as_deref().unwrap_or(&config.account_id);
            let identity = Identity {
                principal: Principal::user(account, &user.name),
                secret_key: user.secret_access_key.clone(),
                policies,
            };
            add(&user.access_key_id, identity)?;
        }
        Ok(ids)
    }

    /// Adds the users made at run time; the configured ones come first.
    pub fn with_directory(mut self, directory: Arc<dyn UserDirectory>) -> Identities {
        self.directory = Some(directory);
        self
    }

    /// The identity of an access key; None for one nobody has.
    pub async fn lookup(
        &self,
        access_key: &str,
    ) -> Result<Option<Arc<Identity>>, IdentityUnavailable> {
        if let Some(identity) = self.configured.get(access_key) {
            return Ok(Some(identity.clone()));
        }
        match &self.directory {
            Some(directory) => directory.lookup(access_key).await,
            None => Ok(None),
        }
    }
}
