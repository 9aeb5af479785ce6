//! Browser form uploads (POST Object), read before the protocol crate parses them. S3
//! replaces `${filename}` in a form's fields with the name of the uploaded file (before the
//! POST policy is checked, so the policy matches the expanded fields), and takes object tags
//! as a `tagging` field holding a `<Tagging>` document. The protocol crate does neither: it
//! keeps the file's name to itself and reads tags only from an `x-amz-tagging` field.
//!
//! So the fields before the file are read here — at most S3's 20 KB of form before the
//! file's content, refused beyond — the substitution made in place, and the request handed
//! on with the file's bytes streaming behind them untouched: nothing of the file is held
//! beyond the read that brought its first bytes. The `tagging` field stays in the form, so
//! the POST policy must allow it as S3 requires; its document travels in the request's
//! extensions ([`FormTagging`]) and becomes the write's tags where the write is authorized
//! ([`apply_tagging`]), so authorization and the write see the same tags.

use std::borrow::Cow;
use std::ops::Range;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use http::{HeaderMap, HeaderValue, Method, Request, Response};
use http_body_util::StreamBody;
use hyper::body::Frame;
use s3s::dto::{PutObjectInput, Tagging};
use s3s::xml::{self, Deserialize as _};
use s3s::{S3Error, S3Request, S3Result, s3_error};

use super::errors::malformed_xml;
use crate::tagging::{self, Tagged};

/// S3's cap on a form's bytes before the file's content: its fields, boundaries and the
/// file part's headers.
pub(crate) const MAX_FORM_HEAD: usize = 20 * 1024;

const VARIABLE: &[u8] = b"${filename}";

/// The `tagging` field of a form upload: a `<Tagging>` document, `${filename}` expanded.
#[derive(Debug, Clone)]
pub(crate) struct FormTagging(String);

/// A form upload made ready for the protocol crate: `${filename}` expanded in its fields, its
/// `tagging` document in the extensions. Other requests pass unchanged. Refused with S3's
/// answer when the fields before the file exceed [`MAX_FORM_HEAD`] or are not a form.
pub(crate) async fn prepare(
    req: Request<s3s::Body>,
) -> Result<Request<s3s::Body>, Response<s3s::Body>> {
    let Some(boundary) = form_boundary(req.method(), req.headers()) else {
        return Ok(req);
    };
    let (mut parts, mut body) = req.into_parts();
    let mut scanner = Scanner::new(&boundary);
    let mut read = Vec::new();
    let head = loop {
        match scanner.scan(&read) {
            Scan::Head(head) if head.content > MAX_FORM_HEAD => return Err(refuse(too_large())),
            Scan::Head(head) => break Some(head),
            Scan::Malformed => return Err(refuse(malformed_form())),
            // No file: the protocol crate answers that.
            Scan::NoFile => break None,
            Scan::More if read.len() > MAX_FORM_HEAD => return Err(refuse(too_large())),
            Scan::More => {}
        }
        match body.next().await {
            Some(Ok(chunk)) => read.extend_from_slice(&chunk),
            Some(Err(e)) => {
                tracing::debug!(error = %e, "a form's body ended in an error");
                return Err(refuse(s3_error!(
                    IncompleteBody,
                    "The request body terminated unexpectedly"
                )));
            }
            None => break None,
        }
    };
    let (prefix, tags) = match &head {
        Some(head) => rewrite(&read, head),
        None => (read.clone(), None),
    };
    if let Some(doc) = tags {
        parts.extensions.insert(FormTagging(doc));
    }
    resize(&mut parts.headers, read.len(), prefix.len());
    let first: Result<Bytes, s3s::StdError> = Ok(Bytes::from(prefix));
    let stream = futures::stream::iter([first])
        .chain(body)
        .map_ok(Frame::data);
    Ok(Request::from_parts(
        parts,
        s3s::Body::http_body(StreamBody::new(stream)),
    ))
}

/// Makes a form's `tagging` document the write's tags, checked as any tag write is (S3's
/// limits, `400 MalformedXML` for a document that is not one). Called by the write's
/// authorization, the first to see the form as a write, before it reads the tags.
pub(super) fn apply_tagging(req: &mut S3Request<PutObjectInput>) -> S3Result<()> {
    if req.method != Method::POST {
        return Ok(());
    }
    let Some(FormTagging(doc)) = req.extensions.remove::<FormTagging>() else {
        return Ok(());
    };
    if req.input.tagging.is_some() {
        return Err(s3_error!(
            InvalidArgument,
            "A form sets tags with its tagging field or its x-amz-tagging field, not both."
        ));
    }
    req.input.tagging = header_of(&doc)?;
    Ok(())
}

/// The `x-amz-tagging` form of a `<Tagging>` document's tags; none for an empty tag set.
pub(crate) fn header_of(doc: &str) -> S3Result<Option<String>> {
    let mut d = xml::Deserializer::new(doc.as_bytes());
    let dto = Tagging::deserialize(&mut d)
        .and_then(|t| d.expect_eof().map(|()| t))
        .map_err(|_| malformed_xml())?;
    let tags = super::tagging::from_dto(&dto, Tagged::Object)?;
    Ok((!tags.is_empty()).then(|| tagging::to_header(&tags)))
}

/// The boundary of a POST with a `multipart/form-data` body, as the protocol crate takes
/// such a request for a form upload.
fn form_boundary(method: &Method, headers: &HeaderMap) -> Option<Vec<u8>> {
    if method != Method::POST {
        return None;
    }
    let value = headers.get(http::header::CONTENT_TYPE)?.to_str().ok()?;
    let mut params = value.split(';');
    if !params
        .next()?
        .trim()
        .eq_ignore_ascii_case("multipart/form-data")
    {
        return None;
    }
    params.find_map(|p| {
        let (name, value) = p.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| value.trim().trim_matches('"').as_bytes().to_vec())
            .filter(|b| !b.is_empty())
    })
}

/// The declared length of a body whose first `read` bytes became `now` bytes.
fn resize(headers: &mut HeaderMap, read: usize, now: usize) {
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if let Some(declared) = declared {
        let length = (declared + now as u64).saturating_sub(read as u64);
        headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(length));
    }
}

fn too_large() -> S3Error {
    s3_error!(
        MaxPostPreDataLengthExceededError,
        "Your POST request fields preceding the upload file were too large."
    )
}

fn malformed_form() -> S3Error {
    s3_error!(
        MalformedPOSTRequest,
        "The body of your POST request is not well-formed multipart/form-data."
    )
}

fn refuse(e: S3Error) -> Response<s3s::Body> {
    e.to_http_response().unwrap_or_else(|e| {
        tracing::error!(error = %e, "an S3 error could not be rendered");
        let mut resp = Response::new(s3s::Body::empty());
        *resp.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
        resp
    })
}

/// One field of a form: its name, lowercased, and where its value lies in the form's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Field {
    name: String,
    value: Range<usize>,
}

/// The bytes of a form before the file's content, once they are all in.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Head {
    fields: Vec<Field>,
    /// The file part's `filename`, as sent.
    filename: Option<String>,
    /// Where the file's content starts.
    content: usize,
}

#[derive(Debug, PartialEq, Eq)]
enum Scan {
    /// The bytes so far end inside a part.
    More,
    Head(Head),
    /// The form ended without a file.
    NoFile,
    Malformed,
}

/// Reads a form's parts as its bytes come in; each scan goes on after the last whole part.
struct Scanner {
    /// `--BOUNDARY`: what starts each part.
    delimiter: Vec<u8>,
    /// Where the next part's delimiter is, once the first one was found.
    next: Option<usize>,
    fields: Vec<Field>,
}

impl Scanner {
    fn new(boundary: &[u8]) -> Scanner {
        Scanner {
            delimiter: [b"--", boundary].concat(),
            next: None,
            fields: Vec::new(),
        }
    }

    /// Scans `form`, the bytes read so far (those of the last scan and more).
    fn scan(&mut self, form: &[u8]) -> Scan {
        let mut at = match self.next {
            Some(at) => at,
            None if form.starts_with(&self.delimiter) => 0,
            // A preamble before the first part ends with a line break.
            None => match find(form, &[b"\r\n", self.delimiter.as_slice()].concat(), 0) {
                Some(i) => i + 2,
                None => return Scan::More,
            },
        };
        loop {
            self.next = Some(at);
            let after = at + self.delimiter.len();
            let Some(end) = form.get(after..after + 2) else {
                return Scan::More;
            };
            if end == b"--" {
                return Scan::NoFile;
            }
            let padding = form[after..]
                .iter()
                .take_while(|b| matches!(b, b' ' | b'\t'))
                .count();
            let headers = after + padding;
            match form.get(headers..headers + 2) {
                None => return Scan::More,
                Some(b"\r\n") => {}
                Some(_) => return Scan::Malformed,
            }
            let headers = headers + 2;
            let (block, content) = if form[headers..].starts_with(b"\r\n") {
                (&form[headers..headers], headers + 2)
            } else {
                match find(form, b"\r\n\r\n", headers) {
                    Some(i) => (&form[headers..i], i + 4),
                    None => return Scan::More,
                }
            };
            let Some((name, filename)) = disposition(block) else {
                return Scan::Malformed;
            };
            if name.eq_ignore_ascii_case("file") {
                return Scan::Head(Head {
                    fields: std::mem::take(&mut self.fields),
                    filename,
                    content,
                });
            }
            let closing = [b"\r\n", self.delimiter.as_slice()].concat();
            let Some(end) = find(form, &closing, content) else {
                return Scan::More;
            };
            self.fields.push(Field {
                name: name.to_ascii_lowercase(),
                value: content..end,
            });
            at = end + 2;
        }
    }
}

/// Where `needle` first occurs in `hay` at or after `from`.
fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}

/// The `name` and `filename` of a part's `Content-Disposition: form-data` header; `None`
/// when the part has no such header or no name.
fn disposition(block: &[u8]) -> Option<(String, Option<String>)> {
    let block = std::str::from_utf8(block).ok()?;
    let value = block.split("\r\n").find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("content-disposition")
            .then_some(value)
    })?;
    let (kind, mut params) = value.split_once(';').unwrap_or((value, ""));
    if !kind.trim().eq_ignore_ascii_case("form-data") {
        return None;
    }
    let (mut name, mut filename) = (None, None);
    loop {
        params = params.trim_start_matches([';', ' ', '\t']);
        if params.is_empty() {
            break;
        }
        let Some((param, rest)) = params.split_once('=') else {
            break;
        };
        let rest = rest.trim_start();
        // Browsers percent-encode a quote in a name rather than escape it, and send
        // Windows paths with their backslashes: a quoted value runs to the next quote.
        let (value, after) = match rest.strip_prefix('"') {
            Some(quoted) => quoted.split_once('"')?,
            None => {
                let end = rest.find(';').unwrap_or(rest.len());
                (rest[..end].trim_end(), &rest[end..])
            }
        };
        match param.trim().to_ascii_lowercase().as_str() {
            "name" => name = Some(value.to_owned()),
            "filename" => filename = Some(value.to_owned()),
            _ => {}
        }
        params = after;
    }
    Some((name?, filename))
}

/// The form's bytes with `${filename}` expanded in every field, and its `tagging` document.
/// S3 takes the name after the last `/` or `\` of a path, and the empty name without one.
fn rewrite(form: &[u8], head: &Head) -> (Vec<u8>, Option<String>) {
    let path = head.filename.as_deref().unwrap_or("");
    let filename = path.rsplit(['/', '\\']).next().unwrap_or("").as_bytes();
    let mut out = Vec::with_capacity(form.len());
    let mut tags = None;
    let mut at = 0;
    for field in &head.fields {
        out.extend_from_slice(&form[at..field.value.start]);
        let value = expand(&form[field.value.clone()], filename);
        if field.name == "tagging" && tags.is_none() {
            tags = Some(String::from_utf8_lossy(&value).into_owned());
        }
        out.extend_from_slice(&value);
        at = field.value.end;
    }
    out.extend_from_slice(&form[at..]);
    (out, tags)
}

fn expand<'a>(value: &'a [u8], filename: &[u8]) -> Cow<'a, [u8]> {
    if find(value, VARIABLE, 0).is_none() {
        return Cow::Borrowed(value);
    }
    let mut out = Vec::with_capacity(value.len() + filename.len());
    let mut at = 0;
    while let Some(i) = find(value, VARIABLE, at) {
        out.extend_from_slice(&value[at..i]);
        out.extend_from_slice(filename);
        at = i + VARIABLE.len();
    }
    out.extend_from_slice(&value[at..]);
    Cow::Owned(out)
}

/// The bytes a form is handed on as, and its `tagging` document, when it is read in pieces
/// of `piece` bytes (none when it has no file or is not a form): no split changes either.
pub(crate) fn scan_in_pieces(
    form: &[u8],
    boundary: &[u8],
    piece: usize,
) -> Option<(Vec<u8>, Option<String>)> {
    let mut scanner = Scanner::new(boundary);
    let piece = piece.max(1);
    let mut end = 0;
    loop {
        match scanner.scan(&form[..end]) {
            Scan::Head(head) => return Some(rewrite(form, &head)),
            Scan::Malformed | Scan::NoFile => return None,
            Scan::More if end == form.len() => return None,
            Scan::More => end = (end + piece).min(form.len()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: &str = "XyZ";

    fn part(name: &str, value: &str) -> String {
        format!("--{B}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
    }

    fn file(disposition: &str, content: &str) -> String {
        format!(
            "--{B}\r\nContent-Disposition: form-data; {disposition}\r\nContent-Type: image/jpeg\r\n\r\n{content}\r\n--{B}--\r\n"
        )
    }

    fn form(fields: &[(&str, &str)], disposition: &str) -> String {
        let mut f: String = fields.iter().map(|(n, v)| part(n, v)).collect();
        f.push_str(&file(disposition, "photo bytes"));
        f
    }

    fn scan_whole(form: &str) -> Scan {
        Scanner::new(B.as_bytes()).scan(form.as_bytes())
    }

    fn field_values(form: &str, head: &Head) -> Vec<(String, String)> {
        head.fields
            .iter()
            .map(|f| {
                let v = &form.as_bytes()[f.value.clone()];
                (f.name.clone(), String::from_utf8(v.to_vec()).unwrap())
            })
            .collect()
    }

    #[test]
    fn the_fields_before_the_file_and_its_name_are_read() {
        let f = form(
            &[("Key", "uploads/${filename}"), ("policy", "eyJ9")],
            "name=\"file\"; filename=\"cat.jpg\"",
        );
        let Scan::Head(head) = scan_whole(&f) else {
            panic!("a whole form");
        };
        assert_eq!(
            field_values(&f, &head),
            [
                ("key".to_owned(), "uploads/${filename}".to_owned()),
                ("policy".to_owned(), "eyJ9".to_owned())
            ]
        );
        assert_eq!(head.filename.as_deref(), Some("cat.jpg"));
        assert_eq!(&f[head.content..head.content + 5], "photo");
    }

    #[test]
    fn the_name_is_expanded_in_every_field_and_the_file_left_alone() {
        let f = form(
            &[
                ("key", "u/${filename}"),
                ("x-amz-meta-was", "${filename}!${filename}"),
            ],
            "name=\"file\"; filename=\"cat.jpg\"",
        );
        let (out, tags) = scan_in_pieces(f.as_bytes(), B.as_bytes(), usize::MAX).unwrap();
        let expected = form(
            &[("key", "u/cat.jpg"), ("x-amz-meta-was", "cat.jpg!cat.jpg")],
            "name=\"file\"; filename=\"cat.jpg\"",
        );
        assert_eq!(String::from_utf8(out).unwrap(), expected);
        assert_eq!(tags, None);
    }

    #[test]
    fn quoted_unquoted_pathed_and_missing_file_names() {
        for (disposition, name) in [
            ("name=\"file\"; filename=\"cat.jpg\"", "cat.jpg"),
            ("name=file; filename=cat.jpg", "cat.jpg"),
            ("filename=\"a; b.txt\"; name=\"FILE\"", "a; b.txt"),
            (
                "name=\"file\"; filename=\"C:\\Users\\me\\cat.jpg\"",
                "cat.jpg",
            ),
            ("name=\"file\"; filename=\"/home/me/cat.jpg\"", "cat.jpg"),
            ("name=\"file\"", ""),
        ] {
            let f = form(&[("key", "${filename}")], disposition);
            let (out, _) = scan_in_pieces(f.as_bytes(), B.as_bytes(), usize::MAX).unwrap();
            let out = String::from_utf8(out).unwrap();
            assert!(
                out.contains(&format!("\r\n\r\n{name}\r\n--{B}")),
                "{disposition}: {out}"
            );
        }
    }

    #[test]
    fn a_boundary_split_across_reads_is_found() {
        let f = form(
            &[("key", "k/${filename}"), ("tagging", "<Tagging/>")],
            "name=\"file\"; filename=\"x.bin\"",
        );
        let whole = scan_in_pieces(f.as_bytes(), B.as_bytes(), usize::MAX).unwrap();
        for piece in 1..40 {
            assert_eq!(
                scan_in_pieces(f.as_bytes(), B.as_bytes(), piece).as_ref(),
                Some(&whole),
                "{piece}"
            );
        }
        assert_eq!(whole.1.as_deref(), Some("<Tagging/>"));
    }

    #[test]
    fn the_tagging_document_is_taken_expanded() {
        let doc = "<Tagging><TagSet><Tag><Key>src</Key><Value>${filename}</Value></Tag></TagSet></Tagging>";
        let f = form(
            &[("key", "k"), ("Tagging", doc)],
            "name=\"file\"; filename=\"a.txt\"",
        );
        let (_, tags) = scan_in_pieces(f.as_bytes(), B.as_bytes(), 7).unwrap();
        assert_eq!(tags.unwrap(), doc.replace("${filename}", "a.txt"));
    }

    #[test]
    fn a_form_without_a_file_or_unfinished_is_no_head() {
        let no_file = format!("{}--{B}--\r\n", part("key", "k"));
        assert_eq!(scan_whole(&no_file), Scan::NoFile);
        let unfinished = part("key", "k");
        assert_eq!(scan_whole(&unfinished[..unfinished.len() - 3]), Scan::More);
        assert_eq!(scan_whole(""), Scan::More);
    }

    #[test]
    fn a_part_without_a_disposition_is_malformed() {
        let f = format!("--{B}\r\nContent-Type: text/plain\r\n\r\nv\r\n--{B}--\r\n");
        assert_eq!(scan_whole(&f), Scan::Malformed);
        let f = format!("--{B}junk\r\n");
        assert_eq!(scan_whole(&f), Scan::Malformed);
    }

    #[test]
    fn a_preamble_and_transport_padding_are_allowed() {
        let f = format!(
            "preamble\r\n--{B} \t\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nk\r\n{}",
            file("name=\"file\"", "x")
        );
        let Scan::Head(head) = scan_whole(&f) else {
            panic!("a form with a preamble");
        };
        assert_eq!(
            field_values(&f, &head),
            [("key".to_owned(), "k".to_owned())]
        );
    }

    #[test]
    fn a_tagging_document_is_checked_as_any_tag_write() {
        let doc = |tags: &str| format!("<Tagging><TagSet>{tags}</TagSet></Tagging>");
        let tag = |k: &str, v: &str| format!("<Tag><Key>{k}</Key><Value>{v}</Value></Tag>");
        let both = doc(&(tag("b", "2 3") + &tag("a", "x+y=z")));
        assert_eq!(
            header_of(&both).unwrap().as_deref(),
            Some("a=x%2By%3Dz&b=2+3")
        );
        assert_eq!(header_of(&doc("")).unwrap(), None);
        let code = |d: &str| header_of(d).unwrap_err().code().as_str().to_owned();
        for malformed in ["", "<Tagging>", "a=b", "<Tagging><TagSet/></Tagging><x/>"] {
            assert_eq!(code(malformed), "MalformedXML", "{malformed}");
        }
        assert_eq!(code(&doc("<Tag><Key>k</Key></Tag>")), "MalformedXML");
        let eleven: String = (0..11).map(|i| tag(&format!("k{i}"), "v")).collect();
        assert_eq!(code(&doc(&eleven)), "BadRequest");
        assert_eq!(code(&doc(&(tag("k", "1") + &tag("k", "2")))), "InvalidTag");
        assert_eq!(code(&doc(&tag("aws:k", "v"))), "InvalidTag");
    }

    fn request(body: String) -> Request<s3s::Body> {
        Request::builder()
            .method(Method::POST)
            .uri("/bucket")
            .header("content-type", format!("multipart/form-data; boundary={B}"))
            .header("content-length", body.len())
            .body(s3s::Body::from(body))
            .unwrap()
    }

    async fn body_of(req: Request<s3s::Body>) -> String {
        let mut body = req.into_body();
        let mut out = Vec::new();
        while let Some(chunk) = body.next().await {
            out.extend_from_slice(&chunk.unwrap());
        }
        String::from_utf8(out).unwrap()
    }

    #[tokio::test]
    async fn a_form_is_handed_on_expanded_with_its_length() {
        let f = form(
            &[("key", "u/${filename}"), ("tagging", "<Tagging/>")],
            "name=\"file\"; filename=\"cat.jpg\"",
        );
        let req = prepare(request(f)).await.unwrap();
        let expected = form(
            &[("key", "u/cat.jpg"), ("tagging", "<Tagging/>")],
            "name=\"file\"; filename=\"cat.jpg\"",
        );
        assert_eq!(
            req.headers()["content-length"],
            expected.len().to_string().as_str()
        );
        let tags = req.extensions().get::<FormTagging>().map(|t| t.0.clone());
        assert_eq!(tags.as_deref(), Some("<Tagging/>"));
        assert_eq!(body_of(req).await, expected);
    }

    #[tokio::test]
    async fn fields_over_20_kb_are_refused() {
        let big = "v".repeat(MAX_FORM_HEAD);
        let f = form(&[("key", "k"), ("x-amz-meta-big", &big)], "name=\"file\"");
        let resp = prepare(request(f)).await.unwrap_err();
        assert_eq!(resp.status(), http::StatusCode::BAD_REQUEST);
        let body = resp.into_body().bytes().unwrap();
        assert!(String::from_utf8_lossy(&body).contains("MaxPostPreDataLengthExceededError"));
        // Just under the cap passes.
        let fits = "v".repeat(MAX_FORM_HEAD - 300);
        let f = form(&[("key", "k"), ("x-amz-meta-big", &fits)], "name=\"file\"");
        assert!(prepare(request(f)).await.is_ok());
    }

    #[tokio::test]
    async fn other_requests_and_forms_without_a_file_pass_unchanged() {
        let put = Request::builder()
            .method(Method::PUT)
            .uri("/bucket/key")
            .header("content-type", format!("multipart/form-data; boundary={B}"))
            .body(s3s::Body::from("${filename}".to_owned()))
            .unwrap();
        assert_eq!(body_of(prepare(put).await.unwrap()).await, "${filename}");
        let no_file = format!("{}--{B}--\r\n", part("key", "${filename}"));
        let req = prepare(request(no_file.clone())).await.unwrap();
        assert_eq!(
            req.headers()["content-length"],
            no_file.len().to_string().as_str()
        );
        assert_eq!(body_of(req).await, no_file);
    }

    #[test]
    fn the_boundary_comes_from_a_form_post_only() {
        let headers = |ct: &str| {
            let mut h = HeaderMap::new();
            h.insert("content-type", ct.parse().unwrap());
            h
        };
        let form = headers("multipart/form-data; boundary=\"a b\"");
        assert_eq!(form_boundary(&Method::POST, &form), Some(b"a b".to_vec()));
        assert_eq!(form_boundary(&Method::PUT, &form), None);
        let xml = headers("application/xml");
        assert_eq!(form_boundary(&Method::POST, &xml), None);
        let no_boundary = headers("multipart/form-data");
        assert_eq!(form_boundary(&Method::POST, &no_boundary), None);
    }
}
