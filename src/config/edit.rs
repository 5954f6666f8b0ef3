//! Edits of a site file's text that keep everything else as written (comments, order, blank
//! lines): set or remove a top-level key, or a key one level down (`php.version`). Only block
//! style is edited; a section written in flow style (`php: {version: "8.2"}`) is refused with
//! a message, never rewritten into something else. The result is validated by the caller exactly
//! as `apply` reads it.

use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
#[error(
    "`{key}` is written in YAML flow style (`{key}: {{…}}`) on line {line}; write it in block style (one key per line) so lempctl can edit it"
)]
pub struct FlowStyle {
    pub key: String,
    pub line: usize,
}

/// A top-level `key:` line: the key and what follows the colon.
fn top_key(line: &str) -> Option<(&str, &str)> {
    if line.starts_with([' ', '\t', '#', '-']) {
        return None;
    }
    let (k, rest) = line.split_once(':')?;
    let ok = !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    ok.then_some((k, rest))
}

/// The value after a colon without its comment.
fn inline_value(rest: &str) -> &str {
    let v = match rest.find(" #") {
        Some(i) => &rest[..i],
        None => rest,
    };
    v.trim()
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

fn is_blank_or_comment(line: &str) -> bool {
    let t = line.trim_start();
    t.is_empty() || t.starts_with('#')
}

/// Line index of top-level `key`, and the end (exclusive) of its block: the lines after it that
/// are indented, list items, blank or comments — up to the next top-level key. Trailing blank
/// and comment lines are left outside the block.
fn block(lines: &[String], key: &str) -> Option<(usize, usize)> {
    let at = lines
        .iter()
        .position(|l| top_key(l).is_some_and(|(k, _)| k == key))?;
    let mut end = at + 1;
    let mut last = at + 1;
    while end < lines.len() && top_key(&lines[end]).is_none() {
        end += 1;
        if !is_blank_or_comment(&lines[end - 1]) {
            last = end;
        }
    }
    Some((at, last))
}

fn split(text: &str) -> Vec<String> {
    text.lines().map(str::to_owned).collect()
}

fn join(lines: Vec<String>) -> String {
    let mut s = lines.join("\n");
    s.push('\n');
    s
}

/// Sets top-level `key` to `value` (YAML as written: `"8.2"`, `true`, `[a, b]`), replacing any
/// block under it, or removes the key with its block when `value` is `None`.
pub fn set_top(text: &str, key: &str, value: Option<&str>) -> String {
    let mut lines = split(text);
    match (block(&lines, key), value) {
        (Some((at, end)), Some(v)) => {
            lines.splice(at..end, [format!("{key}: {v}")]);
        }
        (Some((at, end)), None) => {
            lines.drain(at..end);
        }
        (None, Some(v)) => lines.push(format!("{key}: {v}")),
        (None, None) => {}
    }
    join(lines)
}

/// Sets `section.key` (one level down) to `value`, or removes it when `value` is `None`. A
/// missing section is added at the end; an empty one (`php:`, `php: {}`) is filled.
pub fn set_nested(
    text: &str,
    section: &str,
    key: &str,
    value: Option<&str>,
) -> Result<String, FlowStyle> {
    let mut lines = split(text);
    let Some((at, end)) = block(&lines, section) else {
        if let Some(v) = value {
            lines.push(format!("{section}:"));
            lines.push(format!("  {key}: {v}"));
        }
        return Ok(join(lines));
    };
    let inline = top_key(&lines[at]).map_or("", |(_, rest)| inline_value(rest));
    match inline {
        "" => {}
        "{}" | "~" | "null" => lines[at] = format!("{section}:"),
        _ => {
            return Err(FlowStyle {
                key: section.to_owned(),
                line: at + 1,
            });
        }
    }
    let child_indent = lines[at + 1..end]
        .iter()
        .find(|l| !is_blank_or_comment(l))
        .map_or(2, |l| indent(l).max(1));
    let found = (at + 1..end).find(|&i| {
        indent(&lines[i]) == child_indent
            && lines[i]
                .trim_start()
                .split_once(':')
                .is_some_and(|(k, _)| k == key)
    });
    match (found, value) {
        (Some(i), v) => {
            // the key's own children (more indented) go with it
            let mut j = i + 1;
            while j < end && (is_blank_or_comment(&lines[j]) || indent(&lines[j]) > child_indent) {
                j += 1;
            }
            let replacement: Vec<String> = v
                .map(|v| format!("{}{key}: {v}", " ".repeat(child_indent)))
                .into_iter()
                .collect();
            lines.splice(i..j, replacement);
            // a section left empty is removed rather than left as `php:` (null)
            if v.is_none()
                && let Some((at, end)) = block(&lines, section)
                && lines[at + 1..end].iter().all(|l| is_blank_or_comment(l))
            {
                lines.drain(at..end);
            }
        }
        (None, Some(v)) => lines.insert(end, format!("{}{key}: {v}", " ".repeat(child_indent))),
        (None, None) => {}
    }
    Ok(join(lines))
}

/// A YAML double-quoted string.
pub fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "# my blog\nname: blog.test\nkind: php\n\nphp:\n  # pinned\n  version: \"8.1\"\n  ini:\n    date.timezone: UTC\naliases:\n  - www.blog.test\n# the end\n";

    #[test]
    fn nested_keys_are_replaced_inserted_and_removed_in_place() {
        let t = set_nested(FILE, "php", "version", Some("\"8.2\"")).unwrap();
        assert!(
            t.contains("  # pinned\n  version: \"8.2\"\n  ini:\n    date.timezone: UTC\n"),
            "{t}"
        );
        let t = set_nested(&t, "php", "memory_limit", Some("\"512M\"")).unwrap();
        assert!(
            t.contains("    date.timezone: UTC\n  memory_limit: \"512M\"\naliases:"),
            "{t}"
        );
        let t = set_nested(&t, "php", "ini", None).unwrap();
        assert!(!t.contains("timezone"), "{t}");
        let t = set_nested(&t, "tls", "hsts", Some("true")).unwrap();
        assert!(t.ends_with("# the end\ntls:\n  hsts: true\n"), "{t}");
        assert!(t.starts_with("# my blog\nname: blog.test\n"), "{t}");
        // the last key of a section goes with the section
        let t = set_nested(&t, "tls", "hsts", None).unwrap();
        assert!(!t.contains("tls"), "{t}");
    }

    #[test]
    fn top_level_keys_replace_their_block() {
        let t = set_top(FILE, "aliases", Some("[a.blog.test]"));
        assert!(t.contains("aliases: [a.blog.test]\n# the end\n"), "{t}");
        assert!(!t.contains("www.blog.test"), "{t}");
        let t = set_top(&t, "cache", Some("fastcgi"));
        assert!(t.ends_with("cache: fastcgi\n"), "{t}");
        let t = set_top(&t, "aliases", None);
        assert!(!t.contains("aliases"), "{t}");
        assert!(t.contains("# the end"), "{t}");
    }

    #[test]
    fn flow_sections_are_refused_and_empty_ones_filled() {
        let e = set_nested(
            "name: a.test\nphp: {version: \"8.2\"}\n",
            "php",
            "version",
            Some("\"8.3\""),
        )
        .unwrap_err();
        assert_eq!(e.line, 2);
        let t = set_nested("name: a.test\nphp: {}\n", "php", "version", Some("\"8.3\"")).unwrap();
        assert_eq!(t, "name: a.test\nphp:\n  version: \"8.3\"\n");
    }
}
