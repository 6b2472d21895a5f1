//! `heddle-sim check-history`: judge a history recorded anywhere for
//! linearizability.
//!
//! ```text
//! heddle-sim check-history --model register tests/data/linearizability/etcd/etcd_000.log
//! heddle-sim check-history --model kv --no-partition kv/c01-ok.txt
//! heddle-sim check-history --model register --format jsonl --steps 1000000 my-history.jsonl
//! ```
//!
//! Reads a Jepsen etcd log (`--model register`), a Jepsen/Porcupine EDN
//! key-value history (`--model kv`) or heddle's JSONL format (either model;
//! see `heddle::check::history::parse`), the format sniffed from the first
//! line unless `--format` says. Prints the verdict, the time taken, the
//! partitions and the states explored; on a violation also the smallest
//! failing partition, the longest linearizable prefix and the operation that
//! cannot be placed, and writes the HTML view (`--html`, default
//! `target/heddle-sim/check-history/<file>.html`) and prints its path.
//!
//! Exit codes: 0 linearizable, 1 not linearizable, 2 usage or parse error
//! (the message names the file and line), 3 unknown (budget exhausted).

use clap::ValueEnum;
use heddle::check::history::models::{Kv, Register};
use heddle::check::history::{Budget, Checker, History, Model, Report, Verdict, parse, view};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Exit code: the budget ran out before a verdict.
pub const UNKNOWN: u8 = 3;

/// The sequential model to check against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModelName {
    /// A read/write/compare-and-set register of integers.
    Register,
    /// A map of strings: get, put, append, delete; partitioned by key.
    Kv,
}

/// The file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Sniffed from the first non-blank line.
    Auto,
    /// Jepsen etcd log lines (`INFO jepsen.util - 3 :invoke :write 4`).
    Etcd,
    /// Jepsen/Porcupine EDN maps, one per line.
    Edn,
    /// heddle's JSONL events.
    Jsonl,
}

/// Arguments of `check-history`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The sequential model.
    #[arg(long, value_enum)]
    pub model: ModelName,
    /// The history file.
    pub file: PathBuf,
    /// The file format.
    #[arg(long, value_enum, default_value = "auto")]
    pub format: Format,
    /// Check the whole history as one part instead of one part per key.
    #[arg(long)]
    pub no_partition: bool,
    /// Give up (exit 3) after this many search steps.
    #[arg(long)]
    pub steps: Option<u64>,
    /// Give up (exit 3) after this many seconds.
    #[arg(long)]
    pub timeout: Option<f64>,
    /// Where to write the HTML view (written on a violation or an unknown
    /// verdict, or always when given).
    #[arg(long)]
    pub html: Option<PathBuf>,
}

/// A usage or input error: exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The file could not be read.
    #[error("{0}: {1}")]
    Read(PathBuf, std::io::Error),
    /// The file is not a valid history.
    #[error(transparent)]
    Parse(#[from] parse::ParseError),
    /// The format does not fit the model.
    #[error(
        "{0}: a {1:?} file cannot be checked as --model {2:?} (etcd logs are registers, EDN files key-value maps)"
    )]
    Mismatch(PathBuf, Format, ModelName),
    /// The format could not be sniffed.
    #[error("{0}: cannot tell the format from the first line; pass --format")]
    Unrecognised(PathBuf),
    /// Bad `--timeout`.
    #[error("--timeout wants a positive number of seconds, got {0}")]
    Timeout(f64),
    /// The view could not be written.
    #[error("writing {0}: {1}")]
    Write(PathBuf, std::io::Error),
}

/// Runs the command; `Err` is a usage or input error (exit code 2).
pub fn run(args: &Args) -> Result<ExitCode, CheckError> {
    let text =
        std::fs::read_to_string(&args.file).map_err(|e| CheckError::Read(args.file.clone(), e))?;
    let name = args.file.display().to_string();
    let format = match args.format {
        Format::Auto => sniff(&text).ok_or_else(|| CheckError::Unrecognised(args.file.clone()))?,
        f => f,
    };
    let time = match args.timeout {
        Some(t) if !(t > 0.0 && t.is_finite()) => return Err(CheckError::Timeout(t)),
        t => t.map(Duration::from_secs_f64),
    };
    let checker = Checker::new()
        .partitioned(!args.no_partition)
        .budget(Budget {
            steps: args.steps,
            time,
        });
    match (args.model, format) {
        (ModelName::Register, Format::Etcd) => judge(
            args,
            &Register::<i64>::new(),
            &parse::etcd(&name, &text)?,
            checker,
        ),
        (ModelName::Register, Format::Jsonl) => judge(
            args,
            &Register::<i64>::new(),
            &parse::jsonl(&name, &text)?,
            checker,
        ),
        (ModelName::Kv, Format::Edn) => judge(args, &Kv, &parse::edn_kv(&name, &text)?, checker),
        (ModelName::Kv, Format::Jsonl) => judge(args, &Kv, &parse::jsonl(&name, &text)?, checker),
        (m, f) => Err(CheckError::Mismatch(args.file.clone(), f, m)),
    }
}

/// The format of `text`, from its first non-blank line.
fn sniff(text: &str) -> Option<Format> {
    let first = text.lines().map(str::trim).find(|l| !l.is_empty())?;
    if first.starts_with("{\"") {
        Some(Format::Jsonl)
    } else if first.starts_with("{:") {
        Some(Format::Edn)
    } else if text.contains("jepsen.util") {
        Some(Format::Etcd)
    } else {
        None
    }
}

fn judge<M: Model>(
    args: &Args,
    model: &M,
    h: &History<M::Op, M::Ret>,
    checker: Checker,
) -> Result<ExitCode, CheckError> {
    let t = Instant::now();
    let report = checker.check(model, h);
    let took = t.elapsed();
    print_summary(args, model, h, &report, took);
    let wants_view = report.verdict != Verdict::Linearizable || args.html.is_some();
    if wants_view {
        let path = args
            .html
            .clone()
            .unwrap_or_else(|| default_view_path(&args.file));
        let title = format!("{}: {:?}", args.file.display(), report.verdict);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| CheckError::Write(path.clone(), e))?;
        }
        std::fs::write(&path, view::html(model, h, &report, &title))
            .map_err(|e| CheckError::Write(path.clone(), e))?;
        println!("view: {}", path.display());
    }
    Ok(match report.verdict {
        Verdict::Linearizable => ExitCode::SUCCESS,
        Verdict::NotLinearizable => ExitCode::from(crate::cli::VIOLATION),
        Verdict::Unknown => ExitCode::from(UNKNOWN),
    })
}

fn print_summary<M: Model>(
    args: &Args,
    model: &M,
    h: &History<M::Op, M::Ret>,
    r: &Report<M::Key>,
    took: Duration,
) {
    let verdict = match r.verdict {
        Verdict::Linearizable => "linearizable",
        Verdict::NotLinearizable => "NOT linearizable",
        Verdict::Unknown => "unknown (budget exhausted)",
    };
    println!("{}: {verdict}", args.file.display());
    println!(
        "  {} operations, {} partitions ({} checked), {} steps, {} states explored, {:.3} ms",
        h.len(),
        r.partitions_total,
        r.partitions.len(),
        r.steps(),
        r.states(),
        took.as_secs_f64() * 1e3
    );
    if let Some(f) = r.failure() {
        println!(
            "  smallest failing partition: {:?} ({} operations)",
            f.key,
            f.ops.len()
        );
        println!(
            "  longest linearizable prefix: {} operations",
            f.order.len()
        );
        for &i in &f.unplaceable {
            let o = &h.ops[i];
            println!(
                "  cannot be placed: op {i} (client {}, invoked at {}): {}",
                o.client,
                o.invoked,
                model.describe(&o.op, o.ret())
            );
        }
    }
}

/// `target/heddle-sim/check-history/<file name>.html`.
fn default_view_path(file: &Path) -> PathBuf {
    let stem = file
        .file_name()
        .map_or_else(|| "history".into(), |s| s.to_string_lossy().into_owned());
    PathBuf::from("target/heddle-sim/check-history").join(format!("{stem}.html"))
}
