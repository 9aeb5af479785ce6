//! The requests of the IAM actions, read from AWS query form fields (`Action=CreateUser&
//! UserName=bob&…`, in the query string or a form-encoded body).
//!
//! Every member is optional here, as a form may leave it out; an action checks the ones it
//! requires with [`required`], answering IAM's ValidationError. Fields an action does not
//! list are ignored, as IAM ignores them.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::service::{IamError, IamResult};

/// The form fields of one request: the query string's, then the body's, a later field
/// replacing an earlier one of the same name; an empty value is no value.
pub(super) struct Form(Value);

impl Form {
    pub(super) fn parse(query: Option<&str>, body: &[u8]) -> Form {
        let mut fields = Map::new();
        for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes())
            .chain(form_urlencoded::parse(body))
        {
            fields.insert(k.into_owned(), Value::String(v.into_owned()));
        }
        fields.retain(|_, v| v.as_str().is_some_and(|s| !s.is_empty()));
        Form(Value::Object(fields))
    }

    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(Value::as_str)
    }

    pub(super) fn action(&self) -> &str {
        self.get("Action").unwrap_or("")
    }

    fn read<T: DeserializeOwned>(&self) -> IamResult<T> {
        T::deserialize(&self.0).map_err(|e| IamError::validation(e.to_string()))
    }
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_lowercase().chain(c).collect())
        .unwrap_or_default()
}

/// A member the action cannot do without.
pub(super) fn required<'a>(value: &'a Option<String>, name: &str) -> IamResult<&'a str> {
    value.as_deref().ok_or_else(|| {
        IamError::validation(format!(
            "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
            lower_first(name)
        ))
    })
}

macro_rules! shapes {
    ($($(#[$doc:meta])* $name:ident { $($field:ident),* $(,)? })*) => {
        $(
            $(#[$doc])*
            #[derive(Debug, Default, Deserialize)]
            #[serde(rename_all = "PascalCase")]
            pub(crate) struct $name {
                $(pub(crate) $field: Option<String>,)*
            }
        )*
    };
}

shapes! {
    /// Actions on one user, named or (where the action allows) the caller itself.
    UserRequest { user_name }
    /// CreateUser.
    NewUser { user_name, path }
    ListUsersRequest { path_prefix }
    /// UpdateAccessKey (with a status) and DeleteAccessKey.
    AccessKeyRequest { access_key_id, user_name, status }
    /// Put, Get and DeleteUserPolicy.
    UserPolicyRequest { user_name, policy_name, policy_document }
    CreatePolicyRequest { policy_name, path, description, policy_document }
    /// Actions on one managed policy.
    PolicyRequest { policy_arn }
    PolicyVersionRequest { policy_arn, version_id }
    ListPoliciesRequest { scope, only_attached }
    /// Attach and DetachUserPolicy.
    UserAttachmentRequest { user_name, policy_arn }
    /// Actions on one group.
    GroupRequest { group_name }
    /// CreateGroup.
    NewGroup { group_name, path }
    ListGroupsRequest {}
    /// AddUserToGroup and RemoveUserFromGroup.
    MembershipRequest { group_name, user_name }
    /// Put and DeleteGroupPolicy.
    GroupPolicyRequest { group_name, policy_name, policy_document }
    /// Attach and DetachGroupPolicy.
    GroupAttachmentRequest { group_name, policy_arn }
}

macro_rules! actions {
    ($($action:ident($shape:ident)),* $(,)?) => {
        /// A request of one of the IAM actions the gateway serves.
        #[derive(Debug)]
        pub(crate) enum IamRequest {
            $($action($shape),)*
        }

        impl IamRequest {
            /// The request a form asks for; an action this IAM does not have is refused.
            pub(crate) fn parse(form: &Form) -> IamResult<IamRequest> {
                match form.action() {
                    $(stringify!($action) => Ok(IamRequest::$action(form.read()?)),)*
                    "" => Err(IamError::missing_action("Could not find operation")),
                    other => Err(IamError::invalid_action(format!(
                        "Could not find operation {other} for version 2010-05-08"
                    ))),
                }
            }
        }
    };
}

actions! {
    CreateUser(NewUser),
    GetUser(UserRequest),
    ListUsers(ListUsersRequest),
    DeleteUser(UserRequest),
    CreateAccessKey(UserRequest),
    ListAccessKeys(UserRequest),
    UpdateAccessKey(AccessKeyRequest),
    DeleteAccessKey(AccessKeyRequest),
    PutUserPolicy(UserPolicyRequest),
    GetUserPolicy(UserPolicyRequest),
    DeleteUserPolicy(UserPolicyRequest),
    ListUserPolicies(UserRequest),
    CreatePolicy(CreatePolicyRequest),
    GetPolicy(PolicyRequest),
    GetPolicyVersion(PolicyVersionRequest),
    ListPolicies(ListPoliciesRequest),
    DeletePolicy(PolicyRequest),
    AttachUserPolicy(UserAttachmentRequest),
    DetachUserPolicy(UserAttachmentRequest),
    ListAttachedUserPolicies(UserRequest),
    CreateGroup(NewGroup),
    GetGroup(GroupRequest),
    ListGroups(ListGroupsRequest),
    DeleteGroup(GroupRequest),
    AddUserToGroup(MembershipRequest),
    RemoveUserFromGroup(MembershipRequest),
    ListGroupsForUser(UserRequest),
    PutGroupPolicy(GroupPolicyRequest),
    DeleteGroupPolicy(GroupPolicyRequest),
    ListGroupPolicies(GroupRequest),
    AttachGroupPolicy(GroupAttachmentRequest),
    DetachGroupPolicy(GroupAttachmentRequest),
    ListAttachedGroupPolicies(GroupRequest),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_read_as_typed_requests() {
        let form = Form::parse(
            Some("Action=CreateUser&Path=%2Fteam%2F"),
            b"UserName=bob+smith&Unknown=1&Path=%2Fops%2F",
        );
        let IamRequest::CreateUser(r) = IamRequest::parse(&form).unwrap() else {
            panic!("not CreateUser");
        };
        // The body's field wins; `+` in a form is a space.
        assert_eq!(r.user_name.as_deref(), Some("bob smith"));
        assert_eq!(r.path.as_deref(), Some("/ops/"));
        // An empty field is no field.
        let form = Form::parse(None, b"Action=DeleteUser&UserName=");
        let IamRequest::DeleteUser(r) = IamRequest::parse(&form).unwrap() else {
            panic!("not DeleteUser");
        };
        let e = required(&r.user_name, "UserName").unwrap_err();
        assert_eq!(
            e.message(),
            "1 validation error detected: Value null at 'userName' failed to satisfy constraint: Member must not be null"
        );
        assert_eq!(e.code(), "ValidationError");
    }

    #[test]
    fn missing_and_unknown_actions_are_refused() {
        let e = IamRequest::parse(&Form::parse(None, b"UserName=bob")).unwrap_err();
        assert_eq!((e.code(), e.status().as_u16()), ("MissingAction", 400));
        let e = IamRequest::parse(&Form::parse(None, b"Action=CreateRole")).unwrap_err();
        assert_eq!(e.code(), "InvalidAction");
        assert_eq!(
            e.message(),
            "Could not find operation CreateRole for version 2010-05-08"
        );
    }
}
