//! Jepsen etcd logs: one compare-and-set register of integers.

use super::{Builder, ParseError, ParseErrorKind, lines};
use crate::check::history::History;
use crate::check::history::models::{RegisterOp, RegisterRet};

/// Parses a Jepsen etcd log (`file` names it in errors). Lines that are not
/// `INFO jepsen.util - <process> :<type> ...` are Jepsen's own chatter and
/// skipped. A failed read or write did not happen and is dropped; a failed
/// cas is a cas that found another value; `:info` leaves the outcome
/// unknown.
///
/// ```
/// let log = "INFO  jepsen.util - 3\t:invoke\t:write\t4\n\
///            INFO  jepsen.util - 3\t:ok\t:write\t4\n";
/// let h = heddle::check::history::parse::etcd("x.log", log).unwrap();
/// assert_eq!(h.len(), 1);
/// ```
pub fn etcd(
    file: &str,
    text: &str,
) -> Result<History<RegisterOp<i64>, RegisterRet<i64>>, ParseError> {
    let mut b = Builder::new(file);
    for (n, line) in lines(text) {
        b.line = n;
        let t: Vec<&str> = line.split_whitespace().collect();
        let event = t.len() >= 5 && t[0] == "INFO" && t[1] == "jepsen.util" && t[2] == "-";
        let Some(client) = event.then(|| t[3].parse::<u64>().ok()).flatten() else {
            continue;
        };
        let (kind, f, arg) = (
            t[4],
            t.get(5).copied().unwrap_or(""),
            t.get(6..).unwrap_or(&[]).join(" "),
        );
        let time = n as u64;
        match kind {
            ":invoke" => {
                let op = invocation(&b, f, &arg)?;
                b.invoke(client, op, time)?;
            }
            ":ok" | ":fail" | ":info" => complete(&mut b, client, kind, f, &arg, time)?,
            other => return Err(b.malformed(format!("unknown event type `{other}`"))),
        }
    }
    Ok(b.finish())
}

type B<'f> = Builder<'f, RegisterOp<i64>, RegisterRet<i64>>;

fn invocation(b: &B<'_>, f: &str, arg: &str) -> Result<RegisterOp<i64>, ParseError> {
    match f {
        ":read" => Ok(RegisterOp::Read),
        ":write" => Ok(RegisterOp::Write(int(b, arg)?)),
        ":cas" => {
            let (expect, new) = pair(b, arg)?;
            Ok(RegisterOp::Cas { expect, new })
        }
        other => Err(b.err(ParseErrorKind::UnknownOp(other.to_string()))),
    }
}

fn name(op: &RegisterOp<i64>) -> &'static str {
    match op {
        RegisterOp::Read => ":read",
        RegisterOp::Write(_) => ":write",
        RegisterOp::Cas { .. } => ":cas",
    }
}

fn complete(
    b: &mut B<'_>,
    client: u64,
    kind: &str,
    f: &str,
    arg: &str,
    time: u64,
) -> Result<(), ParseError> {
    if ![":read", ":write", ":cas"].contains(&f) {
        return Err(b.err(ParseErrorKind::UnknownOp(f.to_string())));
    }
    let open = name(b.peek(client)?);
    if open != f {
        return Err(b.err(ParseErrorKind::Mismatch {
            open: open.to_string(),
            got: f.to_string(),
        }));
    }
    match (kind, f) {
        (":info", _) => b.info(client),
        (":ok", ":read") => {
            let v = if arg == "nil" {
                None
            } else {
                Some(int(b, arg)?)
            };
            b.ok(client, time, RegisterRet::Read(v))
        }
        (":ok", ":write") => b.ok(client, time, RegisterRet::Written),
        (":ok", _) => b.ok(client, time, RegisterRet::Cas(true)),
        (_, ":cas") => b.ok(client, time, RegisterRet::Cas(false)),
        _ => b.fail(client),
    }
}

fn int(b: &B<'_>, s: &str) -> Result<i64, ParseError> {
    s.trim()
        .parse()
        .map_err(|_| b.malformed(format!("expected an integer, found `{s}`")))
}

fn pair(b: &B<'_>, s: &str) -> Result<(i64, i64), ParseError> {
    let inner = s
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .ok_or_else(|| b.malformed(format!("expected `[a b]`, found `{s}`")))?;
    let mut it = inner.split_whitespace();
    match (it.next(), it.next(), it.next()) {
        (Some(x), Some(y), None) => Ok((int(b, x)?, int(b, y)?)),
        _ => Err(b.malformed(format!("expected `[a b]`, found `{s}`"))),
    }
}
