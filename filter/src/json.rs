//! Minimal strict JSON parser for the plugin configuration, in the filter's own code to
//! keep the `.wasm` small (serde_json's deserializer alone costs tens of KiB). The flush
//! is written by [`crate::flush_json`].

/// Nesting deeper than this is refused (no stack exhaustion on hostile input).
pub const MAX_DEPTH: usize = 16;

/// A parsed JSON value.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A number: `Some` for a non-negative integer that fits u64, else `None`.
    Num(Option<u64>),
    /// A string.
    Str(String),
    /// An array.
    Arr(Vec<Json>),
    /// An object, keys in document order (duplicates are refused by the parser).
    Obj(Vec<(String, Json)>),
}

/// Parses one JSON document (surrounding whitespace allowed). The error says what was
/// expected and at which byte.
pub fn parse(bytes: &[u8]) -> Result<Json, String> {
    let mut p = Parser { b: bytes, i: 0 };
    p.ws();
    let v = p.value(0)?;
    p.ws();
    if p.i != bytes.len() {
        return Err(p.err("end of input"));
    }
    Ok(v)
}

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn err(&self, expected: &str) -> String {
        format!("expected {expected} at byte {}", self.i)
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn literal(&mut self, word: &str, v: Json) -> Result<Json, String> {
        if self.b.get(self.i..self.i + word.len()) == Some(word.as_bytes()) {
            self.i += word.len();
            Ok(v)
        } else {
            Err(self.err("a value"))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Json, String> {
        if depth > MAX_DEPTH {
            return Err(format!("nesting deeper than {MAX_DEPTH} at byte {}", self.i));
        }
        match self.peek() {
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => self.string().map(Json::Str),
            Some(b't') => self.literal("true", Json::Bool(true)),
            Some(b'f') => self.literal("false", Json::Bool(false)),
            Some(b'n') => self.literal("null", Json::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(self.err("a value")),
        }
    }

    fn object(&mut self, depth: usize) -> Result<Json, String> {
        self.i += 1;
        let mut fields: Vec<(String, Json)> = Vec::new();
        self.ws();
        if self.eat(b'}') {
            return Ok(Json::Obj(fields));
        }
        loop {
            self.ws();
            if self.peek() != Some(b'"') {
                return Err(self.err("a string key"));
            }
            let key = self.string()?;
            if fields.iter().any(|(k, _)| *k == key) {
                return Err(format!("duplicate key `{key}` before byte {}", self.i));
            }
            self.ws();
            if !self.eat(b':') {
                return Err(self.err("':'"));
            }
            self.ws();
            let v = self.value(depth + 1)?;
            fields.push((key, v));
            self.ws();
            if self.eat(b',') {
                continue;
            }
            if self.eat(b'}') {
                return Ok(Json::Obj(fields));
            }
            return Err(self.err("',' or '}'"));
        }
    }

    fn array(&mut self, depth: usize) -> Result<Json, String> {
        self.i += 1;
        let mut items = Vec::new();
        self.ws();
        if self.eat(b']') {
            return Ok(Json::Arr(items));
        }
        loop {
            self.ws();
            items.push(self.value(depth + 1)?);
            self.ws();
            if self.eat(b',') {
                continue;
            }
            if self.eat(b']') {
                return Ok(Json::Arr(items));
            }
            return Err(self.err("',' or ']'"));
        }
    }

    fn number(&mut self) -> Result<Json, String> {
        let start = self.i;
        let negative = self.eat(b'-');
        let int_start = self.i;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.i += 1;
        }
        let int = self.b.get(int_start..self.i).unwrap_or(&[]);
        if int.is_empty() || (int.len() > 1 && int.first() == Some(&b'0')) {
            self.i = start;
            return Err(self.err("a number"));
        }
        let mut integral = !negative;
        if self.eat(b'.') {
            integral = false;
            if !self.digits() {
                return Err(self.err("digits after '.'"));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            integral = false;
            if !self.eat(b'+') {
                self.eat(b'-');
            }
            if !self.digits() {
                return Err(self.err("exponent digits"));
            }
        }
        if !integral {
            return Ok(Json::Num(None));
        }
        let n = int.iter().try_fold(0u64, |acc, d| acc.checked_mul(10)?.checked_add(u64::from(d - b'0')));
        Ok(Json::Num(n))
    }

    fn digits(&mut self) -> bool {
        let s = self.i;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.i += 1;
        }
        self.i > s
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let h = self.b.get(self.i..self.i + 4).ok_or_else(|| self.err("4 hex digits"))?;
        // from_str_radix alone would also take a sign (`\u+41f`).
        if !h.iter().all(u8::is_ascii_hexdigit) {
            return Err(self.err("4 hex digits"));
        }
        let s = std::str::from_utf8(h).map_err(|_| self.err("4 hex digits"))?;
        let v = u32::from_str_radix(s, 16).map_err(|_| self.err("4 hex digits"))?;
        self.i += 4;
        Ok(v)
    }

    fn string(&mut self) -> Result<String, String> {
        self.i += 1;
        let mut out: Vec<u8> = Vec::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(self.err("'\"'"));
            };
            self.i += 1;
            match c {
                b'"' => {
                    return String::from_utf8(out).map_err(|_| format!("string is not UTF-8 before byte {}", self.i));
                }
                b'\\' => {
                    let Some(e) = self.peek() else {
                        return Err(self.err("an escape"));
                    };
                    self.i += 1;
                    let ch = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.unicode_escape()?,
                        _ => return Err(format!("invalid escape at byte {}", self.i - 1)),
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
                0..=0x1f => {
                    return Err(format!("control character in string at byte {}", self.i - 1));
                }
                _ => out.push(c),
            }
        }
    }

    fn unicode_escape(&mut self) -> Result<char, String> {
        let hi = self.hex4()?;
        let code = if (0xD800..0xDC00).contains(&hi) {
            if !(self.eat(b'\\') && self.eat(b'u')) {
                return Err(self.err("a low surrogate escape"));
            }
            let lo = self.hex4()?;
            if !(0xDC00..0xE000).contains(&lo) {
                return Err(self.err("a low surrogate"));
            }
            0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
        } else {
            hi
        };
        char::from_u32(code).ok_or_else(|| self.err("a valid code point"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Converts serde_json's view of a document into ours, to compare parsers.
    fn from_serde(v: &serde_json::Value) -> Json {
        match v {
            serde_json::Value::Null => Json::Null,
            serde_json::Value::Bool(b) => Json::Bool(*b),
            serde_json::Value::Number(n) => Json::Num(n.as_u64().filter(|_| !n.to_string().contains(['.', 'e', 'E']))),
            serde_json::Value::String(s) => Json::Str(s.clone()),
            serde_json::Value::Array(a) => Json::Arr(a.iter().map(from_serde).collect()),
            serde_json::Value::Object(o) => {
                let mut fields: Vec<_> = o.iter().map(|(k, v)| (k.clone(), from_serde(v))).collect();
                fields.sort_by(|a, b| a.0.cmp(&b.0));
                Json::Obj(fields)
            }
        }
    }

    fn sorted(v: Json) -> Json {
        match v {
            Json::Obj(mut f) => {
                f.sort_by(|a, b| a.0.cmp(&b.0));
                Json::Obj(f.into_iter().map(|(k, v)| (k, sorted(v))).collect())
            }
            Json::Arr(a) => Json::Arr(a.into_iter().map(sorted).collect()),
            v => v,
        }
    }

    #[test]
    fn parses_like_serde_json() {
        for doc in [
            r#"{"a":1,"b":"x\"y\\z\/\n\t\u00e9\ud83d\ude00","c":[true,false,null],"d":{"e":-1,"f":1.5,"g":2e3,"h":0}}"#,
            " [ ] ",
            "18446744073709551615",
            "{\"k\" : { } }",
        ] {
            let ours = parse(doc.as_bytes()).unwrap();
            let theirs: serde_json::Value = serde_json::from_str(doc).unwrap();
            assert_eq!(sorted(ours), from_serde(&theirs), "{doc}");
        }
        assert_eq!(parse(b"18446744073709551616"), Ok(Json::Num(None)));
    }

    #[test]
    fn refuses_what_serde_json_refuses() {
        for doc in [
            "",
            "{",
            "}",
            "{\"a\"}",
            "{\"a\":}",
            "{a:1}",
            "[1,]",
            "{\"a\":1,}",
            "01",
            "-",
            "1.",
            "1e",
            "\"\\x\"",
            "\"\\ud800\"",
            // Signed hex (found by fuzzing, FUZZING.md): was read as U+083D.
            "\"\\u+83d\"",
            "\"a\u{1}\"",
            "tru",
            "nul",
            "{} {}",
            "\"abc",
            "[1 2]",
        ] {
            assert!(parse(doc.as_bytes()).is_err(), "accepted {doc:?}");
            assert!(serde_json::from_str::<serde_json::Value>(doc).is_err(), "serde accepts {doc:?}");
        }
        assert!(parse(b"\"\xff\"").is_err());
        assert!(parse(br#"{"a":1,"a":2}"#).unwrap_err().contains("duplicate key `a`"));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = "[".repeat(100_000);
        assert!(parse(deep.as_bytes()).unwrap_err().contains("nesting"));
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(parse(ok.as_bytes()).is_ok());
    }
}
