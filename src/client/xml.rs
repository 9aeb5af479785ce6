//! Reading S3's small flat XML answers (errors, upload ids, bucket location and versioning):
//! the text of one element, found with a real XML reader.

use quick_xml::Reader;
use quick_xml::events::Event;

/// The text of the first `<name>` element at any depth, entities decoded; `Some("")` for
/// `<name/>`; `None` when there is no such element or the document is not well formed
/// up to it.
pub fn element_text(xml: &str, name: &str) -> Option<String> {
    let mut reader = Reader::from_str(xml);
    let mut inside = false;
    let mut text = String::new();
    loop {
        match reader.read_event().ok()? {
            Event::Start(e) if !inside && e.local_name().as_ref() == name => {
                inside = true;
            }
            Event::Empty(e) if !inside && e.local_name().as_ref() == name => {
                return Some(String::new());
            }
            Event::Text(t) if inside => text.push_str(&t.xml10_content()),
            Event::GeneralRef(r) if inside => {
                let entity = r.into_inner();
                text.push_str(&quick_xml::escape::unescape(&format!("&{entity};")).ok()?);
            }
            Event::CData(c) if inside => {
                text.push_str(&c.into_inner());
            }
            Event::End(e) if inside && e.local_name().as_ref() == name => {
                return Some(text);
            }
            Event::Eof => return None,
            _ => {}
        }
    }
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
        let nested = r#"<?xml version="1.0"?><R><UploadId>a&lt;b&#65;</UploadId></R>"#;
        assert_eq!(element_text(nested, "UploadId").as_deref(), Some("a<bA"));
        assert_eq!(element_text("<Code>unclosed", "Code"), None);
    }
}
