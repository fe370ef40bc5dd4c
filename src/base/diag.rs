//! Diagnostics: every configuration problem, with the place it was found.
//!
//! The loader never stops at the first problem. Each check appends to one
//! [`Diagnostics`] list, and the caller prints them all as
//! `path/to/file.xml:LINE:COL: error: message`.

use std::fmt;
use std::sync::Arc;

/// A place in a configuration file: 1-based line and column (in characters).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Loc {
    /// The file, as the user named it (relative to the working directory when possible).
    pub(crate) file: Arc<str>,
    /// 1-based line number.
    pub(crate) line: u32,
    /// 1-based column, counted in characters.
    pub(crate) col: u32,
}

/// How bad a diagnostic is: errors stop the load, warnings do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Severity {
    /// The configuration cannot be used.
    Error,
    /// The configuration works, but probably not as the user meant.
    Warning,
}

/// One problem found while loading the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Where the problem is.
    pub(crate) loc: Loc,
    /// Error or warning.
    pub(crate) severity: Severity,
    /// What is wrong, lowercase, without a trailing period.
    pub message: String,
}

/// Every problem found by one load, in the order found (sorted by place before printing).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
}

// === impl Loc ===

impl Loc {
    /// A location for a whole file (line 1, column 1).
    pub(crate) fn file_start(file: Arc<str>) -> Self {
        Loc {
            file,
            line: 1,
            col: 1,
        }
    }
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}

// === impl Diagnostic ===

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{}: {}: {}", self.loc, level, self.message)
    }
}

// === impl Diagnostics ===

impl Diagnostics {
    /// Records an error at `loc`.
    pub(crate) fn error(&mut self, loc: &Loc, message: impl Into<String>) {
        self.push(loc, Severity::Error, message.into());
    }

    /// Records a warning at `loc`.
    pub(crate) fn warning(&mut self, loc: &Loc, message: impl Into<String>) {
        self.push(loc, Severity::Warning, message.into());
    }

    /// Records that `what` is a Synapse feature Axon does not implement yet.
    pub(crate) fn unsupported(&mut self, loc: &Loc, what: impl fmt::Display) {
        self.push(
            loc,
            Severity::Error,
            format!("{what} is not supported by Axon"),
        );
    }

    fn push(&mut self, loc: &Loc, severity: Severity, message: String) {
        self.items.push(Diagnostic {
            loc: loc.clone(),
            severity,
            message,
        });
    }

    /// True when at least one error (not only warnings) was recorded.
    pub(crate) fn has_errors(&self) -> bool {
        self.items.iter().any(|d| d.severity == Severity::Error)
    }

    /// Number of errors recorded.
    pub(crate) fn error_count(&self) -> usize {
        self.items
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count()
    }

    /// All diagnostics, sorted by file, line and column.
    pub fn sorted(&self) -> Vec<&Diagnostic> {
        let mut all: Vec<&Diagnostic> = self.items.iter().collect();
        all.sort_by(|a, b| {
            (&a.loc.file, a.loc.line, a.loc.col).cmp(&(&b.loc.file, b.loc.line, b.loc.col))
        });
        all
    }

    /// Iterates in the order recorded.
    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter()
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Moves the warnings out, leaving only errors.
    pub(crate) fn take_warnings(&mut self) -> Vec<Diagnostic> {
        let (warnings, errors) = std::mem::take(&mut self.items)
            .into_iter()
            .partition(|d| d.severity == Severity::Warning);
        self.items = errors;
        warnings
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in self.sorted() {
            writeln!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}
