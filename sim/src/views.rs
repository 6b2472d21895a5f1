//! Two views of a run's trace: an SVG space-time diagram, and Chrome Trace
//! Event JSON that opens in Perfetto (<https://ui.perfetto.dev>) or
//! `chrome://tracing`.
//!
//! The SVG has a lane per host (left to right), time running downward with
//! one row per distinct simulated instant (idle stretches take no room, the
//! instant is printed at the left), message arrows from send to delivery
//! (a red cross for a dropped message, a dashed stub for one lost on a broken
//! link), operations as bars beside their client's lane, faults as labelled
//! horizontal lines, and the violating operation in red. A long run is cut
//! to the rows leading to the violation (or to the first rows when there is
//! none); the header says so.

use crate::runner::{Outcome, Verdict};
use crate::trace::TraceEvent;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// At most this many time rows in the SVG.
pub const MAX_ROWS: usize = 220;

const ROW_H: f64 = 18.0;
const LANE_W: f64 = 230.0;
const LEFT: f64 = 80.0;
const TOP: f64 = 110.0;
const FAULT_LABEL_W: f64 = 300.0;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn short(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(n).collect();
        t.push('…');
        t
    }
}

fn secs(t_us: u64) -> String {
    format!("{}.{:03} s", t_us / 1_000_000, (t_us / 1_000) % 1_000)
}

/// The title line of both views.
fn title(o: &Outcome) -> String {
    format!("{}:{} seed {}", o.scenario, o.variant, o.seed)
}

fn verdict_line(o: &Outcome) -> String {
    match &o.verdict {
        Verdict::Pass => "every invariant held".to_owned(),
        Verdict::Safety(v) => format!("SAFETY VIOLATION {}: {}", v.invariant, v.detail),
        Verdict::Liveness(v) => format!("LIVENESS FAILURE: {}", v.detail),
    }
}

/// The SVG space-time diagram of `o`.
pub fn svg(o: &Outcome) -> String {
    let d = Diagram::new(o);
    let mut s = d.header(o);
    d.lanes(&mut s);
    d.stretches(&mut s);
    d.messages(&mut s);
    d.operations(&mut s);
    d.fault_labels(&mut s);
    s.push_str("</svg>\n");
    s
}

/// The layout of one SVG diagram: which events, lanes and rows it shows.
struct Diagram<'a> {
    /// The events shown (with a violating operation, those of its client).
    events: Vec<&'a TraceEvent>,
    /// The client of the violating operation, if any.
    focus_host: Option<&'a str>,
    /// The violating operation, if any.
    bad_op: Option<u64>,
    /// Lanes, servers first.
    hosts: Vec<String>,
    lane: BTreeMap<String, usize>,
    /// Every distinct instant, and the rows shown (a window of them).
    times: Vec<u64>,
    window: Vec<u64>,
    row: BTreeMap<u64, usize>,
    /// The window's first and last instants.
    t0: u64,
    t1: u64,
    width: f64,
    height: f64,
    bottom: f64,
}

impl<'a> Diagram<'a> {
    fn new(o: &'a Outcome) -> Self {
        let bad_op = o.verdict.violation().and_then(|v| v.op);
        // With a violating operation, show only what involves its client.
        let focus_host: Option<&str> = bad_op.and_then(|op| {
            o.trace
                .events
                .iter()
                .find(|e| e.op == Some(op))
                .map(|e| e.host.as_str())
        });
        let events: Vec<&TraceEvent> = o
            .trace
            .events
            .iter()
            .filter(|e| match focus_host {
                None => true,
                Some(f) => {
                    e.host == f
                        || e.peer.as_deref() == Some(f)
                        || e.host == "*"
                        || matches!(
                            e.kind.as_str(),
                            "crash" | "restart" | "bounce" | "pause" | "resume"
                        )
                }
            })
            .collect();
        let hosts = lanes_of(&events);
        let lane = hosts
            .iter()
            .enumerate()
            .map(|(i, h)| (h.clone(), i))
            .collect();
        let times: Vec<u64> = {
            let mut t: Vec<u64> = events.iter().map(|e| e.t_us).collect();
            t.dedup();
            t
        };
        let window = row_window(o, &events, &times, bad_op);
        let (t0, t1) = (
            window.first().copied().unwrap_or(0),
            window.last().copied().unwrap_or(0),
        );
        let row = window.iter().enumerate().map(|(i, &t)| (t, i)).collect();
        let width = (LEFT + hosts.len() as f64 * LANE_W + FAULT_LABEL_W).max(1300.0);
        let height = TOP + (window.len() as f64 + 2.0) * ROW_H;
        Self {
            events,
            focus_host,
            bad_op,
            hosts,
            lane,
            times,
            window,
            row,
            t0,
            t1,
            width,
            height,
            bottom: height - ROW_H,
        }
    }

    /// The row's vertical centre for instant `t` (clamped to the window).
    fn y(&self, t: u64) -> f64 {
        let r =
            self.row
                .get(&t)
                .copied()
                .unwrap_or(if t < self.t0 { 0 } else { self.window.len() });
        TOP + r as f64 * ROW_H + ROW_H / 2.0
    }

    /// The lane of host `h`.
    fn x(&self, h: &str) -> f64 {
        LEFT + self.lane.get(h).copied().unwrap_or(0) as f64 * LANE_W + LANE_W / 3.0
    }

    /// The opening tag, markers, title, verdict and what is shown.
    fn header(&self, o: &Outcome) -> String {
        let (width, height) = (self.width, self.height);
        let (t0, t1, window, times, focus_host) =
            (self.t0, self.t1, &self.window, &self.times, self.focus_host);
        let mut s = String::new();
        let _ = writeln!(
            s,
            r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="monospace" font-size="11">
<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#4a6fa5"/></marker>
<marker id="arrowg" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#999"/></marker></defs>
<rect width="100%" height="100%" fill="white"/>"##
        );
        let verdict_color = if o.verdict == Verdict::Pass {
            "#2a7a2a"
        } else {
            "#c00000"
        };
        let _ = writeln!(
            s,
            r#"<text x="10" y="20" font-size="15" font-weight="bold">{}</text>"#,
            esc(&title(o))
        );
        let _ = writeln!(
            s,
            r#"<text x="10" y="40" font-size="12" fill="{verdict_color}" font-weight="bold">{}</text>"#,
            esc(&short(&verdict_line(o), 160))
        );
        let _ = writeln!(
            s,
            r##"<text x="10" y="58" font-size="10" fill="#555">faults: {}</text>"##,
            esc(&short(&o.plan.to_spec(), 220))
        );
        let _ = writeln!(
            s,
            r##"<text x="10" y="74" font-size="10" fill="#555">{}showing {} to {} ({} of {} instants{}); time runs down, one row per instant</text>"##,
            focus_host
                .map(|h| format!("events involving {h} (the violating operation's client); "))
                .unwrap_or_default(),
            secs(t0),
            secs(t1),
            window.len(),
            times.len(),
            if window.len() < times.len() {
                ", the rest cut"
            } else {
                ""
            }
        );
        s
    }

    /// A lane per host, and the time labels.
    fn lanes(&self, s: &mut String) {
        let bottom = self.bottom;
        for h in &self.hosts {
            let lx = self.x(h);
            let _ = writeln!(
                s,
                r#"<text x="{lx:.1}" y="{:.1}" text-anchor="middle" font-size="13" font-weight="bold">{}</text>"#,
                TOP - 12.0,
                esc(h)
            );
            let _ = writeln!(
                s,
                r##"<line x1="{lx:.1}" y1="{TOP:.1}" x2="{lx:.1}" y2="{bottom:.1}" stroke="#bbb" stroke-width="2"/>"##
            );
        }
        // Time labels.
        for (i, &t) in self.window.iter().enumerate() {
            let ty = TOP + i as f64 * ROW_H + ROW_H / 2.0 + 4.0;
            let _ = writeln!(
                s,
                r##"<text x="6" y="{ty:.1}" font-size="9" fill="#888">{}</text>"##,
                secs(t)
            );
        }
    }

    /// Crashed and paused stretches of lanes.
    fn stretches(&self, s: &mut String) {
        for (what, color, start, ends) in [
            (CRASHED, "#333", "crash", &["restart", "bounce", "heal"][..]),
            (PAUSED, "#1f77b4", "pause", &["resume", "heal"][..]),
        ] {
            for (h, from, to) in stretches(&self.events, start, ends) {
                let (y2, to) = to.map_or((self.bottom, self.t1), |to| (self.y(to), to));
                stretch(
                    s,
                    what,
                    color,
                    self.x(h),
                    self.y(from),
                    y2,
                    (self.t0, self.t1),
                    (from, to),
                );
            }
        }
    }

    /// Messages: an arrow from send to delivery, or a cross where dropped.
    fn messages(&self, s: &mut String) {
        // Messages: index deliveries and drops by message id.
        let mut ends: BTreeMap<u64, &TraceEvent> = BTreeMap::new();
        for e in &self.events {
            if let (Some(m), "deliver" | "drop") = (e.msg, e.kind.as_str()) {
                ends.insert(m, e);
            }
        }
        for e in self
            .events
            .iter()
            .filter(|e| e.kind == "send" && self.row.contains_key(&e.t_us))
        {
            let Some(peer) = e.peer.as_deref() else {
                continue;
            };
            let (x1, y1) = (self.x(&e.host), self.y(e.t_us));
            let x2 = self.x(peer);
            let data = e.detail.starts_with("DATA");
            let (color, marker) = if data {
                ("#4a6fa5", "arrow")
            } else {
                ("#999", "arrowg")
            };
            match e.msg.and_then(|m| ends.get(&m)) {
                Some(end) if end.kind == "deliver" => {
                    let y2 = if end.t_us > self.t1 {
                        self.bottom
                    } else {
                        self.y(end.t_us)
                    };
                    let _ = writeln!(
                        s,
                        r#"<line x1="{x1:.1}" y1="{y1:.1}" x2="{x2:.1}" y2="{y2:.1}" stroke="{color}" stroke-width="1.2" marker-end="url(#{marker})"><title>{} {}→{} at {}, delivered at {}</title></line>"#,
                        esc(&e.detail),
                        esc(&e.host),
                        esc(peer),
                        secs(e.t_us),
                        secs(end.t_us)
                    );
                    let (lx, ly) = (x1 + (x2 - x1) * 0.25, y1 + (y2 - y1) * 0.25 - 2.0);
                    let _ = writeln!(
                        s,
                        r#"<text x="{lx:.1}" y="{ly:.1}" font-size="8" fill="{color}">{}</text>"#,
                        esc(e
                            .detail
                            .split(' ')
                            .take(2)
                            .collect::<Vec<_>>()
                            .join(" ")
                            .as_str())
                    );
                }
                Some(_) => {
                    let (mx, my) = (x1 + (x2 - x1) * 0.4, y1 + ROW_H * 0.8);
                    let _ = writeln!(
                        s,
                        r##"<line x1="{x1:.1}" y1="{y1:.1}" x2="{mx:.1}" y2="{my:.1}" stroke="#c00000" stroke-width="1.2"/><text x="{mx:.1}" y="{:.1}" fill="#c00000" font-size="13" text-anchor="middle">×</text><text x="{:.1}" y="{my:.1}" fill="#c00000" font-size="8">dropped {}</text>"##,
                        my + 4.0,
                        mx + 8.0,
                        esc(&e.detail)
                    );
                }
                None => {
                    let (mx, my) = (x1 + (x2 - x1) * 0.4, y1 + ROW_H * 0.8);
                    let _ = writeln!(
                        s,
                        r##"<line x1="{x1:.1}" y1="{y1:.1}" x2="{mx:.1}" y2="{my:.1}" stroke="#c00000" stroke-width="1.2" stroke-dasharray="3,2"/><text x="{:.1}" y="{my:.1}" fill="#c00000" font-size="8">lost {}</text>"##,
                        mx + 4.0,
                        esc(&e.detail)
                    );
                }
            }
        }
    }

    /// Operations: a bar beside the client's lane from invoke to completion.
    fn operations(&self, s: &mut String) {
        // Operations: a bar beside the client's lane from invoke to completion.
        let mut invokes: BTreeMap<u64, &TraceEvent> = BTreeMap::new();
        let mut done: BTreeMap<u64, &TraceEvent> = BTreeMap::new();
        for e in &self.events {
            match (e.kind.as_str(), e.op) {
                ("invoke", Some(op)) => {
                    invokes.insert(op, e);
                }
                ("ok" | "err", Some(op)) => {
                    done.insert(op, e);
                }
                _ => {}
            }
        }
        for (op, inv) in &invokes {
            let end = done.get(op);
            let end_t = end.map_or(u64::MAX, |e| e.t_us);
            if end_t < self.t0 || inv.t_us > self.t1 {
                continue;
            }
            let bad = self.bad_op == Some(*op);
            let color = match (bad, end.map(|e| e.kind.as_str())) {
                (true, _) => "#e00000",
                (_, Some("ok")) => "#3a9a3a",
                (_, Some(_)) => "#e08a00",
                (_, None) => "#888",
            };
            let bx = self.x(&inv.host) + 8.0;
            let y1 = self.y(inv.t_us) - ROW_H / 2.0 + 2.0;
            let y2 = if end_t > self.t1 {
                self.bottom
            } else {
                self.y(end_t) + ROW_H / 2.0 - 2.0
            };
            let w = if bad { 9.0 } else { 6.0 };
            let _ = writeln!(
                s,
                r#"<rect x="{bx:.1}" y="{y1:.1}" width="{w}" height="{:.1}" fill="{color}" rx="2"/>"#,
                (y2 - y1).max(4.0)
            );
            let weight = if bad { "bold" } else { "normal" };
            let text_color = if bad { "#e00000" } else { "#222" };
            if inv.t_us >= self.t0 {
                let _ = writeln!(
                    s,
                    r#"<text x="{:.1}" y="{:.1}" font-size="9" fill="{text_color}" font-weight="{weight}">#{op} {}</text>"#,
                    bx + w + 3.0,
                    self.y(inv.t_us) + 3.0,
                    esc(&short(&inv.detail, 34))
                );
            }
            if let Some(e) = end.filter(|e| e.t_us <= self.t1) {
                let label = if e.kind == "ok" {
                    format!("→ ok {}", e.detail)
                } else {
                    format!("→ {}", e.detail)
                };
                let _ = writeln!(
                    s,
                    r#"<text x="{:.1}" y="{:.1}" font-size="9" fill="{text_color}" font-weight="{weight}">{}</text>"#,
                    bx + w + 3.0,
                    self.y(e.t_us) + 3.0,
                    esc(&short(&label, 34))
                );
            }
        }
    }

    /// Faults and verdicts: labelled lines across every lane, one label per
    /// row (several faults at one instant share it).
    fn fault_labels(&self, s: &mut String) {
        // Faults and verdicts: labelled lines across every lane, one label per
        // self.row (several faults at one instant share it).
        let right = LEFT + self.hosts.len() as f64 * LANE_W;
        let mut labels: BTreeMap<u64, (Vec<String>, &str)> = BTreeMap::new();
        for e in self
            .events
            .iter()
            .filter(|e| self.row.contains_key(&e.t_us))
        {
            let color = match e.kind.as_str() {
                "partition" | "partition_oneway" | "hold_link" | "loss" | "crash" | "bounce"
                | "pause" => "#8a2be2",
                "repair" | "repair_oneway" | "release" | "loss_off" | "restart" | "resume"
                | "heal" => "#2a7a2a",
                "violation" | "liveness" => "#e00000",
                _ => continue,
            };
            let entry = labels.entry(e.t_us).or_insert_with(|| (Vec::new(), color));
            entry.0.push(e.detail.clone());
            if color == "#e00000" {
                entry.1 = color;
            }
        }
        for (t, (texts, color)) in labels {
            let ly = self.y(t);
            let _ = writeln!(
                s,
                r#"<line x1="{LEFT:.1}" y1="{ly:.1}" x2="{right:.1}" y2="{ly:.1}" stroke="{color}" stroke-width="1" stroke-dasharray="6,3" opacity="0.8"/><text x="{:.1}" y="{:.1}" fill="{color}" font-size="10" font-weight="bold">{} {}</text>"#,
                right + 6.0,
                ly + 4.0,
                secs(t),
                esc(&short(&texts.join("; "), 46))
            );
        }
    }
}

/// The lanes: every host the events name, servers first, then clients, in
/// name order (stable across runs).
fn lanes_of(events: &[&TraceEvent]) -> Vec<String> {
    let mut hosts: Vec<String> = Vec::new();
    for e in events {
        for h in std::iter::once(&e.host).chain(e.peer.as_ref()) {
            if h != "*" && !hosts.contains(h) {
                hosts.push(h.clone());
            }
        }
    }
    hosts.sort_by_key(|h| (!h.starts_with("server"), h.clone()));
    hosts
}

/// The instants shown: at most [`MAX_ROWS`], ending a little after the
/// violation (or at the start, for a pass).
fn row_window(o: &Outcome, events: &[&TraceEvent], times: &[u64], bad_op: Option<u64>) -> Vec<u64> {
    let focus = match (&o.verdict, bad_op) {
        (Verdict::Pass, _) => None,
        (_, Some(op)) => events
            .iter()
            .rev()
            .find(|e| e.op == Some(op))
            .map(|e| e.t_us),
        (_, None) => events.last().map(|e| e.t_us),
    };
    let end_idx = match focus {
        Some(f) => {
            let i = times.partition_point(|&t| t <= f);
            (i + 8).min(times.len())
        }
        None => times.len().min(MAX_ROWS),
    };
    let start_idx = end_idx.saturating_sub(MAX_ROWS);
    times[start_idx..end_idx].to_vec()
}

/// Label of a crashed stretch of a lane.
const CRASHED: &str = "crashed";
/// Label of a paused stretch of a lane.
const PAUSED: &str = "paused";

/// The stretches of time each host spent between a `start` event and the
/// next of `ends` (`heal` ends every host's): (host, from, to), `to` `None`
/// when the trace ends first. In order of their end, then host name.
fn stretches<'a>(
    events: &[&'a TraceEvent],
    start: &str,
    ends: &[&str],
) -> Vec<(&'a str, u64, Option<u64>)> {
    let mut open: BTreeMap<&str, u64> = BTreeMap::new();
    let mut out = Vec::new();
    for e in events {
        if e.kind == start {
            open.insert(&e.host, e.t_us);
        } else if ends.contains(&e.kind.as_str()) {
            let ended: Vec<&str> = if e.kind == "heal" {
                open.keys().copied().collect()
            } else {
                vec![e.host.as_str()]
            };
            for h in ended {
                if let Some(from) = open.remove(h) {
                    out.push((h, from, Some(e.t_us)));
                }
            }
        }
    }
    out.extend(open.into_iter().map(|(h, from)| (h, from, None)));
    out
}

/// A shaded, labelled stretch `(from, to)` of the lane at `lx`, drawn from
/// `y1` to `y2` if it meets the window `(t0, t1)`.
#[allow(clippy::too_many_arguments)]
fn stretch(
    s: &mut String,
    what: &str,
    color: &str,
    lx: f64,
    y1: f64,
    y2: f64,
    (t0, t1): (u64, u64),
    (from, to): (u64, u64),
) {
    if to < t0 || from > t1 {
        return;
    }
    let _ = writeln!(
        s,
        r##"<rect x="{:.1}" y="{y1:.1}" width="10" height="{:.1}" fill="{color}" opacity="0.35"><title>{what}</title></rect><text x="{:.1}" y="{:.1}" font-size="9" fill="{color}" transform="rotate(90 {:.1} {:.1})">{what}</text>"##,
        lx - 5.0,
        (y2 - y1).max(2.0),
        lx - 14.0,
        y1 + 4.0,
        lx - 14.0,
        y1 + 4.0
    );
}

/// Chrome Trace Event JSON (`{"traceEvents": [...]}`) of `o`: a thread per
/// host plus one for faults; operations as complete (`X`) events, messages
/// as flow arrows (`s`/`f`) between small send/receive slices, faults as
/// spans, the heal and the verdict as global instants.
pub fn chrome(o: &Outcome) -> String {
    let tid = chrome_threads(&o.trace.events);
    let mut c = Chrome {
        out: chrome_header(o, &tid),
        tid: &tid,
        bad_op: o.verdict.violation().and_then(|v| v.op),
        invokes: BTreeMap::new(),
        sends: BTreeMap::new(),
    };
    for e in &o.trace.events {
        c.event(e);
    }
    c.open_ops(o);
    let out = c.out;
    json!({"traceEvents": out, "displayTimeUnit": "ms", "otherData": {"verdict": verdict_line(o), "faults": o.plan.to_spec()}}).to_string()
}

/// Each host's thread id: servers first, then by name; 0 is the faults'
/// row.
fn chrome_threads(events: &[TraceEvent]) -> BTreeMap<String, usize> {
    let mut hosts: Vec<String> = Vec::new();
    for e in events {
        if e.host != "*" && !hosts.contains(&e.host) {
            hosts.push(e.host.clone());
        }
    }
    hosts.sort_by_key(|h| (!h.starts_with("server"), h.clone()));
    hosts
        .into_iter()
        .enumerate()
        .map(|(i, h)| (h, i + 1))
        .collect()
}

/// The process and thread names, and the plan's faults as spans.
fn chrome_header(o: &Outcome, tid: &BTreeMap<String, usize>) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    out.push(
        json!({"name": "process_name", "ph": "M", "pid": 1, "tid": 0, "args": {"name": title(o)}}),
    );
    out.push(
        json!({"name": "thread_name", "ph": "M", "pid": 1, "tid": 0, "args": {"name": "faults"}}),
    );
    for (h, i) in tid {
        out.push(
            json!({"name": "thread_name", "ph": "M", "pid": 1, "tid": i, "args": {"name": h}}),
        );
        out.push(json!({"name": "thread_sort_index", "ph": "M", "pid": 1, "tid": i, "args": {"sort_index": i}}));
    }
    for f in &o.plan.faults {
        out.push(json!({
            "name": f.to_string(), "cat": "fault", "ph": "X", "pid": 1, "tid": 0,
            "ts": f.at.as_micros() as u64, "dur": (f.dur.as_micros() as u64).max(1),
        }));
    }
    out
}

/// The Chrome trace being built from the run's events.
struct Chrome<'a> {
    out: Vec<Value>,
    tid: &'a BTreeMap<String, usize>,
    /// The operation the violation points at.
    bad_op: Option<u64>,
    /// Operations invoked and not completed yet, by id.
    invokes: BTreeMap<u64, &'a TraceEvent>,
    /// Messages sent and not delivered yet, by id.
    sends: BTreeMap<u64, &'a TraceEvent>,
}

impl<'a> Chrome<'a> {
    fn t(&self, host: &str) -> usize {
        self.tid.get(host).copied().unwrap_or(0)
    }

    fn event(&mut self, e: &'a TraceEvent) {
        let t = self.t(&e.host);
        match e.kind.as_str() {
            "invoke" => {
                if let Some(op) = e.op {
                    self.invokes.insert(op, e);
                }
            }
            "ok" | "err" => self.completion(e),
            "send" => {
                if let Some(m) = e.msg {
                    self.sends.insert(m, e);
                }
                self.out.push(json!({"name": format!("send {}", e.detail), "cat": "net", "ph": "X", "pid": 1, "tid": t, "ts": e.t_us, "dur": 1, "args": {"to": e.peer}}));
            }
            "deliver" | "drop" | "hold" => self.arrival(e),
            "heal" | "violation" | "liveness" => {
                self.out.push(json!({"name": format!("{}: {}", e.kind, e.detail), "cat": "verdict", "ph": "i", "s": "g", "pid": 1, "tid": 0, "ts": e.t_us}));
            }
            "crash" | "restart" | "bounce" | "pause" | "resume" => {
                self.out.push(json!({"name": e.kind, "cat": "fault", "ph": "i", "s": "t", "pid": 1, "tid": t, "ts": e.t_us}));
            }
            _ => {}
        }
    }

    /// An operation's span, from its invocation to this completion `e`.
    fn completion(&mut self, e: &'a TraceEvent) {
        let Some(inv) = e.op.and_then(|op| self.invokes.remove(&op)) else {
            return;
        };
        let bad = self.bad_op == e.op;
        let mut x = json!({
            "name": format!("{}#{} {}", if bad { "VIOLATION " } else { "" }, e.op.unwrap_or(0), inv.detail.split(' ').next().unwrap_or("op")),
            "cat": "op", "ph": "X", "pid": 1, "tid": self.t(&inv.host),
            "ts": inv.t_us, "dur": (e.t_us - inv.t_us).max(1),
            "args": {"invoke": inv.detail, "result": e.kind, "value": e.detail},
        });
        if bad {
            x["cname"] = json!("terrible");
        }
        self.out.push(x);
    }

    /// A message delivered, dropped or held; a delivery also gets a flow
    /// arrow from its send.
    fn arrival(&mut self, e: &'a TraceEvent) {
        let t = self.t(&e.host);
        self.out.push(json!({"name": format!("{} {}", e.kind, e.detail), "cat": "net", "ph": "X", "pid": 1, "tid": t, "ts": e.t_us, "dur": 1, "args": {"from": e.peer}}));
        if e.kind == "deliver"
            && let Some(send) = e.msg.and_then(|m| self.sends.remove(&m))
        {
            let id = e.msg.unwrap_or(0);
            let from = self.t(&send.host);
            self.out.push(json!({"name": "msg", "cat": "net", "ph": "s", "id": id, "pid": 1, "tid": from, "ts": send.t_us}));
            self.out.push(json!({"name": "msg", "cat": "net", "ph": "f", "bp": "e", "id": id, "pid": 1, "tid": t, "ts": e.t_us}));
        }
    }

    /// Operations still open at the end.
    fn open_ops(&mut self, o: &Outcome) {
        for (op, inv) in std::mem::take(&mut self.invokes) {
            self.out.push(json!({
                "name": format!("#{op} {} (open)", inv.detail.split(' ').next().unwrap_or("op")),
                "cat": "op", "ph": "X", "pid": 1, "tid": self.t(&inv.host), "ts": inv.t_us,
                "dur": (o.sim_time.as_micros() as u64).saturating_sub(inv.t_us).max(1),
                "args": {"invoke": inv.detail, "result": "open"},
                "cname": if self.bad_op == Some(op) { "terrible" } else { "grey" },
            }));
        }
    }
}
