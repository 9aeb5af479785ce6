//! Where the protocol crate's answer differs from S3's, the response is corrected here, on
//! its way out. Each case names the S3 behaviour it restores.

use bytes::Bytes;
use http::{HeaderValue, Method, Response, StatusCode};
use s3s::Body;

/// What of the request the corrections need.
pub struct RequestFacts {
    method: Method,
    object_attributes: bool,
    /// An HTTP/1 request that sends a body.
    http1_body: bool,
}

impl RequestFacts {
    pub fn of<B>(req: &http::Request<B>) -> RequestFacts {
        let (method, uri) = (req.method(), req.uri());
        let h = req.headers();
        let http1_body = req.version() <= http::Version::HTTP_11
            && (h.contains_key(http::header::TRANSFER_ENCODING)
                || h.get(http::header::CONTENT_LENGTH)
                    .is_some_and(|v| v.as_bytes() != b"0"));
        let object_attributes = *method == Method::GET
            && uri.query().is_some_and(|q| {
                q.split('&')
                    .any(|p| p == "attributes" || p.starts_with("attributes="))
            });
        RequestFacts {
            method: method.clone(),
            object_attributes,
            http1_body,
        }
    }
}

pub fn adjust(facts: &RequestFacts, mut resp: Response<Body>) -> Response<Body> {
    // A request refused before its body was read (authorization runs first) leaves that
    // body unread, and the server closes the connection rather than drain it. S3 says so
    // with `Connection: close`; without it a client reuses the connection for its next
    // request and sees it reset.
    if facts.http1_body && resp.status().is_client_error() {
        resp.headers_mut()
            .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    }
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

    fn req(method: Method, uri: &str) -> http::Request<()> {
        http::Request::builder()
            .method(method)
            .uri(uri)
            .body(())
            .unwrap()
    }

    #[test]
    fn a_refused_request_body_closes_the_connection() {
        let put = http::Request::builder()
            .method(Method::PUT)
            .uri("/b/k")
            .header(http::header::CONTENT_LENGTH, "5")
            .body(())
            .unwrap();
        let resp = |status| {
            let mut r = Response::new(Body::empty());
            *r.status_mut() = status;
            r
        };
        let closed = adjust(&RequestFacts::of(&put), resp(StatusCode::FORBIDDEN));
        assert_eq!(closed.headers()[http::header::CONNECTION], "close");
        let ok = adjust(&RequestFacts::of(&put), resp(StatusCode::OK));
        assert!(!ok.headers().contains_key(http::header::CONNECTION));
        let get = adjust(
            &RequestFacts::of(&req(Method::GET, "/b/k")),
            resp(StatusCode::FORBIDDEN),
        );
        assert!(!get.headers().contains_key(http::header::CONNECTION));
    }

    fn resp(status: StatusCode, body: &str) -> Response<Body> {
        let mut r = Response::new(Body::from(body.to_owned()));
        *r.status_mut() = status;
        r
    }

    #[test]
    fn ranged_head_is_206() {
        let facts = RequestFacts::of(&req(Method::HEAD, "/b/k"));
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
        let facts = RequestFacts::of(&req(Method::GET, "/b/k?attributes"));
        let r = adjust(&facts, resp(StatusCode::OK, "<R><ETag>\"abc\"</ETag></R>"));
        assert_eq!(body_text(&r).unwrap(), "<R><ETag>abc</ETag></R>");
        assert_eq!(r.headers()[http::header::CONTENT_LENGTH], "23");
    }

    #[test]
    fn policy_condition_failures_are_access_denied() {
        let facts = RequestFacts::of(&req(Method::POST, "/b"));
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
