//! The IAM wire protocol on the gateway's port: AWS query requests (`Action=…&Version=…`
//! form-encoded, SigV4 with credential scope service `iam`), authorized by the caller's
//! identity policies within its own account, answered in IAM's XML, and audited.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use http_body_util::{BodyExt as _, Limited};

use super::model::{AccountIam, User, group_arn, policy_arn, user_arn};
use super::requests::{Form, IamRequest, required};
use super::service::{
    IamError, IamResult, IamService, Target, group_of, no_such_policy_name, policy_name_of, user_of,
};
use super::xml::{self, Xml};
use crate::audit::{AuditError, AuditLog, AuditRecord};
use crate::clock::SharedClock;
use crate::identity::{Identities, Identity, IdentityUnavailable, Peer};
use crate::observe::RequestContext;
use crate::policy::{self, Context, Decision, Mode, PrincipalKind, Request};
use crate::sigv4;

const MAX_BODY: usize = 64 * 1024;

/// The caller's access key cannot be looked up now: AWS's retryable 503.
impl From<IdentityUnavailable> for IamError {
    fn from(_: IdentityUnavailable) -> IamError {
        IamError::unavailable(
            "The gateway could not confirm its credentials are current; retry the request.",
        )
    }
}

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
    pub audit: AuditLog,
    /// The time audit records carry.
    pub clock: SharedClock,
}

/// The authenticated caller of an IAM action.
struct Caller {
    identity: Arc<Identity>,
    peer: Peer,
}

impl Caller {
    fn principal(&self) -> &policy::Principal {
        &self.identity.principal
    }

    fn source_ip(&self) -> Option<String> {
        self.peer.ip.map(|ip| ip.to_string())
    }
}

fn answer(status: StatusCode, body: String, request_id: &str) -> Response<Bytes> {
    let mut resp = Response::new(Bytes::from(body));
    *resp.status_mut() = status;
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
    pub async fn handle<B>(
        &self,
        req: http::Request<B>,
        peer: Peer,
        ctx: &RequestContext,
    ) -> Response<Bytes>
    where
        B: hyper::body::Body<Data = Bytes> + Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let request_id = ctx.id().to_owned();
        let (parts, body) = req.into_parts();
        let body = match Limited::new(body, MAX_BODY).collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => {
                let e = IamError::validation("The request body is too large or could not be read");
                return answer(e.status(), xml::error(&e, &request_id), &request_id);
            }
        };
        let identity = match self.authenticate(&parts, &body).await {
            Ok(i) => i,
            Err(e) => return answer(e.status(), xml::error(&e, &request_id), &request_id),
        };
        let form = Form::parse(parts.uri.query(), &body);
        let principal = identity.principal.arn.clone();
        let result = self.run_recorded(identity, peer, &request_id, &form).await;
        let known = !matches!(&result, Err(e) if e.code() == "InvalidAction");
        ctx.note(|n| {
            n.principal = Some(principal);
            n.operation = known.then(|| form.action().to_owned().into());
        });
        match result {
            Ok(xml) => answer(StatusCode::OK, xml, &request_id),
            Err(e) => answer(e.status(), xml::error(&e, &request_id), &request_id),
        }
    }

    /// Runs the action of a form-encoded request (`Action=ListUsers&…`) for a caller
    /// authenticated elsewhere, the console: decided and audited exactly as the same
    /// request to the API, answered in the API's XML.
    pub async fn invoke(
        &self,
        identity: Arc<Identity>,
        peer: Peer,
        request_id: &str,
        form: &str,
    ) -> IamResult<String> {
        let form = Form::parse(None, form.as_bytes());
        self.run_recorded(identity, peer, request_id, &form).await
    }

    /// Runs one action and, for a change, appends its audit record; a record that cannot
    /// be written fails the action.
    async fn run_recorded(
        &self,
        identity: Arc<Identity>,
        peer: Peer,
        request_id: &str,
        form: &Form,
    ) -> IamResult<String> {
        let action = form.action().to_owned();
        let caller = Caller { identity, peer };
        let mut result = self.run(&caller, form).await;
        if !is_read_only(&action) {
            let outcome = result.as_ref().err().map_or("Success", |e| e.code());
            if let Err(e) = self.record(&caller, request_id, &action, outcome).await {
                tracing::error!(error = %e, "audit record of an IAM change failed; refusing the operation");
                result = Err(IamError::internal(
                    "The audit trail could not record this operation",
                ));
            }
        }
        result.map(|out| xml::response(&action, out, request_id))
    }

    /// Appends the audit record of one IAM change; the answer waits for it.
    async fn record(
        &self,
        caller: &Caller,
        request_id: &str,
        action: &str,
        result: &str,
    ) -> Result<(), AuditError> {
        self.audit
            .append(AuditRecord {
                time: crate::audit::format_time(self.clock.now()),
                request_id: request_id.to_owned(),
                principal: caller.principal().arn.clone(),
                source_ip: caller.source_ip(),
                service: "iam".to_owned(),
                operation: format!("iam:{action}"),
                key_arn: None,
                key_version: None,
                encryption_context: None,
                result: result.to_owned(),
            })
            .await
    }

    async fn authenticate(
        &self,
        parts: &http::request::Parts,
        body: &[u8],
    ) -> IamResult<Arc<Identity>> {
        let header = parts
            .headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                IamError::missing_authentication("Request is missing Authentication Token")
            })?;
        let auth = sigv4::parse_authorization(header)
            .map_err(|e| IamError::incomplete_signature(e.message()))?;
        let identity = self
            .identities
            .lookup(auth.access_key)
            .await?
            .ok_or_else(|| {
                IamError::invalid_client_token(
                    "The security token included in the request is invalid.",
                )
            })?;
        sigv4::verify(
            &auth,
            &identity.secret_key,
            &parts.method,
            &parts.uri,
            &parts.headers,
            body,
            time::OffsetDateTime::now_utc(),
        )
        .map_err(|e| IamError::signature_mismatch(e.message()))?;
        Ok(identity)
    }

    /// Decides `action` on `resource` for the caller within its own account.
    fn authorize(&self, caller: &Caller, action: &str, resource: &str) -> IamResult<()> {
        let p = caller.principal();
        let mut context = Context::new();
        if let Some(ip) = caller.source_ip() {
            context.set("aws:SourceIp", ip);
        }
        context.set("aws:SecureTransport", caller.peer.tls.to_string());
        let identity: Vec<&policy::Policy> =
            caller.identity.policies.iter().map(Arc::as_ref).collect();
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
    fn subject_user<'a>(
        &self,
        caller: &'a Caller,
        user_name: &'a Option<String>,
    ) -> IamResult<&'a str> {
        if let Some(name) = user_name {
            return Ok(name);
        }
        let p = caller.principal();
        match &p.kind {
            PrincipalKind::User { name } => {
                self.refuse_config_user(&p.account, name)?;
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
            Some((name, _)) => Err(IamError::unmodifiable(format!(
                "User {name} is defined in the gateway's config; its access key, policies and group memberships are managed there, not through the IAM API."
            ))),
            None => Ok(()),
        }
    }

    async fn run(&self, caller: &Caller, form: &Form) -> IamResult<Option<Xml>> {
        let action = form.action();
        let acct = caller.principal().account.as_str();
        let iam = &self.iam;
        // What is read below is as current as what the caller was authenticated by.
        iam.ensure_fresh().await?;
        // Whatever the action, a config user is not the API's to change.
        if let Some(name) = form.get("UserName")
            && !matches!(action, "CreateUser" | "GetUser" | "ListUsers")
        {
            self.refuse_config_user(acct, name)?;
        }
        let request = IamRequest::parse(form)?;
        let user_res = |name: &str| {
            let path = iam.read(acct, |a| a.users.get(name).map(|u| u.path.clone()));
            user_arn(acct, path.as_deref().unwrap_or("/"), name)
        };
        let group_res = |name: &str| {
            let path = iam.read(acct, |a| a.groups.get(name).map(|g| g.path.clone()));
            group_arn(acct, path.as_deref().unwrap_or("/"), name)
        };
        let gate = |resource: &str| self.authorize(caller, &format!("iam:{action}"), resource);
        // Attach or detach a managed policy, after the target's gate.
        let attach = matches!(
            request,
            IamRequest::AttachUserPolicy(_) | IamRequest::AttachGroupPolicy(_)
        );
        let attachment = async |target: Target<'_>, arn: &Option<String>| {
            iam.set_attachment(acct, target, required(arn, "PolicyArn")?, attach)
                .await?;
            Ok(None)
        };
        match &request {
            IamRequest::CreateUser(r) => {
                let name = required(&r.user_name, "UserName")?;
                gate(&user_res(name))?;
                let u = iam
                    .create_user(acct, name, r.path.as_deref().unwrap_or("/"))
                    .await?;
                Ok(Some(Xml::new().wrap("User", xml::user(acct, name, &u))))
            }
            IamRequest::GetUser(r) => {
                let name = match (r.user_name.as_deref(), &caller.principal().kind) {
                    (Some(n), _) => n.to_owned(),
                    (None, PrincipalKind::User { name }) => name.clone(),
                    (None, _) => {
                        gate(&caller.principal().arn)?;
                        let root = Xml::new()
                            .el("UserId", acct)
                            .el("Arn", &caller.principal().arn);
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
            IamRequest::ListUsers(r) => {
                gate(&crate::arn::iam_user(acct, "/", ""))?;
                let prefix = r.path_prefix.as_deref().unwrap_or("/");
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
            IamRequest::DeleteUser(r) => {
                let name = required(&r.user_name, "UserName")?;
                gate(&user_res(name))?;
                iam.delete_user(acct, name).await?;
                Ok(None)
            }
            IamRequest::CreateAccessKey(r) => {
                let name = self.subject_user(caller, &r.user_name)?;
                gate(&user_res(name))?;
                let k = iam.create_access_key(acct, name).await?;
                let x =
                    xml::key_metadata(&k.user_name, &k.key).el("SecretAccessKey", &k.key.secret);
                Ok(Some(Xml::new().wrap("AccessKey", x)))
            }
            IamRequest::ListAccessKeys(r) => {
                let name = self.subject_user(caller, &r.user_name)?;
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
            IamRequest::UpdateAccessKey(r) | IamRequest::DeleteAccessKey(r) => {
                let key_id = required(&r.access_key_id, "AccessKeyId")?;
                let name = match r.user_name.as_deref() {
                    Some(n) => n.to_owned(),
                    None => iam.user_of_key(acct, key_id).ok_or_else(|| {
                        IamError::no_such_entity(format!(
                            "The Access Key with id {key_id} cannot be found."
                        ))
                    })?,
                };
                gate(&user_res(&name))?;
                if matches!(request, IamRequest::DeleteAccessKey(_)) {
                    iam.delete_access_key(acct, &name, key_id).await?;
                } else {
                    let active = match required(&r.status, "Status")? {
                        "Active" => true,
                        "Inactive" => false,
                        other => {
                            return Err(IamError::validation(format!(
                                "Value '{other}' at 'status' failed to satisfy constraint: Member must satisfy enum value set: [Active, Inactive]"
                            )));
                        }
                    };
                    iam.update_access_key(acct, &name, key_id, active).await?;
                }
                Ok(None)
            }
            IamRequest::PutUserPolicy(r) => {
                let name = required(&r.user_name, "UserName")?;
                gate(&user_res(name))?;
                iam.put_inline_policy(
                    acct,
                    Target::User(name),
                    required(&r.policy_name, "PolicyName")?,
                    required(&r.policy_document, "PolicyDocument")?,
                )
                .await?;
                Ok(None)
            }
            IamRequest::GetUserPolicy(r) => {
                let (name, policy) = (
                    required(&r.user_name, "UserName")?,
                    required(&r.policy_name, "PolicyName")?,
                );
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
            IamRequest::DeleteUserPolicy(r) => {
                let name = required(&r.user_name, "UserName")?;
                gate(&user_res(name))?;
                iam.delete_inline_policy(
                    acct,
                    Target::User(name),
                    required(&r.policy_name, "PolicyName")?,
                )
                .await?;
                Ok(None)
            }
            IamRequest::ListUserPolicies(r) => {
                let name = required(&r.user_name, "UserName")?;
                gate(&user_res(name))?;
                iam.read(acct, |a| {
                    let u = user_of(a, name)?;
                    Ok(Some(
                        Xml::new().text_members("PolicyNames", u.inline.keys().cloned()),
                    ))
                })
            }
            IamRequest::CreatePolicy(r) => {
                let name = required(&r.policy_name, "PolicyName")?;
                let path = r.path.as_deref().unwrap_or("/");
                gate(&policy_arn(acct, path, name))?;
                let (name, policy) = iam
                    .create_policy(
                        acct,
                        name,
                        path,
                        r.description.as_deref().unwrap_or(""),
                        required(&r.policy_document, "PolicyDocument")?,
                    )
                    .await?;
                Ok(Some(
                    Xml::new().wrap("Policy", xml::policy(acct, &name, &policy, 0)),
                ))
            }
            IamRequest::GetPolicy(r) => {
                let arn = required(&r.policy_arn, "PolicyArn")?;
                gate(arn)?;
                iam.read(acct, |a| {
                    let name = policy_name_of(a, acct, arn)?;
                    let x = xml::policy(acct, &name, &a.policies[&name], a.attachment_count(arn));
                    Ok(Some(Xml::new().wrap("Policy", x)))
                })
            }
            IamRequest::GetPolicyVersion(r) => {
                let arn = required(&r.policy_arn, "PolicyArn")?;
                gate(arn)?;
                let version = required(&r.version_id, "VersionId")?;
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
            IamRequest::ListPolicies(r) => {
                gate(&crate::arn::iam_policy(acct, "/", ""))?;
                // Only customer managed policies exist here: Scope=AWS lists none.
                let aws_only = r.scope.as_deref() == Some("AWS");
                let only_attached = r.only_attached.as_deref() == Some("true");
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
            IamRequest::DeletePolicy(r) => {
                let arn = required(&r.policy_arn, "PolicyArn")?;
                gate(arn)?;
                iam.delete_policy(acct, arn).await?;
                Ok(None)
            }
            IamRequest::AttachUserPolicy(r) | IamRequest::DetachUserPolicy(r) => {
                let name = required(&r.user_name, "UserName")?;
                gate(&user_res(name))?;
                attachment(Target::User(name), &r.policy_arn).await
            }
            IamRequest::ListAttachedUserPolicies(r) => {
                let name = required(&r.user_name, "UserName")?;
                gate(&user_res(name))?;
                iam.read(acct, |a| {
                    let attached = &user_of(a, name)?.attached;
                    Ok(Some(attached_list(a, acct, attached)))
                })
            }
            IamRequest::CreateGroup(r) => {
                let name = required(&r.group_name, "GroupName")?;
                gate(&group_res(name))?;
                let g = iam
                    .create_group(acct, name, r.path.as_deref().unwrap_or("/"))
                    .await?;
                Ok(Some(Xml::new().wrap("Group", xml::group(acct, name, &g))))
            }
            IamRequest::GetGroup(r) => {
                let name = required(&r.group_name, "GroupName")?;
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
            IamRequest::ListGroups(_) => {
                gate(&crate::arn::iam_group(acct, "/", ""))?;
                Ok(Some(iam.read(acct, |a| {
                    Xml::new().list(
                        "Groups",
                        a.groups.iter().map(|(n, g)| xml::group(acct, n, g)),
                    )
                })))
            }
            IamRequest::DeleteGroup(r) => {
                let name = required(&r.group_name, "GroupName")?;
                gate(&group_res(name))?;
                iam.delete_group(acct, name).await?;
                Ok(None)
            }
            IamRequest::AddUserToGroup(r) | IamRequest::RemoveUserFromGroup(r) => {
                let name = required(&r.group_name, "GroupName")?;
                gate(&group_res(name))?;
                iam.set_membership(
                    acct,
                    name,
                    required(&r.user_name, "UserName")?,
                    matches!(request, IamRequest::AddUserToGroup(_)),
                )
                .await?;
                Ok(None)
            }
            IamRequest::ListGroupsForUser(r) => {
                let user = required(&r.user_name, "UserName")?;
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
            IamRequest::PutGroupPolicy(r) => {
                let name = required(&r.group_name, "GroupName")?;
                gate(&group_res(name))?;
                iam.put_inline_policy(
                    acct,
                    Target::Group(name),
                    required(&r.policy_name, "PolicyName")?,
                    required(&r.policy_document, "PolicyDocument")?,
                )
                .await?;
                Ok(None)
            }
            IamRequest::DeleteGroupPolicy(r) => {
                let name = required(&r.group_name, "GroupName")?;
                gate(&group_res(name))?;
                iam.delete_inline_policy(
                    acct,
                    Target::Group(name),
                    required(&r.policy_name, "PolicyName")?,
                )
                .await?;
                Ok(None)
            }
            IamRequest::ListGroupPolicies(r) => {
                let name = required(&r.group_name, "GroupName")?;
                gate(&group_res(name))?;
                iam.read(acct, |a| {
                    let g = group_of(a, name)?;
                    Ok(Some(
                        Xml::new().text_members("PolicyNames", g.inline.keys().cloned()),
                    ))
                })
            }
            IamRequest::AttachGroupPolicy(r) | IamRequest::DetachGroupPolicy(r) => {
                let name = required(&r.group_name, "GroupName")?;
                gate(&group_res(name))?;
                attachment(Target::Group(name), &r.policy_arn).await
            }
            IamRequest::ListAttachedGroupPolicies(r) => {
                let name = required(&r.group_name, "GroupName")?;
                gate(&group_res(name))?;
                iam.read(acct, |a| {
                    let attached = &group_of(a, name)?.attached;
                    Ok(Some(attached_list(a, acct, attached)))
                })
            }
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
    fn callers_that_cannot_be_looked_up_get_a_retryable_503() {
        let e = IamError::from(IdentityUnavailable("no database".into()));
        assert_eq!(e.code(), "ServiceUnavailable");
        assert_eq!(e.status(), StatusCode::SERVICE_UNAVAILABLE);
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
