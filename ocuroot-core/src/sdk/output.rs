//! Where the output of Starlark code goes: the [`PrintSink`] every line passes through, the
//! [`SourceLocation`] of a `print`, and a [`CollectingSink`] that keeps lines in memory.

/// Receives every line of output produced while evaluating or running Starlark code.
///
/// Implementations decide where the text goes (progress output, a run's log). A line never
/// contains the trailing newline.
pub trait PrintSink: Send + Sync {
    /// Records one line of output.
    fn print(&self, line: &str);

    /// Records one line of output printed by Starlark `print` at `at`.
    ///
    /// Sinks that store run logs override this to keep the `filename`/`line`/`col`
    /// attributes; the default forwards to [`PrintSink::print`].
    fn print_at(&self, line: &str, at: &SourceLocation) {
        let _ = at;
        self.print(line);
    }
}

/// Where a line of output was printed: a position in a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceLocation {
    /// The file, relative to the repo root.
    pub filename: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub col: usize,
}

/// A [`PrintSink`] that collects lines in memory; useful for tests and for capturing output.
#[derive(Debug, Default)]
pub struct CollectingSink {
    lines: std::sync::Mutex<Vec<String>>,
}

impl CollectingSink {
    /// Returns a copy of the lines printed so far.
    pub fn lines(&self) -> Vec<String> {
        match self.lines.lock() {
            Ok(lines) => lines.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

impl PrintSink for CollectingSink {
    fn print(&self, line: &str) {
        match self.lines.lock() {
            Ok(mut lines) => lines.push(line.to_owned()),
            Err(poisoned) => poisoned.into_inner().push(line.to_owned()),
        }
    }
}
