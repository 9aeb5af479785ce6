//! The pages, as askama templates (`templates/console/`) and the values they show.
//! Everything a template prints is escaped; values arrive here already formatted.

use askama::Template;

/// What every page of a signed-in user shows around its content.
pub(super) struct Head {
    pub title: String,
    /// The navigation entry to mark as current.
    pub section: &'static str,
    pub principal: String,
    /// The session's CSRF token, put into every form.
    pub csrf: String,
}

/// Something a page could not show because the API refused or failed it: the API's
/// error code and message.
pub(super) type Shown<T> = Result<T, String>;

#[derive(Template)]
#[template(path = "console/sign_in.html")]
pub(super) struct SignInPage {
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "console/error.html")]
pub(super) struct ErrorPage {
    pub status: u16,
    pub code: String,
    pub message: String,
    pub request_id: Option<String>,
    /// Set for a signed-in user, whose page offers sign-out.
    pub csrf: Option<String>,
}

pub(super) struct KeyRow {
    pub id: String,
    pub state: String,
    pub description: String,
    pub manager: String,
    pub aliases: String,
    pub created: String,
    pub deletion: String,
}

#[derive(Template)]
#[template(path = "console/keys.html")]
pub(super) struct KeysPage {
    pub head: Head,
    pub done: Option<String>,
    pub keys: Vec<Shown<KeyRow>>,
    /// The link to the next page of keys.
    pub next: Option<String>,
}

pub(super) struct KeyView {
    pub id: String,
    pub arn: String,
    pub state: String,
    pub description: String,
    pub manager: String,
    pub spec: String,
    pub usage: String,
    pub origin: String,
    pub created: String,
    pub deletion: String,
    pub aliases: String,
}

pub(super) struct RotationView {
    pub enabled: bool,
    pub period_days: String,
    pub next: String,
}

pub(super) struct GrantRow {
    pub id: String,
    pub name: String,
    pub grantee: String,
    pub retiring: String,
    pub operations: String,
    pub constraints: String,
}

pub(super) struct RotationRow {
    pub date: String,
    pub kind: String,
}

#[derive(Template)]
#[template(path = "console/key.html")]
pub(super) struct KeyPage {
    pub head: Head,
    pub done: Option<String>,
    pub key: KeyView,
    pub customer_managed: bool,
    pub pending_deletion: bool,
    pub enabled: bool,
    pub rotation: Shown<RotationView>,
    pub policy: Shown<String>,
    pub grants: Shown<Vec<GrantRow>>,
    pub rotations: Shown<Vec<RotationRow>>,
}

pub(super) struct BucketRow {
    pub name: String,
    pub created: String,
    pub encryption: Shown<String>,
    pub versioning: Shown<String>,
    pub policy: Shown<String>,
    pub replication: Shown<String>,
}

#[derive(Template)]
#[template(path = "console/buckets.html")]
pub(super) struct BucketsPage {
    pub head: Head,
    pub buckets: Vec<BucketRow>,
}

pub(super) struct RuleRow {
    pub id: String,
    pub enabled: bool,
    pub prefix: String,
    pub destination: String,
    pub replica_key: String,
}

pub(super) struct ReplicationView {
    pub rules: Vec<RuleRow>,
    pub pending: u64,
    pub pending_bytes: u64,
    pub completed: u64,
    pub failed: u64,
    pub retrying: u64,
    pub oldest_pending: String,
    pub failures: Vec<TaskRow>,
    pub retries: Vec<TaskRow>,
}

pub(super) struct TaskRow {
    pub object: String,
    pub version: String,
    pub destination: String,
    pub rule: String,
    pub attempts: u32,
    pub reason: String,
}

#[derive(Template)]
#[template(path = "console/bucket.html")]
pub(super) struct BucketPage {
    pub head: Head,
    pub row: BucketRow,
    pub policy_text: Shown<String>,
    pub replication: Shown<Option<ReplicationView>>,
}

pub(super) struct AuditRow {
    pub seq: u64,
    pub time: String,
    pub principal: String,
    pub source_ip: String,
    pub service: String,
    pub operation: String,
    pub key: String,
    pub context: String,
    pub result: String,
    pub ok: bool,
}

pub(super) struct AuditFilter {
    pub key: String,
    pub principal: String,
    pub operation: String,
    pub from: String,
    pub to: String,
}

#[derive(Template)]
#[template(path = "console/audit.html")]
pub(super) struct AuditPage {
    pub head: Head,
    pub filter: AuditFilter,
    /// The chain's verification: intact or where it breaks, and when it was checked.
    pub chain_ok: bool,
    pub chain: String,
    pub rows: Vec<AuditRow>,
    pub unreadable: u64,
    /// The link to the next (older) page, filters kept.
    pub older: Option<String>,
}

pub(super) struct AccessKeyRow {
    pub id: String,
    pub status: String,
    pub created: String,
}

pub(super) struct UserRow {
    pub name: String,
    pub arn: String,
    pub created: String,
    pub keys: Shown<Vec<AccessKeyRow>>,
}

/// A secret shown once, right after it was made.
pub(super) struct NewKey {
    pub user: String,
    pub id: String,
    pub secret: String,
}

#[derive(Template)]
#[template(path = "console/iam.html")]
pub(super) struct IamPage {
    pub head: Head,
    pub done: Option<String>,
    pub new_key: Option<NewKey>,
    pub users: Vec<UserRow>,
}
