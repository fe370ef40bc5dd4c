//! Keys: the names Synapse looks things up by besides an artifact's own name. A local entry
//! (`<localEntry key>`) and a registry resource (`gov:path`, `conf:path`) are keys; when
//! one holds a sequence, an endpoint or a template, that artifact loads with the rest and
//! the key is another name for it; otherwise it is a resource (XML, text or a `src`).

use std::collections::BTreeMap;
use std::collections::HashMap;

use super::loader::{self, SourceFile};
use super::project::{RawFile, normalise_key};
use crate::base::diag::Diagnostics;
use crate::base::xml::{Attr, Element};

/// What a key names when it is not an artifact.
#[derive(Debug, Clone)]
pub(crate) enum Resource {
    /// An XML document (a registry file, or a local entry's inline element).
    Xml(Element),
    /// Text (a local entry's text, or a registry file that is not XML).
    Text,
    /// A local entry's `src`: a URL or a file relative to the project.
    Src(String),
}

/// The keys of a project.
#[derive(Debug, Default)]
pub(crate) struct Keys {
    /// Key (normalised) to the name of the artifact it holds.
    pub(crate) aliases: HashMap<String, String>,
    /// Key (normalised) to the resource it holds.
    pub(crate) resources: HashMap<String, Resource>,
}

impl Keys {
    /// The artifact name `key` stands for: itself unless it is a key of one.
    pub(crate) fn artifact<'k>(&'k self, key: &'k str) -> &'k str {
        let found = match key.starts_with("gov:") || key.starts_with("conf:") {
            true => self.aliases.get(&normalise_key(key)),
            false => self.aliases.get(key),
        };
        found.map_or(key, String::as_str)
    }

    /// How many keys there are (naming an artifact or a resource).
    pub(crate) fn len(&self) -> usize {
        self.aliases.len() + self.resources.len()
    }

    /// The resource at `key`, if one is.
    pub(crate) fn resource(&self, key: &str) -> Option<&Resource> {
        self.resources.get(&normalise_key(key))
    }
}

const KEYED_KINDS: &[&str] = &["sequence", "endpoint", "template"];

/// Parses the registry resources: Synapse sequences, endpoints and templates come back as
/// files to load as artifacts (with their keys); anything else becomes a resource.
pub(crate) fn read_registry(
    registry: &BTreeMap<String, RawFile>,
    keys: &mut Keys,
    diags: &mut Diagnostics,
) -> Vec<(String, SourceFile)> {
    let mut artifacts = Vec::new();
    for (key, raw) in registry {
        let text = String::from_utf8_lossy(&raw.bytes);
        let looks_xml = text
            .trim_start_matches('\u{feff}')
            .trim_start()
            .starts_with('<');
        if !looks_xml {
            keys.resources.insert(key.clone(), Resource::Text);
            continue;
        }
        // A resource nothing uses must not stop the load: a malformed one is a warning
        // (and an error where a key names it, as a missing resource).
        let mut own = Diagnostics::default();
        let Some(mut file) = loader::parse_one(raw, &mut own) else {
            for d in own.iter() {
                let what = format!("registry resource `{key}` is not usable: {}", d.message);
                diags.warning(&d.loc, what);
            }
            continue;
        };
        if file.root.is_synapse() && KEYED_KINDS.contains(&file.root.local_name()) {
            name_by_key(&mut file.root, key);
            artifacts.push((key.clone(), file));
        } else {
            keys.resources.insert(key.clone(), Resource::Xml(file.root));
        }
    }
    artifacts
}

/// A registry sequence, endpoint or template without a `name` (MI loads it by its key)
/// is named by its key.
fn name_by_key(root: &mut Element, key: &str) {
    if root.attr_value("name").is_none_or(|n| n.trim().is_empty()) {
        root.attrs.retain(|a| a.name != "name");
        root.attrs.push(Attr {
            name: "name".to_owned(),
            value: key.to_owned(),
            loc: root.loc.clone(),
        });
    }
}

/// Takes the local entries out of `artifacts`: those holding an artifact put it in their
/// place, the others become resources. Registry artifacts are added with their keys.
pub(crate) fn collect<'f>(
    artifacts: &mut Vec<&'f Element>,
    registry: &'f [(String, SourceFile)],
    keys: &mut Keys,
    diags: &mut Diagnostics,
) {
    for (key, file) in registry {
        alias(key, &file.root, keys);
        artifacts.push(&file.root);
    }
    let mut kept = Vec::with_capacity(artifacts.len());
    for el in artifacts.drain(..) {
        if el.local_name() != "localEntry" {
            kept.push(el);
            continue;
        }
        if let Some(inner) = local_entry(el, keys, diags) {
            kept.push(inner);
        }
    }
    *artifacts = kept;
}

fn alias(key: &str, el: &Element, keys: &mut Keys) {
    if let Some(name) = el
        .attr_value("name")
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        keys.aliases.insert(normalise_key(key), name.to_owned());
    }
}

/// One `<localEntry key>`: inline XML, text, or `src`. Returns the artifact it holds.
fn local_entry<'f>(
    el: &'f Element,
    keys: &mut Keys,
    diags: &mut Diagnostics,
) -> Option<&'f Element> {
    let Some(key) = el
        .attr_value("key")
        .map(str::trim)
        .filter(|k| !k.is_empty())
    else {
        diags.error(&el.loc, "<localEntry> needs attribute `key`");
        return None;
    };
    for a in &el.attrs {
        let known =
            matches!(a.name.as_str(), "key" | "src" | "xmlns") || a.name.starts_with("xmlns:");
        if !known {
            diags.warning(
                &a.loc,
                format!(
                    "attribute `{}` of <localEntry> has no effect in Axon",
                    a.name
                ),
            );
        }
    }
    let key = normalise_key(key);
    let child = el.elements().find(|c| c.local_name() != "description");
    if let Some(child) = child {
        if child.is_synapse() && KEYED_KINDS.contains(&child.local_name()) {
            alias(&key, child, keys);
            return Some(child);
        }
        keys.resources.insert(key, Resource::Xml(child.clone()));
    } else if let Some(src) = el.attr_value("src") {
        keys.resources
            .insert(key, Resource::Src(src.trim().to_owned()));
    } else {
        keys.resources.insert(key, Resource::Text);
    }
    None
}
