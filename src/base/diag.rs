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

    /// Records that `what` is a Synapse feature Axon does not implement yet (an error that
    /// points to the migration guide, where each such feature is listed).
    pub(crate) fn unsupported(&mut self, loc: &Loc, what: impl fmt::Display) {
        self.push(
            loc,
            Severity::Error,
            format!("{what} is not supported by Axon (see docs/migrating.md)"),
        );
    }

    /// Records that `what`, a value Synapse or MI accepts, is accepted and does nothing in
    /// Axon (a warning; `why` says what to use instead, or is empty).
    pub(crate) fn no_effect(&mut self, loc: &Loc, what: impl fmt::Display, why: &str) {
        let sep = if why.is_empty() { "" } else { ": " };
        self.push(
            loc,
            Severity::Warning,
            format!("{what} has no effect in Axon{sep}{why}"),
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

/// ` (did you mean `x`?)` for the candidate nearest to `word` when it is close enough to be
/// a typo (an edit distance of at most a third of its length, and at least one); otherwise
/// the empty string.
pub(crate) fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> String {
    let limit = (word.chars().count() / 3).max(1);
    let best = candidates
        .into_iter()
        .map(|c| (edit_distance(&word.to_lowercase(), &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d);
    match best {
        Some((_, c)) => format!(" (did you mean `{c}`?)"),
        None => String::new(),
    }
}

/// Levenshtein distance, in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = if ca == *cb {
                diagonal
            } else {
                1 + diagonal.min(above).min(row[j])
            };
            diagonal = above;
        }
    }
    row[b.len()]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_only_for_near_misses() {
        let known = ["inSequence", "outSequence", "faultSequence", "uri-template"];
        assert_eq!(
            did_you_mean("insequence", known),
            " (did you mean `inSequence`?)"
        );
        assert_eq!(
            did_you_mean("uri-templat", known),
            " (did you mean `uri-template`?)"
        );
        assert_eq!(did_you_mean("colour", known), "");
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
