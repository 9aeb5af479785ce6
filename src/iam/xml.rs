//! The XML of IAM answers (AWS query protocol): `<ActionResponse><ActionResult>…` and
//! `<ErrorResponse>`, with the entity shapes boto3 and the aws CLI parse.

use super::model::{AccessKey, Group, ManagedPolicy, User};
use super::service::IamError;

const NS: &str = "https://iam.amazonaws.com/doc/2010-05-08/";

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// An XML fragment being built; element values are escaped.
#[derive(Default)]
pub(super) struct Xml(String);

impl Xml {
    pub(super) fn new() -> Xml {
        Xml::default()
    }

    pub(super) fn el(mut self, name: &str, value: &str) -> Xml {
        self.0
            .push_str(&format!("<{name}>{}</{name}>", escape(value)));
        self
    }

    pub(super) fn opt(self, name: &str, value: Option<&str>) -> Xml {
        match value {
            Some(v) => self.el(name, v),
            None => self,
        }
    }

    /// `<name>` around an already built fragment.
    pub(super) fn wrap(mut self, name: &str, inner: Xml) -> Xml {
        self.0.push_str(&format!("<{name}>{}</{name}>", inner.0));
        self
    }

    /// `<name><member>…</member>…</name>`, then `<IsTruncated>false</IsTruncated>`.
    pub(super) fn list(self, name: &str, members: impl IntoIterator<Item = Xml>) -> Xml {
        let inner = members
            .into_iter()
            .fold(Xml::new(), |acc, m| acc.wrap("member", m));
        self.wrap(name, inner).el("IsTruncated", "false")
    }

    pub(super) fn text_members(self, name: &str, values: impl IntoIterator<Item = String>) -> Xml {
        self.list(name, values.into_iter().map(|v| Xml(escape(&v))))
    }
}

pub(super) fn user(account: &str, name: &str, u: &User) -> Xml {
    Xml::new()
        .el("Path", &u.path)
        .el("UserName", name)
        .el("UserId", &u.user_id)
        .el("Arn", &super::model::user_arn(account, &u.path, name))
        .el("CreateDate", &u.created)
}

pub(super) fn group(account: &str, name: &str, g: &Group) -> Xml {
    Xml::new()
        .el("Path", &g.path)
        .el("GroupName", name)
        .el("GroupId", &g.group_id)
        .el("Arn", &super::model::group_arn(account, &g.path, name))
        .el("CreateDate", &g.created)
}

pub(super) fn key_metadata(user_name: &str, k: &AccessKey) -> Xml {
    Xml::new()
        .el("UserName", user_name)
        .el("AccessKeyId", &k.id)
        .el("Status", if k.active { "Active" } else { "Inactive" })
        .el("CreateDate", &k.created)
}

pub(super) fn policy(account: &str, name: &str, p: &ManagedPolicy, attachments: usize) -> Xml {
    Xml::new()
        .el("PolicyName", name)
        .el("DefaultVersionId", "v1")
        .el("PolicyId", &p.policy_id)
        .el("Path", &p.path)
        .el("Arn", &super::model::policy_arn(account, &p.path, name))
        .el("AttachmentCount", &attachments.to_string())
        .el("IsAttachable", "true")
        .opt(
            "Description",
            (!p.description.is_empty()).then_some(p.description.as_str()),
        )
        .el("CreateDate", &p.created)
        .el("UpdateDate", &p.created)
}

/// Policy documents travel URL-encoded in IAM answers, as AWS sends them.
pub(super) fn encoded_document(doc: &str) -> String {
    form_urlencoded::byte_serialize(doc.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

pub(super) fn response(action: &str, result: Option<Xml>, request_id: &str) -> String {
    let result = result
        .map(|r| format!("<{action}Result>{}</{action}Result>", r.0))
        .unwrap_or_default();
    format!(
        "<{action}Response xmlns=\"{NS}\">{result}<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{action}Response>"
    )
}

pub(super) fn error(e: &IamError, request_id: &str) -> String {
    let kind = if e.status().is_server_error() {
        "Receiver"
    } else {
        "Sender"
    };
    format!(
        "<ErrorResponse xmlns=\"{NS}\"><Error><Type>{kind}</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>",
        e.code(),
        escape(e.message())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_and_lists_have_members() {
        let x = Xml::new()
            .el("A", "x<y&z")
            .text_members("Names", ["p1".to_string(), "p2".to_string()]);
        assert_eq!(
            x.0,
            "<A>x&lt;y&amp;z</A><Names><member>p1</member><member>p2</member></Names><IsTruncated>false</IsTruncated>"
        );
        let r = response("DeleteUser", None, "rid");
        assert!(r.starts_with("<DeleteUserResponse xmlns="), "{r}");
        assert!(!r.contains("DeleteUserResult"));
        let e = error(&IamError::no_such_entity("no <user>"), "rid");
        assert!(
            e.contains("<Code>NoSuchEntity</Code>") && e.contains("no &lt;user&gt;"),
            "{e}"
        );
        assert_eq!(encoded_document("{\"a\": 1}"), "%7B%22a%22%3A%201%7D");
    }
}
