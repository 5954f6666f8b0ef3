//! The URL rewrite of a site copy done in the dump stream, between `mariadb-dump` and `mariadb`:
//! every string value of the `INSERT`s of the site's tables is decoded, rewritten by
//! `services::php_serialized` (serialized values keep valid lengths) and encoded again. One pass,
//! no table scanned again, nothing written twice. Columns to leave alone (WordPress's `guid`) are
//! found by their position in the dump's own `CREATE TABLE`.
//!
//! Relies on the dump's form: one statement per line, string values quoted with `'` and escaped
//! with backslashes (`mysql_real_escape_string`), binary values as hex (`--hex-blob`).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use serde::Serialize;

use crate::host::exec::StreamFilter;
use crate::services::php_serialized;

/// What a rewrite changed.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub(crate) struct ReplaceStats {
    /// Columns with at least one value rewritten.
    pub columns: u64,
    /// Plain-text values rewritten.
    pub plain_rows: u64,
    /// Serialized values rewritten (lengths fixed).
    pub serialized_rows: u64,
    /// Time spent rewriting.
    pub seconds: f64,
}

/// The pairs that move a WordPress site from `old` to `new` (host names): `//old` as written
/// in HTML and options, and `\/\/old` as JSON escapes it (block attributes, page builders).
fn url_pairs(old: &str, new: &str) -> Vec<(String, String)> {
    vec![
        (format!("//{old}"), format!("//{new}")),
        (format!("\\/\\/{old}"), format!("\\/\\/{new}")),
    ]
}

/// A `StreamFilter` that rewrites the string values of one dump.
pub(crate) struct DumpRewriter {
    pairs: Vec<(Vec<u8>, Vec<u8>)>,
    prefix: String,
    skip: Vec<(String, String)>,
    /// The bytes of a line not complete yet.
    pending: Vec<u8>,
    /// The table whose `CREATE TABLE` is being read, and its columns so far.
    creating: Option<(String, Vec<String>)>,
    /// Per table: the positions of the columns in `skip`.
    skipped: BTreeMap<String, Vec<usize>>,
    /// The site table whose `INSERT` continues on the next lines (one row per line), with the
    /// positions to leave alone.
    inserting: Option<(String, Vec<usize>)>,
    touched: BTreeSet<(String, usize)>,
    stats: ReplaceStats,
    busy: std::time::Duration,
}

impl DumpRewriter {
    /// Moves a WordPress database from the host name `old` to `new`: every URL in the tables of
    /// `prefix`, serialized values included; GUIDs stay (WordPress asks for that: they identify
    /// posts to feed readers, they are not links).
    pub(crate) fn wordpress(old: &str, new: &str, prefix: &str) -> Self {
        let guid = [(format!("{prefix}posts"), "guid".to_owned())];
        Self::new(&url_pairs(old, new), prefix, &guid)
    }

    /// Rewrites `pairs` in the tables named `prefix…`, except the `(table, column)`s in `skip`.
    pub(crate) fn new(pairs: &[(String, String)], prefix: &str, skip: &[(String, String)]) -> Self {
        DumpRewriter {
            pairs: pairs
                .iter()
                .map(|(f, t)| (f.as_bytes().to_vec(), t.as_bytes().to_vec()))
                .collect(),
            prefix: prefix.to_owned(),
            skip: skip.to_vec(),
            pending: Vec::new(),
            creating: None,
            skipped: BTreeMap::new(),
            inserting: None,
            touched: BTreeSet::new(),
            stats: ReplaceStats::default(),
            busy: std::time::Duration::ZERO,
        }
    }

    /// What the rewrite changed (`columns`: the columns with at least one value rewritten).
    pub(crate) fn stats(&self) -> ReplaceStats {
        ReplaceStats {
            columns: self.touched.len() as u64,
            seconds: self.busy.as_secs_f64(),
            ..self.stats.clone()
        }
    }

    fn line(&mut self, l: &[u8], out: &mut Vec<u8>) {
        if let Some(name) = l.strip_prefix(b"CREATE TABLE `").and_then(quoted_name) {
            self.creating = Some((name, Vec::new()));
        } else if let Some((table, cols)) = &mut self.creating {
            if let Some(col) = l.strip_prefix(b"  `").and_then(quoted_name) {
                cols.push(col);
            } else if l.starts_with(b")") {
                let at: Vec<usize> = self
                    .skip
                    .iter()
                    .filter(|(t, _)| t == table)
                    .filter_map(|(_, c)| cols.iter().position(|x| x == c))
                    .collect();
                self.skipped.insert(table.clone(), at);
                self.creating = None;
            }
        } else if let Some((table, skip)) = self.inserting.take() {
            // a row line of a multi-line INSERT (`mariadb-dump --quick`)
            let last = l.trim_ascii_end().ends_with(b";");
            self.values(l, 0, &table, &skip, out);
            if !last {
                self.inserting = Some((table, skip));
            }
            return;
        } else if let Some(rest) = l.strip_prefix(b"INSERT INTO `")
            && let Some(name) = quoted_name(rest)
            && name.starts_with(&self.prefix)
            && let Some(at) = find(l, b" VALUES")
        {
            let skip = self.skipped.get(&name).cloned().unwrap_or_default();
            let start = at + b" VALUES".len();
            if !l.trim_ascii_end().ends_with(b";") {
                self.inserting = Some((name.clone(), skip.clone()));
            }
            out.extend_from_slice(&l[..start]);
            self.values(&l[start..], 0, &name, &skip, out);
            return;
        }
        out.extend_from_slice(l);
    }

    /// Whole rows `(…),(…)` of an `INSERT` (from `l[start]`), their string values rewritten.
    fn values(&mut self, l: &[u8], start: usize, table: &str, skip: &[usize], out: &mut Vec<u8>) {
        if !self.pairs.iter().any(|(f, _)| contains(l, f)) {
            out.extend_from_slice(&l[start..]);
            return;
        }
        let (mut i, mut field, mut depth) = (start, 0usize, 0usize);
        while i < l.len() {
            match l[i] {
                b'(' if depth == 0 => {
                    depth = 1;
                    field = 0;
                }
                b')' if depth == 1 => depth = 0,
                b',' if depth == 1 => field += 1,
                b'\'' => {
                    let Some((value, end)) = decode(l, i) else {
                        // not the form expected: the rest of the line as it is
                        out.extend_from_slice(&l[i..]);
                        return;
                    };
                    let rewritten = (!skip.contains(&field))
                        .then(|| php_serialized::replace(&value, &self.pairs))
                        .flatten();
                    match rewritten {
                        Some(new) => {
                            if php_serialized::looks_serialized(&value) {
                                self.stats.serialized_rows += 1;
                            } else {
                                self.stats.plain_rows += 1;
                            }
                            self.touched.insert((table.to_owned(), field));
                            encode(&new, out);
                        }
                        None => out.extend_from_slice(&l[i..end]),
                    }
                    i = end;
                    continue;
                }
                _ => {}
            }
            out.push(l[i]);
            i += 1;
        }
    }
}

impl StreamFilter for DumpRewriter {
    fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) {
        let started = Instant::now();
        let mut rest = input;
        while let Some(n) = rest.iter().position(|&b| b == b'\n') {
            let (line, tail) = rest.split_at(n + 1);
            if self.pending.is_empty() {
                self.line(line, out);
            } else {
                let mut whole = std::mem::take(&mut self.pending);
                whole.extend_from_slice(line);
                self.line(&whole, out);
            }
            rest = tail;
        }
        self.pending.extend_from_slice(rest);
        self.busy += started.elapsed();
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        let last = std::mem::take(&mut self.pending);
        if !last.is_empty() {
            self.line(&last, out);
        }
    }
}

/// The name up to the closing backquote (a doubled backquote is one in the name).
fn quoted_name(s: &[u8]) -> Option<String> {
    let mut name = Vec::new();
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'`' {
            if s.get(i + 1) == Some(&b'`') {
                name.push(b'`');
                i += 2;
                continue;
            }
            return String::from_utf8(name).ok();
        }
        name.push(s[i]);
        i += 1;
    }
    None
}

/// The string literal starting at `l[at]` (a `'`): its value and the index after it.
fn decode(l: &[u8], at: usize) -> Option<(Vec<u8>, usize)> {
    let mut v = Vec::new();
    let mut i = at + 1;
    while i < l.len() {
        match l[i] {
            b'\\' => {
                let c = *l.get(i + 1)?;
                v.push(match c {
                    b'0' => 0,
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    b'b' => 8,
                    b'Z' => 26,
                    other => other,
                });
                i += 2;
            }
            b'\'' if l.get(i + 1) == Some(&b'\'') => {
                v.push(b'\'');
                i += 2;
            }
            b'\'' => return Some((v, i + 1)),
            c => {
                v.push(c);
                i += 1;
            }
        }
    }
    None
}

/// `value` as a string literal, escaped as `mariadb-dump` escapes.
fn encode(value: &[u8], out: &mut Vec<u8>) {
    out.push(b'\'');
    for &b in value {
        match b {
            0 => out.extend_from_slice(b"\\0"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\'' => out.extend_from_slice(b"\\'"),
            b'"' => out.extend_from_slice(b"\\\""),
            26 => out.extend_from_slice(b"\\Z"),
            _ => out.push(b),
        }
    }
    out.push(b'\'');
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    find(hay, needle).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DUMP: &str = "CREATE TABLE `wp_posts` (\n  `ID` bigint(20) NOT NULL,\n  `post_content` longtext NOT NULL,\n  `guid` varchar(255) NOT NULL,\n  PRIMARY KEY (`ID`)\n) ENGINE=InnoDB;\n";

    fn run(input: &str, chunk: usize) -> (String, ReplaceStats) {
        let mut r = DumpRewriter::new(
            &[("//old.test".into(), "//new.example.test".into())],
            "wp_",
            &[("wp_posts".into(), "guid".into())],
        );
        let mut out = Vec::new();
        for c in input.as_bytes().chunks(chunk) {
            r.feed(c, &mut out);
        }
        r.finish(&mut out);
        (String::from_utf8(out).unwrap(), r.stats())
    }

    #[test]
    fn values_are_rewritten_guids_and_other_tables_are_not() {
        let input = format!(
            "{DUMP}INSERT INTO `wp_posts` VALUES (1,'<a href=\\\"http://old.test/a\\\">it\\'s</a>\\nline','http://old.test/?p=1'),(2,'a:1:{{i:0;s:15:\\\"http://old.test\\\";}}','x');\nINSERT INTO `other` VALUES (1,'http://old.test');\n"
        );
        for chunk in [1, 7, 4096] {
            let (out, stats) = run(&input, chunk);
            assert!(out.contains("(1,'<a href=\\\"http://new.example.test/a\\\">it\\'s</a>\\nline','http://old.test/?p=1')"), "{out}");
            assert!(
                out.contains("(2,'a:1:{i:0;s:23:\\\"http://new.example.test\\\";}','x')"),
                "{out}"
            );
            assert!(
                out.ends_with("INSERT INTO `other` VALUES (1,'http://old.test');\n"),
                "{out}"
            );
            assert_eq!(
                (stats.plain_rows, stats.serialized_rows, stats.columns),
                (1, 1, 1)
            );
        }
    }

    #[test]
    fn rows_on_their_own_lines_are_rewritten() {
        let input = format!(
            "{DUMP}INSERT INTO `wp_posts` VALUES\n(1,'//old.test','//old.test'),\n(2,'s:10:\\\"//old.test\\\";','');\nINSERT INTO `other` VALUES\n(1,'//old.test');\n"
        );
        let (out, stats) = run(&input, 5);
        assert!(
            out.contains("\n(1,'//new.example.test','//old.test'),\n"),
            "{out}"
        );
        assert!(out.contains("(2,'s:18:\\\"//new.example.test\\\";','');\nINSERT INTO `other` VALUES\n(1,'//old.test');\n"), "{out}");
        assert_eq!((stats.plain_rows, stats.serialized_rows), (1, 1));
    }

    #[test]
    fn escapes_round_trip() {
        let v = b"a\0b\nc\rd\\e'f\"g\x1ah\t".to_vec();
        let mut enc = Vec::new();
        encode(&v, &mut enc);
        enc.push(b',');
        let (dec, end) = decode(&enc, 0).unwrap();
        assert_eq!(dec, v);
        assert_eq!(enc[end], b',');
        // a dump line without a newline at the end is still rewritten
        let (out, _) = run("INSERT INTO `wp_x` VALUES ('//old.test')", 3);
        assert_eq!(out, "INSERT INTO `wp_x` VALUES ('//new.example.test')");
    }
}
