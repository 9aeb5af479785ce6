//! Reading a KMS JSON request: typed accessors that answer AWS's errors for missing or
//! malformed members (`ValidationException`, `SerializationException`).

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value};

use super::errors::{KmsError, KmsResult};

pub struct Input(pub Map<String, Value>);

/// AWS names members in messages with a lower-case first letter.
fn member(name: &str) -> String {
    let mut c = name.chars();
    c.next()
        .map(|f| f.to_lowercase().chain(c).collect())
        .unwrap_or_default()
}

fn wrong_type(name: &str, expected: &str) -> KmsError {
    KmsError::serialization(format!("{name} must be {expected}"))
}

pub fn must_not_be_null(name: &str) -> KmsError {
    KmsError::validation(format!(
        "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
        member(name)
    ))
}

pub fn length_error(name: &str, min: usize, max: usize) -> KmsError {
    KmsError::validation(format!(
        "1 validation error detected: Value at '{}' failed to satisfy constraint: Member must have length between {min} and {max}",
        member(name)
    ))
}

pub fn range_error(name: &str, value: i64, min: i64, max: i64) -> KmsError {
    KmsError::validation(format!(
        "1 validation error detected: Value '{value}' at '{}' failed to satisfy constraint: Member must have value between {min} and {max}",
        member(name)
    ))
}

impl Input {
    pub fn parse(body: &[u8]) -> KmsResult<Input> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Input(Map::new()));
        }
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(m)) => Ok(Input(m)),
            Ok(_) => Err(KmsError::serialization(
                "The request body must be a JSON object",
            )),
            Err(e) => Err(KmsError::serialization(format!("Malformed JSON: {e}"))),
        }
    }

    fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    pub fn opt_str(&self, name: &str) -> KmsResult<Option<&str>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(wrong_type(name, "a string")),
        }
    }

    pub fn str(&self, name: &str) -> KmsResult<&str> {
        self.opt_str(name)?.ok_or_else(|| must_not_be_null(name))
    }

    /// A required string of bounded length (KeyId: 1..2048 and so on).
    pub fn str_len(&self, name: &str, min: usize, max: usize) -> KmsResult<&str> {
        let s = self.str(name)?;
        if s.len() < min || s.len() > max {
            return Err(length_error(name, min, max));
        }
        Ok(s)
    }

    pub fn key_id(&self) -> KmsResult<&str> {
        self.str_len("KeyId", 1, 2048)
    }

    pub fn opt_bool(&self, name: &str) -> KmsResult<Option<bool>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(wrong_type(name, "a boolean")),
        }
    }

    pub fn opt_int(&self, name: &str, min: i64, max: i64) -> KmsResult<Option<i64>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Number(n)) => {
                let v = n.as_i64().ok_or_else(|| wrong_type(name, "an integer"))?;
                if v < min || v > max {
                    return Err(range_error(name, v, min, max));
                }
                Ok(Some(v))
            }
            Some(_) => Err(wrong_type(name, "an integer")),
        }
    }

    /// Epoch seconds (possibly fractional) as milliseconds.
    pub fn opt_timestamp_ms(&self, name: &str) -> KmsResult<Option<i64>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_f64()
                .map(|s| Some((s * 1000.0) as i64))
                .ok_or_else(|| wrong_type(name, "a timestamp")),
            Some(_) => Err(wrong_type(name, "a timestamp")),
        }
    }

    pub fn opt_blob(&self, name: &str, max: usize) -> KmsResult<Option<Vec<u8>>> {
        let Some(s) = self.opt_str(name)? else {
            return Ok(None);
        };
        let bytes = BASE64
            .decode(s)
            .map_err(|_| KmsError::serialization(format!("{name} is not valid base64")))?;
        if bytes.is_empty() || bytes.len() > max {
            return Err(length_error(name, 1, max));
        }
        Ok(Some(bytes))
    }

    pub fn blob(&self, name: &str, max: usize) -> KmsResult<Vec<u8>> {
        self.opt_blob(name, max)?
            .ok_or_else(|| must_not_be_null(name))
    }

    pub fn opt_str_list(&self, name: &str) -> KmsResult<Option<Vec<String>>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| wrong_type(name, "a list of strings"))
                })
                .collect::<KmsResult<Vec<_>>>()
                .map(Some),
            Some(_) => Err(wrong_type(name, "a list of strings")),
        }
    }

    /// A map of strings (EncryptionContext and grant constraints).
    pub fn opt_string_map(&self, name: &str) -> KmsResult<Option<BTreeMap<String, String>>> {
        string_map(self.get(name), name)
    }

    pub fn context(&self, name: &str) -> KmsResult<BTreeMap<String, String>> {
        Ok(self.opt_string_map(name)?.unwrap_or_default())
    }

    pub fn object(&self, name: &str) -> KmsResult<Option<&Map<String, Value>>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m)),
            Some(_) => Err(wrong_type(name, "an object")),
        }
    }

    /// `Tags: [{TagKey, TagValue}]`.
    pub fn tags(&self) -> KmsResult<Option<Vec<(String, String)>>> {
        let Some(v) = self.get("Tags") else {
            return Ok(None);
        };
        let items = v.as_array().ok_or_else(|| wrong_type("Tags", "a list"))?;
        items
            .iter()
            .map(|t| {
                let key = t.get("TagKey").and_then(Value::as_str);
                let value = t.get("TagValue").and_then(Value::as_str);
                match (key, value) {
                    (Some(k), Some(v)) => Ok((k.to_owned(), v.to_owned())),
                    _ => Err(KmsError::tag("Each tag needs a TagKey and a TagValue")),
                }
            })
            .collect::<KmsResult<Vec<_>>>()
            .map(Some)
    }

    /// `Limit` and `Marker` of List operations: (limit, start index).
    pub fn page(&self, default: i64, max: i64) -> KmsResult<(usize, usize)> {
        let limit = self.opt_int("Limit", 1, max)?.unwrap_or(default) as usize;
        let start = match self.opt_str("Marker")? {
            None => 0,
            Some(m) => m
                .parse::<usize>()
                .map_err(|_| KmsError::invalid_marker("Invalid marker"))?,
        };
        Ok((limit, start))
    }
}

pub fn string_map(v: Option<&Value>, name: &str) -> KmsResult<Option<BTreeMap<String, String>>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| {
                v.as_str()
                    .map(|s| (k.clone(), s.to_owned()))
                    .ok_or_else(|| wrong_type(name, "a map of strings"))
            })
            .collect::<KmsResult<BTreeMap<_, _>>>()
            .map(Some),
        Some(_) => Err(wrong_type(name, "a map of strings")),
    }
}

pub fn b64(bytes: &[u8]) -> Value {
    Value::String(BASE64.encode(bytes))
}

/// One page of a list, with AWS's `Truncated`/`NextMarker`.
pub fn paginate<T: Clone>(items: &[T], limit: usize, start: usize) -> (Vec<T>, Option<String>) {
    let page: Vec<T> = items.iter().skip(start).take(limit).cloned().collect();
    let next = start + page.len();
    (page, (next < items.len()).then(|| next.to_string()))
}

pub fn page_fields(out: &mut Map<String, Value>, next: Option<String>) {
    out.insert("Truncated".into(), Value::Bool(next.is_some()));
    if let Some(m) = next {
        out.insert("NextMarker".into(), Value::String(m));
    }
}
