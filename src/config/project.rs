//! What `--mediation` names: a plain folder of Synapse XML, an MI 4.x integration project,
//! an Integration Studio project, an Apache Synapse `synapse-config` folder or
//! `synapse.xml`, or a `.car` archive. Each becomes the same thing: the artifact files, the
//! registry resources (`gov:`/`conf:` keys) and the files Axon does not run.

mod car;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::base::diag::{Diagnostics, Loc};

/// The kind of project a mediation path holds, as detected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// A folder of Synapse XML files (any nesting).
    Folder,
    /// An MI 4.x integration project (`src/main/wso2mi/artifacts`).
    MiProject,
    /// An Integration Studio project (`...ConfigProject/src/main/synapse-config`).
    IntegrationStudio,
    /// An Apache Synapse `synapse-config` folder.
    SynapseConfig,
    /// A single `synapse.xml` file.
    SynapseXml,
    /// A Carbon application archive (`.car`).
    Car,
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Layout::Folder => "folder of Synapse XML",
            Layout::MiProject => "MI integration project",
            Layout::IntegrationStudio => "Integration Studio project",
            Layout::SynapseConfig => "Synapse synapse-config folder",
            Layout::SynapseXml => "single synapse.xml",
            Layout::Car => "Carbon application (.car)",
        })
    }
}

/// One file read from the project: its name as shown in diagnostics, and its bytes.
#[derive(Debug)]
pub(crate) struct RawFile {
    pub(crate) shown: Arc<str>,
    pub(crate) bytes: Vec<u8>,
}

/// A project, read: artifact files, registry resources by key, and what Axon skips.
#[derive(Debug)]
pub(crate) struct Project {
    pub(crate) layout: Layout,
    /// Files holding artifacts, in a stable order.
    pub(crate) files: Vec<RawFile>,
    /// Registry resources by normalised key (`gov:path`, `conf:path`).
    pub(crate) registry: BTreeMap<String, RawFile>,
    /// Where relative file names (WSDL, OpenAPI documents) are resolved.
    pub(crate) base: PathBuf,
}

/// The MI 4.x artifact folders Axon does not run, with what they hold.
const SKIPPED_DIRS: &[(&str, &str)] = &[
    ("data-services", "data services"),
    ("data-sources", "data sources"),
    ("connectors", "connectors"),
    ("class-mediators", "class mediators"),
];

/// Opens `path`, detecting its layout. Problems are reported; what could be read is kept.
pub(crate) fn open(path: &Path, diags: &mut Diagnostics) -> Project {
    let layout = detect(path);
    let mut project = Project {
        layout,
        files: Vec::new(),
        registry: BTreeMap::new(),
        base: path.to_path_buf(),
    };
    match layout {
        Layout::Car => {
            project.base = path.parent().map(Path::to_path_buf).unwrap_or_default();
            car::read(path, &mut project, diags);
        }
        Layout::SynapseXml => {
            project.base = path.parent().map(Path::to_path_buf).unwrap_or_default();
            read_files(&[path.to_path_buf()], &mut project.files, diags);
        }
        Layout::MiProject => open_mi(path, &mut project, diags),
        Layout::IntegrationStudio => open_studio(path, &mut project, diags),
        Layout::Folder | Layout::SynapseConfig => {
            read_dir_xml(path, &mut project.files, diags);
            read_cars(path, &mut project, diags);
        }
    }
    project
}

/// The `.car` archives in a folder (as in MI's `carbonapps/`), each read into `project`.
fn read_cars(dir: &Path, project: &mut Project, diags: &mut Diagnostics) {
    let mut cars = Vec::new();
    let is_car = |p: &str| {
        Path::new(p)
            .extension()
            .is_some_and(|ext| ext.eq_ignore_ascii_case("car"))
    };
    if dir.is_dir() {
        collect(dir, &mut cars, &is_car, diags);
    }
    cars.sort();
    for car in cars {
        car::read(&car, project, diags);
    }
}

/// The layout of `path`, from its shape alone.
pub(crate) fn detect(path: &Path) -> Layout {
    let ext = path
        .extension()
        .map(|ext| ext.to_string_lossy().to_ascii_lowercase());
    if path.is_file() {
        return match ext.as_deref() {
            Some("car") => Layout::Car,
            _ => Layout::SynapseXml,
        };
    }
    if path.join(MI_ARTIFACTS).is_dir() {
        Layout::MiProject
    } else if studio_config(path).is_some() {
        Layout::IntegrationStudio
    } else if path.join("synapse.xml").is_file()
        || path.file_name().is_some_and(|n| n == "synapse-config")
    {
        Layout::SynapseConfig
    } else {
        Layout::Folder
    }
}

const MI_ARTIFACTS: &str = "src/main/wso2mi/artifacts";
const MI_REGISTRY: &str = "src/main/wso2mi/resources/registry";
const STUDIO_CONFIG: &str = "src/main/synapse-config";

fn open_mi(path: &Path, project: &mut Project, diags: &mut Diagnostics) {
    let artifacts = path.join(MI_ARTIFACTS);
    project.base = artifacts.clone();
    read_artifacts(&artifacts, project, diags);
    let registry = path.join(MI_REGISTRY);
    for (prefix, dir) in [("gov", "gov"), ("conf", "conf")] {
        read_registry_dir(&registry.join(dir), prefix, &mut project.registry, diags);
    }
}

/// The `synapse-config` folder of an Integration Studio project at `path` (the project
/// itself or the folder that holds its `...ConfigProject`).
fn studio_config(path: &Path) -> Option<PathBuf> {
    if path.join(STUDIO_CONFIG).is_dir() {
        return Some(path.join(STUDIO_CONFIG));
    }
    subdirs(path)
        .into_iter()
        .map(|d| d.join(STUDIO_CONFIG))
        .find(|d| d.is_dir())
}

fn open_studio(path: &Path, project: &mut Project, diags: &mut Diagnostics) {
    let Some(config) = studio_config(path) else {
        return;
    };
    project.base = config.clone();
    read_artifacts(&config, project, diags);
    // Registry resources projects (beside the config project) describe each resource in
    // their `artifact.xml`: the file, and the registry path it is published at.
    for dir in subdirs(path) {
        let described = dir.join("artifact.xml");
        if described.is_file() && !dir.join(STUDIO_CONFIG).is_dir() {
            registry_project(&dir, &described, &mut project.registry, diags);
        }
    }
}

fn registry_project(
    dir: &Path,
    described: &Path,
    registry: &mut BTreeMap<String, RawFile>,
    diags: &mut Diagnostics,
) {
    let mut files = Vec::new();
    read_files(&[described.to_path_buf()], &mut files, diags);
    let Some(text) = files
        .first()
        .map(|f| String::from_utf8_lossy(&f.bytes).into_owned())
    else {
        return;
    };
    for (file, reg_path) in registry_items(&text) {
        let mut read = Vec::new();
        read_files(&[dir.join(&file)], &mut read, diags);
        if let (Some(raw), Some(key)) = (read.pop(), registry_key(&reg_path, &file)) {
            registry.insert(key, raw);
        }
    }
}

/// The `(file, registry path)` of each `<item>` of an `artifact.xml` or
/// `registry-info.xml`.
pub(crate) fn registry_items(text: &str) -> Vec<(String, String)> {
    let Ok(root) = crate::base::xml::parse(Arc::from("registry-info"), text) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut stack = vec![&root];
    while let Some(el) = stack.pop() {
        if el.local_name() == "item" {
            let child = |n: &str| {
                el.elements()
                    .find(|c| c.local_name() == n)
                    .map(|c| c.text().trim().to_owned())
            };
            if let (Some(file), Some(path)) = (child("file"), child("path")) {
                out.push((file, path));
            }
        }
        stack.extend(el.elements());
    }
    out
}

/// The key of a resource published at registry folder `path` as `file`:
/// `/_system/governance/x` is `gov:x/file`, `/_system/config/x` is `conf:x/file`.
pub(crate) fn registry_key(path: &str, file: &str) -> Option<String> {
    let path = path.trim_end_matches('/');
    let (prefix, rest) = if let Some(rest) = path.strip_prefix("/_system/governance") {
        ("gov", rest)
    } else if let Some(rest) = path.strip_prefix("/_system/config") {
        ("conf", rest)
    } else {
        return None;
    };
    let rest = rest.trim_start_matches('/');
    let joined = match rest.is_empty() {
        true => file.to_owned(),
        false => format!("{rest}/{file}"),
    };
    Some(format!("{prefix}:{joined}"))
}

/// A registry key in its one spelling: `gov:/x` and `gov:x` are the same resource.
pub(crate) fn normalise_key(key: &str) -> String {
    for prefix in ["gov:", "conf:"] {
        if let Some(rest) = key.strip_prefix(prefix) {
            return format!("{prefix}{}", rest.trim_start_matches('/'));
        }
    }
    key.to_owned()
}

/// Reads the artifact folders of an MI or Integration Studio project: XML artifacts are
/// kept, files in folders of kinds Axon does not run are reported as such.
fn read_artifacts(dir: &Path, project: &mut Project, diags: &mut Diagnostics) {
    for sub in subdirs(dir) {
        let name = sub.file_name().map(|n| n.to_string_lossy().into_owned());
        match SKIPPED_DIRS
            .iter()
            .find(|(d, _)| Some(*d) == name.as_deref())
        {
            Some((_, what)) => report_skipped(&sub, what, diags),
            None => read_dir_xml(&sub, &mut project.files, diags),
        }
    }
}

fn report_skipped(dir: &Path, what: &str, diags: &mut Diagnostics) {
    let mut paths = Vec::new();
    collect(dir, &mut paths, &|_| true, diags);
    paths.sort();
    for path in paths {
        diags.warning(
            &Loc::file_start(Arc::from(path.display().to_string())),
            format!("{what} are not supported by Axon; this file is not loaded"),
        );
    }
}

fn read_registry_dir(
    dir: &Path,
    prefix: &str,
    registry: &mut BTreeMap<String, RawFile>,
    diags: &mut Diagnostics,
) {
    if !dir.is_dir() {
        return;
    }
    let mut paths = Vec::new();
    collect(dir, &mut paths, &|p| !p.ends_with(".meta"), diags);
    paths.sort();
    for path in paths {
        let mut read = Vec::new();
        read_files(std::slice::from_ref(&path), &mut read, diags);
        let rel = path.strip_prefix(dir).unwrap_or(&path);
        let rel = rel.to_string_lossy().replace('\\', "/");
        if let Some(raw) = read.pop() {
            registry.insert(format!("{prefix}:{rel}"), raw);
        }
    }
}

/// Every `*.xml` file under `dir`, recursively, read.
pub(crate) fn read_dir_xml(dir: &Path, out: &mut Vec<RawFile>, diags: &mut Diagnostics) {
    if !dir.is_dir() {
        diags.error(
            &Loc::file_start(Arc::from(dir.display().to_string())),
            "mediation folder does not exist or is not a directory",
        );
        return;
    }
    let mut paths = Vec::new();
    let is_xml = |p: &str| {
        Path::new(p)
            .extension()
            .is_some_and(|ext| ext.eq_ignore_ascii_case("xml"))
    };
    collect(dir, &mut paths, &is_xml, diags);
    paths.sort();
    read_files(&paths, out, diags);
}

/// Reads `paths`; a file that cannot be read is reported and skipped.
fn read_files(paths: &[PathBuf], out: &mut Vec<RawFile>, diags: &mut Diagnostics) {
    for path in paths {
        let shown: Arc<str> = Arc::from(path.display().to_string());
        match std::fs::read(path) {
            Ok(bytes) => out.push(RawFile { shown, bytes }),
            Err(error) => diags.error(
                &Loc::file_start(shown),
                format!("cannot read file: {error}"),
            ),
        }
    }
}

fn subdirs(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .filter(|p| p.is_dir() && !hidden(p))
        .collect();
    out.sort();
    out
}

fn hidden(p: &Path) -> bool {
    p.file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
}

fn collect(
    dir: &Path,
    out: &mut Vec<PathBuf>,
    keep: &dyn Fn(&str) -> bool,
    diags: &mut Diagnostics,
) {
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
        if hidden(&path) {
            continue;
        }
        if path.is_dir() {
            collect(&path, out, keep, diags);
        } else if keep(&path.to_string_lossy()) {
            out.push(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_paths_and_keys_have_one_spelling() {
        let key = registry_key("/_system/governance/custom/", "Seq.xml");
        assert_eq!(key.as_deref(), Some("gov:custom/Seq.xml"));
        let key = registry_key("/_system/config", "ep.xml");
        assert_eq!(key.as_deref(), Some("conf:ep.xml"));
        assert_eq!(registry_key("/_system/local/x", "a.xml"), None);
        assert_eq!(normalise_key("gov:/a/b.xml"), "gov:a/b.xml");
        assert_eq!(normalise_key("conf:a.xml"), "conf:a.xml");
        assert_eq!(normalise_key("LocalEntry"), "LocalEntry");
    }
}
