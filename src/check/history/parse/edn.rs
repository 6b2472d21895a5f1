//! Jepsen/Porcupine key-value histories: one EDN map per line.

use super::{Builder, ParseError, ParseErrorKind, lines};
use crate::check::history::History;
use crate::check::history::models::{KvOp, KvRet};

/// An EDN scalar as these histories use them.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Value {
    Keyword(String),
    Str(String),
    Int(i64),
    Nil,
}

/// Parses a key-value history of EDN maps such as
/// `{:process 9, :type :invoke, :f :append, :key "0", :value "x 9 0 y"}`
/// (`file` names it in errors). `get`, `put` and `append`; a `nil` read is
/// the empty string.
///
/// ```
/// let h = heddle::check::history::parse::edn_kv("kv.edn",
///     "{:process 1, :type :invoke, :f :get, :key \"9\", :value nil}\n\
///      {:process 1, :type :ok, :f :get, :key \"9\", :value \"x\"}\n").unwrap();
/// assert_eq!(h.len(), 1);
/// ```
pub fn edn_kv(file: &str, text: &str) -> Result<History<KvOp, KvRet>, ParseError> {
    let mut b: Builder<'_, KvOp, KvRet> = Builder::new(file);
    for (n, line) in lines(text) {
        b.line = n;
        let map = parse_map(line).map_err(|e| b.malformed(e.to_string()))?;
        let get = |k: &str| map.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
        let Some(Value::Int(process)) = get("process") else {
            return Err(b.malformed("missing integer :process"));
        };
        let client = u64::try_from(process).map_err(|_| b.malformed("negative :process"))?;
        let Some(Value::Keyword(kind)) = get("type") else {
            return Err(b.malformed("missing keyword :type"));
        };
        let Some(Value::Keyword(f)) = get("f") else {
            return Err(b.malformed("missing keyword :f"));
        };
        let key = match get("key") {
            Some(Value::Str(k)) => k,
            Some(Value::Int(k)) => k.to_string(),
            _ => return Err(b.malformed("missing :key")),
        };
        let value = match get("value") {
            Some(Value::Str(v)) => v,
            Some(Value::Nil) | None => String::new(),
            Some(Value::Int(v)) => v.to_string(),
            Some(Value::Keyword(v)) => return Err(b.malformed(format!("unexpected :value :{v}"))),
        };
        let op = match f.as_str() {
            "get" => KvOp::Get { key },
            "put" => KvOp::Put {
                key,
                value: value.clone(),
            },
            "append" => KvOp::Append {
                key,
                value: value.clone(),
            },
            other => return Err(b.err(ParseErrorKind::UnknownOp(other.to_string()))),
        };
        let time = n as u64;
        match kind.as_str() {
            "invoke" => b.invoke(client, op, time)?,
            "ok" | "fail" | "info" => {
                let open = b.peek(client)?;
                if std::mem::discriminant(open) != std::mem::discriminant(&op)
                    || open.key() != op.key()
                {
                    return Err(b.err(ParseErrorKind::Mismatch {
                        open: format!("{open:?}"),
                        got: format!("{op:?}"),
                    }));
                }
                match (kind.as_str(), op) {
                    ("ok", KvOp::Get { .. }) => b.ok(client, time, KvRet::Value(value))?,
                    ("ok", _) => b.ok(client, time, KvRet::Done)?,
                    ("fail", _) => b.fail(client)?,
                    _ => b.info(client)?,
                }
            }
            other => return Err(b.malformed(format!("unknown :type :{other}"))),
        }
    }
    Ok(b.finish())
}

/// What is wrong with a line's EDN (reported as a malformed line).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum Syntax {
    #[error("expected an EDN map `{{...}}`")]
    NotAMap,
    #[error("expected a keyword key, found {0}")]
    KeyNotKeyword(String),
    #[error("unterminated string")]
    UnterminatedString,
    #[error("unexpected token `{0}`")]
    UnexpectedToken(String),
    #[error("empty token")]
    EmptyToken,
}

/// Parses `{:k v, :k v}` into (keyword, value) pairs.
fn parse_map(line: &str) -> Result<Vec<(String, Value)>, Syntax> {
    let body = line
        .strip_prefix('{')
        .and_then(|s| s.strip_suffix('}'))
        .ok_or(Syntax::NotAMap)?;
    let mut rest = body;
    let mut out = Vec::new();
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == ',');
        if rest.is_empty() {
            return Ok(out);
        }
        let (k, r) = scalar(rest)?;
        let Value::Keyword(k) = k else {
            return Err(Syntax::KeyNotKeyword(format!("{k:?}")));
        };
        let r = r.trim_start_matches(|c: char| c.is_whitespace() || c == ',');
        let (v, r) = scalar(r)?;
        out.push((k, v));
        rest = r;
    }
}

/// One scalar at the start of `s`, and what follows it.
fn scalar(s: &str) -> Result<(Value, &str), Syntax> {
    if let Some(r) = s.strip_prefix('"') {
        let mut v = String::new();
        let mut chars = r.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => return Ok((Value::Str(v), &r[i + 1..])),
                '\\' => match chars.next() {
                    Some((_, 'n')) => v.push('\n'),
                    Some((_, 't')) => v.push('\t'),
                    Some((_, e)) => v.push(e),
                    None => break,
                },
                c => v.push(c),
            }
        }
        return Err(Syntax::UnterminatedString);
    }
    let end = s
        .find(|c: char| c.is_whitespace() || c == ',' || c == '}')
        .unwrap_or(s.len());
    let (tok, r) = s.split_at(end);
    let v = if let Some(k) = tok.strip_prefix(':') {
        Value::Keyword(k.to_string())
    } else if tok == "nil" {
        Value::Nil
    } else {
        Value::Int(
            tok.parse()
                .map_err(|_| Syntax::UnexpectedToken(tok.to_owned()))?,
        )
    };
    if tok.is_empty() || tok == ":" {
        return Err(Syntax::EmptyToken);
    }
    Ok((v, r))
}
