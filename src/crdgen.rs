//! Generates the CustomResourceDefinitions from the Rust types, as YAML, one file per CRD.
//!
//! The committed copies in `crds/` and `charts/controlhub-operator/crds/` come from here and a
//! test fails when they are stale. This file renders and writes; it never talks to a cluster.

use std::fs;
use std::path::{Path, PathBuf};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

use crate::api::{ApiCredential, ClusterControlHubConnection, ControlHubConnection};

/// Directory of the generated CRDs, relative to the workspace root.
pub const CRD_DIR: &str = "crds";
/// The Helm chart's copy, relative to the workspace root.
pub const CHART_CRD_DIR: &str = "charts/controlhub-operator/crds";

/// Header written above every generated file.
const HEADER: &str =
    "# Generated from the Rust types in src/api by `controlhub-operator crd`. Do not edit.\n";

/// Why rendering or writing failed.
#[derive(Debug, thiserror::Error)]
pub enum CrdGenError {
    /// A CRD could not be serialized.
    #[error("rendering CRD {name} as YAML")]
    Render {
        /// The CRD's name.
        name: String,
        /// The serializer's error.
        source: serde_yaml::Error,
    },
    /// A file could not be written.
    #[error("writing {path}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// A rendered CRD: its file name and YAML text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenderedCrd {
    /// `<plural>.<group>.yaml`.
    pub file_name: String,
    /// The YAML document, with the generated-file header.
    pub yaml: String,
}

/// Every CRD of the operator, as installed (use this rather than `Kind::crd()` so that tests
/// install exactly what users get).
pub fn crds() -> Vec<CustomResourceDefinition> {
    [
        ApiCredential::crd(),
        ControlHubConnection::crd(),
        ClusterControlHubConnection::crd(),
    ]
    .into_iter()
    .map(unwrap_descriptions)
    .collect()
}

/// Joins the hard-wrapped lines of `///` docs into paragraphs, so that `kubectl explain` can
/// wrap descriptions to the terminal instead of showing our source line breaks.
fn unwrap_descriptions(crd: CustomResourceDefinition) -> CustomResourceDefinition {
    fn walk(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, child) in map.iter_mut() {
                    match child {
                        serde_json::Value::String(text) if key == "description" => *text = unwrap(text),
                        _ => walk(child),
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    let Ok(mut value) = serde_json::to_value(&crd) else {
        return crd;
    };
    walk(&mut value);
    serde_json::from_value(value).unwrap_or(crd)
}

/// `text` with single line breaks turned into spaces; blank lines still separate paragraphs.
fn unwrap(text: &str) -> String {
    text.split("\n\n")
        .map(|paragraph| paragraph.lines().map(str::trim).collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// Renders one CRD as a YAML document with the generated-file header.
pub fn render_yaml(crd: &CustomResourceDefinition) -> Result<String, CrdGenError> {
    let name = crd.metadata.name.clone().unwrap_or_default();
    let body = serde_yaml::to_string(crd).map_err(|source| CrdGenError::Render { name, source })?;
    Ok(format!("{HEADER}{body}"))
}

/// Renders every CRD, each with its file name.
pub fn render_all() -> Result<Vec<RenderedCrd>, CrdGenError> {
    crds()
        .iter()
        .map(|crd| {
            let name = crd.metadata.name.clone().unwrap_or_default();
            Ok(RenderedCrd {
                file_name: format!("{name}.yaml"),
                yaml: render_yaml(crd)?,
            })
        })
        .collect()
}

/// Every CRD as one multi-document YAML stream (for `controlhub-operator crd` without a
/// directory).
pub fn render_stream() -> Result<String, CrdGenError> {
    let documents: Vec<String> = render_all()?.into_iter().map(|rendered| rendered.yaml).collect();
    Ok(documents.join("---\n"))
}

/// Writes one file per CRD into `dir` (created if missing) and returns the paths written.
pub fn write_all(dir: &Path) -> Result<Vec<PathBuf>, CrdGenError> {
    fs::create_dir_all(dir).map_err(|source| CrdGenError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    render_all()?
        .into_iter()
        .map(|rendered| {
            let path = dir.join(&rendered.file_name);
            fs::write(&path, rendered.yaml).map_err(|source| CrdGenError::Write {
                path: path.clone(),
                source,
            })?;
            Ok(path)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_file_per_crd_named_after_the_crd() {
        let names: Vec<String> = render_all()
            .expect("renders")
            .into_iter()
            .map(|r| r.file_name)
            .collect();
        assert_eq!(
            names,
            [
                "apicredentials.controlhub.dev.yaml",
                "controlhubconnections.controlhub.dev.yaml",
                "clustercontrolhubconnections.controlhub.dev.yaml"
            ]
        );
    }

    #[test]
    fn stream_holds_every_crd_once_and_parses_back() {
        let stream = render_stream().expect("renders");
        let parsed: Vec<CustomResourceDefinition> = stream
            .split("---\n")
            .map(|doc| serde_yaml::from_str(doc).expect("each document parses"))
            .collect();
        assert_eq!(parsed, crds());
    }

    #[test]
    fn descriptions_are_unwrapped_into_paragraphs() {
        assert_eq!(unwrap("one\ntwo\n\nthree\n four"), "one two\n\nthree four");
        let yaml = render_stream().expect("renders");
        let sentence =
            "Absent: only on demand, by setting the annotation `controlhub.dev/rotate` to a new value.";
        assert!(yaml.contains(sentence));
    }

    #[test]
    fn unwrapping_changes_only_descriptions() {
        let raw = ApiCredential::crd();
        let installed = crds().remove(0);
        assert_eq!(installed.spec.names, raw.spec.names);
        let columns =
            |crd: &CustomResourceDefinition| crd.spec.versions[0].additional_printer_columns.clone();
        assert_eq!(columns(&installed), columns(&raw));
        let without_descriptions = |crd: &CustomResourceDefinition| {
            let text = serde_json::to_string(crd).expect("serializes");
            text.matches("\"rule\"").count() + text.matches("\"default\"").count()
        };
        assert_eq!(without_descriptions(&installed), without_descriptions(&raw));
        assert_ne!(installed, raw);
    }

    #[test]
    fn write_all_writes_what_render_all_renders() {
        let dir = std::env::temp_dir().join(format!("crdgen-test-{}", std::process::id()));
        let written = write_all(&dir).expect("writes");
        for (path, rendered) in written.iter().zip(render_all().expect("renders")) {
            assert_eq!(fs::read_to_string(path).expect("reads"), rendered.yaml);
        }
        fs::remove_dir_all(&dir).expect("cleans up");
    }
}
