//! The command that re-runs the current test, as a user types it from where
//! they stand: inside heddle (`--features shuttle`) or in their own crate,
//! which depends on heddle (`--features heddle/shuttle`).
//!
//! Everything is read at run time from what `cargo test` provides: the
//! package (`CARGO_PKG_NAME`), the test binary (`current_exe`, whose name is
//! the target's plus a hash), and the test (libtest names each test's thread
//! after it).

/// How the current test was invoked, as far as it can be told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Invocation {
    /// The package under test, if `cargo` set `CARGO_PKG_NAME`.
    pub package: Option<String>,
    /// `--lib` or `--test NAME`, if the test binary's name says which.
    pub target: Option<String>,
    /// The full test path (`module::test`), unless this is not a libtest thread.
    pub test: Option<String>,
}

/// The package that defines the engine features.
const HEDDLE: &str = "heddle";

thread_local! {
    /// The source file of the current `check::model` call (`#[track_caller]`).
    static CALLER: std::cell::Cell<Option<&'static str>> = const { std::cell::Cell::new(None) };
}

/// Records the file that called `check::model` on this thread.
pub(crate) fn set_caller(location: &'static std::panic::Location<'static>) {
    CALLER.with(|c| c.set(Some(location.file())));
}

impl Invocation {
    /// Reads the current process and thread.
    pub fn current() -> Self {
        let package = std::env::var("CARGO_PKG_NAME").ok();
        let target = std::env::current_exe()
            .ok()
            .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
            .and_then(|stem| target_of(&stem, CALLER.with(std::cell::Cell::get)));
        Self {
            package,
            target,
            test: current_test(),
        }
    }

    /// `cargo test --release [-p PKG] --features F [--lib|--test T] -- --exact TEST`
    /// with `env` (already quoted) in front.
    #[cfg_attr(not(any(feature = "loom", feature = "shuttle")), allow(dead_code))]
    pub fn command(&self, env: &str, engine: &str) -> String {
        self.build(env, Some(engine))
    }

    /// The same for plain `cargo test` (the std engine): no feature.
    #[cfg_attr(any(feature = "loom", feature = "shuttle"), allow(dead_code))]
    pub fn command_std(&self, env: &str) -> String {
        self.build(env, None)
    }

    fn build(&self, env: &str, engine: Option<&str>) -> String {
        let inside = self.package.as_deref() == Some(HEDDLE);
        let mut c = format!("{env} cargo test --release");
        if let Some(p) = self.package.as_deref().filter(|_| !inside) {
            c.push_str(&format!(" -p {p}"));
        }
        match engine {
            Some(e) if inside => c.push_str(&format!(" --features {e}")),
            Some(e) => c.push_str(&format!(" --features {HEDDLE}/{e}")),
            None => {}
        }
        if let Some(t) = &self.target {
            c.push(' ');
            c.push_str(t);
        }
        if let Some(t) = &self.test {
            c.push_str(&format!(" -- --exact {t}"));
        }
        if let (None, Some(e)) = (&self.package, engine) {
            c.push_str(&format!(
                "\n  (inside the heddle repository itself: --features {e})"
            ));
        }
        c
    }
}

/// The name of the running test: libtest runs each test on a thread named
/// after it (also with `--test-threads=1`). `None` on `main` (doc tests,
/// binaries) or an unnamed thread.
pub(crate) fn current_test() -> Option<String> {
    std::thread::current()
        .name()
        .filter(|n| *n != "main")
        .map(str::to_owned)
}

/// `--lib` or `--test NAME` from a test binary's file stem `NAME-HASH` and
/// the file that called `check::model`: under `src/` it is the library's
/// unit tests, anywhere else an integration test target named `NAME`.
fn target_of(stem: &str, caller: Option<&str>) -> Option<String> {
    let (name, hash) = stem.rsplit_once('-')?;
    if hash.len() != 16 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let in_src = caller.is_some_and(|f| f.starts_with("src/") || f.contains("/src/"));
    Some(if in_src {
        "--lib".to_owned()
    } else {
        format!("--test {name}")
    })
}

/// `value` in single quotes for a POSIX shell.
#[cfg_attr(not(feature = "shuttle"), allow(dead_code))]
pub(crate) fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

#[cfg(all(test, not(any(feature = "loom", feature = "shuttle"))))]
mod tests {
    use super::*;

    fn inv(package: &str) -> Invocation {
        Invocation {
            package: Some(package.into()),
            target: Some("--test buggy".into()),
            test: Some("tests::caught".into()),
        }
    }

    #[test]
    fn a_user_crate_names_heddle_feature_and_package() {
        assert_eq!(
            inv("mycrate").command("X=1", "shuttle"),
            "X=1 cargo test --release -p mycrate --features heddle/shuttle --test buggy \
             -- --exact tests::caught"
        );
    }

    #[test]
    fn inside_heddle_the_feature_is_local() {
        assert_eq!(
            inv("heddle").command("X=1", "loom"),
            "X=1 cargo test --release --features loom --test buggy -- --exact tests::caught"
        );
    }

    #[test]
    fn target_from_binary_name() {
        assert_eq!(
            target_of("model_counter-0123456789abcdef", Some("models/counter.rs")).as_deref(),
            Some("--test model_counter")
        );
        // An integration test named like its package (this was `--lib`).
        assert_eq!(
            target_of("tally-0123456789abcdef", Some("tests/tally.rs")).as_deref(),
            Some("--test tally")
        );
        assert_eq!(
            target_of("my_crate-0123456789abcdef", Some("src/lib.rs")).as_deref(),
            Some("--lib")
        );
        assert_eq!(target_of("rust_out", None), None);
    }

    #[test]
    fn quotes_survive_a_shell() {
        assert_eq!(shell_quote("a'b"), r"'a'\''b'");
    }
}
