//! Discord's size limits, and trimming that always fits them (counted in characters).

use serde_json::Value;

/// Discord's message and embed limits.
pub struct Limits {
    pub content: usize,
    pub title: usize,
    pub description: usize,
    pub fields: usize,
    pub field_name: usize,
    pub field_value: usize,
    pub footer: usize,
    pub embed_total: usize,
}

/// The limits in force (discord-api-docs, message.mdx).
pub const LIMITS: Limits = Limits {
    content: 2000,
    title: 256,
    description: 4096,
    fields: 25,
    field_name: 256,
    field_value: 1024,
    footer: 2048,
    embed_total: 6000,
};

/// `s` cut to at most `max` characters, with an ellipsis when cut.
pub fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Whole lines joined with newlines while they fit in `max`; "… and N more" when some don't.
pub fn join_lines(lines: &[String], max: usize) -> String {
    let mut out = String::new();
    for (i, l) in lines.iter().enumerate() {
        let more = format!("… and {} more", lines.len() - i);
        let need = out.chars().count() + l.chars().count() + 1;
        if need + more.chars().count() + 1 > max && i + 1 < lines.len() || need > max {
            if out.chars().count() + more.chars().count() <= max {
                out.push_str(&more);
            }
            break;
        }
        out.push_str(l);
        out.push('\n');
    }
    cut(out.trim_end(), max)
}

fn len(v: Option<&Value>) -> usize {
    v.and_then(Value::as_str).map(|s| s.chars().count()).unwrap_or(0)
}

fn cut_at(v: &mut Value, key: &str, max: usize) {
    if let Some(s) = v.get(key).and_then(Value::as_str).map(|s| cut(s, max))
        && let Some(o) = v.as_object_mut()
    {
        o.insert(key.to_string(), Value::String(s));
    }
}

/// Characters Discord counts towards the 6000 of an embed.
pub fn embed_chars(e: &Value) -> usize {
    let fields: usize = e
        .get("fields")
        .and_then(Value::as_array)
        .map(|fs| fs.iter().map(|f| len(f.get("name")) + len(f.get("value"))).sum())
        .unwrap_or(0);
    len(e.get("title"))
        + len(e.get("description"))
        + len(e.get("footer").and_then(|f| f.get("text")))
        + len(e.get("author").and_then(|a| a.get("name")))
        + fields
}

/// Trims an embed to every per-item limit, then to the total, shrinking the longest text first.
pub fn fit_embed(e: &mut Value) {
    fit_embed_within(e, LIMITS.embed_total);
}

/// [`fit_embed`] to at most `total` characters (an embed sharing a message's 6000 with others).
pub fn fit_embed_within(e: &mut Value, total: usize) {
    let cap = total.min(LIMITS.embed_total);
    cut_at(e, "title", LIMITS.title);
    cut_at(e, "description", LIMITS.description);
    if let Some(f) = e.get_mut("footer") {
        cut_at(f, "text", LIMITS.footer);
    }
    if let Some(fs) = e.get_mut("fields").and_then(Value::as_array_mut) {
        fs.truncate(LIMITS.fields);
        for f in fs.iter_mut() {
            cut_at(f, "name", LIMITS.field_name);
            cut_at(f, "value", LIMITS.field_value);
        }
    }
    for _ in 0..64 {
        let total = embed_chars(e);
        if total <= cap {
            return;
        }
        let excess = total - cap;
        // The longest of description and field values gives up the excess (at least 1 char kept).
        let mut longest: (usize, Option<usize>) = (len(e.get("description")), None);
        if let Some(fs) = e.get("fields").and_then(Value::as_array) {
            for (i, f) in fs.iter().enumerate() {
                let l = len(f.get("value"));
                if l > longest.0 {
                    longest = (l, Some(i));
                }
            }
        }
        let target = longest.0.saturating_sub(excess).max(1);
        match longest.1 {
            None if longest.0 > 1 => cut_at(e, "description", target),
            Some(i) if longest.0 > 1 => {
                if let Some(f) = e.get_mut("fields").and_then(|fs| fs.get_mut(i)) {
                    cut_at(f, "value", target);
                }
            }
            _ => {
                let title = len(e.get("title")).saturating_sub(excess).max(1);
                cut_at(e, "title", title);
                if let Some(f) = e.get_mut("footer") {
                    cut_at(f, "text", 64);
                }
                if let Some(fs) = e.get_mut("fields").and_then(Value::as_array_mut) {
                    fs.pop();
                }
            }
        }
    }
}
