//! Where the protocol crate's answer differs from S3's, the response is corrected here, on
//! its way out. Each case names the S3 behaviour it restores.

use bytes::Bytes;
use http::{HeaderValue, Method, Response, StatusCode, Uri};
use s3s::Body;

/// What of the request the corrections need.
pub struct RequestFacts {
    method: Method,
    object_attributes: bool,
}

impl RequestFacts {
    pub fn of(method: &Method, uri: &Uri) -> RequestFacts {
        let object_attributes = *method == Method::GET
            && uri.query().is_some_and(|q| {
                q.split('&')
                    .any(|p| p == "attributes" || p.starts_with("attributes="))
            });
        RequestFacts {
            method: method.clone(),
            object_attributes,
        }
    }
}

pub fn adjust(facts: &RequestFacts, mut resp: Response<Body>) -> Response<Body> {
    // A ranged HEAD is answered 206, as a ranged GET is.
    if facts.method == Method::HEAD
        && resp.status() == StatusCode::OK
        && resp.headers().contains_key(http::header::CONTENT_RANGE)
    {
        *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
    }
    // GetObjectAttributes shows the ETag unquoted.
    if facts.object_attributes && resp.status() == StatusCode::OK {
        resp = rewrite_body(resp, unquote_etags);
    }
    // A POST form that breaks its policy's conditions is 403 AccessDenied on S3.
    if facts.method == Method::POST && resp.status() == StatusCode::BAD_REQUEST {
        let breaks_policy = body_text(&resp).is_some_and(|b| {
            b.contains("<Code>InvalidPolicyDocument</Code>") && b.contains("Policy condition")
        });
        if breaks_policy {
            *resp.status_mut() = StatusCode::FORBIDDEN;
            resp = rewrite_body(resp, |xml| {
                xml.replace(
                    "<Code>InvalidPolicyDocument</Code><Message>",
                    "<Code>AccessDenied</Code><Message>Invalid according to Policy: ",
                )
            });
        }
    }
    resp
}

fn body_text(resp: &Response<Body>) -> Option<String> {
    resp.body()
        .bytes()
        .and_then(|b| String::from_utf8(b.to_vec()).ok())
}

fn rewrite_body(mut resp: Response<Body>, f: impl FnOnce(&str) -> String) -> Response<Body> {
    let Some(text) = body_text(&resp) else {
        return resp;
    };
    let new = Bytes::from(f(&text));
    resp.headers_mut()
        .insert(http::header::CONTENT_LENGTH, HeaderValue::from(new.len()));
    *resp.body_mut() = Body::from(new);
    resp
}

fn unquote_etags(xml: &str) -> String {
    xml.replace("<ETag>\"", "<ETag>")
        .replace("\"</ETag>", "</ETag>")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(status: StatusCode, body: &str) -> Response<Body> {
        let mut r = Response::new(Body::from(body.to_owned()));
        *r.status_mut() = status;
        r
    }

    #[test]
    fn ranged_head_is_206() {
        let facts = RequestFacts::of(&Method::HEAD, &"/b/k".parse().unwrap());
        let mut r = resp(StatusCode::OK, "");
        r.headers_mut().insert(
            http::header::CONTENT_RANGE,
            HeaderValue::from_static("bytes 0-1/5"),
        );
        assert_eq!(adjust(&facts, r).status(), StatusCode::PARTIAL_CONTENT);
        let plain = adjust(&facts, resp(StatusCode::OK, ""));
        assert_eq!(plain.status(), StatusCode::OK);
    }

    #[test]
    fn attributes_etag_is_unquoted() {
        let facts = RequestFacts::of(&Method::GET, &"/b/k?attributes".parse().unwrap());
        let r = adjust(&facts, resp(StatusCode::OK, "<R><ETag>\"abc\"</ETag></R>"));
        assert_eq!(body_text(&r).unwrap(), "<R><ETag>abc</ETag></R>");
        assert_eq!(r.headers()[http::header::CONTENT_LENGTH], "23");
    }

    #[test]
    fn policy_condition_failures_are_access_denied() {
        let facts = RequestFacts::of(&Method::POST, &"/b".parse().unwrap());
        let body = "<Error><Code>InvalidPolicyDocument</Code><Message>Policy condition 'eq' failed</Message></Error>";
        let r = adjust(&facts, resp(StatusCode::BAD_REQUEST, body));
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert!(body_text(&r).unwrap().contains("<Code>AccessDenied</Code>"));
        let other = adjust(
            &facts,
            resp(
                StatusCode::BAD_REQUEST,
                "<Error><Code>MalformedPOSTRequest</Code></Error>",
            ),
        );
        assert_eq!(other.status(), StatusCode::BAD_REQUEST);
    }
}
