//! Renders an accepted webhook message as readable terminal text (the demo's stand-in for a Discord
//! channel): content, mentions, and each embed's title, description, fields, footer and time, with a
//! bar in the embed's colour when `colour` is on. Pure.

use serde_json::Value;

/// Text for one message of webhook `webhook_id`, received at `received` (e.g. "12:00:03").
pub fn render(webhook_id: u64, message: &Value, received: &str, colour: bool) -> String {
    let mut out = String::new();
    let dim = |s: &str| if colour { format!("\x1b[2m{s}\x1b[0m") } else { s.to_string() };
    let bold = |s: &str| if colour { format!("\x1b[1m{s}\x1b[0m") } else { s.to_string() };
    let who = message.get("username").and_then(Value::as_str).unwrap_or("webhook");
    out.push_str(&dim(&format!("── {received} · {who} (webhook {webhook_id}) ──")));
    out.push('\n');
    if let Some(mentions) = mentions(message) {
        out.push_str(&format!("   notifies: {mentions}\n"));
    }
    if let Some(content) = message.get("content").and_then(Value::as_str).filter(|c| !c.is_empty()) {
        for line in content.lines() {
            out.push_str(&format!("   {line}\n"));
        }
    }
    let embeds = message.get("embeds").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
    for embed in embeds {
        let bar = match (colour, embed.get("color").and_then(Value::as_u64)) {
            (true, Some(c)) => format!("\x1b[38;2;{};{};{}m▌\x1b[0m", (c >> 16) & 0xFF, (c >> 8) & 0xFF, c & 0xFF),
            _ => "▌".to_string(),
        };
        let mut line = |text: &str| out.push_str(&format!("   {bar} {text}\n"));
        if let Some(title) = embed.get("title").and_then(Value::as_str) {
            line(&bold(title));
        }
        if let Some(url) = embed.get("url").and_then(Value::as_str) {
            line(&dim(url));
        }
        if let Some(description) = embed.get("description").and_then(Value::as_str) {
            description.lines().for_each(&mut line);
        }
        let fields = embed.get("fields").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
        for field in fields {
            let name = field.get("name").and_then(Value::as_str).unwrap_or("");
            let value = field.get("value").and_then(Value::as_str).unwrap_or("");
            let mut values = value.lines();
            line(&format!("{}: {}", bold(name), values.next().unwrap_or("")));
            for more in values {
                line(&format!("  {more}"));
            }
        }
        let footer = embed.get("footer").and_then(|f| f.get("text")).and_then(Value::as_str);
        let time = embed.get("timestamp").and_then(Value::as_str);
        match (footer, time) {
            (Some(f), Some(t)) => line(&dim(&format!("{f} · {t}"))),
            (Some(f), None) => line(&dim(f)),
            (None, Some(t)) => line(&dim(t)),
            (None, None) => {}
        }
    }
    out
}

/// Who the message notifies: the explicitly allowed role and user ids, or what `parse` lets through.
fn mentions(message: &Value) -> Option<String> {
    let am = message.get("allowed_mentions")?;
    let ids = |key: &str| -> Vec<String> {
        am.get(key)
            .and_then(Value::as_array)
            .map(|a| a.iter().map(|v| v.as_str().map(String::from).unwrap_or_else(|| v.to_string())).collect())
            .unwrap_or_default()
    };
    let mut parts = Vec::new();
    let roles = ids("roles");
    if !roles.is_empty() {
        parts.push(format!("roles {}", roles.join(", ")));
    }
    let users = ids("users");
    if !users.is_empty() {
        parts.push(format!("users {}", users.join(", ")));
    }
    let parse = ids("parse");
    if !parse.is_empty() {
        parts.push(format!("any {}", parse.join("/")));
    }
    if parts.is_empty() { Some("nobody (mentions suppressed)".into()) } else { Some(parts.join("; ")) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn alert() -> Value {
        json!({
            "username": "Faultline",
            "content": "<@&123> be is CRITICAL",
            "allowed_mentions": {"parse": [], "roles": ["123"], "users": ["456"]},
            "embeds": [{
                "title": "🔴 CRITICAL — be",
                "description": "12.4% — 62 of 500 in 5 min",
                "color": 0xE74C3C,
                "fields": [{
                    "name": "Top failing routes",
                    "value": "GET /server/users/:id/orders — 60\nPOST /server/x — 2",
                }],
                "footer": {"text": "faultline"},
                "timestamp": "2025-01-01T00:00:00Z"
            }]
        })
    }

    #[test]
    fn plain_rendering_shows_everything_a_reader_needs() {
        let text = render(1, &alert(), "12:00:03", false);
        for needle in [
            "12:00:03",
            "Faultline",
            "notifies: roles 123; users 456",
            "<@&123> be is CRITICAL",
            "▌ 🔴 CRITICAL — be",
            "▌ 12.4% — 62 of 500 in 5 min",
            "▌ Top failing routes: GET /server/users/:id/orders — 60",
            "▌   POST /server/x — 2",
            "▌ faultline · 2025-01-01T00:00:00Z",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in\n{text}");
        }
        assert!(!text.contains('\x1b'), "no escape codes without colour");
    }

    #[test]
    fn colour_bar_uses_the_embed_colour() {
        let text = render(1, &alert(), "t", true);
        assert!(text.contains("\x1b[38;2;231;76;60m▌"), "{text:?}");
    }

    #[test]
    fn messages_without_mentions_or_embeds_render() {
        let text = render(2, &json!({"content": "just text"}), "t", false);
        assert!(text.contains("just text"));
        assert!(!text.contains("notifies"));
        let text = render(2, &json!({"content": "x", "allowed_mentions": {"parse": []}}), "t", false);
        assert!(text.contains("nobody"));
    }
}
