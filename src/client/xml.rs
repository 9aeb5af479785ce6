//! Reading S3's small flat XML answers (errors, upload ids, bucket location and versioning)
//! without an XML parser.

/// The text of the first `<name>` element, attributes (`xmlns`) allowed, entities decoded;
/// `Some("")` for `<name/>`.
pub fn element_text(xml: &str, name: &str) -> Option<String> {
    let open = format!("<{name}");
    let mut from = 0;
    while let Some(at) = xml[from..].find(&open) {
        let after = from + at + open.len();
        let rest = &xml[after..];
        if rest.starts_with("/>") {
            return Some(String::new());
        }
        if rest.starts_with('>') || rest.starts_with(' ') {
            let start = after + rest.find('>')? + 1;
            if xml[..start].ends_with("/>") {
                return Some(String::new());
            }
            let end = xml[start..].find(&format!("</{name}>"))? + start;
            return Some(unescape(&xml[start..end]));
        }
        from = after;
    }
    None
}

fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_elements_with_attributes_and_entities() {
        let body =
            "<Error><Code>NoSuchBucket</Code><Message>a &amp; &quot;b&quot;</Message></Error>";
        assert_eq!(element_text(body, "Code").as_deref(), Some("NoSuchBucket"));
        assert_eq!(element_text(body, "Message").as_deref(), Some("a & \"b\""));
        assert_eq!(element_text(body, "Nope"), None);
        let located = r#"<LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/">eu-west-1</LocationConstraint>"#;
        assert_eq!(
            element_text(located, "LocationConstraint").as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(
            element_text("<LocationConstraint/>", "LocationConstraint").as_deref(),
            Some("")
        );
        assert_eq!(
            element_text("<Codes>x</Codes><Code>y</Code>", "Code").as_deref(),
            Some("y")
        );
    }
}
