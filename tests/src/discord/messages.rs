//! The messages a webhook created, as Discord keeps them: each with every version it had (the body as posted,
//! then after each edit), so that a test can read a living message's final text. An edit (`PATCH`) replaces
//! the members it names and is validated as a whole like a new message; an unknown or deleted message is
//! 404 with code 10008. Pure: the server calls it under its lock.

use serde_json::{Map, Value, json};

/// One message.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    /// Its snowflake, as the API returns it.
    pub id: String,
    pub webhook_id: u64,
    /// The thread it was posted in (`?thread_id=`), if any.
    pub thread_id: Option<String>,
    /// Its bodies, oldest first: as posted, then after each edit.
    pub versions: Vec<Value>,
    pub deleted: bool,
}

impl Stored {
    /// The message as it reads now.
    pub fn current(&self) -> &Value {
        self.versions.last().unwrap_or(&Value::Null)
    }
}

/// Discord's 404 for a message it does not have.
pub fn unknown_message() -> Value {
    json!({"message": "Unknown Message", "code": 10008})
}

/// `current` with the members of the edit `raw` replaced; the result validated like a new message.
pub fn edited(current: &Value, raw: &[u8]) -> Result<Value, super::validate::Rejection> {
    let patch: Value = serde_json::from_slice(raw).map_err(|_| super::validate::Rejection::invalid_json())?;
    let Some(patch) = patch.as_object() else { return Err(super::validate::Rejection::invalid_json()) };
    let mut merged: Map<String, Value> = current.as_object().cloned().unwrap_or_default();
    for (k, v) in patch {
        merged.insert(k.clone(), v.clone());
    }
    let merged = Value::Object(merged);
    super::validate::validate(merged.to_string().as_bytes())
}

/// The `thread_id` of a query string.
pub fn thread_of(query: &str) -> Option<String> {
    query.split('&').find_map(|p| p.strip_prefix("thread_id=")).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_edit_replaces_what_it_names_and_is_validated_whole() {
        let cur = json!({"content": "a", "embeds": [{"title": "t"}]});
        assert_eq!(
            edited(&cur, br#"{"embeds": [{"title": "u"}]}"#).unwrap(),
            json!({"content": "a", "embeds": [{"title": "u"}]})
        );
        assert_eq!(edited(&cur, br#"{"content": ""}"#).unwrap()["content"], "");
        let e = edited(&json!({"content": "a"}), br#"{"content": ""}"#).unwrap_err();
        assert_eq!(e.code, 50006, "an edit that leaves nothing is refused");
        assert_eq!(edited(&cur, br#"{"embeds": [{"title": "x"}], "content": "#).unwrap_err().code, 50109);
        let long = json!({"embeds": [{"description": "d".repeat(4097)}]}).to_string();
        assert_eq!(edited(&cur, long.as_bytes()).unwrap_err().code, 50035);
        assert_eq!(thread_of("wait=true&thread_id=77"), Some("77".into()));
    }
}
