//! Runs the admission fixtures (`tests/fixtures/`) against the generated CRD schemas without a
//! cluster: OpenAPI keywords through [`openapi`], CEL rules through kube's client-side CEL
//! evaluator (which applies schema defaults first, as the API server does). Test-only.
//!
//! The same fixtures are applied to a real API server by the end-to-end tests; this catches a
//! broken rule or a wrong fixture in seconds.

mod fixture;
mod openapi;

use std::collections::HashMap;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;
use kube::core::cel::Validator;
use serde_json::Value;

use super::rules;
use super::{ApiCredential, ClusterControlHubConnection, ControlHubConnection};
use fixture::Fixture;

/// The openAPIV3Schema for a document's kind, checking its apiVersion.
fn schema_for(document: &Value) -> Result<Value, String> {
    let api_version = format!("{}/{}", super::GROUP, super::VERSION);
    if document["apiVersion"] != api_version.as_str() {
        return Err(format!("apiVersion must be {api_version}"));
    }
    let crd: CustomResourceDefinition = match document["kind"].as_str() {
        Some("ApiCredential") => ApiCredential::crd(),
        Some("ControlHubConnection") => ControlHubConnection::crd(),
        Some("ClusterControlHubConnection") => ClusterControlHubConnection::crd(),
        other => return Err(format!("unknown kind {other:?}")),
    };
    let schema = crd.spec.versions[0]
        .schema
        .as_ref()
        .and_then(|s| s.open_api_v3_schema.as_ref());
    serde_json::to_value(schema).map_err(|err| err.to_string())
}

/// What admission would say about `document` (an update of `old` when given): the errors,
/// plus fields the schema does not declare.
fn admit(document: &Value, old: Option<&Value>) -> (Vec<String>, Vec<String>) {
    let schema = match schema_for(document) {
        Ok(schema) => schema,
        Err(err) => return (vec![err], Vec::new()),
    };
    let findings = openapi::check_object(&schema, document);
    let mut errors = findings.errors;
    if let Err(failures) = Validator::new().validate(&schema, document, old) {
        errors.extend(failures.iter().map(ToString::to_string));
    }
    (errors, findings.unknown_fields)
}

/// Applies the documents in order, returning the result of each.
fn apply_in_order(fixture: &Fixture) -> Vec<(Vec<String>, Vec<String>)> {
    let mut stored: HashMap<String, Value> = HashMap::new();
    fixture
        .documents
        .iter()
        .map(|document| {
            let identity = Fixture::identity(document);
            let result = admit(document, stored.get(&identity));
            stored.insert(identity, document.clone());
            result
        })
        .collect()
}

#[test]
fn valid_fixtures_are_admitted_and_parse_into_the_rust_types() {
    let fixtures = fixture::load_all("valid");
    assert!(!fixtures.is_empty(), "no valid fixtures found");
    let mut problems = Vec::new();
    for fixture in &fixtures {
        let name = fixture.path.display();
        if !fixture.expect.is_empty() {
            problems.push(format!("{name}: a valid fixture must not have `# expect:` lines"));
        }
        for (document, (errors, unknown)) in fixture.documents.iter().zip(apply_in_order(fixture)) {
            if !errors.is_empty() {
                problems.push(format!("{name}: refused: {errors:?}"));
            }
            if !unknown.is_empty() {
                problems.push(format!("{name}: fields not in the schema (typo?): {unknown:?}"));
            }
            let parsed = match document["kind"].as_str() {
                Some("ApiCredential") => serde_json::from_value::<ApiCredential>(document.clone()).err(),
                Some("ControlHubConnection") => {
                    serde_json::from_value::<ControlHubConnection>(document.clone()).err()
                }
                _ => serde_json::from_value::<ClusterControlHubConnection>(document.clone()).err(),
            };
            if let Some(err) = parsed {
                problems.push(format!("{name}: does not parse into the Rust type: {err}"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn invalid_fixtures_are_refused_for_the_expected_reason() {
    let fixtures = fixture::load_all("invalid");
    assert!(!fixtures.is_empty(), "no invalid fixtures found");
    let mut problems = Vec::new();
    for fixture in &fixtures {
        let name = fixture.path.display();
        if fixture.expect.is_empty() {
            problems.push(format!("{name}: has no `# expect:` line"));
            continue;
        }
        let results = apply_in_order(fixture);
        let Some(((last_errors, _), earlier)) = results.split_last() else {
            problems.push(format!("{name}: has no documents"));
            continue;
        };
        for (errors, _) in earlier {
            if !errors.is_empty() {
                problems.push(format!("{name}: an earlier document was refused: {errors:?}"));
            }
        }
        let all = last_errors.join("\n");
        if last_errors.is_empty() {
            problems.push(format!(
                "{name}: was admitted, expected refusal with {:?}",
                fixture.expect
            ));
        }
        for expected in &fixture.expect {
            if !last_errors.is_empty() && !all.contains(expected.as_str()) {
                problems.push(format!("{name}: refused, but not with {expected:?}; got:\n{all}"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_cel_rule_has_an_invalid_fixture() {
    let fixtures = fixture::load_all("invalid");
    let expectations: Vec<&str> = fixtures
        .iter()
        .flat_map(|f| f.expect.iter().map(String::as_str))
        .collect();
    let uncovered: Vec<&str> = rules::ALL_CEL_RULES
        .iter()
        .filter(|rule| !expectations.contains(&rule.message))
        .map(|rule| rule.message)
        .collect();
    assert!(
        uncovered.is_empty(),
        "CEL rules without an invalid fixture: {uncovered:?}"
    );
}
