//! Admission against the real API server, the authority on the CRDs' rules: every manifest in
//! `tests/fixtures/valid/` is accepted, and every one in `tests/fixtures/invalid/` is refused with
//! each `# expect:` text (format in `tests/fixtures/README.md`). The documents of a file are
//! submitted in order: a new object is created, a repeated kind/name replaces the earlier one
//! (which is how transition rules such as the immutable `userId` are exercised).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use controlhub_operator::crdgen;
use kube::api::{Api, DeleteParams, DynamicObject, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde::Deserialize;
use serde_json::Value;

use crate::env::install_crds;
use crate::support::{TestNamespace, plane};

/// One fixture file: its `# expect:` texts and its documents.
struct Fixture {
    path: PathBuf,
    expect: Vec<String>,
    documents: Vec<Value>,
}

fn load_all(sort: &str) -> Vec<Fixture> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(sort);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no fixtures in {}", dir.display());
    paths
        .into_iter()
        .map(|path| {
            let text =
                std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
            let expect = text
                .lines()
                .filter_map(|l| l.trim().strip_prefix("# expect:"))
                .map(|e| e.trim().to_string())
                .collect();
            let documents = serde_yaml::Deserializer::from_str(&text)
                .map(|d| Value::deserialize(d).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display())))
                .filter(|d| !d.is_null())
                .collect();
            Fixture {
                path,
                expect,
                documents,
            }
        })
        .collect()
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The API of a document's kind (from the generated CRDs), in `ns` when the kind is namespaced.
fn api_for(client: &kube::Client, ns: &str, document: &Value) -> Api<DynamicObject> {
    let kind = document["kind"].as_str().expect("a document has a kind");
    let crd = crdgen::crds()
        .into_iter()
        .find(|crd| crd.spec.names.kind == kind)
        .unwrap_or_else(|| panic!("no CRD of kind {kind}"));
    let gvk = GroupVersionKind::gvk(&crd.spec.group, &crd.spec.versions[0].name, kind);
    let ar = ApiResource::from_gvk_with_plural(&gvk, &crd.spec.names.plural);
    if crd.spec.scope == "Namespaced" {
        Api::namespaced_with(client.clone(), ns, &ar)
    } else {
        Api::all_with(client.clone(), &ar)
    }
}

/// Creates the document, or replaces the object of the same kind and name submitted before.
/// Returns the API server's message when it refuses.
async fn submit(
    client: &kube::Client,
    ns: &str,
    document: &Value,
    seen: &mut HashSet<String>,
) -> Result<(), String> {
    let api = api_for(client, ns, document);
    let name = document["metadata"]["name"]
        .as_str()
        .expect("a document has a name")
        .to_string();
    let mut object: DynamicObject =
        serde_json::from_value(document.clone()).map_err(|e| format!("not an object: {e}"))?;
    let identity = format!("{}/{name}", document["kind"].as_str().unwrap_or_default());
    let result = if seen.contains(&identity) {
        let existing = api
            .get(&name)
            .await
            .map_err(|e| format!("reading {identity} back: {e}"))?;
        object.metadata.resource_version = existing.metadata.resource_version;
        api.replace(&name, &PostParams::default(), &object).await
    } else {
        api.create(&PostParams::default(), &object).await
    };
    match result {
        Ok(_) => {
            seen.insert(identity);
            Ok(())
        }
        Err(kube::Error::Api(e)) => Err(e.message),
        Err(e) => panic!("submitting {identity}: {e}"),
    }
}

/// Deletes the cluster-scoped objects the fixtures created (namespaced ones go with the namespace).
async fn delete_cluster_scoped(client: &kube::Client, fixtures: &[Fixture]) {
    for document in fixtures.iter().flat_map(|f| &f.documents) {
        if document["kind"] == "ClusterControlHubConnection" {
            let name = document["metadata"]["name"].as_str().unwrap_or_default();
            let _ = api_for(client, "", document)
                .delete(name, &DeleteParams::default())
                .await;
        }
    }
}

/// Every valid fixture is accepted by the API server, every document of it.
#[tokio::test]
async fn the_api_server_accepts_every_valid_fixture() {
    install_crds().await;
    let ns = TestNamespace::create("admission-valid").await;
    let client = plane().client().await;
    let fixtures = load_all("valid");
    let mut seen = HashSet::new();
    let mut refused = Vec::new();
    for fixture in &fixtures {
        for document in &fixture.documents {
            if let Err(message) = submit(&client, &ns.name, document, &mut seen).await {
                refused.push(format!("{}: {message}", file_name(&fixture.path)));
            }
        }
    }
    delete_cluster_scoped(&client, &fixtures).await;
    assert!(
        refused.is_empty(),
        "valid fixtures refused:\n{}",
        refused.join("\n")
    );
}

/// Every invalid fixture: the documents before the last are accepted, the last is refused with a
/// message containing each `# expect:` text.
#[tokio::test]
async fn the_api_server_refuses_every_invalid_fixture_with_the_expected_message() {
    install_crds().await;
    let ns = TestNamespace::create("admission-invalid").await;
    let client = plane().client().await;
    let fixtures = load_all("invalid");
    let mut seen = HashSet::new();
    let mut problems = Vec::new();
    for fixture in &fixtures {
        let file = file_name(&fixture.path);
        assert!(!fixture.expect.is_empty(), "{file} has no # expect: line");
        let (last, setup) = fixture
            .documents
            .split_last()
            .unwrap_or_else(|| panic!("{file} has no document"));
        for document in setup {
            if let Err(message) = submit(&client, &ns.name, document, &mut seen).await {
                problems.push(format!(
                    "{file}: a document before the last was refused: {message}"
                ));
            }
        }
        match submit(&client, &ns.name, last, &mut seen).await {
            Ok(()) => problems.push(format!("{file}: accepted, but must be refused")),
            Err(message) => {
                for text in fixture
                    .expect
                    .iter()
                    .filter(|text| !message.contains(text.as_str()))
                {
                    problems.push(format!("{file}: the message lacks {text:?}; it was: {message}"));
                }
            }
        }
    }
    delete_cluster_scoped(&client, &fixtures).await;
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
