//! Reads the mediation folder: every `*.xml` file, recursively, in a stable order.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::base::diag::{Diagnostics, Loc};
use crate::base::xml::{self, Element};

/// One configuration file, parsed.
#[derive(Debug)]
pub(crate) struct SourceFile {
    pub(crate) root: Element,
}

/// Reads and parses every `*.xml` file under `dir`. Unreadable or malformed files are
/// reported and skipped, so the other files are still checked.
pub(crate) fn read_tree(dir: &Path, diags: &mut Diagnostics) -> Vec<SourceFile> {
    let mut paths = Vec::new();
    if !dir.is_dir() {
        diags.error(
            &Loc::file_start(Arc::from(dir.display().to_string())),
            "mediation folder does not exist or is not a directory",
        );
        return Vec::new();
    }
    collect(dir, &mut paths, diags);
    paths.sort();
    let mut files = Vec::new();
    for path in paths {
        let shown: Arc<str> = Arc::from(path.display().to_string());
        let text = match std::fs::read(&path) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => text,
                Err(_) => {
                    diags.error(&Loc::file_start(shown), "file is not valid UTF-8");
                    continue;
                }
            },
            Err(error) => {
                diags.error(
                    &Loc::file_start(shown),
                    format!("cannot read file: {error}"),
                );
                continue;
            }
        };
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        match xml::parse(shown, text) {
            Ok(root) => files.push(SourceFile { root }),
            Err(diag) => diags.error(&diag.loc, diag.message),
        }
    }
    files
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>, diags: &mut Diagnostics) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) => {
            diags.error(
                &Loc::file_start(Arc::from(dir.display().to_string())),
                format!("cannot read folder: {error}"),
            );
            return;
        }
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        if path.is_dir() {
            collect(&path, out, diags);
        } else if path
            .extension()
            .is_some_and(|ext| ext.eq_ignore_ascii_case("xml"))
        {
            out.push(path);
        }
    }
}

/// The artifacts of all files: a file's root, or the children of a `<definitions>` root.
/// Roots outside the Synapse namespace and unknown root kinds are reported.
pub(crate) fn artifacts<'f>(files: &'f [SourceFile], diags: &mut Diagnostics) -> Vec<&'f Element> {
    let mut out = Vec::new();
    for file in files {
        let root = &file.root;
        if !root.is_synapse() {
            diags.error(
                &root.loc,
                format!(
                    "root element <{}> is not in the Synapse namespace `{}`",
                    root.name,
                    crate::base::xml::SYNAPSE_NS
                ),
            );
            continue;
        }
        if root.local_name() == "definitions" {
            if root.has_text() {
                diags.error(&root.loc, "<definitions> does not take text content");
            }
            for child in root.elements() {
                if child.local_name() == "description" {
                    continue;
                }
                classify(child, diags, &mut out);
            }
        } else {
            classify(root, diags, &mut out);
        }
    }
    out
}

fn classify<'f>(el: &'f Element, diags: &mut Diagnostics, out: &mut Vec<&'f Element>) {
    if !el.is_synapse() {
        diags.error(
            &el.loc,
            format!("element <{}> is not a Synapse artifact", el.name),
        );
        return;
    }
    let kind = el.local_name();
    match kind {
        "api" | "sequence" | "endpoint" | "proxy" | "template" => out.push(el),
        _ => match super::unsupported_artifact(kind) {
            Some(what) => diags.unsupported(&el.loc, what),
            None => diags.error(&el.loc, format!("unknown artifact <{kind}>")),
        },
    }
}
