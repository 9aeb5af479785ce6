//! The KMS keys pages: every key the user may list, one key's state, rotation, deletion
//! date, policy and grants, and the actions on it, each a KMS API operation run as the
//! user.

use std::collections::BTreeMap;

use askama::Template as _;
use http::StatusCode;
use serde_json::{Value, json};

use super::views::{GrantRow, KeyPage, KeyRow, KeyView, KeysPage, RotationRow, RotationView};
use super::{
    Console, Failure, Req, Resp, Who, enc, epoch_text, html, pretty_json, redirect, shown,
};

/// Keys a list page shows: each is described, and every KMS operation is audited.
const PAGE_SIZE: usize = 50;

/// The elements of the array field `name` (none when it is absent or not an array).
fn items<'v>(v: &'v Value, name: &str) -> impl Iterator<Item = &'v Value> {
    v[name].as_array().into_iter().flatten()
}

fn text(v: &Value, name: &str) -> String {
    v.get(name).and_then(Value::as_str).unwrap_or("").to_owned()
}

fn when(v: &Value, name: &str) -> String {
    v.get(name).and_then(epoch_text).unwrap_or_default()
}

/// The actions as their buttons post them, and the KMS operations they run.
const ACTIONS: &[(&str, &str)] = &[
    ("enable", "EnableKey"),
    ("disable", "DisableKey"),
    ("schedule-deletion", "ScheduleKeyDeletion"),
    ("cancel-deletion", "CancelKeyDeletion"),
    ("rotate", "RotateKeyOnDemand"),
    ("rotation-on", "EnableKeyRotation"),
    ("rotation-off", "DisableKeyRotation"),
];

fn operation_of(action: &str) -> Option<&'static str> {
    ACTIONS
        .iter()
        .find(|(a, _)| *a == action)
        .map(|(_, op)| *op)
}

/// The outcome a redirect carries back to the page: only operations this module runs.
fn done_of(r: &Req) -> Option<String> {
    let done = r.param("done")?;
    let known = done == "CreateKey" || ACTIONS.iter().any(|(_, op)| *op == done);
    known.then_some(done)
}

impl Console {
    /// Alias names by target key id, as far as the user may list aliases.
    async fn aliases(&self, who: &Who) -> BTreeMap<String, Vec<String>> {
        let mut by_key: BTreeMap<String, Vec<String>> = BTreeMap::new();
        if let Ok(list) = self.kms(who, "ListAliases", json!({"Limit": 100})).await {
            for a in items(&list, "Aliases") {
                if let Some(target) = a["TargetKeyId"].as_str() {
                    by_key
                        .entry(target.to_owned())
                        .or_default()
                        .push(text(a, "AliasName"));
                }
            }
        }
        by_key
    }

    pub(super) async fn keys_page(&self, who: &Who, r: &Req) -> Result<Resp, Failure> {
        let mut request = json!({"Limit": PAGE_SIZE});
        if let Some(m) = r.param("marker") {
            request["Marker"] = json!(m);
        }
        let page = self.kms(who, "ListKeys", request).await?;
        let ids: Vec<String> = items(&page, "Keys").map(|k| text(k, "KeyId")).collect();
        let next = page["NextMarker"]
            .as_str()
            .map(|m| format!("/console/keys?marker={}", enc(m)));
        let aliases = self.aliases(who).await;
        let mut keys = Vec::with_capacity(ids.len());
        for id in ids {
            let row = self
                .kms(who, "DescribeKey", json!({"KeyId": id}))
                .await
                .map(|d| {
                    let m = &d["KeyMetadata"];
                    KeyRow {
                        aliases: aliases.get(&id).map(|a| a.join(", ")).unwrap_or_default(),
                        id,
                        state: text(m, "KeyState"),
                        description: text(m, "Description"),
                        manager: text(m, "KeyManager"),
                        created: when(m, "CreationDate"),
                        deletion: when(m, "DeletionDate"),
                    }
                });
            keys.push(shown(row));
        }
        let page = KeysPage {
            head: who.head("KMS keys", "keys"),
            done: done_of(r),
            keys,
            next,
        };
        Ok(html(StatusCode::OK, page.render()?))
    }

    pub(super) async fn create_key(&self, who: &Who, r: &Req) -> Result<Resp, Failure> {
        let mut request = json!({});
        if let Some(d) = r.field("description").filter(|d| !d.is_empty()) {
            request["Description"] = json!(d);
        }
        let made = self.kms(who, "CreateKey", request).await?;
        let id = text(&made["KeyMetadata"], "KeyId");
        Ok(redirect(&format!(
            "/console/keys/{}?done=CreateKey",
            enc(&id)
        )))
    }

    pub(super) async fn key_page(&self, who: &Who, id: &str, r: &Req) -> Result<Resp, Failure> {
        let described = self.kms(who, "DescribeKey", json!({"KeyId": id})).await?;
        let m = &described["KeyMetadata"];
        let id = text(m, "KeyId");
        let key_id = json!({"KeyId": id});
        let aliases = self.aliases(who).await;
        let rotation = self
            .kms(who, "GetKeyRotationStatus", key_id.clone())
            .await
            .map(|s| RotationView {
                enabled: s["KeyRotationEnabled"].as_bool().unwrap_or(false),
                period_days: s["RotationPeriodInDays"]
                    .as_u64()
                    .map(|d| d.to_string())
                    .unwrap_or_default(),
                next: when(&s, "NextRotationDate"),
            });
        let policy = self
            .kms(
                who,
                "GetKeyPolicy",
                json!({"KeyId": id, "PolicyName": "default"}),
            )
            .await
            .map(|p| pretty_json(text(&p, "Policy")));
        let grants = self
            .kms(who, "ListGrants", json!({"KeyId": id, "Limit": 100}))
            .await
            .map(|g| {
                items(&g, "Grants")
                    .map(|g| GrantRow {
                        id: text(g, "GrantId"),
                        name: text(g, "Name"),
                        grantee: text(g, "GranteePrincipal"),
                        retiring: text(g, "RetiringPrincipal"),
                        operations: items(g, "Operations")
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join(", "),
                        constraints: g
                            .get("Constraints")
                            .map(Value::to_string)
                            .unwrap_or_default(),
                    })
                    .collect()
            });
        let rotations = self
            .kms(who, "ListKeyRotations", json!({"KeyId": id, "Limit": 100}))
            .await
            .map(|l| {
                items(&l, "Rotations")
                    .map(|r| RotationRow {
                        date: when(r, "RotationDate"),
                        kind: text(r, "RotationType"),
                    })
                    .collect()
            });
        let state = text(m, "KeyState");
        let page = KeyPage {
            head: who.head(&format!("Key {id}"), "keys"),
            done: done_of(r),
            customer_managed: text(m, "KeyManager") == "CUSTOMER",
            pending_deletion: state == "PendingDeletion",
            enabled: state == "Enabled",
            key: KeyView {
                aliases: aliases.get(&id).map(|a| a.join(", ")).unwrap_or_default(),
                arn: text(m, "Arn"),
                state,
                description: text(m, "Description"),
                manager: text(m, "KeyManager"),
                spec: text(m, "KeySpec"),
                usage: text(m, "KeyUsage"),
                origin: text(m, "Origin"),
                created: when(m, "CreationDate"),
                deletion: when(m, "DeletionDate"),
                id,
            },
            rotation: shown(rotation),
            policy: shown(policy),
            grants: shown(grants),
            rotations: shown(rotations),
        };
        Ok(html(StatusCode::OK, page.render()?))
    }

    pub(super) async fn key_action(
        &self,
        who: &Who,
        id: &str,
        action: &str,
        r: &Req,
    ) -> Result<Resp, Failure> {
        let Some(operation) = operation_of(action) else {
            return Err(Failure::new(
                StatusCode::NOT_FOUND,
                "NotFound",
                "There is no such action.",
            ));
        };
        let mut request = json!({"KeyId": id});
        match action {
            "disable" | "rotate" => r.confirmed()?,
            "schedule-deletion" => {
                r.confirmed()?;
                request["PendingWindowInDays"] = days(r)?;
            }
            "rotation-on" if r.field("days").is_some() => {
                request["RotationPeriodInDays"] = days(r)?;
            }
            _ => {}
        }
        self.kms(who, operation, request).await?;
        Ok(redirect(&format!(
            "/console/keys/{}?done={operation}",
            enc(id)
        )))
    }
}

/// The number of days a form gives; the KMS API decides which are allowed.
fn days(r: &Req) -> Result<Value, Failure> {
    r.field("days")
        .and_then(|d| d.trim().parse::<u64>().ok())
        .map(|d| json!(d))
        .ok_or_else(|| {
            Failure::new(
                StatusCode::BAD_REQUEST,
                "ValidationException",
                "The number of days must be a whole number.",
            )
        })
}
