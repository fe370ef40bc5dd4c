//! A Carbon application (`.car`): a zip with `artifacts.xml` at its root, one folder per
//! artifact, and registry resources described by `registry-info.xml`. Read in memory,
//! within bounds: an archive is data from outside, and a zip bomb must be refused.

use std::collections::BTreeMap;
use std::io::{Cursor, Read};
use std::path::Path;
use std::sync::Arc;

use super::{Project, RawFile, registry_items, registry_key};
use crate::base::diag::{Diagnostics, Loc};

/// Largest `.car` file read.
const MAX_ARCHIVE: u64 = 64 * 1024 * 1024;
/// Most entries in one archive.
const MAX_ENTRIES: usize = 10_000;
/// Largest uncompressed entry.
const MAX_ENTRY: u64 = 16 * 1024 * 1024;
/// Largest total uncompressed size.
const MAX_TOTAL: u64 = 128 * 1024 * 1024;

/// Kinds of file in an archive that Axon does not run.
const SKIPPED: &[(&str, &str)] = &[
    (".dbs", "data services"),
    (".zip", "connectors"),
    (".jar", "class mediators and libraries"),
];

/// Reads the archive at `path` into `project`.
pub(super) fn read(path: &Path, project: &mut Project, diags: &mut Diagnostics) {
    let shown = path.display().to_string();
    let at = Loc::file_start(Arc::from(shown.as_str()));
    let entries = match unpack(path) {
        Ok(entries) => entries,
        Err(problem) => return diags.error(&at, format!("cannot read archive: {problem}")),
    };
    if !entries.contains_key("artifacts.xml") {
        return diags.error(&at, "not a Carbon application: it has no `artifacts.xml`");
    }
    let registry_dirs = read_registry(&entries, &shown, project);
    for (name, bytes) in entries {
        let in_registry = registry_dirs.iter().any(|d| name.starts_with(d.as_str()));
        let file = name.rsplit('/').next().unwrap_or(&name);
        let meta = matches!(file, "artifacts.xml" | "artifact.xml" | "registry-info.xml");
        let shown: Arc<str> = Arc::from(format!("{shown}!/{name}"));
        if in_registry || meta {
            continue;
        }
        if name.to_ascii_lowercase().ends_with(".xml") {
            project.files.push(RawFile { shown, bytes });
        } else if let Some((_, what)) = SKIPPED.iter().find(|(ext, _)| name.ends_with(ext)) {
            diags.warning(
                &Loc::file_start(shown),
                format!("{what} are not supported by Axon; this file is not loaded"),
            );
        }
    }
}

/// The registry resources of every folder with a `registry-info.xml`; returns those
/// folders (their other files are resources, not artifacts).
fn read_registry(
    entries: &BTreeMap<String, Vec<u8>>,
    shown: &str,
    project: &mut Project,
) -> Vec<String> {
    let mut dirs = Vec::new();
    for (name, bytes) in entries {
        let Some(dir) = name.strip_suffix("registry-info.xml") else {
            continue;
        };
        dirs.push(dir.to_owned());
        for (file, reg_path) in registry_items(&String::from_utf8_lossy(bytes)) {
            let entry = format!("{dir}resources/{file}");
            if let (Some(bytes), Some(key)) = (entries.get(&entry), registry_key(&reg_path, &file))
            {
                let shown = Arc::from(format!("{shown}!/{entry}"));
                let bytes = bytes.clone();
                project.registry.insert(key, RawFile { shown, bytes });
            }
        }
    }
    dirs
}

/// Every file entry of the archive by name, refusing archives past the bounds.
fn unpack(path: &Path) -> Result<BTreeMap<String, Vec<u8>>, String> {
    let size = std::fs::metadata(path)
        .map_err(|error| error.to_string())?
        .len();
    if size > MAX_ARCHIVE {
        return Err(format!("larger than {MAX_ARCHIVE} bytes"));
    }
    let bytes = std::fs::read(path).map_err(|error| error.to_string())?;
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|error| error.to_string())?;
    if zip.len() > MAX_ENTRIES {
        return Err(format!("more than {MAX_ENTRIES} entries"));
    }
    let mut out = BTreeMap::new();
    let mut total = 0u64;
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(|error| error.to_string())?;
        if entry.is_dir() {
            continue;
        }
        let name = entry.name().trim_start_matches('/').to_owned();
        // The declared size may lie: read at most one byte past the bound and check.
        let mut data = Vec::new();
        let read = (&mut entry)
            .take(MAX_ENTRY + 1)
            .read_to_end(&mut data)
            .map_err(|error| format!("entry `{name}`: {error}"))? as u64;
        total += read;
        if read > MAX_ENTRY {
            return Err(format!("entry `{name}` is larger than {MAX_ENTRY} bytes"));
        }
        if total > MAX_TOTAL {
            return Err(format!("more than {MAX_TOTAL} bytes uncompressed"));
        }
        out.insert(name, data);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn archive(entries: &[(&str, &[u8])]) -> tempfile::NamedTempFile {
        let file = tempfile::Builder::new().suffix(".car").tempfile().unwrap();
        let mut zip = zip::ZipWriter::new(file.reopen().unwrap());
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, data) in entries {
            zip.start_file(*name, options).unwrap();
            zip.write_all(data).unwrap();
        }
        zip.finish().unwrap();
        file
    }

    #[test]
    fn a_zip_bomb_is_refused_before_it_is_held() {
        let zeros = vec![0u8; (MAX_ENTRY + 1) as usize];
        let car = archive(&[("artifacts.xml", b"<artifacts/>"), ("bomb.xml", &zeros)]);
        let error = unpack(car.path()).unwrap_err();
        assert!(error.contains("bomb.xml` is larger than"), "{error}");
    }

    #[test]
    fn an_archive_without_artifacts_xml_is_not_a_car() {
        let car = archive(&[("a.xml", b"<api/>")]);
        let mut diags = Diagnostics::default();
        super::super::open(car.path(), &mut diags);
        let text: Vec<String> = diags.iter().map(|d| d.message.clone()).collect();
        assert!(
            text.iter().any(|m| m.contains("no `artifacts.xml`")),
            "{text:?}"
        );
    }
}
