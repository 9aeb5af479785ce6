//! RFC 2047 encoded words in user metadata. S3 decodes them from request headers before it
//! stores a value and encodes values that are not printable ASCII when it returns them, so a
//! non-ASCII encryption context travels as `=?UTF-8?B?...?=` words both ways.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

/// An encoded word may be at most 75 characters, `=?UTF-8?B?` and `?=` included.
const MAX_WORD: usize = 75;
const PREFIX: &str = "=?UTF-8?B?";
const SUFFIX: &str = "?=";

fn is_plain(v: &str) -> bool {
    v.bytes().all(|b| (0x20..0x7f).contains(&b))
}

/// `v` unchanged when it is printable ASCII, else as space-separated Base64 words, each
/// holding whole characters.
pub fn encode(v: &str) -> String {
    if is_plain(v) {
        return v.to_string();
    }
    // 63 characters of Base64 per word carry 45 bytes.
    let max_bytes = (MAX_WORD - PREFIX.len() - SUFFIX.len()) / 4 * 3;
    let mut words = Vec::new();
    let mut rest = v;
    while !rest.is_empty() {
        let mut end = max_bytes.min(rest.len());
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        let (word, tail) = rest.split_at(end);
        words.push(format!("{PREFIX}{}{SUFFIX}", BASE64.encode(word)));
        rest = tail;
    }
    words.join(" ")
}

/// Decodes a value made of UTF-8 encoded words (B or Q) separated by whitespace, which
/// RFC 2047 says to drop between adjacent words. Anything else is returned unchanged.
pub fn decode(v: &str) -> String {
    let words: Option<Vec<Vec<u8>>> = v.split_ascii_whitespace().map(decode_word).collect();
    match words {
        Some(parts) if !parts.is_empty() => {
            String::from_utf8(parts.concat()).unwrap_or_else(|_| v.to_string())
        }
        _ => v.to_string(),
    }
}

fn decode_word(w: &str) -> Option<Vec<u8>> {
    let inner = w.strip_prefix("=?")?.strip_suffix("?=")?;
    let (charset, rest) = inner.split_once('?')?;
    let (encoding, text) = rest.split_once('?')?;
    if !charset.eq_ignore_ascii_case("utf-8") {
        return None;
    }
    match encoding {
        "B" | "b" => BASE64.decode(text).ok(),
        "Q" | "q" => {
            let mut out = Vec::with_capacity(text.len());
            let mut bytes = text.bytes();
            while let Some(b) = bytes.next() {
                out.push(match b {
                    b'_' => b' ',
                    b'=' => {
                        let hex = [bytes.next()?, bytes.next()?];
                        u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?
                    }
                    b => b,
                });
            }
            Some(out)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_decode_and_everything_else_is_left_alone() {
        assert_eq!(decode("=?UTF-8?B?w7xiZXI=?="), "über");
        assert_eq!(decode("=?utf-8?Q?=C3=BCber_alles?="), "über alles");
        assert_eq!(decode("=?UTF-8?B?w7w=?= =?UTF-8?B?YmVy?="), "über");
        assert_eq!(decode("plain =? text"), "plain =? text");
        assert_eq!(decode("=?ISO-8859-1?Q?a?="), "=?ISO-8859-1?Q?a?=");
        let json = r#"{"aws:x-amz-cek-alg": "115"}"#;
        assert_eq!(decode(json), json);
        assert_eq!(encode(json), json);
    }

    #[test]
    fn long_values_split_into_words_of_whole_characters() {
        let v = format!(r#"{{"name":"{}"}}"#, "Müller–Ωμέγα😀".repeat(8));
        let encoded = encode(&v);
        assert!(encoded.is_ascii());
        assert!(encoded.split(' ').all(|w| w.len() <= MAX_WORD), "{encoded}");
        assert!(encoded.split(' ').count() > 1);
        assert_eq!(decode(&encoded), v);
    }
}
