//! The IAM page: users and their access keys, and the actions on them, each an IAM API
//! action run as the signed-in user and read back from the API's own answer.

use askama::Template as _;
use http::StatusCode;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::views::{AccessKeyRow, IamPage, NewKey, UserRow};
use super::{Console, Failure, Req, Resp, Who, html, redirect, shown};

#[derive(Deserialize)]
struct Members<T> {
    #[serde(rename = "member", default = "Vec::new")]
    member: Vec<T>,
}

#[derive(Deserialize)]
struct ListUsersResponse {
    #[serde(rename = "ListUsersResult")]
    result: ListUsersResult,
}

#[derive(Deserialize)]
struct ListUsersResult {
    #[serde(rename = "Users")]
    users: Members<XmlUser>,
}

#[derive(Deserialize)]
struct XmlUser {
    #[serde(rename = "UserName")]
    name: String,
    #[serde(rename = "Arn")]
    arn: String,
    #[serde(rename = "CreateDate", default)]
    created: String,
}

#[derive(Deserialize)]
struct ListAccessKeysResponse {
    #[serde(rename = "ListAccessKeysResult")]
    result: ListAccessKeysResult,
}

#[derive(Deserialize)]
struct ListAccessKeysResult {
    #[serde(rename = "AccessKeyMetadata")]
    keys: Members<XmlAccessKey>,
}

#[derive(Deserialize)]
struct XmlAccessKey {
    #[serde(rename = "AccessKeyId")]
    id: String,
    #[serde(rename = "Status")]
    status: String,
    #[serde(rename = "CreateDate", default)]
    created: String,
    #[serde(rename = "SecretAccessKey", default)]
    secret: String,
}

#[derive(Deserialize)]
struct CreateAccessKeyResponse {
    #[serde(rename = "CreateAccessKeyResult")]
    result: CreateAccessKeyResult,
}

#[derive(Deserialize)]
struct CreateAccessKeyResult {
    #[serde(rename = "AccessKey")]
    key: XmlAccessKey,
}

fn parse<T: DeserializeOwned>(xml: &str) -> Result<T, Failure> {
    quick_xml::de::from_str(xml)
        .map_err(|e| Failure::internal(format!("reading IAM's answer: {e}")))
}

/// The outcomes a redirect carries back to the page: only actions this module runs.
const DONE: &[&str] = &["CreateUser", "UpdateAccessKey", "DeleteAccessKey"];

impl Console {
    async fn users(&self, who: &Who) -> Result<Vec<UserRow>, Failure> {
        let list: ListUsersResponse = parse(&self.iam(who, &[("Action", "ListUsers")]).await?)?;
        let mut users = Vec::new();
        for u in list.result.users.member {
            let keys = match self
                .iam(who, &[("Action", "ListAccessKeys"), ("UserName", &u.name)])
                .await
            {
                Ok(xml) => parse::<ListAccessKeysResponse>(&xml).map(|l| {
                    l.result
                        .keys
                        .member
                        .into_iter()
                        .map(|k| AccessKeyRow {
                            id: k.id,
                            status: k.status,
                            created: k.created,
                        })
                        .collect()
                }),
                Err(f) => Err(f),
            };
            users.push(UserRow {
                name: u.name,
                arn: u.arn,
                created: u.created,
                keys: shown(keys),
            });
        }
        Ok(users)
    }

    async fn render_iam(
        &self,
        who: &Who,
        done: Option<String>,
        new_key: Option<NewKey>,
    ) -> Result<Resp, Failure> {
        let page = IamPage {
            head: who.head("IAM users", "iam"),
            done,
            new_key,
            users: self.users(who).await?,
        };
        Ok(html(StatusCode::OK, page.render()?))
    }

    pub(super) async fn iam_page(&self, who: &Who, r: &Req) -> Result<Resp, Failure> {
        let done = r.param("done").filter(|d| DONE.contains(&d.as_str()));
        self.render_iam(who, done, None).await
    }

    pub(super) async fn create_user(&self, who: &Who, r: &Req) -> Result<Resp, Failure> {
        let name = r.field("user_name").unwrap_or("");
        self.iam(who, &[("Action", "CreateUser"), ("UserName", name)])
            .await?;
        Ok(redirect("/console/iam?done=CreateUser"))
    }

    /// Makes an access key and shows its secret, once: it is not kept anywhere the
    /// console can show it again.
    pub(super) async fn create_access_key(&self, who: &Who, user: &str) -> Result<Resp, Failure> {
        let xml = self
            .iam(who, &[("Action", "CreateAccessKey"), ("UserName", user)])
            .await?;
        let made: CreateAccessKeyResponse = parse(&xml)?;
        let new_key = NewKey {
            user: user.to_owned(),
            id: made.result.key.id,
            secret: made.result.key.secret,
        };
        self.render_iam(who, None, Some(new_key)).await
    }

    pub(super) async fn access_key_action(
        &self,
        who: &Who,
        key: &str,
        action: &str,
        r: &Req,
    ) -> Result<Resp, Failure> {
        let user = r.field("user_name").unwrap_or("");
        let (form, done): (Vec<(&str, &str)>, &str) = match action {
            "activate" => (
                vec![("Action", "UpdateAccessKey"), ("Status", "Active")],
                "UpdateAccessKey",
            ),
            "deactivate" => {
                r.confirmed()?;
                (
                    vec![("Action", "UpdateAccessKey"), ("Status", "Inactive")],
                    "UpdateAccessKey",
                )
            }
            "delete" => {
                r.confirmed()?;
                (vec![("Action", "DeleteAccessKey")], "DeleteAccessKey")
            }
            _ => {
                return Err(Failure::new(
                    StatusCode::NOT_FOUND,
                    "NotFound",
                    "There is no such action.",
                ));
            }
        };
        let mut form = form;
        form.extend([("AccessKeyId", key), ("UserName", user)]);
        self.iam(who, &form).await?;
        Ok(redirect(&format!("/console/iam?done={done}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_s_answers_are_read_back() {
        let xml = r#"<ListUsersResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><ListUsersResult><Users><member><Path>/</Path><UserName>alice</UserName><UserId>AID</UserId><Arn>arn:aws:iam::000000000000:user/alice</Arn><CreateDate>2026-01-01T00:00:00Z</CreateDate></member></Users><IsTruncated>false</IsTruncated></ListUsersResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></ListUsersResponse>"#;
        let l: ListUsersResponse = parse(xml).unwrap();
        assert_eq!(l.result.users.member.len(), 1);
        assert_eq!(l.result.users.member[0].name, "alice");
        let empty = r#"<ListUsersResponse><ListUsersResult><Users></Users><IsTruncated>false</IsTruncated></ListUsersResult></ListUsersResponse>"#;
        let l: ListUsersResponse = parse(empty).unwrap();
        assert!(l.result.users.member.is_empty());
        let keys = r#"<ListAccessKeysResponse><ListAccessKeysResult><AccessKeyMetadata><member><UserName>alice</UserName><AccessKeyId>AK1</AccessKeyId><Status>Inactive</Status><CreateDate>d</CreateDate></member></AccessKeyMetadata><IsTruncated>false</IsTruncated><UserName>alice</UserName></ListAccessKeysResult></ListAccessKeysResponse>"#;
        let k: ListAccessKeysResponse = parse(keys).unwrap();
        assert_eq!(k.result.keys.member[0].status, "Inactive");
    }
}
