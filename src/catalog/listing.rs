//! How stores read listings. Keys order by their UTF-8 bytes (SQLite's BINARY collation,
//! PostgreSQL's "C"), which is code point order; every bound here is a valid string, so
//! both stores take it as a plain text parameter and seek their index to it. With a
//! delimiter, a [`Walk`] seeks past each common prefix instead of reading the keys under
//! it, so a listing reads rows in proportion to what it returns, not to the bucket.

/// Where a listing starts in key order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyStart {
    /// Keys after this one (a version or upload-id marker may resume inside it).
    After(String),
    /// This key and every later one: how a listing steps past all keys under a common
    /// prefix, starting at [`prefix_end`] of it.
    AtOrAfter(String),
}

impl KeyStart {
    pub fn key(&self) -> &str {
        match self {
            KeyStart::After(k) | KeyStart::AtOrAfter(k) => k,
        }
    }
}

/// The smallest string greater than every string that starts with `prefix`, or None when
/// there is none (an empty prefix, or one of U+10FFFF only). In code point order, raising
/// the last character that can be raised is that string: nothing fits between.
pub fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = (u32::from(last) + 1..=u32::from(char::MAX)).find_map(char::from_u32);
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// The keys a listing query reads: from `lower` (inclusive or not) up to, not including,
/// `upper`. One lower bound, so the index seek starts where the listing does whether the
/// marker or the prefix is further along.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct KeyRange {
    pub lower: String,
    pub inclusive: bool,
    pub upper: Option<String>,
}

impl KeyRange {
    pub(super) fn new(prefix: &str, start: &KeyStart) -> KeyRange {
        let upper = prefix_end(prefix);
        if start.key() < prefix {
            return KeyRange {
                lower: prefix.to_owned(),
                inclusive: true,
                upper,
            };
        }
        KeyRange {
            lower: start.key().to_owned(),
            inclusive: matches!(start, KeyStart::AtOrAfter(_)),
            upper,
        }
    }

    /// The SQL condition on `column`, with `lower` and `upper` as the numbered parameters
    /// (`?N` for SQLite, `$N` for PostgreSQL: `sigil`). The upper parameter is bound in
    /// every case (as NULL when there is none); a NULL upper bound leaves the column free.
    pub(super) fn condition(
        &self,
        column: &str,
        sigil: char,
        lower: usize,
        upper: usize,
    ) -> String {
        let op = if self.inclusive { ">=" } else { ">" };
        match self.upper {
            Some(_) => format!("{column} {op} {sigil}{lower} AND {column} < {sigil}{upper}"),
            None => {
                format!("{column} {op} {sigil}{lower} AND CAST({sigil}{upper} AS TEXT) IS NULL")
            }
        }
    }
}

/// The common prefix `key` rolls up into: `prefix`, then up to and including the first
/// `delimiter` after it. None without a delimiter, or when the key has none after `prefix`.
pub fn common_prefix<'k>(key: &'k str, prefix: &str, delimiter: &str) -> Option<&'k str> {
    if delimiter.is_empty() {
        return None;
    }
    let rest = key.get(prefix.len()..)?;
    rest.find(delimiter)
        .map(|i| &key[..prefix.len() + i + delimiter.len()])
}

/// Where a walk reads next.
pub(super) enum Read<P> {
    /// At the listing's own start and markers.
    Start,
    /// After the row at this position (a key, or a key and a row within it).
    After(P),
    /// From this key on: past a common prefix.
    From(String),
}

impl Read<String> {
    /// Where a key-only listing reads: `first` at the start, then after or from a key.
    pub(super) fn key_start(self, first: &KeyStart) -> KeyStart {
        match self {
            Read::Start => first.clone(),
            Read::After(key) => KeyStart::After(key),
            Read::From(key) => KeyStart::AtOrAfter(key),
        }
    }
}

impl<M> Read<(String, M)> {
    /// A read of a listing that can resume inside a key (ListObjectVersions after a version
    /// id marker, ListMultipartUploads after an upload id marker): the key range, the key
    /// whose own rows the bound decides among, and the bound. At the start the bound is
    /// `marker`, which makes the listing resume inside the start key when it is
    /// `KeyStart::After(key)`; later reads resume after a row or past a prefix. `all` is the
    /// bound that lets every row of the key through.
    pub(super) fn bounds(
        self,
        prefix: &str,
        start: &KeyStart,
        marker: Option<M>,
        all: M,
    ) -> (KeyRange, String, M) {
        let (key, bound) = match self {
            Read::Start => {
                let range = match start {
                    KeyStart::After(key) if marker.is_some() => {
                        KeyRange::new(prefix, &KeyStart::AtOrAfter(key.clone()))
                    }
                    _ => KeyRange::new(prefix, start),
                };
                return (range, start.key().to_owned(), marker.unwrap_or(all));
            }
            Read::After((key, bound)) => (key, bound),
            Read::From(key) => (key, all),
        };
        (
            KeyRange::new(prefix, &KeyStart::AtOrAfter(key.clone())),
            key,
            bound,
        )
    }
}

/// Rows a walk with a delimiter asks for first, and after stepping past a common prefix
/// (enough to see whether another prefix follows); runs of plain keys double them.
const PROBE: usize = 64;
const AFTER_SKIP: usize = 2;

/// One listing call's reads. The store asks [`Walk::next_read`] where to read and how many rows,
/// and hands each batch to [`Walk::take`]; the walk keeps every row of a key outside any
/// common prefix and the first row under each common prefix, then seeks past that prefix.
/// A call returns fewer rows than its limit only when the range holds no more.
pub(super) struct Walk<'a, P> {
    prefix: &'a str,
    delimiter: &'a str,
    limit: usize,
    kept: usize,
    /// The common prefix of the last row kept or skipped, if it had one.
    open_prefix: Option<String>,
    next: Option<(Read<P>, usize)>,
}

impl<'a, P> Walk<'a, P> {
    pub(super) fn new(prefix: &'a str, delimiter: &'a str, limit: usize) -> Walk<'a, P> {
        Walk {
            prefix,
            delimiter,
            limit,
            kept: 0,
            open_prefix: None,
            next: match (limit, delimiter) {
                (0, _) => None,
                (_, "") => Some((Read::Start, limit)),
                _ => Some((Read::Start, limit.min(PROBE))),
            },
        }
    }

    /// The next read and its row count, or None when the call is done.
    pub(super) fn next_read(&mut self) -> Option<(Read<P>, usize)> {
        self.next.take()
    }

    /// Keeps the rows of a batch of `asked` rows that belong in the listing, moving them to
    /// `out`, and decides the next read.
    pub(super) fn take<T>(
        &mut self,
        rows: Vec<T>,
        asked: usize,
        key_of: impl Fn(&T) -> &str,
        position_of: impl Fn(&T) -> P,
        out: &mut Vec<T>,
    ) {
        let full = rows.len() == asked;
        let mut last = None;
        let mut in_prefix = false;
        for row in rows {
            last = Some(position_of(&row));
            match common_prefix(key_of(&row), self.prefix, self.delimiter) {
                Some(cp) if self.open_prefix.as_deref() == Some(cp) => {
                    in_prefix = true;
                    continue;
                }
                Some(cp) => {
                    self.open_prefix = Some(cp.to_owned());
                    in_prefix = true;
                }
                None => in_prefix = false,
            }
            out.push(row);
            self.kept += 1;
            if self.kept == self.limit {
                return;
            }
        }
        let remaining = self.limit - self.kept;
        self.next = match (full, in_prefix, last) {
            (false, _, _) | (true, _, None) => None,
            (true, true, _) => self
                .open_prefix
                .as_deref()
                .and_then(prefix_end)
                .map(|end| (Read::From(end), AFTER_SKIP.min(remaining))),
            (true, false, Some(position)) => {
                Some((Read::After(position), (asked * 2).min(remaining)))
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Walks sorted `keys` as a store would, counting the rows it reads.
    fn walk(keys: &[String], prefix: &str, delimiter: &str, limit: usize) -> (Vec<String>, usize) {
        let mut walk = Walk::new(prefix, delimiter, limit);
        let (mut out, mut read) = (Vec::new(), 0);
        while let Some((at, n)) = walk.next_read() {
            let rows: Vec<String> = keys
                .iter()
                .filter(|k| k.starts_with(prefix))
                .filter(|k| match &at {
                    Read::Start => true,
                    Read::After(p) => k > &p,
                    Read::From(p) => *k >= p,
                })
                .take(n)
                .cloned()
                .collect();
            read += rows.len();
            walk.take(rows, n, |k| k.as_str(), |k| k.clone(), &mut out);
        }
        (out, read)
    }

    #[test]
    fn a_walk_keeps_one_row_per_common_prefix_and_reads_little_more() {
        // 300 "directories" of 1,000 keys each, then 50 plain keys.
        let mut keys: Vec<String> = (0..300)
            .flat_map(|d| (0..1000).map(move |f| format!("d{d:03}/f{f:04}")))
            .collect();
        keys.extend((0..50).map(|f| format!("z{f:03}")));
        let (out, read) = walk(&keys, "", "/", 1000);
        assert_eq!(out.len(), 350);
        assert_eq!(out[0], "d000/f0000");
        assert_eq!(out[299], "d299/f0000");
        assert!(read < 2 * 350 + 1000, "{read} rows read to list 350");
        // A limit stops the walk; without a delimiter it is one plain read.
        let (out, _) = walk(&keys, "", "/", 3);
        assert_eq!(out, ["d000/f0000", "d001/f0000", "d002/f0000"]);
        let (out, read) = walk(&keys, "d001/", "", 10);
        assert_eq!((out.len(), read), (10, 10));
        let (out, _) = walk(&keys, "d001/", "/", 10);
        assert_eq!(out.len(), 10, "no delimiter after the prefix: plain keys");
    }

    #[test]
    fn common_prefixes_end_at_the_first_delimiter_after_the_prefix() {
        assert_eq!(common_prefix("a/b/c", "", "/"), Some("a/"));
        assert_eq!(common_prefix("a/b/c", "a/", "/"), Some("a/b/"));
        assert_eq!(common_prefix("a/b", "a/", "/"), None);
        assert_eq!(common_prefix("a--b--c", "", "--"), Some("a--"));
        assert_eq!(common_prefix("a/b", "", ""), None);
    }

    #[test]
    fn prefix_end_is_the_first_string_past_the_prefix() {
        assert_eq!(prefix_end("a/").as_deref(), Some("a0"));
        assert_eq!(prefix_end("").as_deref(), None);
        assert_eq!(prefix_end("a\u{7f}").as_deref(), Some("a\u{80}"));
        assert_eq!(prefix_end("x\u{d7ff}").as_deref(), Some("x\u{e000}"));
        assert_eq!(prefix_end("b\u{10ffff}").as_deref(), Some("c"));
        assert_eq!(prefix_end("\u{10ffff}\u{10ffff}"), None);
        // Every string under the prefix sorts before the end, byte-wise as the stores do.
        for prefix in ["a/", "é/", "a\u{7f}", "日本/", "z\u{ffff}"] {
            let end = prefix_end(prefix).unwrap();
            for tail in ["", "\u{10ffff}", "\u{10ffff}\u{10ffff}zz", "~", "\u{7f}"] {
                let key = format!("{prefix}{tail}");
                assert!(key.as_bytes() < end.as_bytes(), "{key:?} < {end:?}");
            }
            assert!(prefix.as_bytes() < end.as_bytes());
        }
    }

    #[test]
    fn range_starts_at_the_later_of_marker_and_prefix() {
        let r = KeyRange::new("b/", &KeyStart::After("a".into()));
        assert_eq!((r.lower.as_str(), r.inclusive), ("b/", true));
        assert_eq!(r.upper.as_deref(), Some("b0"));
        let r = KeyRange::new("b/", &KeyStart::After("b/x".into()));
        assert_eq!((r.lower.as_str(), r.inclusive), ("b/x", false));
        let r = KeyRange::new("", &KeyStart::AtOrAfter("c".into()));
        assert_eq!(
            (r.lower.as_str(), r.inclusive, r.upper.as_deref()),
            ("c", true, None)
        );
        assert_eq!(
            r.condition("key", '?', 2, 3),
            "key >= ?2 AND CAST(?3 AS TEXT) IS NULL"
        );
    }
}
