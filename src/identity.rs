//! Who a request comes from: the account's root user and the IAM users of the config,
//! each with an access key and the identity policies that say what it may do.

use std::collections::HashMap;
use std::sync::Arc;

use crate::config::Config;
use crate::policy::{Policy, PolicyKind, Principal};

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

#[derive(Default)]
pub struct Identities {
    by_access_key: HashMap<String, Arc<Identity>>,
}

impl Identities {
    pub fn new(
        config: &Config,
        root_access_key: &str,
        root_secret_key: &str,
    ) -> Result<Identities, String> {
        let account = &config.account_id;
        let mut ids = Identities::default();
        ids.by_access_key.insert(
            root_access_key.to_owned(),
            Arc::new(Identity {
                principal: Principal::root(account),
                secret_key: root_secret_key.to_owned(),
                policies: Vec::new(),
            }),
        );
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
            let identity = Identity {
                principal: Principal::user(account, &user.name),
                secret_key: user.secret_access_key.clone(),
                policies,
            };
            if ids
                .by_access_key
                .insert(user.access_key_id.clone(), Arc::new(identity))
                .is_some()
            {
                return Err(format!("access key of user {} is used twice", user.name));
            }
        }
        Ok(ids)
    }

    pub fn lookup(&self, access_key: &str) -> Option<Arc<Identity>> {
        self.by_access_key.get(access_key).cloned()
    }
}
