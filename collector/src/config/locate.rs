//! Turns a byte offset in a TOML file into what an operator needs to find the fault:
//! the line number and the dotted key (`services[1].timeout`).

/// 1-based line number of byte `offset` in `src`.
pub fn line_of(src: &str, offset: usize) -> usize {
    let end = offset.min(src.len());
    src.as_bytes().iter().take(end).filter(|b| **b == b'\n').count() + 1
}

/// The dotted key whose line holds `offset`, with array-of-tables indexes
/// (`services[1].timeout`). Best effort for the usual one-key-per-line layout: a key
/// written inline in a table value is reported as its enclosing key.
pub fn key_at(src: &str, offset: usize) -> String {
    let mut table = String::new();
    let mut counts: std::collections::BTreeMap<String, usize> = Default::default();
    let mut pos = 0usize;
    let mut key = String::new();
    for line in src.split_inclusive('\n') {
        let start = pos;
        pos += line.len();
        let t = line.trim();
        if let Some(name) = t.strip_prefix("[[").and_then(|r| r.split("]]").next()) {
            let name = name.trim().to_string();
            let n = counts.entry(name.clone()).and_modify(|n| *n += 1).or_insert(0);
            table = format!("{name}[{n}]");
            key.clear();
        } else if let Some(name) = t.strip_prefix('[').and_then(|r| r.split(']').next()) {
            table = name.trim().to_string();
            key.clear();
        } else if let Some((k, _)) = t.split_once('=')
            && !t.starts_with('#')
        {
            key = k.trim().trim_matches('"').to_string();
        }
        if offset < pos || pos == src.len() {
            let _ = start;
            return match (table.is_empty(), key.is_empty()) {
                (true, _) => key,
                (false, true) => table,
                (false, false) => format!("{table}.{key}"),
            };
        }
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = "listen = \"x\"\n[[services]]\nname = \"a\"\n\n\
                       [[services]]\nname = \"b\"\ntimeout = \"9s\"\n[webhooks]\ndefault = \"u\"\n";

    #[test]
    fn finds_line_and_key_with_array_index() {
        let off = SRC.find("timeout").unwrap() + 12;
        assert_eq!(line_of(SRC, off), 7);
        assert_eq!(key_at(SRC, off), "services[1].timeout");
        assert_eq!(key_at(SRC, SRC.find("listen").unwrap()), "listen");
        assert_eq!(key_at(SRC, SRC.find("default").unwrap()), "webhooks.default");
        assert_eq!(key_at(SRC, SRC.find("name = \"a\"").unwrap()), "services[0].name");
    }
}
