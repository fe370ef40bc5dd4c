//! Parses a project's artifact files and picks out their artifacts.

use super::project::RawFile;
use crate::base::diag::{Diagnostics, Loc};
use crate::base::xml::{self, Element};

/// One configuration file, parsed.
#[derive(Debug)]
pub(crate) struct SourceFile {
    pub(crate) root: Element,
}

/// Parses every artifact file of a project. Malformed files are reported and skipped, so
/// the other files are still checked.
pub(crate) fn parse_files(raw: &[RawFile], diags: &mut Diagnostics) -> Vec<SourceFile> {
    raw.iter().filter_map(|f| parse_one(f, diags)).collect()
}

/// Parses one file, reporting text that is not UTF-8 or not well-formed XML.
pub(crate) fn parse_one(raw: &RawFile, diags: &mut Diagnostics) -> Option<SourceFile> {
    let Ok(text) = std::str::from_utf8(&raw.bytes) else {
        diags.error(
            &Loc::file_start(raw.shown.clone()),
            "file is not valid UTF-8",
        );
        return None;
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    match xml::parse(raw.shown.clone(), text) {
        Ok(root) => Some(SourceFile { root }),
        Err(diag) => {
            diags.error(&diag.loc, diag.message);
            None
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
        "api" | "sequence" | "endpoint" | "proxy" | "template" | "localEntry" => out.push(el),
        "registry" => diags.warning(
            &el.loc,
            "<registry> has no effect: Axon reads `gov:` and `conf:` keys from the project's registry folders",
        ),
        _ => match super::unsupported_artifact(kind) {
            Some(what) => diags.warning(
                &el.loc,
                format!("{what} is not supported by Axon; this artifact is not loaded"),
            ),
            None => diags.error(&el.loc, format!("unknown artifact <{kind}>")),
        },
    }
}
