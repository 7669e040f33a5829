//! nginx configuration text → its directive tree, and the Faultline `proxy_wasm` lines in it.
//!
//! A small tokenizer that honours nginx's quotes, escapes and `#` comments: enough to find every `proxy_wasm`
//! line, its arguments (the configuration is one quoted argument, possibly over several lines) and the blocks
//! around it. Not a full nginx parser: no variables, no `include` (noted, not followed); `nginx -t` checks the
//! rest, but not the plugin configuration (it passes a `proxy_wasm` line with an unknown key).

use super::plugin::{Found, HostServices, Scan, Skipped, SyntaxError, is_faultline};

/// One nginx directive: `name args...;` or `name args... { block }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    /// The directive's name.
    pub name: String,
    /// Its arguments, quotes removed and escapes applied.
    pub args: Vec<String>,
    /// The line each argument starts on.
    pub arg_lines: Vec<usize>,
    /// The block, for `name args { ... }`.
    pub block: Option<Vec<Directive>>,
    /// The line the name is on.
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Semi,
    Open,
    Close,
}

fn err(line: usize, message: impl Into<String>) -> SyntaxError {
    SyntaxError { line, message: message.into() }
}

/// Splits nginx configuration text into words (quotes removed, escapes applied), `;`, `{` and `}`, with the line
/// each starts on. `#` starts a comment where a token could start.
fn tokenize(src: &str) -> Result<Vec<(Token, usize)>, SyntaxError> {
    let mut out = Vec::new();
    let mut chars = src.chars().peekable();
    let mut line = 1;
    while let Some(&c) = chars.peek() {
        match c {
            '\n' => {
                line += 1;
                chars.next();
            }
            c if c.is_whitespace() => {
                chars.next();
            }
            '#' => while chars.next_if(|&c| c != '\n').is_some() {},
            ';' | '{' | '}' => {
                chars.next();
                let t = match c {
                    ';' => Token::Semi,
                    '{' => Token::Open,
                    _ => Token::Close,
                };
                out.push((t, line));
            }
            '"' | '\'' => {
                let quote = c;
                let start = line;
                chars.next();
                let mut word = String::new();
                loop {
                    match chars.next() {
                        None => return Err(err(start, format!("unterminated {quote} string"))),
                        Some('\\') => match chars.next() {
                            Some('n') => word.push('\n'),
                            Some('t') => word.push('\t'),
                            Some('r') => word.push('\r'),
                            Some(e @ ('"' | '\'' | '\\')) => word.push(e),
                            Some(other) => {
                                if other == '\n' {
                                    line += 1;
                                }
                                word.push('\\');
                                word.push(other);
                            }
                            None => return Err(err(start, format!("unterminated {quote} string"))),
                        },
                        Some(ch) if ch == quote => break,
                        Some(ch) => {
                            if ch == '\n' {
                                line += 1;
                            }
                            word.push(ch);
                        }
                    }
                }
                out.push((Token::Word(word), start));
            }
            _ => {
                let mut word = String::new();
                while let Some(c) = chars.next_if(|&c| !c.is_whitespace() && !matches!(c, ';' | '{' | '}' | '"' | '\''))
                {
                    word.push(c);
                }
                out.push((Token::Word(word), line));
            }
        }
    }
    Ok(out)
}

/// Parses nginx configuration text into its directive tree.
pub fn parse(src: &str) -> Result<Vec<Directive>, SyntaxError> {
    let tokens = tokenize(src)?;
    let mut pos = 0;
    let tree = parse_block(&tokens, &mut pos, 0)?;
    match tokens.get(pos) {
        Some((_, line)) => Err(err(*line, "unexpected `}`")),
        None => Ok(tree),
    }
}

fn parse_block(tokens: &[(Token, usize)], pos: &mut usize, depth: usize) -> Result<Vec<Directive>, SyntaxError> {
    let mut out = Vec::new();
    while let Some((tok, line)) = tokens.get(*pos) {
        let line = *line;
        let name = match tok {
            Token::Close if depth > 0 => return Ok(out),
            Token::Word(w) => w.clone(),
            Token::Close => return Err(err(line, "unexpected `}`")),
            Token::Semi => return Err(err(line, "expected a directive name, found `;`")),
            Token::Open => return Err(err(line, "expected a directive name, found `{`")),
        };
        *pos += 1;
        let (mut args, mut arg_lines) = (Vec::new(), Vec::new());
        loop {
            let Some((tok, l)) = tokens.get(*pos) else {
                return Err(err(line, format!("directive `{name}` has no `;` or block")));
            };
            *pos += 1;
            match tok {
                Token::Word(w) => {
                    args.push(w.clone());
                    arg_lines.push(*l);
                }
                Token::Semi => {
                    out.push(Directive { name, args, arg_lines, block: None, line });
                    break;
                }
                Token::Open => {
                    let block = parse_block(tokens, pos, depth + 1)?;
                    match tokens.get(*pos) {
                        Some((Token::Close, _)) => *pos += 1,
                        _ => return Err(err(line, format!("block of `{name}` is not closed"))),
                    }
                    out.push(Directive { name, args, arg_lines, block: Some(block), line });
                    break;
                }
                Token::Close => return Err(err(*l, format!("unexpected `}}` in `{name}`"))),
            }
        }
    }
    if depth > 0 {
        let last = tokens.last().map_or(1, |(_, l)| *l);
        Err(err(last, "unexpected end of file inside a block"))
    } else {
        Ok(out)
    }
}

/// Every Faultline `proxy_wasm` line of `tree`, with the block it is in; other modules' lines as skipped; each
/// `include` as a note (its file is not read).
pub fn scan(tree: &[Directive]) -> Scan {
    // `wasm { module NAME PATH; }`: which names load Faultline's .wasm.
    let modules: Vec<(&str, &str)> = tree
        .iter()
        .filter(|d| d.name == "wasm")
        .flat_map(|d| d.block.iter().flatten())
        .filter(|d| d.name == "module")
        .filter_map(|m| Some((m.args.first()?.as_str(), m.args.get(1)?.as_str())))
        .collect();
    let ours = |name: &str| match modules.iter().find(|(n, _)| *n == name) {
        Some((n, path)) => is_faultline(&[n, path]),
        None => is_faultline(&[name]),
    };
    let mut scan = Scan::default();
    walk(tree, "http", &ours, &mut scan);
    scan
}

fn walk(dirs: &[Directive], context: &str, ours: &dyn Fn(&str) -> bool, scan: &mut Scan) {
    for d in dirs {
        match (d.name.as_str(), &d.block) {
            ("proxy_wasm", None) => {
                let module = d.args.first().map_or("", String::as_str);
                let place = format!("proxy_wasm {module} ({context})");
                if !ours(module) {
                    scan.skipped.push(Skipped { line: d.line, place });
                    continue;
                }
                // `proxy_wasm NAME;` hands the filter an empty configuration, which it refuses.
                let text = d.args.get(1).cloned().unwrap_or_default();
                let line = d.arg_lines.get(1).copied().unwrap_or(d.line);
                let problem = (d.args.len() > 2)
                    .then(|| ("proxy_wasm".to_string(), format!("{} arguments: expected NAME 'CONFIG'", d.args.len())));
                let host_services = HostServices::DefaultService;
                scan.found.push(Found { line, place, text: Some(text), problem, host_services });
            }
            ("include", None) => scan.notes.push(format!(
                "line {}: `include {}` is not followed: check that file on its own",
                d.line,
                d.args.join(" ")
            )),
            (name, Some(block)) => {
                let inner = match name {
                    "location" => format!("location {}", d.args.join(" ")),
                    "server" => "server".to_string(),
                    _ => context.to_string(),
                };
                walk(block, &inner, ours, scan);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tokenizer_honours_quotes_comments_and_escapes() {
        let src = "a 'x; {y} # not a comment' \"q\\\"uote\" b#c; # comment { ;\nblock { inner 1; }\n";
        let tree = parse(src).unwrap();
        assert_eq!(tree.len(), 2);
        assert_eq!(tree[0].args, ["x; {y} # not a comment", "q\"uote", "b#c"]);
        assert_eq!(tree[1].line, 2);
        assert_eq!(tree[1].block.as_ref().unwrap()[0].args, ["1"]);
        assert!(parse("a 'open;").unwrap_err().to_string().contains("unterminated"));
        assert!(parse("a { b;").is_err());
        assert_eq!(parse("a; }").unwrap_err(), err(1, "unexpected `}`"));
        assert!(parse("a").unwrap_err().to_string().contains("no `;`"));
    }

    #[test]
    fn a_quoted_argument_keeps_the_line_it_starts_on() {
        let tree = parse("x 1;\nproxy_wasm m '{\n\"a\":1}' ;\ny 2;\n").unwrap();
        assert_eq!(tree[1].arg_lines, [2, 2]);
        assert_eq!(tree[2].line, 4);
    }

    #[test]
    fn scan_finds_faultline_lines_by_module_and_names_their_location() {
        let src = "wasm { module fl /opt/faultline_filter.wasm; module other /opt/x.wasm; }\n\
                   http { proxy_wasm fl '{}'; server { location /a/ { proxy_wasm fl '{\"service\":\"a\"}'; \
                   proxy_wasm other 'x'; } include extra/*.conf; } }";
        let scan = scan(&parse(src).unwrap());
        let places: Vec<&str> = scan.found.iter().map(|f| f.place.as_str()).collect();
        assert_eq!(places, ["proxy_wasm fl (http)", "proxy_wasm fl (location /a/)"]);
        assert_eq!(scan.skipped.len(), 1);
        assert!(scan.notes[0].contains("include extra/*.conf"), "{:?}", scan.notes);
    }
}
