//! Discord's rules for an execute-webhook JSON body, as the real API enforces them (documented limits,
//! see shared/reference/discord-webhooks.md). Pure: bytes in, the parsed body or a Discord-shaped
//! 400 error out.

use serde_json::{Map, Value, json};

/// Limits of one message (characters are Unicode scalar values, as Discord counts them).
pub const CONTENT_MAX: usize = 2000;
pub const EMBEDS_MAX: usize = 10;
pub const TITLE_MAX: usize = 256;
pub const DESCRIPTION_MAX: usize = 4096;
pub const FIELDS_MAX: usize = 25;
pub const FIELD_NAME_MAX: usize = 256;
pub const FIELD_VALUE_MAX: usize = 1024;
pub const FOOTER_MAX: usize = 2048;
pub const AUTHOR_NAME_MAX: usize = 256;
pub const EMBED_TOTAL_MAX: usize = 6000;
pub const USERNAME_MAX: usize = 80;

/// Why a body was refused: Discord's error `code` and the answer body to send with a 400.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub code: u64,
    pub body: Value,
}

impl Rejection {
    pub(super) fn invalid_json() -> Rejection {
        Rejection { code: 50109, body: json!({"message": "The request body contains invalid JSON.", "code": 50109}) }
    }

    fn empty() -> Rejection {
        Rejection { code: 50006, body: json!({"message": "Cannot send an empty message", "code": 50006}) }
    }
}

/// One violated rule: where in the body (JSON path) and what.
struct Violation {
    path: Vec<String>,
    code: &'static str,
    message: String,
}

/// Parses and validates an execute-webhook body.
pub fn validate(raw: &[u8]) -> Result<Value, Rejection> {
    let body: Value = serde_json::from_slice(raw).map_err(|_| Rejection::invalid_json())?;
    let Some(obj) = body.as_object() else {
        return Err(Rejection::invalid_json());
    };
    let mut v = Vec::new();
    let content_len = check_string(obj, "content", CONTENT_MAX, &[], &mut v).unwrap_or(0);
    check_string(obj, "username", USERNAME_MAX, &[], &mut v);
    check_string(obj, "avatar_url", usize::MAX, &[], &mut v);
    let embed_count = check_embeds(obj, &mut v);
    check_allowed_mentions(obj, &mut v);
    check_flags(obj, &mut v);
    if !v.is_empty() {
        return Err(form_error(v));
    }
    if content_len == 0 && embed_count == 0 {
        return Err(Rejection::empty());
    }
    Ok(body)
}

/// Checks an optional string member; returns its length in characters when present.
fn check_string(
    obj: &Map<String, Value>,
    key: &str,
    max: usize,
    at: &[String],
    v: &mut Vec<Violation>,
) -> Option<usize> {
    let path = || at.iter().cloned().chain([key.to_string()]).collect::<Vec<_>>();
    match obj.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            let n = s.chars().count();
            if n > max {
                v.push(Violation {
                    path: path(),
                    code: "BASE_TYPE_MAX_LENGTH",
                    message: format!("Must be {max} or fewer in length."),
                });
            }
            Some(n)
        }
        Some(_) => {
            v.push(Violation { path: path(), code: "STRING_TYPE_CONVERT", message: "Must be a string.".into() });
            None
        }
    }
}

/// Like [`check_string`] for a member that must be there and not empty.
fn required_string(obj: &Map<String, Value>, key: &str, max: usize, at: &[String], v: &mut Vec<Violation>) -> usize {
    match check_string(obj, key, max, at, v) {
        Some(n) if n > 0 => n,
        Some(_) => {
            let path = at.iter().cloned().chain([key.to_string()]).collect();
            v.push(Violation { path, code: "BASE_TYPE_REQUIRED", message: "This field is required".into() });
            0
        }
        None => {
            if matches!(obj.get(key), None | Some(Value::Null)) {
                let path = at.iter().cloned().chain([key.to_string()]).collect();
                v.push(Violation { path, code: "BASE_TYPE_REQUIRED", message: "This field is required".into() });
            }
            0
        }
    }
}

/// Checks `embeds`; returns how many there are.
fn check_embeds(obj: &Map<String, Value>, v: &mut Vec<Violation>) -> usize {
    let embeds = match obj.get("embeds") {
        None | Some(Value::Null) => return 0,
        Some(Value::Array(a)) => a,
        Some(_) => {
            v.push(Violation {
                path: vec!["embeds".into()],
                code: "LIST_TYPE_CONVERT",
                message: "Must be an array.".into(),
            });
            return 0;
        }
    };
    if embeds.len() > EMBEDS_MAX {
        v.push(Violation {
            path: vec!["embeds".into()],
            code: "BASE_TYPE_MAX_LENGTH",
            message: format!("Must be {EMBEDS_MAX} or fewer in length."),
        });
    }
    let mut total = 0;
    for (i, embed) in embeds.iter().enumerate() {
        let at = vec!["embeds".to_string(), i.to_string()];
        let Some(e) = embed.as_object() else {
            v.push(Violation {
                path: at,
                code: "MODEL_TYPE_CONVERT",
                message: "Only dictionaries may be used in a ModelType".into(),
            });
            continue;
        };
        total += check_string(e, "title", TITLE_MAX, &at, v).unwrap_or(0);
        total += check_string(e, "description", DESCRIPTION_MAX, &at, v).unwrap_or(0);
        check_string(e, "url", usize::MAX, &at, v);
        check_string(e, "timestamp", usize::MAX, &at, v);
        if let Some(color) = e.get("color").filter(|c| !c.is_null())
            && color.as_u64().is_none_or(|c| c > 0xFF_FFFF)
        {
            let path = at.iter().cloned().chain(["color".to_string()]).collect();
            v.push(Violation {
                path,
                code: "NUMBER_TYPE_MAX",
                message: "int value should be <= 16777215 and >= 0.".into(),
            });
        }
        for (key, max) in [("footer", FOOTER_MAX), ("author", AUTHOR_NAME_MAX)] {
            let member = if key == "footer" { "text" } else { "name" };
            match e.get(key) {
                None | Some(Value::Null) => {}
                Some(Value::Object(o)) => {
                    let sub: Vec<String> = at.iter().cloned().chain([key.to_string()]).collect();
                    total += required_string(o, member, max, &sub, v);
                }
                Some(_) => {
                    let path = at.iter().cloned().chain([key.to_string()]).collect();
                    v.push(Violation {
                        path,
                        code: "MODEL_TYPE_CONVERT",
                        message: "Only dictionaries may be used in a ModelType".into(),
                    });
                }
            }
        }
        total += check_fields(e, &at, v);
    }
    if total > EMBED_TOTAL_MAX {
        v.push(Violation {
            path: vec!["embeds".into()],
            code: "MAX_EMBED_SIZE_EXCEEDED",
            message: format!("Embed size exceeds maximum size of {EMBED_TOTAL_MAX}"),
        });
    }
    embeds.len()
}

/// Checks an embed's `fields`; returns the characters they count towards the 6000 total.
fn check_fields(e: &Map<String, Value>, at: &[String], v: &mut Vec<Violation>) -> usize {
    let fields_at: Vec<String> = at.iter().cloned().chain(["fields".to_string()]).collect();
    let fields = match e.get("fields") {
        None | Some(Value::Null) => return 0,
        Some(Value::Array(a)) => a,
        Some(_) => {
            v.push(Violation { path: fields_at, code: "LIST_TYPE_CONVERT", message: "Must be an array.".into() });
            return 0;
        }
    };
    if fields.len() > FIELDS_MAX {
        v.push(Violation {
            path: fields_at.clone(),
            code: "BASE_TYPE_MAX_LENGTH",
            message: format!("Must be {FIELDS_MAX} or fewer in length."),
        });
    }
    let mut total = 0;
    for (j, field) in fields.iter().enumerate() {
        let fat: Vec<String> = fields_at.iter().cloned().chain([j.to_string()]).collect();
        let Some(f) = field.as_object() else {
            v.push(Violation {
                path: fat,
                code: "MODEL_TYPE_CONVERT",
                message: "Only dictionaries may be used in a ModelType".into(),
            });
            continue;
        };
        total += required_string(f, "name", FIELD_NAME_MAX, &fat, v);
        total += required_string(f, "value", FIELD_VALUE_MAX, &fat, v);
        if let Some(inline) = f.get("inline").filter(|x| !x.is_null())
            && !inline.is_boolean()
        {
            let path = fat.iter().cloned().chain(["inline".to_string()]).collect();
            v.push(Violation { path, code: "BOOLEAN_TYPE_CONVERT", message: "Must be either true or false.".into() });
        }
    }
    total
}

/// `allowed_mentions`: `parse` holds only "roles"/"users"/"everyone", and "roles"/"users" in `parse`
/// cannot be combined with an explicit `roles`/`users` list.
fn check_allowed_mentions(obj: &Map<String, Value>, v: &mut Vec<Violation>) {
    let at = vec!["allowed_mentions".to_string()];
    let am = match obj.get("allowed_mentions") {
        None | Some(Value::Null) => return,
        Some(Value::Object(o)) => o,
        Some(_) => {
            v.push(Violation {
                path: at,
                code: "MODEL_TYPE_CONVERT",
                message: "Only dictionaries may be used in a ModelType".into(),
            });
            return;
        }
    };
    let mut parsed: Vec<&str> = Vec::new();
    match am.get("parse") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                match item.as_str() {
                    Some(s @ ("roles" | "users" | "everyone")) => parsed.push(s),
                    _ => v.push(Violation {
                        path: vec!["allowed_mentions".into(), "parse".into(), i.to_string()],
                        code: "ENUM_TYPE_COERCE",
                        message: format!("Value \"{item}\" is not a valid enum value."),
                    }),
                }
            }
        }
        Some(_) => v.push(Violation {
            path: vec!["allowed_mentions".into(), "parse".into()],
            code: "LIST_TYPE_CONVERT",
            message: "Must be an array.".into(),
        }),
    }
    for list in ["roles", "users"] {
        match am.get(list) {
            None | Some(Value::Null) => continue,
            Some(Value::Array(ids)) => {
                if ids.len() > 100 {
                    v.push(Violation {
                        path: vec!["allowed_mentions".into(), list.into()],
                        code: "BASE_TYPE_MAX_LENGTH",
                        message: "Must be 100 or fewer in length.".into(),
                    });
                }
                for (i, id) in ids.iter().enumerate() {
                    if !is_snowflake(id) {
                        v.push(Violation {
                            path: vec!["allowed_mentions".into(), list.into(), i.to_string()],
                            code: "NUMBER_TYPE_COERCE",
                            message: format!("Value \"{id}\" is not snowflake."),
                        });
                    }
                }
            }
            Some(_) => v.push(Violation {
                path: vec!["allowed_mentions".into(), list.into()],
                code: "LIST_TYPE_CONVERT",
                message: "Must be an array.".into(),
            }),
        }
        if parsed.contains(&list) {
            v.push(Violation {
                path: at.clone(),
                code: "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                message: format!("parse:[\"{list}\"] and {list}: [ids...] are mutually exclusive."),
            });
        }
    }
}

/// `flags`: a webhook message may set only SUPPRESS_EMBEDS (1 << 2) and SUPPRESS_NOTIFICATIONS (1 << 12).
fn check_flags(obj: &Map<String, Value>, v: &mut Vec<Violation>) {
    match obj.get("flags") {
        None | Some(Value::Null) => {}
        Some(Value::Number(n)) if n.as_u64().is_some_and(|f| f & !((1 << 2) | (1 << 12)) == 0) => {}
        Some(_) => v.push(Violation {
            path: vec!["flags".into()],
            code: "MESSAGE_FLAGS_INVALID",
            message: "Invalid flags: a webhook may set only SUPPRESS_EMBEDS and SUPPRESS_NOTIFICATIONS".into(),
        }),
    }
}

fn is_snowflake(id: &Value) -> bool {
    match id {
        Value::String(s) => !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit()),
        Value::Number(n) => n.is_u64(),
        _ => false,
    }
}

fn insert_error(node: &mut Map<String, Value>, path: &[String], error: Value) {
    match path.split_first() {
        None => {
            let list = node.entry("_errors").or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(items) = list {
                items.push(error);
            }
        }
        Some((key, rest)) => {
            let entry = node.entry(key.clone()).or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(next) = entry {
                insert_error(next, rest, error);
            }
        }
    }
}

/// Discord's 50035 body: `errors` nests the violations by JSON path, each with `_errors`.
fn form_error(violations: Vec<Violation>) -> Rejection {
    let mut errors = Map::new();
    for violation in violations {
        insert_error(&mut errors, &violation.path, json!({"code": violation.code, "message": violation.message}));
    }
    Rejection { code: 50035, body: json!({"message": "Invalid Form Body", "code": 50035, "errors": errors}) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(body: Value) {
        let raw = body.to_string();
        assert!(validate(raw.as_bytes()).is_ok(), "{body} should be accepted: {:?}", validate(raw.as_bytes()));
    }

    fn code(body: Value) -> u64 {
        validate(body.to_string().as_bytes()).expect_err("should be refused").code
    }

    fn embed_with(key: &str, value: Value) -> Value {
        json!({"embeds": [{ key: value }]})
    }

    #[test]
    fn content_limit_is_2000_characters_not_bytes() {
        ok(json!({"content": "é".repeat(2000)}));
        assert_eq!(code(json!({"content": "x".repeat(2001)})), 50035);
    }

    #[test]
    fn empty_message_and_bad_json() {
        assert_eq!(code(json!({})), 50006);
        assert_eq!(code(json!({"content": ""})), 50006);
        assert_eq!(code(json!({"content": null, "embeds": []})), 50006);
        assert_eq!(validate(b"{not json").expect_err("bad json").code, 50109);
        assert_eq!(validate(b"[1,2]").expect_err("not an object").code, 50109);
    }

    #[test]
    fn embed_limits_at_their_edges() {
        ok(embed_with("title", json!("t".repeat(256))));
        assert_eq!(code(embed_with("title", json!("t".repeat(257)))), 50035);
        ok(embed_with("description", json!("d".repeat(4096))));
        assert_eq!(code(embed_with("description", json!("d".repeat(4097)))), 50035);
        ok(embed_with("footer", json!({"text": "f".repeat(2048)})));
        assert_eq!(code(embed_with("footer", json!({"text": "f".repeat(2049)}))), 50035);
        ok(json!({"embeds": vec![json!({"title": "x"}); 10]}));
        assert_eq!(code(json!({"embeds": vec![json!({"title": "x"}); 11]})), 50035);
        assert_eq!(code(embed_with("color", json!(0x100_0000))), 50035);
        ok(embed_with("color", json!(0xFF_FFFF)));
    }

    #[test]
    fn field_limits() {
        let field = |n: usize, v: usize| json!({"name": "n".repeat(n), "value": "v".repeat(v)});
        ok(embed_with("fields", json!(vec![field(1, 1); 25])));
        assert_eq!(code(embed_with("fields", json!(vec![field(1, 1); 26]))), 50035);
        ok(embed_with("fields", json!([field(256, 1024)])));
        assert_eq!(code(embed_with("fields", json!([field(257, 1)]))), 50035);
        assert_eq!(code(embed_with("fields", json!([field(1, 1025)]))), 50035);
        assert_eq!(code(embed_with("fields", json!([{"name": "only a name"}]))), 50035);
        assert_eq!(code(embed_with("fields", json!([field(0, 3)]))), 50035);
    }

    #[test]
    fn all_embeds_together_at_most_6000_characters() {
        // Two embeds of 3000 each: exactly 6000 is fine, one more is not.
        let e = |n: usize| json!({"description": "d".repeat(n)});
        ok(json!({"embeds": [e(3000), e(3000)]}));
        let err = validate(json!({"embeds": [e(3000), e(3001)]}).to_string().as_bytes()).expect_err("6001");
        assert_eq!(err.code, 50035);
        assert_eq!(err.body["errors"]["embeds"]["_errors"][0]["code"], "MAX_EMBED_SIZE_EXCEEDED");
    }

    #[test]
    fn violation_paths_are_nested_like_discord() {
        let err = validate(embed_with("title", json!("t".repeat(300))).to_string().as_bytes()).expect_err("long");
        assert_eq!(err.body["errors"]["embeds"]["0"]["title"]["_errors"][0]["code"], "BASE_TYPE_MAX_LENGTH");
        assert_eq!(err.body["message"], "Invalid Form Body");
    }

    #[test]
    fn allowed_mentions_parse_and_lists_are_exclusive() {
        ok(json!({"content": "<@&1>", "allowed_mentions": {"parse": [], "roles": ["123"], "users": ["456"]}}));
        ok(json!({"content": "hi", "allowed_mentions": {"parse": ["users"], "roles": ["123"]}}));
        assert_eq!(code(json!({"content": "hi", "allowed_mentions": {"parse": ["roles"], "roles": ["123"]}})), 50035);
        assert_eq!(code(json!({"content": "hi", "allowed_mentions": {"parse": ["users"], "users": ["1"]}})), 50035);
        assert_eq!(code(json!({"content": "hi", "allowed_mentions": {"parse": ["nobody"]}})), 50035);
        assert_eq!(code(json!({"content": "hi", "allowed_mentions": {"roles": ["not-a-number"]}})), 50035);
    }
}
