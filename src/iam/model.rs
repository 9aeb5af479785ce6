//! What the IAM API manages, per account: users with access keys and inline policies,
//! customer managed policies, groups, and which policies are attached where.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// Every account's IAM entities; persisted whole (see `store`).
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct IamState {
    pub accounts: BTreeMap<String, AccountIam>,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct AccountIam {
    pub users: BTreeMap<String, User>,
    pub groups: BTreeMap<String, Group>,
    /// Customer managed policies by name.
    pub policies: BTreeMap<String, ManagedPolicy>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    pub user_id: String,
    pub path: String,
    pub created: String,
    pub keys: Vec<AccessKey>,
    /// Inline policies: name -> document.
    pub inline: BTreeMap<String, String>,
    /// Attached managed policies by ARN.
    pub attached: BTreeSet<String>,
}

#[derive(Clone, Serialize, Deserialize)]
pub struct AccessKey {
    pub id: String,
    /// Rests only inside the sealed state file; SigV4 needs it to check signatures.
    pub secret: String,
    pub active: bool,
    pub created: String,
}

impl std::fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessKey")
            .field("id", &self.id)
            .field("active", &self.active)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Group {
    pub group_id: String,
    pub path: String,
    pub created: String,
    pub members: BTreeSet<String>,
    pub inline: BTreeMap<String, String>,
    pub attached: BTreeSet<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ManagedPolicy {
    pub policy_id: String,
    pub path: String,
    pub description: String,
    pub document: String,
    pub created: String,
}

pub use crate::arn::{iam_group as group_arn, iam_policy as policy_arn, iam_user as user_arn};

impl AccountIam {
    /// How many users and groups a managed policy is attached to.
    pub fn attachment_count(&self, arn: &str) -> usize {
        self.users
            .values()
            .filter(|u| u.attached.contains(arn))
            .count()
            + self
                .groups
                .values()
                .filter(|g| g.attached.contains(arn))
                .count()
    }

    /// The managed policy an ARN of this account names.
    pub fn policy_by_arn(&self, account: &str, arn: &str) -> Option<(&String, &ManagedPolicy)> {
        self.policies
            .iter()
            .find(|(name, p)| policy_arn(account, &p.path, name) == arn)
    }
}
