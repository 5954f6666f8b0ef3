//! Search and replace inside values that may hold PHP-serialized data (WordPress options, post
//! meta, widgets, theme and plugin settings). A serialized string records its length in bytes,
//! so a plain replace that changes a length corrupts the value and PHP's `unserialize` rejects it.
//!
//! The value is parsed here, never handed to PHP: no object of a live class is ever created from
//! site data. Strings are rewritten (and, when one holds serialized data itself, rewritten
//! recursively) with their lengths fixed; array keys, property names, class names, enum cases and
//! the opaque payload of custom-serialized objects (`C:`) are copied unchanged. A value that does
//! not parse as serialized data is plain text and gets a plain replace.

/// Nesting deeper than this is not what PHP writes for settings; such a value is left unchanged.
const MAX_DEPTH: usize = 256;

/// `value` with every `from` of `pairs` replaced by its `to` (in order), or `None` when nothing
/// changed.
pub(crate) fn replace(value: &[u8], pairs: &[(Vec<u8>, Vec<u8>)]) -> Option<Vec<u8>> {
    let out = rewrite(value, pairs, 0);
    (out != value).then_some(out)
}

/// Whether `value` starts like serialized data that holds strings (what WordPress's
/// `is_serialized` would look at); other values are plain text.
pub(crate) fn looks_serialized(value: &[u8]) -> bool {
    let t = value.trim_ascii_start();
    matches!(t.first(), Some(b'a' | b'O' | b's' | b'C'))
        && t.get(1) == Some(&b':')
        && t.get(2).is_some_and(u8::is_ascii_digit)
}

fn rewrite(value: &[u8], pairs: &[(Vec<u8>, Vec<u8>)], depth: usize) -> Vec<u8> {
    if looks_serialized(value) {
        let start = value.len() - value.trim_ascii_start().len();
        let mut p = Parser {
            input: value,
            pos: start,
            pairs,
            depth,
        };
        let mut out = value[..start].to_vec();
        match p.value(&mut out, true) {
            Ok(()) if value[p.pos..].iter().all(u8::is_ascii_whitespace) => {
                out.extend_from_slice(&value[p.pos..]);
                return out;
            }
            Err(Malformed::TooDeep) => return value.to_vec(),
            _ => {}
        }
    }
    plain(value, pairs)
}

/// Every occurrence of each `from` replaced, one pair after the other.
pub(crate) fn plain(value: &[u8], pairs: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    let mut cur = value.to_vec();
    for (from, to) in pairs {
        if from.is_empty() || !contains(&cur, from) {
            continue;
        }
        let mut out = Vec::with_capacity(cur.len());
        let mut rest = &cur[..];
        while let Some(i) = find(rest, from) {
            out.extend_from_slice(&rest[..i]);
            out.extend_from_slice(to);
            rest = &rest[i + from.len()..];
        }
        out.extend_from_slice(rest);
        cur = out;
    }
    cur
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    find(hay, needle).is_some()
}

#[derive(Debug)]
enum Malformed {
    Syntax,
    TooDeep,
}

struct Parser<'a> {
    input: &'a [u8],
    pos: usize,
    pairs: &'a [(Vec<u8>, Vec<u8>)],
    depth: usize,
}

impl Parser<'_> {
    fn byte(&mut self, want: u8) -> Result<(), Malformed> {
        if self.input.get(self.pos) == Some(&want) {
            self.pos += 1;
            Ok(())
        } else {
            Err(Malformed::Syntax)
        }
    }

    /// Copies bytes up to and including `end` (scalars: `i:5;`, `d:0.5;`, `r:2;`).
    fn through(&mut self, end: u8, out: &mut Vec<u8>) -> Result<(), Malformed> {
        let rest = &self.input[self.pos..];
        let n = rest
            .iter()
            .position(|&b| b == end)
            .ok_or(Malformed::Syntax)?;
        out.extend_from_slice(&rest[..=n]);
        self.pos += n + 1;
        Ok(())
    }

    /// A decimal count followed by `end`.
    fn count(&mut self, end: u8) -> Result<usize, Malformed> {
        let rest = &self.input[self.pos..];
        let n = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if n == 0 || n > 10 {
            return Err(Malformed::Syntax);
        }
        let v = std::str::from_utf8(&rest[..n])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or(Malformed::Syntax)?;
        self.pos += n;
        self.byte(end)?;
        Ok(v)
    }

    /// `LEN:"bytes"` after the type letter and colon: the bytes.
    fn quoted(&mut self) -> Result<&[u8], Malformed> {
        let len = self.count(b':')?;
        self.byte(b'"')?;
        let start = self.pos;
        let end = start.checked_add(len).ok_or(Malformed::Syntax)?;
        if end > self.input.len() {
            return Err(Malformed::Syntax);
        }
        self.pos = end;
        self.byte(b'"')?;
        Ok(&self.input[start..end])
    }

    /// One value at `pos`, written to `out`; its strings rewritten when `strings`.
    fn value(&mut self, out: &mut Vec<u8>, strings: bool) -> Result<(), Malformed> {
        let kind = *self.input.get(self.pos).ok_or(Malformed::Syntax)?;
        self.pos += 1;
        match kind {
            b'N' => {
                self.byte(b';')?;
                out.extend_from_slice(b"N;");
            }
            b'b' | b'i' | b'd' | b'r' | b'R' => {
                self.byte(b':')?;
                out.extend_from_slice(&[kind, b':']);
                self.through(b';', out)?;
            }
            b's' => {
                self.byte(b':')?;
                let depth = self.depth;
                let pairs = self.pairs;
                let s = self.quoted()?;
                let new = if strings {
                    rewrite(s, pairs, depth + 1)
                } else {
                    s.to_vec()
                };
                self.byte(b';')?;
                out.extend_from_slice(format!("s:{}:\"", new.len()).as_bytes());
                out.extend_from_slice(&new);
                out.extend_from_slice(b"\";");
            }
            b'E' => {
                self.byte(b':')?;
                let s = self.quoted()?.to_vec();
                self.byte(b';')?;
                out.extend_from_slice(format!("E:{}:\"", s.len()).as_bytes());
                out.extend_from_slice(&s);
                out.extend_from_slice(b"\";");
            }
            b'a' => {
                self.byte(b':')?;
                let n = self.count(b':')?;
                out.extend_from_slice(format!("a:{n}:").as_bytes());
                self.members(n, out, strings)?;
            }
            b'O' => {
                self.byte(b':')?;
                let class = self.quoted()?.to_vec();
                self.byte(b':')?;
                let n = self.count(b':')?;
                out.extend_from_slice(format!("O:{}:\"", class.len()).as_bytes());
                out.extend_from_slice(&class);
                out.extend_from_slice(format!("\":{n}:").as_bytes());
                self.members(n, out, strings)?;
            }
            b'C' => {
                // custom serialization: the payload's format is the class's own, copied as is
                self.byte(b':')?;
                let start = self.pos - 2;
                let _class = self.quoted()?;
                self.byte(b':')?;
                let len = self.count(b':')?;
                self.byte(b'{')?;
                self.pos = self.pos.checked_add(len).ok_or(Malformed::Syntax)?;
                self.byte(b'}')?;
                out.extend_from_slice(&self.input[start..self.pos]);
            }
            _ => return Err(Malformed::Syntax),
        }
        Ok(())
    }

    /// `{key value …}` of an array or object: keys copied, values rewritten.
    fn members(&mut self, n: usize, out: &mut Vec<u8>, strings: bool) -> Result<(), Malformed> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(Malformed::TooDeep);
        }
        self.byte(b'{')?;
        out.push(b'{');
        for _ in 0..n {
            match self.input.get(self.pos) {
                Some(b'i' | b's') => self.value(out, false)?,
                _ => return Err(Malformed::Syntax),
            }
            self.value(out, strings)?;
        }
        self.byte(b'}')?;
        out.push(b'}');
        self.depth -= 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs() -> Vec<(Vec<u8>, Vec<u8>)> {
        vec![(b"//old.test".to_vec(), b"//staging.new.test".to_vec())]
    }

    fn r(v: &str) -> String {
        String::from_utf8(replace(v.as_bytes(), &pairs()).unwrap_or_else(|| v.as_bytes().to_vec()))
            .unwrap()
    }

    #[test]
    fn plain_text_is_replaced_everywhere() {
        assert_eq!(
            r("<a href=\"https://old.test/a\">x</a> http://old.test"),
            "<a href=\"https://staging.new.test/a\">x</a> http://staging.new.test"
        );
        assert!(replace(b"nothing here", &pairs()).is_none());
    }

    #[test]
    fn serialized_string_lengths_are_fixed() {
        assert_eq!(
            r("s:18:\"https://old.test/x\";"),
            "s:26:\"https://staging.new.test/x\";"
        );
    }

    #[test]
    fn nested_arrays_and_objects_keep_keys_and_fix_every_length() {
        let v = "a:2:{s:3:\"url\";s:16:\"https://old.test\";s:4:\"deep\";a:1:{i:0;O:8:\"stdClass\":1:{s:4:\"home\";s:15:\"http://old.test\";}}}";
        assert_eq!(
            r(v),
            "a:2:{s:3:\"url\";s:24:\"https://staging.new.test\";s:4:\"deep\";a:1:{i:0;O:8:\"stdClass\":1:{s:4:\"home\";s:23:\"http://staging.new.test\";}}}"
        );
    }

    #[test]
    fn a_string_holding_serialized_data_is_rewritten_inside_too() {
        let inner = "a:1:{i:0;s:16:\"https://old.test\";}";
        let v = format!("s:{}:\"{inner}\";", inner.len());
        let new_inner = "a:1:{i:0;s:24:\"https://staging.new.test\";}";
        assert_eq!(r(&v), format!("s:{}:\"{new_inner}\";", new_inner.len()));
    }

    #[test]
    fn scalars_nulls_references_and_custom_payloads_are_copied() {
        let v =
            "a:5:{i:0;b:1;i:1;d:0.5;i:2;N;i:3;R:2;i:4;C:11:\"ArrayObject\":14:{//old.test/abc}}";
        assert_eq!(r(v), v);
    }

    #[test]
    fn multibyte_lengths_count_bytes() {
        assert_eq!(
            r("s:22:\"café https://old.test\";"),
            "s:30:\"café https://staging.new.test\";"
        );
    }

    #[test]
    fn what_does_not_parse_is_plain_text() {
        // a wrong length: not serialized data after all
        assert_eq!(
            r("s:3:\"https://old.test\";"),
            "s:3:\"https://staging.new.test\";"
        );
        assert_eq!(r("a:1:{"), "a:1:{");
    }

    #[test]
    fn surrounding_whitespace_is_kept() {
        assert_eq!(r("  s:8:\"old.test\";\n"), "  s:8:\"old.test\";\n");
        assert_eq!(
            r(" s:10:\"//old.test\"; "),
            " s:18:\"//staging.new.test\"; "
        );
    }

    #[test]
    fn hostile_nesting_is_left_alone() {
        let mut v = String::new();
        for _ in 0..1000 {
            v.push_str("a:1:{i:0;");
        }
        v.push_str("s:10:\"//old.test\";");
        for _ in 0..1000 {
            v.push('}');
        }
        assert!(replace(v.as_bytes(), &pairs()).is_none());
        // a length past the end, a huge count
        assert_eq!(r("s:99999999999:\"x\";"), "s:99999999999:\"x\";");
        assert_eq!(r("a:4294967295:{}"), "a:4294967295:{}");
    }

    #[test]
    fn several_pairs_apply_in_order() {
        let p = vec![
            (b"//old.test".to_vec(), b"//new.test".to_vec()),
            (b"\\/\\/old.test".to_vec(), b"\\/\\/new.test".to_vec()),
        ];
        let out = replace(b"s:32:\"{\"u\":\"https:\\/\\/old.test\\/x\"}\";", &p).unwrap();
        assert_eq!(out, b"s:32:\"{\"u\":\"https:\\/\\/new.test\\/x\"}\";");
    }
}
