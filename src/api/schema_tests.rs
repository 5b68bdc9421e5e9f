//! Tests of the generated CRDs themselves: names, printer columns, defaults, list semantics and
//! that every CEL rule of [`super::rules`] lands where it belongs. Test-only.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;
use serde_json::Value;

use super::rules::{self, CelRule};
use super::{ApiCredential, ClusterControlHubConnection, ControlHubConnection};

/// The openAPIV3Schema of a CRD's only version, as JSON.
fn schema(crd: &CustomResourceDefinition) -> Value {
    let version = &crd.spec.versions[0];
    let schema = version
        .schema
        .as_ref()
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .expect("schema");
    serde_json::to_value(schema).expect("schema serializes")
}

/// The schema node at `path` (property names, `[]` for array items).
fn node<'a>(schema: &'a Value, path: &[&str]) -> &'a Value {
    path.iter().fold(schema, |current, step| {
        let next = if *step == "[]" {
            &current["items"]
        } else {
            &current["properties"][*step]
        };
        assert!(!next.is_null(), "no schema node {step} in {path:?}");
        next
    })
}

/// The CEL rules attached at a schema node.
fn rules_at(schema: &Value, path: &[&str]) -> Vec<CelRule> {
    let found = node(schema, path)["x-kubernetes-validations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    rules::ALL_CEL_RULES
        .iter()
        .copied()
        .filter(|rule| {
            found
                .iter()
                .any(|v| v["rule"] == rule.rule && v["message"] == rule.message)
        })
        .collect()
}

fn printer_columns(crd: &CustomResourceDefinition) -> Vec<(String, String, String)> {
    crd.spec.versions[0]
        .additional_printer_columns
        .as_ref()
        .expect("printer columns")
        .iter()
        .map(|c| (c.name.clone(), c.type_.clone(), c.json_path.clone()))
        .collect()
}

fn column(name: &str, type_: &str, path: &str) -> (String, String, String) {
    (name.to_owned(), type_.to_owned(), path.to_owned())
}

const READY_PATH: &str = ".status.conditions[?(@.type==\"Ready\")].status";

#[test]
fn api_credential_names_scope_and_status_subresource() {
    let crd = ApiCredential::crd();
    assert_eq!(
        crd.metadata.name.as_deref(),
        Some("apicredentials.controlhub.dev")
    );
    assert_eq!(crd.spec.group, super::GROUP);
    assert_eq!(crd.spec.scope, "Namespaced");
    assert_eq!(crd.spec.names.short_names, Some(vec!["apicred".to_owned()]));
    assert_eq!(crd.spec.names.categories, Some(vec!["controlhub".to_owned()]));
    assert_eq!(crd.spec.versions[0].name, super::VERSION);
    assert!(
        crd.spec.versions[0]
            .subresources
            .as_ref()
            .and_then(|s| s.status.as_ref())
            .is_some()
    );
}

#[test]
fn connection_crds_names_and_scope() {
    let namespaced = ControlHubConnection::crd();
    assert_eq!(namespaced.spec.scope, "Namespaced");
    assert_eq!(namespaced.spec.names.short_names, Some(vec!["chconn".to_owned()]));
    let cluster = ClusterControlHubConnection::crd();
    assert_eq!(cluster.spec.scope, "Cluster");
    assert_eq!(cluster.spec.names.short_names, Some(vec!["cchconn".to_owned()]));
    for crd in [namespaced, cluster] {
        assert_eq!(crd.spec.names.categories, Some(vec!["controlhub".to_owned()]));
        assert!(
            crd.spec.versions[0]
                .subresources
                .as_ref()
                .and_then(|s| s.status.as_ref())
                .is_some()
        );
    }
}

#[test]
fn api_credential_printer_columns() {
    assert_eq!(
        printer_columns(&ApiCredential::crd()),
        [
            column("Label", "string", ".status.label"),
            column("Credential ID", "string", ".status.credentialId"),
            column("Active", "boolean", ".status.active"),
            column("Ready", "string", READY_PATH),
            // A `date` column would print a future time as "<invalid>".
            column("Next Rotation", "string", ".status.nextRotationTime"),
            column("Age", "date", ".metadata.creationTimestamp"),
        ]
    );
}

#[test]
fn connection_printer_columns() {
    let expected = [
        column("URL", "string", ".spec.url"),
        column("Organization", "string", ".status.organizationId"),
        column("Principal", "string", ".status.principalId"),
        column("Org Admin", "boolean", ".status.orgAdmin"),
        column("Ready", "string", READY_PATH),
        column("Age", "date", ".metadata.creationTimestamp"),
    ];
    assert_eq!(printer_columns(&ControlHubConnection::crd()), expected);
    assert_eq!(printer_columns(&ClusterControlHubConnection::crd()), expected);
}

#[test]
fn api_credential_defaults_are_in_the_schema() {
    let s = schema(&ApiCredential::crd());
    assert_eq!(node(&s, &["spec", "active"])["default"], true);
    assert_eq!(node(&s, &["spec", "deletionPolicy"])["default"], "Delete");
    assert_eq!(
        node(&s, &["spec", "connectionRef", "kind"])["default"],
        "ClusterControlHubConnection"
    );
    assert_eq!(
        node(&s, &["spec", "rotation", "strategy"])["default"],
        "Regenerate"
    );
    assert_eq!(node(&s, &["spec", "secret", "type"])["default"], "Opaque");
    assert_eq!(
        node(&s, &["spec", "secret", "keys", "credentialId"])["default"],
        "credentialId"
    );
    assert_eq!(
        node(&s, &["spec", "secret", "keys", "authToken"])["default"],
        "authToken"
    );
}

#[test]
fn connection_defaults_are_in_the_schema() {
    for s in [
        schema(&ControlHubConnection::crd()),
        schema(&ClusterControlHubConnection::crd()),
    ] {
        assert_eq!(node(&s, &["spec", "maxConcurrentRequests"])["default"], 16);
        assert_eq!(
            node(&s, &["spec", "rateLimit", "requestsPerSecond"])["default"],
            100.0
        );
        assert_eq!(node(&s, &["spec", "rateLimit", "burst"])["default"], 100);
        assert_eq!(
            node(&s, &["spec", "credentialsSecretRef", "credentialIdKey"])["default"],
            "credentialId"
        );
        assert_eq!(
            node(&s, &["spec", "credentialsSecretRef", "authTokenKey"])["default"],
            "authToken"
        );
    }
}

#[test]
fn api_credential_cel_rules_sit_on_their_fields() {
    let s = schema(&ApiCredential::crd());
    assert_eq!(
        rules_at(&s, &["spec"]),
        [rules::USER_ID_IMMUTABLE, rules::CONNECTION_REF_IMMUTABLE]
    );
    assert_eq!(
        rules_at(&s, &[]),
        [rules::SECRET_TYPE_IMMUTABLE],
        "the Secret type rule needs metadata.name, so it sits on the root"
    );
    assert_eq!(
        s["x-kubernetes-validations"][0]["fieldPath"],
        rules::SECRET_TYPE_IMMUTABLE_FIELD_PATH,
        "a failure is reported at the field, not at the root"
    );
    assert_eq!(
        rules_at(&s, &["spec", "name"]),
        [rules::LABEL_TRIMMED, rules::LABEL_NO_MARKER]
    );
    assert_eq!(
        rules_at(&s, &["spec", "rotation"]),
        [
            rules::ROTATION_ONE_OF,
            rules::TIME_ZONE_NEEDS_SCHEDULE,
            rules::GRACE_PERIOD_NEEDS_REPLACE,
            rules::GRACE_PERIOD_WITHIN_INTERVAL
        ]
    );
    assert_eq!(
        rules_at(&s, &["spec", "rotation", "interval"]),
        [rules::INTERVAL_MIN]
    );
    assert_eq!(
        rules_at(&s, &["spec", "rotation", "gracePeriod"]),
        [rules::GRACE_PERIOD_RANGE]
    );
    assert_eq!(
        rules_at(&s, &["spec", "rotation", "schedule"]),
        [rules::SCHEDULE_FIVE_FIELDS, rules::SCHEDULE_AT_MOST_HOURLY]
    );
    assert_eq!(
        rules_at(&s, &["spec", "secret", "keys"]),
        [rules::SECRET_KEYS_DISTINCT]
    );
    assert_eq!(
        rules_at(&s, &["spec", "secret", "type"]),
        [rules::SECRET_TYPE_ALLOWED]
    );
    assert_eq!(
        rules_at(&s, &["spec", "secret", "labels"]),
        [
            rules::SECRET_LABEL_KEYS,
            rules::SECRET_LABEL_VALUES,
            rules::SECRET_LABELS_RESERVED
        ]
    );
    assert_eq!(
        rules_at(&s, &["spec", "secret", "annotations"]),
        [rules::SECRET_ANNOTATION_KEYS, rules::SECRET_ANNOTATIONS_RESERVED]
    );
}

#[test]
fn secret_metadata_maps_are_bounded_for_the_cel_cost_estimate() {
    // The key rules run a regex per key: the API server refuses the CRD when the number of
    // entries or the length of what a rule reads is unbounded.
    let s = schema(&ApiCredential::crd());
    for (field, value_max) in [
        ("labels", rules::LABEL_VALUE_MAX),
        ("annotations", rules::ANNOTATION_VALUE_MAX),
    ] {
        let map = node(&s, &["spec", "secret", field]);
        assert_eq!(
            map["maxProperties"],
            rules::SECRET_METADATA_ENTRIES_MAX,
            "{field}"
        );
        assert_eq!(map["additionalProperties"]["maxLength"], value_max, "{field}");
        assert_eq!(map["additionalProperties"]["type"], "string", "{field}");
    }
}

#[test]
fn reserved_secret_metadata_is_what_the_operator_writes() {
    use crate::controller::apicredential::secret::{
        CREDENTIAL_ID_ANNOTATION, CREDENTIAL_LABEL, DATA_KEYS_ANNOTATION, FINGERPRINT_ANNOTATION,
        MANAGED_BY_LABEL,
    };
    assert_eq!(
        rules::RESERVED_SECRET_LABELS,
        [MANAGED_BY_LABEL, CREDENTIAL_LABEL]
    );
    assert_eq!(
        rules::RESERVED_SECRET_ANNOTATIONS,
        [
            CREDENTIAL_ID_ANNOTATION,
            FINGERPRINT_ANNOTATION,
            DATA_KEYS_ANNOTATION
        ]
    );
    for key in rules::RESERVED_SECRET_LABELS {
        assert!(
            rules::SECRET_LABELS_RESERVED
                .rule
                .contains(&format!("'{key}' in self")),
            "{key}"
        );
        assert!(rules::SECRET_LABELS_RESERVED.message.contains(key), "{key}");
    }
    for key in rules::RESERVED_SECRET_ANNOTATIONS {
        assert!(
            rules::SECRET_ANNOTATIONS_RESERVED
                .rule
                .contains(&format!("'{key}' in self")),
            "{key}"
        );
        assert!(rules::SECRET_ANNOTATIONS_RESERVED.message.contains(key), "{key}");
    }
}

#[test]
fn the_refused_marker_is_the_one_the_operator_writes() {
    let marker = crate::controller::apicredential::decide::marker("0f4c2b9e-7a51-4d2e-9a57-3c1f0e6b8d21");
    assert!(marker.starts_with(rules::MARKER_PREFIX), "{marker}");
    assert!(
        rules::LABEL_NO_MARKER
            .rule
            .contains(&format!("'{}'", rules::MARKER_PREFIX)),
        "{}",
        rules::LABEL_NO_MARKER.rule
    );
}

#[test]
fn connection_cel_rules_sit_on_their_fields() {
    for s in [
        schema(&ControlHubConnection::crd()),
        schema(&ClusterControlHubConnection::crd()),
    ] {
        assert_eq!(rules_at(&s, &["spec"]), [rules::CONNECTION_URL_ONE_OF]);
        assert_eq!(rules_at(&s, &["spec", "url"]), [rules::HTTP_URL]);
        assert_eq!(rules_at(&s, &["spec", "asterUrl"]), [rules::HTTP_URL]);
        assert_eq!(rules_at(&s, &["spec", "caBundle"]), [rules::CA_BUNDLE_PEM]);
    }
}

#[test]
fn every_cel_rule_is_used_and_every_string_it_reads_is_bounded() {
    let schemas = [
        schema(&ApiCredential::crd()),
        schema(&ControlHubConnection::crd()),
        schema(&ClusterControlHubConnection::crd()),
    ];
    let text: String = schemas.iter().map(Value::to_string).collect();
    for rule in rules::ALL_CEL_RULES {
        let encoded = serde_json::to_string(rule.rule).expect("encodes");
        assert!(text.contains(&encoded), "rule {} is not in any CRD", rule.rule);
    }
    // The API server's cost estimate needs a maxLength on every string a rule reads.
    for (s, path) in [
        (&schemas[0], vec!["spec", "name"]),
        (&schemas[0], vec!["spec", "userId"]),
        (&schemas[0], vec!["spec", "rotation", "interval"]),
        (&schemas[0], vec!["spec", "rotation", "schedule"]),
        (&schemas[0], vec!["spec", "rotation", "timeZone"]),
        (&schemas[0], vec!["spec", "rotation", "gracePeriod"]),
        (&schemas[0], vec!["spec", "secret", "type"]),
        (&schemas[0], vec!["spec", "secret", "keys", "url"]),
        (&schemas[1], vec!["spec", "url"]),
        (&schemas[1], vec!["spec", "caBundle"]),
    ] {
        assert!(node(s, &path)["maxLength"].is_u64(), "{path:?} has no maxLength");
    }
}

#[test]
fn list_semantics_support_server_side_apply() {
    let s = schema(&ApiCredential::crd());
    let targets = node(&s, &["spec", "restartTargets"]);
    assert_eq!(targets["maxItems"], 20);
    assert_eq!(targets["x-kubernetes-list-type"], "map");
    assert_eq!(
        targets["x-kubernetes-list-map-keys"],
        serde_json::json!(["kind", "name"])
    );
    let conditions = node(&s, &["status", "conditions"]);
    assert_eq!(conditions["x-kubernetes-list-type"], "map");
    assert_eq!(
        conditions["x-kubernetes-list-map-keys"],
        serde_json::json!(["type"])
    );
    let c = schema(&ClusterControlHubConnection::crd());
    assert_eq!(
        node(&c, &["spec", "allowedUserIds"])["x-kubernetes-list-type"],
        "set"
    );
    assert_eq!(
        node(&c, &["status", "conditions"])["x-kubernetes-list-map-keys"],
        serde_json::json!(["type"])
    );
}

#[test]
fn cluster_only_fields_exist_only_on_the_cluster_kind() {
    let namespaced = schema(&ControlHubConnection::crd());
    let cluster = schema(&ClusterControlHubConnection::crd());
    assert!(namespaced["properties"]["spec"]["properties"]["allowedNamespaces"].is_null());
    assert!(
        namespaced["properties"]["spec"]["properties"]["credentialsSecretRef"]["properties"]["namespace"]
            .is_null()
    );
    assert!(!node(&cluster, &["spec", "allowedNamespaces"]).is_null());
    let required = &node(&cluster, &["spec", "credentialsSecretRef"])["required"];
    assert!(
        required
            .as_array()
            .is_some_and(|r| r.contains(&Value::from("namespace"))),
        "{required}"
    );
}

#[test]
fn every_spec_field_is_documented_for_kubectl_explain() {
    fn check(schema: &Value, path: &str, missing: &mut Vec<String>) {
        if let Some(properties) = schema["properties"].as_object() {
            for (name, child) in properties {
                let child_path = format!("{path}.{name}");
                if child["description"].as_str().is_none_or(str::is_empty) {
                    missing.push(child_path.clone());
                }
                check(child, &child_path, missing);
            }
        }
        if schema["items"].is_object() {
            check(&schema["items"], &format!("{path}[]"), missing);
        }
    }
    for crd in [
        ApiCredential::crd(),
        ControlHubConnection::crd(),
        ClusterControlHubConnection::crd(),
    ] {
        let mut missing = Vec::new();
        check(&schema(&crd)["properties"]["spec"], "spec", &mut missing);
        check(&schema(&crd)["properties"]["status"], "status", &mut missing);
        assert!(
            missing.is_empty(),
            "{} fields without docs: {missing:?}",
            crd.spec.names.kind
        );
    }
}

#[test]
fn every_format_is_one_the_api_server_recognises() {
    // Unrecognised formats make `kubectl apply` of the CRD print warnings (Kubernetes 1.37).
    fn collect(schema: &Value, path: &str, bad: &mut Vec<String>) {
        match schema {
            Value::Object(map) => {
                if let Some(format) = map.get("format").and_then(Value::as_str) {
                    let ok = match map.get("type").and_then(Value::as_str) {
                        Some("integer") => matches!(format, "int32" | "int64"),
                        Some("number") => matches!(format, "float" | "double"),
                        Some("string") => matches!(format, "date-time" | "date" | "byte" | "duration"),
                        _ => false,
                    };
                    if !ok {
                        bad.push(format!("{path}: {format}"));
                    }
                }
                for (key, child) in map {
                    collect(child, &format!("{path}/{key}"), bad);
                }
            }
            Value::Array(items) => items.iter().for_each(|item| collect(item, path, bad)),
            _ => {}
        }
    }
    for crd in [
        ApiCredential::crd(),
        ControlHubConnection::crd(),
        ClusterControlHubConnection::crd(),
    ] {
        let mut bad = Vec::new();
        collect(&schema(&crd), "", &mut bad);
        assert!(
            bad.is_empty(),
            "{}: unrecognised formats {bad:?}",
            crd.spec.names.kind
        );
    }
}

/// The CEL rules spell out each output format's default key: they must be the keys the operator
/// writes when `key` is not set.
#[test]
fn output_format_rules_use_the_default_keys() {
    use super::OutputFormatType;
    for type_ in [OutputFormatType::Dotenv, OutputFormatType::OrganizationId] {
        let key = format!("'{}'", type_.default_key());
        for rule in [rules::OUTPUT_FORMAT_KEYS_DISTINCT, rules::OUTPUT_FORMAT_KEYS_FREE] {
            assert!(rule.rule.contains(&key), "{} lacks {key}", rule.rule);
            assert!(rule.message.contains(type_.default_key()), "{}", rule.message);
        }
    }
    assert!(
        rules::OUTPUT_FORMAT_KEYS_FREE
            .rule
            .contains("f.type == 'Dotenv' ? 'controlhub.env'")
    );
}
