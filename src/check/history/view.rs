//! A self-contained HTML page (inline SVG, no scripts, no external files)
//! showing a checked history: one lane per client, each operation a bar
//! from its invocation to its completion (open-ended and dashed when the
//! outcome is unknown), the linearization found (or the longest partial one)
//! drawn through the bars in order, and the operation that cannot be placed
//! in red. The failing partition comes first; at most [`MAX_PARTITIONS`]
//! partitions are drawn.
//!
//! Time is drawn by rank (the k-th distinct event time at the k-th step),
//! so long idle gaps do not squeeze the interesting part.
//!
//! ```
//! use heddle::check::history::{check, view, History};
//! use heddle::check::history::models::{Register, RegisterOp, RegisterRet};
//!
//! let mut h = History::new();
//! h.push_complete(1, RegisterOp::Write(1), 0, 1, RegisterRet::Written);
//! h.push_complete(2, RegisterOp::Read, 2, 3, RegisterRet::Read(None));
//! let model = Register::<i64>::new();
//! let report = check(&model, &h);
//! let page = view::html(&model, &h, &report, "stale read");
//! assert!(page.contains("<svg") && page.contains("cannot be placed"));
//! ```

use super::{ClientId, History, Model, OpId, PartitionReport, Report, Verdict};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// At most this many partitions are drawn.
pub const MAX_PARTITIONS: usize = 20;

const LANE: f64 = 34.0;
const STEP: f64 = 16.0;
const LEFT: f64 = 110.0;
const TOP: f64 = 30.0;
const COLOR_ORDER: &str = "#4c78a8";
const COLOR_BAD: &str = "#d62728";
const COLOR_OTHER: &str = "#b0b0b0";

/// The page for `report` (from checking `history` against `model`), with
/// `title` as its heading.
pub fn html<M: Model>(
    model: &M,
    history: &History<M::Op, M::Ret>,
    report: &Report<M::Key>,
    title: &str,
) -> String {
    let mut out = String::new();
    let verdict = match report.verdict {
        Verdict::Linearizable => "linearizable",
        Verdict::NotLinearizable => "NOT linearizable",
        Verdict::Unknown => "unknown (budget exhausted)",
    };
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{t}</title>\n<style>\
         body{{font-family:sans-serif;margin:20px}} svg{{background:#fff;border:1px solid #ddd}}\
         .k{{font-family:monospace}} text{{font-size:11px}}</style></head><body>\n\
         <h1>{t}</h1>\n<p><b>{verdict}</b>: {ops} operations, {parts} partition(s), {checked} checked, \
         {steps} steps, {states} states explored.</p>\n\
         <p>Bars: an operation from invocation to completion (dashed: outcome unknown). \
         <span style=\"color:{COLOR_ORDER}\">Blue</span>: in the linearization (numbered, joined in order), \
         <span style=\"color:{COLOR_BAD}\">red</span>: cannot be placed, \
         <span style=\"color:#888\">grey</span>: not reached.</p>\n",
        t = esc(title),
        ops = history.len(),
        parts = report.partitions_total,
        checked = report.partitions.len(),
        steps = report.steps(),
        states = report.states(),
    );
    let mut parts: Vec<&PartitionReport<M::Key>> = report.partitions.iter().collect();
    parts.sort_by_key(|p| p.verdict != Verdict::NotLinearizable);
    for p in parts.into_iter().take(MAX_PARTITIONS) {
        partition(&mut out, model, history, p);
    }
    out.push_str("</body></html>\n");
    out
}

/// The partition's title, verdict and the operation that cannot be placed.
fn heading<M: Model>(
    out: &mut String,
    model: &M,
    h: &History<M::Op, M::Ret>,
    p: &PartitionReport<M::Key>,
) {
    let what = match p.verdict {
        Verdict::Linearizable => "a linearization",
        Verdict::NotLinearizable => {
            "the longest linearizable prefix; the red operation cannot be placed after it"
        }
        Verdict::Unknown => "the longest prefix found before the budget ran out",
    };
    let _ = write!(
        out,
        "<h2>partition <span class=\"k\">{}</span>: {:?}</h2>\n<p>{} operations; drawn: {what}.</p>\n",
        esc(&format!("{:?}", p.key)),
        p.verdict,
        p.ops.len()
    );
    if let Some(&bad) = p.unplaceable.first() {
        let o = &h.ops[bad];
        let _ = writeln!(
            out,
            "<p style=\"color:{COLOR_BAD}\">cannot be placed: op {bad}, client {}: <span class=\"k\">{}</span></p>",
            o.client,
            esc(&model.describe(&o.op, o.ret()))
        );
    }
}

fn partition<M: Model>(
    out: &mut String,
    model: &M,
    h: &History<M::Op, M::Ret>,
    p: &PartitionReport<M::Key>,
) {
    heading(out, model, h, p);
    // Rank of every event time in this partition.
    let mut times: Vec<u64> = p
        .ops
        .iter()
        .flat_map(|&i| {
            [
                Some(h.ops[i].invoked),
                h.ops[i].completed.as_ref().map(|c| c.at),
            ]
        })
        .flatten()
        .collect();
    times.sort_unstable();
    times.dedup();
    let x = |t: u64| LEFT + STEP * times.partition_point(|&u| u < t) as f64;
    let end = LEFT + STEP * (times.len() as f64 + 1.0);
    let lanes: BTreeMap<ClientId, usize> = {
        let mut c: Vec<ClientId> = p.ops.iter().map(|&i| h.ops[i].client).collect();
        c.sort_unstable();
        c.dedup();
        c.into_iter().enumerate().map(|(k, c)| (c, k)).collect()
    };
    let y = |op: OpId| TOP + LANE * lanes[&h.ops[op].client] as f64;
    let (w, ht) = (end + 40.0, TOP + LANE * lanes.len() as f64 + 10.0);
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{ht}\">"
    );
    for (c, k) in &lanes {
        let ly = TOP + LANE * *k as f64;
        let _ = writeln!(
            out,
            "<text x=\"8\" y=\"{}\">client {c}</text><line x1=\"{LEFT}\" x2=\"{end}\" y1=\"{ly}\" y2=\"{ly}\" stroke=\"#eee\"/>",
            ly + 4.0
        );
    }
    let rank: BTreeMap<OpId, usize> = p.order.iter().enumerate().map(|(k, &o)| (o, k)).collect();
    for &i in &p.ops {
        let o = &h.ops[i];
        let (x0, x1) = (x(o.invoked), o.completed.as_ref().map_or(end, |c| x(c.at)));
        let color = if p.unplaceable.contains(&i) {
            COLOR_BAD
        } else if rank.contains_key(&i) {
            COLOR_ORDER
        } else {
            COLOR_OTHER
        };
        let dash = if o.completed.is_none() {
            " stroke-dasharray=\"4 3\" fill-opacity=\"0.25\""
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "<rect x=\"{x0}\" y=\"{}\" width=\"{}\" height=\"14\" rx=\"3\" fill=\"{color}\" fill-opacity=\"0.55\" stroke=\"{color}\"{dash}><title>op {i}, client {}: {}</title></rect>",
            y(i) - 7.0,
            (x1 - x0).max(4.0),
            o.client,
            esc(&model.describe(&o.op, o.ret()))
        );
    }
    linearization(out, h, &p.order, &x, &y, end);
    out.push_str("</svg>\n");
}

/// The order as a path through the bars: the k-th point lies in the k-th
/// operation's bar, never left of the previous point.
fn linearization<O, R>(
    out: &mut String,
    h: &History<O, R>,
    order: &[OpId],
    x: &impl Fn(u64) -> f64,
    y: &impl Fn(OpId) -> f64,
    end: f64,
) {
    let mut pts = Vec::with_capacity(order.len());
    let mut last = 0.0f64;
    for &i in order {
        let o = &h.ops[i];
        let hi = o.completed.as_ref().map_or(end, |c| x(c.at));
        let px = (last + 2.0).max(x(o.invoked) + 2.0).min(hi);
        last = px;
        pts.push((px, y(i)));
    }
    if pts.len() > 1 {
        let path: Vec<String> = pts.iter().map(|(a, b)| format!("{a:.1},{b:.1}")).collect();
        let _ = writeln!(
            out,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"#222\" stroke-width=\"1.2\"/>",
            path.join(" ")
        );
    }
    for (k, (a, b)) in pts.iter().enumerate() {
        let _ = writeln!(
            out,
            "<circle cx=\"{a:.1}\" cy=\"{b:.1}\" r=\"3\" fill=\"#222\"/><text x=\"{:.1}\" y=\"{:.1}\" fill=\"#222\">{}</text>",
            a + 2.0,
            b - 9.0,
            k + 1
        );
    }
}

/// Escapes text for HTML.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
