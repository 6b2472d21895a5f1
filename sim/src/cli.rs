//! The `heddle-sim` command line.
//!
//! ```text
//! heddle-sim list
//! heddle-sim run <scenario[:variant]> --seed N [--faults none|swarm|SPEC] [--trace FILE] [--shrink]
//! heddle-sim sweep <scenario[:variant]…|all> [--seeds N|A..B] [--jobs J] [--shard K/N] [--faults ..]
//! heddle-sim replay FILE
//! heddle-sim check-history --model register|kv FILE
//! ```
//!
//! Exit codes: 0 every invariant held; 1 a violation (or a determinism
//! failure; for `replay`, the saved failure reproduced); 2 a usage error;
//! 3 (`replay`) the saved failure did not reproduce as saved, or
//! (`check-history`) unknown, the budget was exhausted.

use crate::faults::FaultPlan;
use crate::runner::{FaultChoice, Outcome, RunOptions, Verdict, run};
use crate::scenario::{Scenario, Variant};
use crate::scenarios::{ALL, find};
use crate::shrink::shrink;
use crate::views;
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Exit code: a usage error.
pub const USAGE: u8 = 2;
/// Exit code: a violation.
pub const VIOLATION: u8 = 1;
/// Exit code of `replay` when the saved failure does not reproduce (the run
/// passed, or failed differently): a replay that cannot show the bug must
/// not look like success.
pub const NOT_REPRODUCED: u8 = 3;

/// Runs many seeds of heddle's distributed scenarios under injected faults.
#[derive(Debug, Parser)]
#[command(name = "heddle-sim", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Scenarios and their variants, one line each with what they check.
    List,
    /// Run one seed, print its verdict, optionally write its trace and views.
    Run {
        /// `scenario` or `scenario:variant`.
        target: String,
        /// The seed.
        #[arg(long)]
        seed: u64,
        /// `none`, `swarm` (drawn from the seed), or an explicit spec.
        #[arg(long, default_value = "swarm")]
        faults: String,
        /// Write the JSONL trace here, and beside it `.svg` and `.chrome.json`.
        #[arg(long)]
        trace: Option<PathBuf>,
        /// On a violation, shrink the fault plan and print the smallest one.
        #[arg(long)]
        shrink: bool,
    },
    /// Run many seeds in parallel and summarize.
    Sweep {
        /// Scenarios (`name` runs its default variant, `name:variant` that
        /// variant), or `all` for every scenario's default variant.
        #[arg(required = true)]
        targets: Vec<String>,
        /// `N` (seeds 0..N) or `A..B`.
        #[arg(long, default_value = "500")]
        seeds: String,
        /// Worker threads (default: every core).
        #[arg(long)]
        jobs: Option<usize>,
        /// `K/N`: run only the K-th of N interleaved slices of the seeds
        /// (K from 1).
        #[arg(long)]
        shard: Option<String>,
        /// `none`, `swarm` (drawn per seed), or an explicit spec for every seed.
        #[arg(long, default_value = "swarm")]
        faults: String,
        /// Seeds re-run to check determinism (trace bytes compared).
        #[arg(long, default_value_t = 8)]
        recheck: usize,
        /// Where failure files go (`<out>/failures/`).
        #[arg(long, default_value = "target/heddle-sim")]
        out: PathBuf,
        /// Do not shrink the first failing seed's fault plan.
        #[arg(long)]
        no_shrink: bool,
    },
    /// Re-run a saved failure file.
    Replay {
        /// A `.json` failure file written by `sweep` or `run`.
        file: PathBuf,
    },
    /// Check a recorded history (Jepsen etcd log, EDN key-value, heddle
    /// JSONL) for linearizability.
    CheckHistory(crate::check_history::Args),
}

/// A usage error, printed before exiting with code 2.
#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    /// Unknown scenario.
    #[error("unknown scenario `{0}` (see `heddle-sim list`)")]
    Scenario(String),
    /// Unknown variant.
    #[error("scenario `{0}` has no variant `{1}` (see `heddle-sim list`)")]
    Variant(String, String),
    /// Bad fault spec.
    #[error(transparent)]
    Faults(#[from] crate::faults::SpecError),
    /// Bad `--seeds`.
    #[error("--seeds wants N or A..B with A < B, got `{0}`")]
    Seeds(String),
    /// Bad `--shard`.
    #[error("--shard wants K/N with 1 <= K <= N, got `{0}`")]
    Shard(String),
    /// Bad `--jobs`.
    #[error("--jobs: {0}")]
    Jobs(String),
    /// Unreadable or malformed failure file.
    #[error("failure file {0}: {1}")]
    File(PathBuf, String),
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { USAGE } else { 0 });
        }
    };
    let result = match cli.cmd {
        Cmd::List => {
            list();
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Run {
            target,
            seed,
            faults,
            trace,
            shrink,
        } => cmd_run(&target, seed, &faults, trace.as_deref(), shrink),
        Cmd::Sweep {
            targets,
            seeds,
            jobs,
            shard,
            faults,
            recheck,
            out,
            no_shrink,
        } => cmd_sweep(
            &targets,
            &SweepOpts {
                seeds,
                jobs,
                shard,
                faults,
                recheck,
                out,
                shrink: !no_shrink,
            },
        ),
        Cmd::Replay { file } => cmd_replay(&file),
        Cmd::CheckHistory(args) => {
            return crate::check_history::run(&args).unwrap_or_else(|e| {
                eprintln!("heddle-sim: {e}");
                ExitCode::from(USAGE)
            });
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("heddle-sim: {e}");
            ExitCode::from(USAGE)
        }
    }
}

fn list() {
    for s in ALL {
        println!("{:<28} {}", s.name(), s.about());
        for v in s.variants() {
            let expect = if v.expect_violation {
                "expect: violation"
            } else {
                "expect: pass"
            };
            println!(
                "  {:<26} {:<18} {}",
                format!("{}:{}", s.name(), v.name),
                expect,
                v.about
            );
        }
    }
}

/// `scenario` or `scenario:variant`.
pub fn resolve(target: &str) -> Result<(&'static dyn Scenario, &'static Variant), UsageError> {
    let (name, variant) = match target.split_once(':') {
        Some((n, v)) => (n, Some(v)),
        None => (target, None),
    };
    let s = find(name).ok_or_else(|| UsageError::Scenario(name.to_owned()))?;
    let v = match variant {
        None => s.default_variant(),
        Some(v) => s
            .variant(v)
            .ok_or_else(|| UsageError::Variant(name.to_owned(), v.to_owned()))?,
    };
    Ok((s, v))
}

fn faults_choice(spec: &str, s: &dyn Scenario) -> Result<FaultChoice, UsageError> {
    Ok(match spec.trim() {
        "none" => FaultChoice::None,
        "swarm" => FaultChoice::Swarm,
        other => FaultChoice::Explicit(FaultPlan::parse(other, &s.hosts())?),
    })
}

/// The command that reproduces `scenario:variant` with `seed` and `faults`.
pub fn command(scenario: &str, variant: &str, seed: u64, faults: &FaultChoice) -> String {
    let mut c =
        format!("cargo run --release -p heddle-sim -- run {scenario}:{variant} --seed {seed}");
    if *faults != FaultChoice::Swarm {
        let _ = write!(c, " --faults '{}'", faults.to_arg());
    }
    c
}

fn verdict_text(v: &Verdict) -> String {
    match v {
        Verdict::Pass => "pass: every invariant held, liveness phase completed".into(),
        Verdict::Safety(v) => format!("SAFETY VIOLATION `{}`: {}", v.invariant, v.detail),
        Verdict::Liveness(v) => format!("LIVENESS FAILURE: {}", v.detail),
    }
}

fn describe_plan(plan: &FaultPlan) -> String {
    let mut s = String::new();
    let k = &plan.knobs;
    let _ = writeln!(
        s,
        "  knobs:   latency {}..{} ms, link repair rate {}, host order {}",
        k.min_latency_ms,
        k.max_latency_ms,
        k.repair_rate,
        if k.random_order { "random" } else { "fixed" }
    );
    if let Some(clients) = &plan.clients {
        let _ = writeln!(s, "  clients: {} only", clients.join(", "));
    }
    if plan.faults.is_empty() {
        let _ = writeln!(s, "  faults:  none");
    }
    for f in &plan.faults {
        let _ = writeln!(s, "  fault:   {f}");
    }
    let _ = write!(s, "  healed:  {:?}", plan.heal_at());
    s
}

/// Writes `o`'s trace (`path`), SVG and Chrome views beside it.
pub fn write_views(o: &Outcome, path: &Path) -> std::io::Result<Vec<PathBuf>> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let svg = path.with_extension("svg");
    let chrome = path.with_extension("chrome.json");
    std::fs::write(path, o.trace.to_jsonl())?;
    std::fs::write(&svg, views::svg(o))?;
    std::fs::write(&chrome, views::chrome(o))?;
    Ok(vec![path.to_owned(), svg, chrome])
}

fn cmd_run(
    target: &str,
    seed: u64,
    faults: &str,
    trace: Option<&Path>,
    do_shrink: bool,
) -> Result<ExitCode, UsageError> {
    let (s, v) = resolve(target)?;
    let choice = faults_choice(faults, s)?;
    let plan = choice.plan(seed, &s.hosts());
    println!("{}:{} seed {seed}", s.name(), v.name);
    println!("{}", describe_plan(&plan));
    let start = Instant::now();
    let o = run(s, v, seed, plan, RunOptions::default());
    let wall = start.elapsed();
    println!(
        "  result:  {}\n  time:    {:?} simulated in {:.3} s ({:.0}x real time), {} trace events",
        verdict_text(&o.verdict),
        o.sim_time,
        wall.as_secs_f64(),
        o.sim_time.as_secs_f64() / wall.as_secs_f64().max(1e-9),
        o.trace.events.len()
    );
    if let Some(path) = trace {
        match write_views(&o, path) {
            Ok(files) => {
                for f in files {
                    println!("  wrote:   {}", f.display());
                }
            }
            Err(e) => eprintln!("heddle-sim: writing {}: {e}", path.display()),
        }
    }
    let Some(violation) = o.verdict.violation() else {
        return Ok(ExitCode::SUCCESS);
    };
    println!("  replay:  {}", command(s.name(), v.name, seed, &choice));
    if do_shrink {
        report_shrink(s, v, seed, &o, &violation.invariant, None);
    }
    Ok(ExitCode::from(VIOLATION))
}

const SHRINK_BUDGET: usize = 150;

fn report_shrink(
    s: &dyn Scenario,
    v: &'static Variant,
    seed: u64,
    o: &Outcome,
    invariant: &str,
    save: Option<&Path>,
) -> Option<(String, String)> {
    let shrunk = shrink(s, v, seed, o.plan.clone(), invariant, SHRINK_BUDGET)?;
    let choice = FaultChoice::Explicit(shrunk.plan.clone());
    let cmd = command(s.name(), v.name, seed, &choice);
    println!(
        "  shrunk:  {} fault(s) -> {} in {} runs, still `{}`",
        o.plan.faults.len(),
        shrunk.plan.faults.len(),
        shrunk.runs,
        invariant
    );
    println!("{}", describe_plan(&shrunk.plan));
    println!("  replay shrunk: {cmd}");
    if let Some(base) = save {
        let path = base.with_file_name(format!(
            "{}-shrunk.jsonl",
            base.file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("failure")
        ));
        if let Ok(files) = write_views(&shrunk.outcome, &path) {
            for f in files {
                println!("  wrote:   {}", f.display());
            }
        }
    }
    Some((shrunk.plan.to_spec(), cmd))
}

struct SweepOpts {
    seeds: String,
    jobs: Option<usize>,
    shard: Option<String>,
    faults: String,
    recheck: usize,
    out: PathBuf,
    shrink: bool,
}

fn parse_seeds(spec: &str) -> Result<(u64, u64), UsageError> {
    let bad = || UsageError::Seeds(spec.to_owned());
    match spec.split_once("..") {
        Some((a, b)) => {
            let (a, b): (u64, u64) = (
                a.trim().parse().map_err(|_| bad())?,
                b.trim().parse().map_err(|_| bad())?,
            );
            if a >= b {
                return Err(bad());
            }
            Ok((a, b))
        }
        None => {
            let n: u64 = spec.trim().parse().map_err(|_| bad())?;
            if n == 0 {
                return Err(bad());
            }
            Ok((0, n))
        }
    }
}

fn parse_shard(spec: &str) -> Result<(u64, u64), UsageError> {
    let bad = || UsageError::Shard(spec.to_owned());
    let (k, n) = spec.split_once('/').ok_or_else(bad)?;
    let (k, n): (u64, u64) = (
        k.trim().parse().map_err(|_| bad())?,
        n.trim().parse().map_err(|_| bad())?,
    );
    if k == 0 || k > n {
        return Err(bad());
    }
    Ok((k, n))
}

/// One seed's result in a sweep (the trace is dropped).
struct SeedResult {
    seed: u64,
    verdict: Verdict,
    sim_time: Duration,
}

fn cmd_sweep(targets: &[String], o: &SweepOpts) -> Result<ExitCode, UsageError> {
    let runs = sweep_targets(targets)?;
    let (a, b) = parse_seeds(&o.seeds)?;
    let seeds = sweep_seeds(a..b, o.shard.as_deref())?;
    let jobs = o
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
    if jobs == 0 {
        return Err(UsageError::Jobs("must be at least 1".into()));
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .build()
        .map_err(|e| UsageError::Jobs(e.to_string()))?;
    let choices = runs
        .iter()
        .map(|(s, _)| faults_choice(&o.faults, *s))
        .collect::<Result<Vec<_>, _>>()?;
    println!(
        "heddle-sim sweep: {} seed(s) per scenario ({}..{}{}), {} job(s), faults {}",
        seeds.len(),
        a,
        b,
        o.shard
            .as_deref()
            .map(|s| format!(", shard {s}"))
            .unwrap_or_default(),
        jobs,
        if o.faults.contains(';') || o.faults.contains('@') {
            "explicit"
        } else {
            o.faults.as_str()
        }
    );
    let sweep = Sweep {
        seeds: &seeds,
        pool: &pool,
        jobs,
        opts: o,
    };
    let mut rows = Vec::new();
    let (mut failed, mut nondeterministic) = (false, false);
    for ((s, v), choice) in runs.iter().zip(&choices) {
        let (row, outcome) = sweep.one(*s, v, choice);
        rows.push(row);
        failed |= outcome.failed;
        nondeterministic |= outcome.nondeterministic;
    }
    print_table(&rows);
    if nondeterministic {
        eprintln!("heddle-sim: FAILED: a seed was not deterministic (see above)");
        return Ok(ExitCode::from(VIOLATION));
    }
    Ok(if failed {
        ExitCode::from(VIOLATION)
    } else {
        ExitCode::SUCCESS
    })
}

/// The scenario variants a sweep runs (`all`: every default variant).
fn sweep_targets(
    targets: &[String],
) -> Result<Vec<(&'static dyn Scenario, &'static Variant)>, UsageError> {
    let mut runs = Vec::new();
    for t in targets {
        if t == "all" {
            runs.extend(ALL.iter().map(|s| (*s, s.default_variant())));
        } else {
            runs.push(resolve(t)?);
        }
    }
    Ok(runs)
}

/// The seeds of `range` in shard `K/N` (every seed without one).
fn sweep_seeds(range: std::ops::Range<u64>, shard: Option<&str>) -> Result<Vec<u64>, UsageError> {
    let Some(shard) = shard else {
        return Ok(range.collect());
    };
    let (k, n) = parse_shard(shard)?;
    Ok(range
        .enumerate()
        .filter(|(i, _)| (*i as u64) % n == k - 1)
        .map(|(_, s)| s)
        .collect())
}

/// What a sweep shares across its scenarios.
struct Sweep<'a> {
    seeds: &'a [u64],
    pool: &'a rayon::ThreadPool,
    jobs: usize,
    opts: &'a SweepOpts,
}

/// How one scenario's sweep ended.
struct SweepOutcome {
    failed: bool,
    nondeterministic: bool,
}

impl Sweep<'_> {
    /// Sweeps one scenario variant: every seed, the determinism re-check,
    /// and the report of its first failure.
    fn one(
        &self,
        s: &'static dyn Scenario,
        v: &'static Variant,
        choice: &FaultChoice,
    ) -> (Row, SweepOutcome) {
        let label = format!("{}:{}", s.name(), v.name);
        let start = Instant::now();
        let results = self.run_seeds(s, v, choice, &label);
        let wall = start.elapsed();
        let (checked, mismatches) = self.recheck(s, v, choice, &label, &results);
        if !mismatches.is_empty() {
            eprintln!("!!! NONDETERMINISM in {label}: the same seed gave different runs");
            for m in &mismatches {
                eprintln!("!!!   {m}");
            }
        }
        let count = |live: bool| {
            results
                .iter()
                .filter(|r| match &r.verdict {
                    Verdict::Safety(_) => !live,
                    Verdict::Liveness(_) => live,
                    _ => false,
                })
                .count()
        };
        let row = Row {
            label,
            seeds: results.len(),
            safety: count(false),
            liveness: count(true),
            sim: results.iter().map(|r| r.sim_time).sum(),
            wall,
            jobs: self.jobs,
            determinism: if mismatches.is_empty() {
                format!("ok ({checked})")
            } else {
                "FAILED".into()
            },
        };
        let failed = results.iter().any(|r| r.verdict != Verdict::Pass);
        if failed {
            self.report_failures(s, v, choice, &results);
        }
        let outcome = SweepOutcome {
            failed,
            nondeterministic: !mismatches.is_empty(),
        };
        (row, outcome)
    }

    /// Every seed, in parallel, without network traces, behind a progress bar.
    fn run_seeds(
        &self,
        s: &'static dyn Scenario,
        v: &'static Variant,
        choice: &FaultChoice,
        label: &str,
    ) -> Vec<SeedResult> {
        let hosts = s.hosts();
        let bar = ProgressBar::new(self.seeds.len() as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix:>24} [{elapsed_precise}] {wide_bar} {pos}/{len} seeds, ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_prefix(label.to_owned());
        let results = self.pool.install(|| {
            self.seeds
                .par_iter()
                .map(|&seed| {
                    let plan = choice.plan(seed, &hosts);
                    let out = run(s, v, seed, plan, RunOptions { net_trace: false });
                    bar.inc(1);
                    SeedResult {
                        seed,
                        verdict: out.verdict,
                        sim_time: out.sim_time,
                    }
                })
                .collect()
        });
        bar.finish_and_clear();
        results
    }

    /// Determinism: re-runs a sample of seeds twice with the full trace; the
    /// bytes must match, and the verdict must match the sweep's. Returns how
    /// many seeds were checked and what did not match.
    fn recheck(
        &self,
        s: &'static dyn Scenario,
        v: &'static Variant,
        choice: &FaultChoice,
        label: &str,
        results: &[SeedResult],
    ) -> (usize, Vec<String>) {
        let recheck = self.opts.recheck;
        let sample: Vec<&SeedResult> = match results.len().checked_div(recheck) {
            None => Vec::new(),
            Some(step) => results.iter().step_by(step.max(1)).take(recheck).collect(),
        };
        let hosts = s.hosts();
        let mismatches = self.pool.install(|| {
            sample
                .par_iter()
                .filter_map(|r| {
                    let plan = choice.plan(r.seed, &hosts);
                    let one = run(s, v, r.seed, plan.clone(), RunOptions::default());
                    let two = run(s, v, r.seed, plan, RunOptions::default());
                    let (t1, t2) = (one.trace.to_jsonl(), two.trace.to_jsonl());
                    if t1 != t2 {
                        Some(self.keep_traces(label, r.seed, &t1, &t2))
                    } else if one.verdict != r.verdict {
                        Some(format!(
                            "seed {}: verdict differs between the sweep and the re-run",
                            r.seed
                        ))
                    } else {
                        None
                    }
                })
                .collect()
        });
        (sample.len(), mismatches)
    }

    /// Keeps two differing traces of `seed` for `diff`; says where they part.
    fn keep_traces(&self, label: &str, seed: u64, t1: &str, t2: &str) -> String {
        let dir = self.opts.out.join("nondeterminism");
        let _ = std::fs::create_dir_all(&dir);
        for (i, t) in [(1, t1), (2, t2)] {
            let _ = std::fs::write(dir.join(format!("{label}-seed{seed}-{i}.jsonl")), t);
        }
        let line = t1
            .lines()
            .zip(t2.lines())
            .position(|(x, y)| x != y)
            .unwrap_or(0);
        format!("seed {seed}: traces differ (first at line {})", line + 1)
    }

    /// Reports the first failing seed (replay, shrink, files) and lists the
    /// others.
    fn report_failures(
        &self,
        s: &'static dyn Scenario,
        v: &'static Variant,
        choice: &FaultChoice,
        results: &[SeedResult],
    ) {
        let failing: Vec<&SeedResult> = results
            .iter()
            .filter(|r| r.verdict != Verdict::Pass)
            .collect();
        let Some(first) = failing.first() else {
            return;
        };
        report_failure(s, v, first.seed, choice, &self.opts.out, self.opts.shrink);
        let listed: Vec<String> = failing
            .iter()
            .take(20)
            .map(|r| {
                let inv = r.verdict.violation().map_or("", |v| v.invariant.as_str());
                format!("{} ({inv})", r.seed)
            })
            .collect();
        println!(
            "  failing seeds ({} of {}): {}{}",
            failing.len(),
            results.len(),
            listed.join(", "),
            if failing.len() > 20 { ", …" } else { "" }
        );
    }
}

struct Row {
    label: String,
    seeds: usize,
    safety: usize,
    liveness: usize,
    sim: Duration,
    wall: Duration,
    jobs: usize,
    determinism: String,
}

fn print_table(rows: &[Row]) {
    println!();
    println!(
        "{:<30} {:>6} {:>8} {:>9} {:>10} {:>8} {:>8} {:>12} {:>9}  determinism",
        "scenario",
        "seeds",
        "safety",
        "liveness",
        "sim time",
        "wall",
        "seeds/s",
        "seeds/s/core",
        "sim/wall",
    );
    for r in rows {
        let wall = r.wall.as_secs_f64().max(1e-9);
        let per_s = r.seeds as f64 / wall;
        println!(
            "{:<30} {:>6} {:>8} {:>9} {:>9.1}s {:>7.2}s {:>8.1} {:>12.1} {:>8.0}x  {}",
            r.label,
            r.seeds,
            r.safety,
            r.liveness,
            r.sim.as_secs_f64(),
            wall,
            per_s,
            per_s / r.jobs as f64,
            r.sim.as_secs_f64() / (wall * r.jobs as f64),
            r.determinism
        );
    }
    println!(
        "(safety/liveness: seeds that broke an invariant; sim/wall: simulated time per second of one core)"
    );
}

/// The failure file written for a failing seed.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct FailureFile {
    /// Scenario.
    pub scenario: String,
    /// Variant.
    pub variant: String,
    /// Seed.
    pub seed: u64,
    /// The fault plan as a spec (explicit, even when it was drawn).
    pub faults: String,
    /// `safety` or `liveness`.
    pub verdict: String,
    /// The violated invariant.
    pub invariant: String,
    /// Its detail.
    pub detail: String,
    /// The command that reproduces it.
    pub command: String,
    /// The shrunk plan, if shrinking ran.
    #[serde(default)]
    pub shrunk_faults: Option<String>,
    /// The command that reproduces the shrunk plan.
    #[serde(default)]
    pub shrunk_command: Option<String>,
}

fn report_failure(
    s: &dyn Scenario,
    v: &'static Variant,
    seed: u64,
    choice: &FaultChoice,
    out: &Path,
    do_shrink: bool,
) {
    let plan = choice.plan(seed, &s.hosts());
    let o = run(s, v, seed, plan, RunOptions::default());
    let Some(violation) = o.verdict.violation().cloned() else {
        println!("  seed {seed} failed in the sweep but passed when re-run: nondeterminism!");
        return;
    };
    let cmd = command(s.name(), v.name, seed, choice);
    println!();
    println!("FAILED {}:{} seed {seed}", s.name(), v.name);
    println!("{}", describe_plan(&o.plan));
    println!("  result:  {}", verdict_text(&o.verdict));
    println!("  replay:  {cmd}");
    let dir = out.join("failures");
    let base = dir.join(format!("{}-{}-seed{seed}.json", s.name(), v.name));
    let shrunk = if do_shrink {
        report_shrink(s, v, seed, &o, &violation.invariant, Some(&base))
    } else {
        None
    };
    let file = FailureFile {
        scenario: s.name().into(),
        variant: v.name.into(),
        seed,
        faults: o.plan.to_spec(),
        verdict: if matches!(o.verdict, Verdict::Liveness(_)) {
            "liveness"
        } else {
            "safety"
        }
        .into(),
        invariant: violation.invariant.clone(),
        detail: violation.detail.clone(),
        command: cmd,
        shrunk_faults: shrunk.as_ref().map(|s| s.0.clone()),
        shrunk_command: shrunk.map(|s| s.1),
    };
    let saved = std::fs::create_dir_all(&dir)
        .and_then(|()| {
            let json = serde_json::to_string_pretty(&file).map_err(std::io::Error::other)?;
            std::fs::write(&base, json)
        })
        .and_then(|()| write_views(&o, &base.with_extension("jsonl")));
    match saved {
        Ok(files) => {
            println!(
                "  saved:   {} (replay: {})",
                base.display(),
                replay_command(&base)
            );
            for f in files {
                println!("  wrote:   {}", f.display());
            }
        }
        Err(e) => eprintln!(
            "heddle-sim: saving the failure under {}: {e}",
            dir.display()
        ),
    }
}

fn cmd_replay(file: &Path) -> Result<ExitCode, UsageError> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| UsageError::File(file.to_owned(), e.to_string()))?;
    let saved: FailureFile = serde_json::from_str(&text)
        .map_err(|e| UsageError::File(file.to_owned(), e.to_string()))?;
    let (s, v) = resolve(&format!("{}:{}", saved.scenario, saved.variant))?;
    let plan = FaultPlan::parse(&saved.faults, &s.hosts())?;
    println!(
        "replay {}:{} seed {} from {}",
        s.name(),
        v.name,
        saved.seed,
        file.display()
    );
    println!("{}", describe_plan(&plan));
    let o = run(s, v, saved.seed, plan, RunOptions::default());
    println!("  result:  {}", verdict_text(&o.verdict));
    println!("  saved:   `{}`: {}", saved.invariant, saved.detail);
    let same = o
        .verdict
        .violation()
        .is_some_and(|x| x.invariant == saved.invariant && x.detail == saved.detail);
    println!(
        "  {}",
        if same {
            "reproduced: same invariant, same detail"
        } else {
            "NOT reproduced as saved"
        }
    );
    Ok(ExitCode::from(if same {
        VIOLATION
    } else {
        NOT_REPRODUCED
    }))
}

/// The full command that replays a saved failure file.
pub fn replay_command(file: &Path) -> String {
    format!(
        "cargo run --release -p heddle-sim -- replay '{}'",
        file.display()
    )
}
