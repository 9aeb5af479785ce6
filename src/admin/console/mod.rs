//! The web console: server-rendered pages on the admin listener for people who hold an
//! access key pair. It is an edge like the S3, KMS and IAM APIs: every action goes
//! through the same services, decided by the same identity, key and bucket policies, and
//! audited the same way, so a user sees and does only what the APIs would allow them.
//!
//! Sessions are in memory ([`session`]); every POST carries the session's CSRF token and
//! must come from the console's own origin.

mod audit_page;
mod buckets;
mod iam_page;
mod keys;
mod session;
mod views;

use std::sync::Arc;

use askama::Template as _;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};
use http_body_util::{BodyExt as _, Full, Limited};

use self::session::{Lifetimes, Session, Sessions};
use self::views::{ErrorPage, Head, SignInPage};
use crate::audit::AuditReader;
use crate::clock::SharedClock;
use crate::config::Config;
use crate::iam::{IamApi, IamError};
use crate::identity::{Identities, Identity, IdentityUnavailable, Peer};
use crate::kms::{Caller, KmsApi, KmsError};
use crate::objects::ObjectService;
use crate::s3::{Authorizer, CallerIdentity};
use crate::setup::Gateway;

type Resp = Response<Full<Bytes>>;

/// Forms are small: sign-in, a key's description, a user name.
const MAX_FORM: usize = 16 * 1024;

/// A page that could not be shown or an action that was refused, as the API's error
/// code and message.
#[derive(Debug, thiserror::Error)]
#[error("{code}: {message}")]
pub(super) struct Failure {
    status: StatusCode,
    code: String,
    message: String,
    request_id: Option<String>,
    /// The session's CSRF token when someone is signed in: the page offers sign-out.
    csrf: Option<String>,
}

impl Failure {
    fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Failure {
        Failure {
            status,
            code: code.to_owned(),
            message: message.into(),
            request_id: None,
            csrf: None,
        }
    }

    fn internal(message: impl Into<String>) -> Failure {
        Failure::new(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", message)
    }

    /// An API error: a refusal is 403 on a page whatever the API's status (KMS answers
    /// 400), a missing thing 404.
    fn from_api(code: &str, message: &str, status: StatusCode) -> Failure {
        let status = if code.starts_with("AccessDenied") {
            StatusCode::FORBIDDEN
        } else if code.starts_with("NotFound") || code.starts_with("NoSuch") {
            StatusCode::NOT_FOUND
        } else {
            status
        };
        Failure::new(status, code, message)
    }

    fn with_request_id(mut self, request_id: &str) -> Failure {
        self.request_id = Some(request_id.to_owned());
        self
    }
}

impl From<KmsError> for Failure {
    fn from(e: KmsError) -> Failure {
        Failure::from_api(e.code(), e.message(), e.status())
    }
}

impl From<IamError> for Failure {
    fn from(e: IamError) -> Failure {
        Failure::from_api(e.code(), e.message(), e.status())
    }
}

impl From<s3s::S3Error> for Failure {
    fn from(e: s3s::S3Error) -> Failure {
        Failure::from_api(
            e.code().as_str(),
            e.message().unwrap_or(""),
            e.status_code().unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        )
    }
}

impl From<askama::Error> for Failure {
    fn from(e: askama::Error) -> Failure {
        Failure::internal(format!("rendering the page: {e}"))
    }
}

impl From<IdentityUnavailable> for Failure {
    fn from(_: IdentityUnavailable) -> Failure {
        Failure::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "The gateway could not confirm its credentials are current; try again.",
        )
    }
}

/// One console request, its form (for a POST) read.
struct Req {
    method: Method,
    path: String,
    query: String,
    headers: HeaderMap,
    form: Vec<(String, String)>,
    peer: Peer,
}

impl Req {
    fn field(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn param(&self, name: &str) -> Option<String> {
        form_urlencoded::parse(self.query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .filter(|v| !v.is_empty())
    }

    fn header(&self, name: header::HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Whether the ticked confirmation box of a destructive action came with the form.
    fn confirmed(&self) -> Result<(), Failure> {
        match self.field("confirm") {
            Some("yes") => Ok(()),
            _ => Err(Failure::new(
                StatusCode::BAD_REQUEST,
                "ConfirmationRequired",
                "This action needs confirmation: tick the box next to its button.",
            )),
        }
    }
}

/// The signed-in user of a request: its session and its identity as of now.
struct Who {
    token: String,
    session: Session,
    identity: Arc<Identity>,
    peer: Peer,
}

impl Who {
    fn kms_caller(&self) -> Caller {
        Caller::direct(&self.identity, self.peer)
    }

    fn s3_caller(&self) -> CallerIdentity {
        CallerIdentity {
            principal: self.identity.principal.clone(),
            policies: self.identity.policies.clone(),
            source_ip: self.peer.ip,
            secure_transport: self.peer.tls,
        }
    }

    fn head(&self, title: &str, section: &'static str) -> Head {
        Head {
            title: title.to_owned(),
            section,
            principal: self.identity.principal.arn.clone(),
            csrf: self.session.csrf.clone(),
        }
    }
}

#[derive(Clone)]
pub(super) struct Console {
    kms: Arc<KmsApi>,
    iam: Arc<IamApi>,
    identities: Arc<Identities>,
    authorizer: Arc<Authorizer>,
    objects: ObjectService,
    audit: AuditReader,
    verified: Arc<audit_page::VerifiedCache>,
    clock: SharedClock,
    sessions: Arc<Sessions>,
    /// The gateway's own account: owner of buckets created before owners were recorded,
    /// and the account whose audit trail this node keeps.
    account: String,
}

impl Console {
    pub(super) fn new(
        gateway: &Gateway,
        config: &Config,
        kms: Arc<KmsApi>,
        authorizer: Authorizer,
    ) -> Console {
        let secs = |s: u64| i64::try_from(s.saturating_mul(1000)).unwrap_or(i64::MAX);
        Console {
            kms,
            iam: Arc::new(IamApi {
                iam: gateway.iam.clone(),
                identities: gateway.identities.clone(),
                audit: gateway.audit.clone(),
                clock: gateway.clock.clone(),
            }),
            identities: gateway.identities.clone(),
            authorizer: Arc::new(authorizer),
            objects: gateway.objects.clone(),
            audit: gateway.audit.reader(),
            verified: Arc::default(),
            clock: gateway.clock.clone(),
            sessions: Arc::new(Sessions::new(Lifetimes {
                idle_ms: secs(config.admin.session_idle_secs),
                absolute_ms: secs(config.admin.session_max_secs),
            })),
            account: config.account_id.clone(),
        }
    }

    pub(super) async fn handle(
        &self,
        req: http::Request<crate::limits::TimedIncoming>,
        peer: Peer,
    ) -> Resp {
        let (parts, body) = req.into_parts();
        let mut r = Req {
            method: parts.method,
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().unwrap_or("").to_owned(),
            headers: parts.headers,
            form: Vec::new(),
            peer,
        };
        if r.method == Method::POST {
            match Limited::new(body, MAX_FORM).collect().await {
                Ok(b) => {
                    r.form = form_urlencoded::parse(&b.to_bytes())
                        .map(|(k, v)| (k.into_owned(), v.into_owned()))
                        .collect();
                }
                Err(e) if crate::limits::BodyStalled::is_cause_of(&*e) => {
                    return self.failure(&Failure::new(
                        StatusCode::REQUEST_TIMEOUT,
                        "RequestTimeout",
                        "The form did not arrive in time.",
                    ));
                }
                Err(_) => {
                    return self.failure(&Failure::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "RequestTooLarge",
                        "The form is too large.",
                    ));
                }
            }
        }
        match self.route(&r).await {
            Ok(resp) => resp,
            Err(f) => self.failure(&f),
        }
    }

    async fn route(&self, r: &Req) -> Result<Resp, Failure> {
        let path = r.path.trim_start_matches("/console").trim_matches('/');
        let decoded: Vec<String> = path
            .split('/')
            .map(|s| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .collect();
        let parts: Vec<&str> = decoded.iter().map(String::as_str).collect();
        let post = r.method == Method::POST;
        if post {
            same_origin(r)?;
        } else if r.method != Method::GET && r.method != Method::HEAD {
            return Err(Failure::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                "The console takes GET and POST only.",
            ));
        }
        match (post, parts.as_slice()) {
            (false, ["sign-in"]) => return self.sign_in_page(None, StatusCode::OK),
            (true, ["sign-in"]) => return self.sign_in(r).await,
            _ => {}
        }
        let Some(who) = self.who(r).await? else {
            if post {
                return Err(Failure::new(
                    StatusCode::FORBIDDEN,
                    "SessionExpired",
                    "You are not signed in, or your session has expired: sign in again.",
                ));
            }
            return Ok(redirect("/console/sign-in"));
        };
        self.signed_in(&who, r, post, &parts)
            .await
            .map_err(|mut f| {
                f.csrf = Some(who.session.csrf.clone());
                f
            })
    }

    /// The pages and actions of a signed-in user.
    async fn signed_in(
        &self,
        who: &Who,
        r: &Req,
        post: bool,
        parts: &[&str],
    ) -> Result<Resp, Failure> {
        if post && !session::csrf_matches(&who.session, r.field("csrf")) {
            return Err(Failure::new(
                StatusCode::FORBIDDEN,
                "InvalidCsrfToken",
                "The form did not carry this session's token: reload the page and try again.",
            ));
        }
        match (post, parts) {
            (false, [""]) => Ok(redirect("/console/keys")),
            (true, ["sign-out"]) => {
                self.sessions.end(&who.token);
                let mut resp = redirect("/console/sign-in");
                set_header(
                    &mut resp,
                    header::SET_COOKIE,
                    &session::clear_cookie(r.peer.tls),
                );
                Ok(resp)
            }
            (false, ["keys"]) => self.keys_page(who, r).await,
            (true, ["keys"]) => self.create_key(who, r).await,
            (false, ["keys", id]) => self.key_page(who, id, r).await,
            (true, ["keys", id, action]) => self.key_action(who, id, action, r).await,
            (false, ["buckets"]) => self.buckets_page(who).await,
            (false, ["buckets", name]) => self.bucket_page(who, name).await,
            (false, ["audit"]) => self.audit_page(who, r).await,
            (false, ["iam"]) => self.iam_page(who, r).await,
            (true, ["iam", "users"]) => self.create_user(who, r).await,
            (true, ["iam", "users", user, "access-keys"]) => {
                self.create_access_key(who, user).await
            }
            (true, ["iam", "access-keys", key, action]) => {
                self.access_key_action(who, key, action, r).await
            }
            _ => Err(Failure::new(
                StatusCode::NOT_FOUND,
                "NotFound",
                "There is no such page.",
            )),
        }
    }

    /// The signed-in user of a request, if its session is alive and its access key still
    /// names someone.
    async fn who(&self, r: &Req) -> Result<Option<Who>, Failure> {
        let Some(token) = r
            .header(header::COOKIE)
            .and_then(|c| session::cookie(c, session::COOKIE))
        else {
            return Ok(None);
        };
        let Some(session) = self.sessions.touch(token, self.clock.now_ms()) else {
            return Ok(None);
        };
        match self.identities.lookup(&session.access_key).await? {
            Some(identity) => Ok(Some(Who {
                token: token.to_owned(),
                session,
                identity,
                peer: r.peer,
            })),
            // The key was deleted since: the session goes with it.
            None => {
                self.sessions.end(token);
                Ok(None)
            }
        }
    }

    fn sign_in_page(&self, error: Option<&str>, status: StatusCode) -> Result<Resp, Failure> {
        let page = SignInPage {
            error: error.map(str::to_owned),
        };
        Ok(html(status, page.render()?))
    }

    async fn sign_in(&self, r: &Req) -> Result<Resp, Failure> {
        let now = self.clock.now_ms();
        if !self.sessions.may_try(r.peer.ip, now) {
            return self.sign_in_page(
                Some("Too many failed sign-ins from your address: wait a minute and try again."),
                StatusCode::TOO_MANY_REQUESTS,
            );
        }
        let access_key = r.field("access_key").unwrap_or("").trim();
        let secret = r.field("secret_key").unwrap_or("");
        let identity = self.identities.lookup(access_key).await?;
        // The same comparison whether or not the key exists, so neither the answer nor
        // its timing tells which.
        let expected = identity.as_ref().map_or("", |i| i.secret_key.as_str());
        let matches = subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), secret.as_bytes());
        let ok = identity.is_some() && !secret.is_empty() && bool::from(matches);
        if !ok {
            self.sessions.failed(r.peer.ip, now);
            tracing::info!(source_ip = ?r.peer.ip, "console: failed sign-in");
            return self.sign_in_page(
                Some("The access key or the secret key is wrong."),
                StatusCode::UNAUTHORIZED,
            );
        }
        let Some(token) = self.sessions.start(access_key, now) else {
            return Err(Failure::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "TooManySessions",
                "The console has too many open sessions; try again later.",
            ));
        };
        let mut resp = redirect("/console/keys");
        set_header(
            &mut resp,
            header::SET_COOKIE,
            &session::set_cookie(&token, r.peer.tls),
        );
        Ok(resp)
    }

    fn failure(&self, f: &Failure) -> Resp {
        let page = ErrorPage {
            status: f.status.as_u16(),
            code: f.code.clone(),
            message: f.message.clone(),
            request_id: f.request_id.clone(),
            csrf: f.csrf.clone(),
        };
        let body = page
            .render()
            .unwrap_or_else(|e| format!("{}: the error page could not be shown: {e}", f.code));
        html(f.status, body)
    }

    /// Runs a KMS operation as the signed-in user, through the KMS API's own dispatch.
    async fn kms(
        &self,
        who: &Who,
        operation: &str,
        request: serde_json::Value,
    ) -> Result<serde_json::Value, Failure> {
        let request_id = crate::crypto::random_uuid().to_string();
        let body = request.to_string();
        let out = self
            .kms
            .invoke(&who.kms_caller(), &request_id, operation, body.as_bytes())
            .await
            .map_err(|e| Failure::from(e).with_request_id(&request_id))?;
        serde_json::from_slice(&out).map_err(|e| Failure::internal(format!("{operation}: {e}")))
    }

    /// Runs an IAM action as the signed-in user; answers the API's XML.
    async fn iam(&self, who: &Who, form: &[(&str, &str)]) -> Result<String, Failure> {
        let request_id = crate::crypto::random_uuid().to_string();
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        self.iam
            .invoke(who.identity.clone(), who.peer, &request_id, &body)
            .await
            .map_err(|e| Failure::from(e).with_request_id(&request_id))
    }
}

/// Refuses a POST another site made the browser send: the console's forms come from the
/// console's own origin. Browsers that send neither header are left to the CSRF token.
fn same_origin(r: &Req) -> Result<(), Failure> {
    let refuse = || {
        Failure::new(
            StatusCode::FORBIDDEN,
            "CrossOriginRequest",
            "The form was not sent from the console's own pages.",
        )
    };
    if let Some(site) = r.header(header::HeaderName::from_static("sec-fetch-site"))
        && site != "same-origin"
    {
        return Err(refuse());
    }
    if let Some(origin) = r.header(header::ORIGIN) {
        let host = r.header(header::HOST).unwrap_or("");
        let origin = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"));
        if origin != Some(host) {
            return Err(refuse());
        }
    }
    Ok(())
}

fn set_header(resp: &mut Resp, name: header::HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        resp.headers_mut().insert(name, v);
    }
}

/// A page: never cached, never framed, no scripts, nothing from elsewhere.
fn html(status: StatusCode, body: String) -> Resp {
    let mut resp = Response::new(Full::from(body));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Not `no-referrer`: under it browsers send `Origin: null` with the console's own
    // forms, and the origin check could no longer tell them from another site's.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    resp
}

/// 303: the browser follows with a GET, so a reload does not repeat an action.
fn redirect(location: &str) -> Resp {
    let mut resp = Response::new(Full::from(Bytes::new()));
    *resp.status_mut() = StatusCode::SEE_OTHER;
    set_header(&mut resp, header::LOCATION, location);
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// What a page section shows for a refused or failed call: the API's code and message.
fn shown<T>(r: Result<T, Failure>) -> views::Shown<T> {
    r.map_err(|f| format!("{}: {}", f.code, f.message))
}

/// A policy document indented for reading; one that is not JSON is shown as stored.
fn pretty_json(text: String) -> String {
    serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or(text)
}

/// Percent-encodes one path segment or query value.
fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// An epoch time (seconds, as KMS answers) as `2026-03-01 12:00:00 UTC`.
fn epoch_text(v: &serde_json::Value) -> Option<String> {
    let secs = v.as_f64()?;
    let t = time::OffsetDateTime::from_unix_timestamp(secs as i64).ok()?;
    millis_text(t.unix_timestamp() * 1000)
}

fn millis_text(ms: i64) -> Option<String> {
    const FORMAT: &[time::format_description::BorrowedFormatItem<'static>] =
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    let t = time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000)).ok()?;
    t.format(FORMAT).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(headers: &[(&str, &str)]) -> Req {
        let mut h = HeaderMap::new();
        for (k, v) in headers {
            h.insert(
                header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        Req {
            method: Method::POST,
            path: "/console/keys".into(),
            query: String::new(),
            headers: h,
            form: Vec::new(),
            peer: Peer {
                ip: None,
                tls: false,
            },
        }
    }

    #[test]
    fn posts_must_come_from_the_console_s_own_origin() {
        let host = ("host", "127.0.0.1:8015");
        assert!(same_origin(&post(&[host, ("origin", "http://127.0.0.1:8015")])).is_ok());
        assert!(same_origin(&post(&[host, ("sec-fetch-site", "same-origin")])).is_ok());
        for refused in [
            post(&[host, ("origin", "http://evil.example")]),
            post(&[host, ("origin", "null")]),
            post(&[host, ("origin", "http://127.0.0.1:8015.evil.example")]),
            post(&[host, ("sec-fetch-site", "cross-site")]),
            post(&[host, ("sec-fetch-site", "same-site")]),
        ] {
            assert_eq!(
                same_origin(&refused).unwrap_err().status,
                StatusCode::FORBIDDEN
            );
        }
    }

    #[test]
    fn refusals_are_403_whatever_status_the_api_answers() {
        let f = Failure::from(KmsError::access_denied("User: x is not authorized"));
        assert_eq!(
            (f.status, f.code.as_str()),
            (StatusCode::FORBIDDEN, "AccessDeniedException")
        );
        let f = Failure::from(KmsError::not_found("Invalid keyId"));
        assert_eq!(f.status, StatusCode::NOT_FOUND);
        let f = Failure::from(KmsError::disabled("disabled"));
        assert_eq!(f.status, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn actions_need_their_confirmation() {
        let mut r = post(&[]);
        assert_eq!(r.confirmed().unwrap_err().code, "ConfirmationRequired");
        r.form.push(("confirm".into(), "yes".into()));
        assert!(r.confirmed().is_ok());
    }
}
