//! The IAM wire protocol on the gateway's port: AWS query requests (`Action=…&Version=…`
//! form-encoded, SigV4 with credential scope service `iam`), authorized by the caller's
//! identity policies within its own account, answered in IAM's XML, and audited.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use http_body_util::{BodyExt as _, Limited};

use super::model::{AccountIam, User, group_arn, policy_arn, user_arn};
use super::service::{
    IamError, IamResult, IamService, Target, group_of, no_such_policy_name, policy_name_of, user_of,
};
use super::xml::{self, Xml};
use crate::identity::{Identities, Identity, Peer};
use crate::kms::{Caller, KmsService, Note};
use crate::policy::{self, Context, Decision, Mode, PrincipalKind, Request};
use crate::sigv4;

const MAX_BODY: usize = 64 * 1024;

/// Whether a request is for the IAM API: its SigV4 credential scope names service `iam`.
pub fn is_iam_request<B>(req: &http::Request<B>) -> bool {
    req.headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|a| sigv4::parse_authorization(a).ok())
        .is_some_and(|a| a.service == "iam")
}

pub struct IamApi {
    pub iam: Arc<IamService>,
    pub identities: Arc<Identities>,
    /// Where IAM changes are audited, next to the KMS's records.
    pub kms: KmsService,
}

/// One request's parameters.
struct Params(HashMap<String, String>);

impl Params {
    fn opt(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    fn req(&self, name: &str) -> IamResult<&str> {
        self.opt(name).ok_or_else(|| {
            IamError::validation(format!(
                "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
                lower_first(name)
            ))
        })
    }
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_lowercase().chain(c).collect())
        .unwrap_or_default()
}

fn answer(status: u16, body: String, request_id: &str) -> Response<Bytes> {
    let mut resp = Response::new(Bytes::from(body));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = resp.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/xml"),
    );
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-requestid", v);
    }
    resp
}

/// Actions that change nothing: not written to the audit trail.
fn is_read_only(action: &str) -> bool {
    action.starts_with("Get") || action.starts_with("List")
}

impl IamApi {
    pub async fn handle<B>(&self, req: http::Request<B>, peer: Peer) -> Response<Bytes>
    where
        B: hyper::body::Body<Data = Bytes> + Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let request_id = uuid::Uuid::new_v4().to_string();
        let (parts, body) = req.into_parts();
        let body = match Limited::new(body, MAX_BODY).collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => {
                let e = IamError::validation("The request body is too large or could not be read");
                return answer(e.status, xml::error(&e, &request_id), &request_id);
            }
        };
        let identity = match self.authenticate(&parts, &body) {
            Ok(i) => i,
            Err(e) => return answer(e.status, xml::error(&e, &request_id), &request_id),
        };
        let mut params: HashMap<String, String> = HashMap::new();
        for (k, v) in form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
            .chain(form_urlencoded::parse(&body))
        {
            params.insert(k.into_owned(), v.into_owned());
        }
        let params = Params(params);
        let action = params.opt("Action").unwrap_or("").to_owned();
        let caller = Caller {
            principal: identity.principal.clone(),
            identity_policies: identity.policies.clone(),
            source_ip: peer.ip.map(|ip| ip.to_string()),
            secure_transport: peer.tls,
            via_service: Some("iam.amazonaws.com".into()),
        };
        // A change is stored (written, fsynced, renamed) before it is answered; on a
        // multi-threaded runtime that blocking work must not stall the other requests of
        // this worker thread.
        let mut result = match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
            Ok(tokio::runtime::RuntimeFlavor::MultiThread) => {
                tokio::task::block_in_place(|| self.run(&caller, &action, &params))
            }
            _ => self.run(&caller, &action, &params),
        };
        if !is_read_only(&action) {
            let outcome = result.as_ref().err().map_or("Success", |e| e.code);
            let note = Note::default();
            let op = format!("iam:{action}");
            if let Err(e) = self
                .kms
                .record(&caller, &request_id, &op, &note, outcome)
                .await
            {
                tracing::error!(error = %e, "audit record of an IAM change failed");
                result = Err(IamError::internal(
                    "The audit trail could not record this operation",
                ));
            }
        }
        match result {
            Ok(out) => answer(200, xml::response(&action, out, &request_id), &request_id),
            Err(e) => answer(e.status, xml::error(&e, &request_id), &request_id),
        }
    }

    fn authenticate(&self, parts: &http::request::Parts, body: &[u8]) -> IamResult<Arc<Identity>> {
        let invalid_token = || {
            IamError::new(
                "InvalidClientTokenId",
                403,
                "The security token included in the request is invalid.",
            )
        };
        let header = parts
            .headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                IamError::new(
                    "MissingAuthenticationToken",
                    403,
                    "Request is missing Authentication Token",
                )
            })?;
        let auth = sigv4::parse_authorization(header)
            .map_err(|e| IamError::new("IncompleteSignature", 400, e.message()))?;
        let identity = self
            .identities
            .lookup(auth.access_key)
            .ok_or_else(invalid_token)?;
        sigv4::verify(
            &auth,
            &identity.secret_key,
            &parts.method,
            &parts.uri,
            &parts.headers,
            body,
            time::OffsetDateTime::now_utc(),
        )
        .map_err(|e| IamError::new("SignatureDoesNotMatch", 403, e.message()))?;
        Ok(identity)
    }

    /// Decides `action` on `resource` for the caller within its own account.
    fn authorize(&self, caller: &Caller, action: &str, resource: &str) -> IamResult<()> {
        let p = &caller.principal;
        let mut context = Context::new();
        if let Some(ip) = &caller.source_ip {
            context.set("aws:SourceIp", ip.clone());
        }
        context.set("aws:SecureTransport", caller.secure_transport.to_string());
        let identity: Vec<&policy::Policy> =
            caller.identity_policies.iter().map(Arc::as_ref).collect();
        let req = Request {
            principal: p,
            action,
            resource,
            context: &context,
        };
        match policy::authorize(&req, &identity, None, &p.account, Mode::Bucket) {
            Decision::Allow => Ok(()),
            Decision::ExplicitDeny => Err(IamError::access_denied(format!(
                "User: {} is not authorized to perform: {action} on resource: {resource} with an explicit deny in an identity-based policy",
                p.arn
            ))),
            Decision::ImplicitDeny => Err(IamError::access_denied(format!(
                "User: {} is not authorized to perform: {action} on resource: {resource} because no identity-based policy allows the {action} action",
                p.arn
            ))),
        }
    }

    /// The user an action is about: named, or else the calling IAM user itself.
    fn subject_user<'a>(&self, caller: &'a Caller, params: &'a Params) -> IamResult<&'a str> {
        if let Some(name) = params.opt("UserName") {
            return Ok(name);
        }
        match &caller.principal.kind {
            PrincipalKind::User { name } => {
                self.refuse_config_user(&caller.principal.account, name)?;
                Ok(name)
            }
            _ => Err(IamError::validation(
                "The account root user has no IAM user; name one with UserName. Root credentials are set in the gateway's config.",
            )),
        }
    }

    /// Config users are shown by GetUser and ListUsers; everything else about them (keys,
    /// policies, groups, deletion) is in the config, not in the API's reach.
    fn refuse_config_user(&self, account: &str, name: &str) -> IamResult<()> {
        match self.iam.config_user(account, name) {
            Some((name, _)) => Err(IamError::new(
                "UnmodifiableEntity",
                400,
                format!(
                    "User {name} is defined in the gateway's config; its access key, policies and group memberships are managed there, not through the IAM API."
                ),
            )),
            None => Ok(()),
        }
    }

    fn run(&self, caller: &Caller, action: &str, p: &Params) -> IamResult<Option<Xml>> {
        let account = caller.principal.account.clone();
        let acct = account.as_str();
        let iam = &self.iam;
        if let Some(name) = p.opt("UserName")
            && !matches!(action, "CreateUser" | "GetUser" | "ListUsers")
        {
            self.refuse_config_user(acct, name)?;
        }
        let user_res = |name: &str| {
            let path = iam.read(acct, |a| a.users.get(name).map(|u| u.path.clone()));
            user_arn(acct, path.as_deref().unwrap_or("/"), name)
        };
        let group_res = |name: &str| {
            let path = iam.read(acct, |a| a.groups.get(name).map(|g| g.path.clone()));
            group_arn(acct, path.as_deref().unwrap_or("/"), name)
        };
        let gate = |resource: &str| self.authorize(caller, &format!("iam:{action}"), resource);
        match action {
            "CreateUser" => {
                let name = p.req("UserName")?;
                gate(&user_res(name))?;
                let u = iam.create_user(acct, name, p.opt("Path").unwrap_or("/"))?;
                Ok(Some(Xml::new().wrap("User", xml::user(acct, name, &u))))
            }
            "GetUser" => {
                let name = match (p.opt("UserName"), &caller.principal.kind) {
                    (Some(n), _) => n.to_owned(),
                    (None, PrincipalKind::User { name }) => name.clone(),
                    (None, _) => {
                        gate(&caller.principal.arn)?;
                        let root = Xml::new()
                            .el("UserId", acct)
                            .el("Arn", &caller.principal.arn);
                        return Ok(Some(Xml::new().wrap("User", root)));
                    }
                };
                gate(&user_res(&name))?;
                if let Some((name, u)) = iam.config_user(acct, &name) {
                    return Ok(Some(Xml::new().wrap("User", xml::user(acct, &name, &u))));
                }
                iam.read(acct, |a| {
                    let u = user_of(a, &name)?;
                    Ok(Some(Xml::new().wrap("User", xml::user(acct, &name, u))))
                })
            }
            "ListUsers" => {
                gate(&format!("arn:aws:iam::{acct}:user/"))?;
                let prefix = p.opt("PathPrefix").unwrap_or("/");
                let mut users: Vec<(String, User)> = iam
                    .config_user_names(acct)
                    .iter()
                    .filter_map(|n| iam.config_user(acct, n))
                    .collect();
                iam.read(acct, |a| {
                    users.extend(a.users.iter().map(|(n, u)| (n.clone(), u.clone())));
                });
                users.sort_by(|(a, _), (b, _)| a.cmp(b));
                Ok(Some(
                    Xml::new().list(
                        "Users",
                        users
                            .iter()
                            .filter(|(_, u)| u.path.starts_with(prefix))
                            .map(|(n, u)| xml::user(acct, n, u)),
                    ),
                ))
            }
            "DeleteUser" => {
                let name = p.req("UserName")?;
                gate(&user_res(name))?;
                iam.delete_user(acct, name)?;
                Ok(None)
            }
            "CreateAccessKey" => {
                let name = self.subject_user(caller, p)?;
                gate(&user_res(name))?;
                let k = iam.create_access_key(acct, name)?;
                let x =
                    xml::key_metadata(&k.user_name, &k.key).el("SecretAccessKey", &k.key.secret);
                Ok(Some(Xml::new().wrap("AccessKey", x)))
            }
            "ListAccessKeys" => {
                let name = self.subject_user(caller, p)?;
                gate(&user_res(name))?;
                iam.read(acct, |a| {
                    let u = user_of(a, name)?;
                    Ok(Some(
                        Xml::new()
                            .list(
                                "AccessKeyMetadata",
                                u.keys.iter().map(|k| xml::key_metadata(name, k)),
                            )
                            .el("UserName", name),
                    ))
                })
            }
            "UpdateAccessKey" | "DeleteAccessKey" => {
                let key_id = p.req("AccessKeyId")?;
                let name = match p.opt("UserName") {
                    Some(n) => n.to_owned(),
                    None => iam.user_of_key(acct, key_id).ok_or_else(|| {
                        IamError::no_such_entity(format!(
                            "The Access Key with id {key_id} cannot be found."
                        ))
                    })?,
                };
                gate(&user_res(&name))?;
                if action == "DeleteAccessKey" {
                    iam.delete_access_key(acct, &name, key_id)?;
                } else {
                    let active = match p.req("Status")? {
                        "Active" => true,
                        "Inactive" => false,
                        other => {
                            return Err(IamError::validation(format!(
                                "Value '{other}' at 'status' failed to satisfy constraint: Member must satisfy enum value set: [Active, Inactive]"
                            )));
                        }
                    };
                    iam.update_access_key(acct, &name, key_id, active)?;
                }
                Ok(None)
            }
            "PutUserPolicy" => {
                let name = p.req("UserName")?;
                gate(&user_res(name))?;
                iam.put_inline_policy(
                    acct,
                    Target::User(name),
                    p.req("PolicyName")?,
                    p.req("PolicyDocument")?,
                )?;
                Ok(None)
            }
            "GetUserPolicy" => {
                let (name, policy) = (p.req("UserName")?, p.req("PolicyName")?);
                gate(&user_res(name))?;
                iam.read(acct, |a| {
                    let doc = user_of(a, name)?
                        .inline
                        .get(policy)
                        .ok_or_else(|| no_such_policy_name(policy))?;
                    Ok(Some(
                        Xml::new()
                            .el("UserName", name)
                            .el("PolicyName", policy)
                            .el("PolicyDocument", &xml::encoded_document(doc)),
                    ))
                })
            }
            "DeleteUserPolicy" => {
                let name = p.req("UserName")?;
                gate(&user_res(name))?;
                iam.delete_inline_policy(acct, Target::User(name), p.req("PolicyName")?)?;
                Ok(None)
            }
            "ListUserPolicies" => {
                let name = p.req("UserName")?;
                gate(&user_res(name))?;
                iam.read(acct, |a| {
                    let u = user_of(a, name)?;
                    Ok(Some(
                        Xml::new().text_members("PolicyNames", u.inline.keys().cloned()),
                    ))
                })
            }
            "CreatePolicy" => {
                let name = p.req("PolicyName")?;
                let path = p.opt("Path").unwrap_or("/");
                gate(&policy_arn(acct, path, name))?;
                let (name, policy) = iam.create_policy(
                    acct,
                    name,
                    path,
                    p.opt("Description").unwrap_or(""),
                    p.req("PolicyDocument")?,
                )?;
                Ok(Some(
                    Xml::new().wrap("Policy", xml::policy(acct, &name, &policy, 0)),
                ))
            }
            "GetPolicy" => {
                let arn = p.req("PolicyArn")?;
                gate(arn)?;
                iam.read(acct, |a| {
                    let name = policy_name_of(a, acct, arn)?;
                    let x = xml::policy(acct, &name, &a.policies[&name], a.attachment_count(arn));
                    Ok(Some(Xml::new().wrap("Policy", x)))
                })
            }
            "GetPolicyVersion" => {
                let arn = p.req("PolicyArn")?;
                gate(arn)?;
                let version = p.req("VersionId")?;
                iam.read(acct, |a| {
                    let name = policy_name_of(a, acct, arn)?;
                    if version != "v1" {
                        return Err(IamError::no_such_entity(format!(
                            "Policy {arn} version {version} does not exist or is not attachable."
                        )));
                    }
                    let pol = &a.policies[&name];
                    let x = Xml::new()
                        .el("Document", &xml::encoded_document(&pol.document))
                        .el("VersionId", "v1")
                        .el("IsDefaultVersion", "true")
                        .el("CreateDate", &pol.created);
                    Ok(Some(Xml::new().wrap("PolicyVersion", x)))
                })
            }
            "ListPolicies" => {
                gate(&format!("arn:aws:iam::{acct}:policy/"))?;
                // Only customer managed policies exist here: Scope=AWS lists none.
                let aws_only = p.opt("Scope") == Some("AWS");
                let only_attached = p.opt("OnlyAttached") == Some("true");
                Ok(Some(iam.read(acct, |a| {
                    Xml::new().list(
                        "Policies",
                        a.policies
                            .iter()
                            .filter(|_| !aws_only)
                            .map(|(n, pol)| {
                                let count = a.attachment_count(&policy_arn(acct, &pol.path, n));
                                (n, pol, count)
                            })
                            .filter(|(_, _, count)| !only_attached || *count > 0)
                            .map(|(n, pol, count)| xml::policy(acct, n, pol, count)),
                    )
                })))
            }
            "DeletePolicy" => {
                let arn = p.req("PolicyArn")?;
                gate(arn)?;
                iam.delete_policy(acct, arn)?;
                Ok(None)
            }
            "AttachUserPolicy" | "DetachUserPolicy" => {
                let name = p.req("UserName")?;
                gate(&user_res(name))?;
                let arn = p.req("PolicyArn")?;
                iam.set_attachment(acct, Target::User(name), arn, action == "AttachUserPolicy")?;
                Ok(None)
            }
            "ListAttachedUserPolicies" => {
                let name = p.req("UserName")?;
                gate(&user_res(name))?;
                iam.read(acct, |a| {
                    let attached = &user_of(a, name)?.attached;
                    Ok(Some(attached_list(a, acct, attached)))
                })
            }
            "CreateGroup" => {
                let name = p.req("GroupName")?;
                gate(&group_res(name))?;
                let g = iam.create_group(acct, name, p.opt("Path").unwrap_or("/"))?;
                Ok(Some(Xml::new().wrap("Group", xml::group(acct, name, &g))))
            }
            "GetGroup" => {
                let name = p.req("GroupName")?;
                gate(&group_res(name))?;
                iam.read(acct, |a| {
                    let g = group_of(a, name)?;
                    let users = g
                        .members
                        .iter()
                        .filter_map(|m| a.users.get(m).map(|u| xml::user(acct, m, u)));
                    Ok(Some(
                        Xml::new()
                            .wrap("Group", xml::group(acct, name, g))
                            .list("Users", users),
                    ))
                })
            }
            "ListGroups" => {
                gate(&format!("arn:aws:iam::{acct}:group/"))?;
                Ok(Some(iam.read(acct, |a| {
                    Xml::new().list(
                        "Groups",
                        a.groups.iter().map(|(n, g)| xml::group(acct, n, g)),
                    )
                })))
            }
            "DeleteGroup" => {
                let name = p.req("GroupName")?;
                gate(&group_res(name))?;
                iam.delete_group(acct, name)?;
                Ok(None)
            }
            "AddUserToGroup" | "RemoveUserFromGroup" => {
                let name = p.req("GroupName")?;
                gate(&group_res(name))?;
                iam.set_membership(acct, name, p.req("UserName")?, action == "AddUserToGroup")?;
                Ok(None)
            }
            "ListGroupsForUser" => {
                let user = p.req("UserName")?;
                gate(&user_res(user))?;
                iam.read(acct, |a| {
                    user_of(a, user)?;
                    let groups = a
                        .groups
                        .iter()
                        .filter(|(_, g)| g.members.contains(user))
                        .map(|(n, g)| xml::group(acct, n, g));
                    Ok(Some(Xml::new().list("Groups", groups)))
                })
            }
            "PutGroupPolicy" => {
                let name = p.req("GroupName")?;
                gate(&group_res(name))?;
                iam.put_inline_policy(
                    acct,
                    Target::Group(name),
                    p.req("PolicyName")?,
                    p.req("PolicyDocument")?,
                )?;
                Ok(None)
            }
            "DeleteGroupPolicy" => {
                let name = p.req("GroupName")?;
                gate(&group_res(name))?;
                iam.delete_inline_policy(acct, Target::Group(name), p.req("PolicyName")?)?;
                Ok(None)
            }
            "ListGroupPolicies" => {
                let name = p.req("GroupName")?;
                gate(&group_res(name))?;
                iam.read(acct, |a| {
                    let g = group_of(a, name)?;
                    Ok(Some(
                        Xml::new().text_members("PolicyNames", g.inline.keys().cloned()),
                    ))
                })
            }
            "AttachGroupPolicy" | "DetachGroupPolicy" => {
                let name = p.req("GroupName")?;
                gate(&group_res(name))?;
                let arn = p.req("PolicyArn")?;
                iam.set_attachment(
                    acct,
                    Target::Group(name),
                    arn,
                    action == "AttachGroupPolicy",
                )?;
                Ok(None)
            }
            "ListAttachedGroupPolicies" => {
                let name = p.req("GroupName")?;
                gate(&group_res(name))?;
                iam.read(acct, |a| {
                    let attached = &group_of(a, name)?.attached;
                    Ok(Some(attached_list(a, acct, attached)))
                })
            }
            "" => Err(IamError::new(
                "MissingAction",
                400,
                "Could not find operation",
            )),
            other => Err(IamError::new(
                "InvalidAction",
                400,
                format!("Could not find operation {other} for version 2010-05-08"),
            )),
        }
    }
}

fn attached_list(
    a: &AccountIam,
    account: &str,
    attached: &std::collections::BTreeSet<String>,
) -> Xml {
    Xml::new().list(
        "AttachedPolicies",
        attached.iter().map(|arn| {
            let name = policy_name_of(a, account, arn).unwrap_or_default();
            Xml::new().el("PolicyName", &name).el("PolicyArn", arn)
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed(scope: &str) -> http::Request<()> {
        http::Request::builder()
            .method("POST")
            .uri("/")
            .header(
                http::header::AUTHORIZATION,
                format!(
                    "AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/20261123/{scope}/aws4_request, SignedHeaders=host;x-amz-date, Signature=00"
                ),
            )
            .body(())
            .unwrap()
    }

    #[test]
    fn only_requests_signed_for_iam_are_iam_requests() {
        assert!(is_iam_request(&signed("us-east-1/iam")));
        // The aws CLI signs IAM for us-east-1, but any region is IAM's.
        assert!(is_iam_request(&signed("eu-west-3/iam")));
        assert!(!is_iam_request(&signed("us-east-1/s3")));
        assert!(!is_iam_request(&signed("us-east-1/kms")));
        let unsigned = http::Request::builder().uri("/").body(()).unwrap();
        assert!(!is_iam_request(&unsigned));
    }
}
