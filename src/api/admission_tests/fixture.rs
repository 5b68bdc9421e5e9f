//! Reads the admission fixtures in `tests/fixtures/{valid,invalid}/*.yaml`. Test-only.
//!
//! A fixture is one or more YAML documents. Every document of a valid fixture must be accepted
//! in order; for an invalid one, all but the last must be accepted and the last refused with an
//! error containing each `# expect: <text>` line of the file. A later document with the same
//! kind and name is an update of the earlier one (for transition rules such as immutability).

use std::fs;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

/// One fixture file.
#[derive(Debug)]
pub struct Fixture {
    /// Where it was read from.
    pub path: PathBuf,
    /// The `# expect:` texts (empty for valid fixtures).
    pub expect: Vec<String>,
    /// The documents, in order.
    pub documents: Vec<Value>,
}

impl Fixture {
    /// `kind/name` of a document, to pair updates with their originals.
    pub fn identity(document: &Value) -> String {
        format!(
            "{}/{}",
            document["kind"].as_str().unwrap_or("?"),
            document["metadata"]["name"].as_str().unwrap_or("?")
        )
    }
}

/// The fixtures directory of one sort (`valid` or `invalid`).
pub fn dir(sort: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fixtures")
        .join(sort)
}

/// Every `*.yaml` fixture of one sort, sorted by file name.
pub fn load_all(sort: &str) -> Vec<Fixture> {
    let dir = dir(sort);
    let mut paths: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|err| panic!("reading {}: {err}", dir.display()))
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .collect();
    paths.sort();
    paths.into_iter().map(|path| load(&path)).collect()
}

fn load(path: &Path) -> Fixture {
    let text = fs::read_to_string(path).unwrap_or_else(|err| panic!("reading {}: {err}", path.display()));
    let expect = text
        .lines()
        .filter_map(|line| line.trim().strip_prefix("# expect:"))
        .map(|rest| rest.trim().to_owned())
        .collect();
    let documents = serde_yaml::Deserializer::from_str(&text)
        .map(|document| {
            Value::deserialize(document).unwrap_or_else(|err| panic!("parsing {}: {err}", path.display()))
        })
        .filter(|document| !document.is_null())
        .collect();
    Fixture {
        path: path.to_path_buf(),
        expect,
        documents,
    }
}
