//! The chart's alerts and dashboard, and the docs for people who run the operator, agree with the
//! operator: every PromQL expression parses and uses only metrics the operator registers (or
//! Prometheus' own `up`), every alert links to a runbook section that exists, every condition
//! `Reason` has a troubleshooting section, and the metrics reference lists exactly the registry.
//!
//! The chart is rendered with the real helm (`scripts/k8s-tools.sh --dir`, or `K8S_BIN_DIR`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use controlhub_operator::api::Reason;
use controlhub_operator::metrics::metric_names;
use promql_parser::parser::{self, Expr};
use promql_parser::util::{ExprVisitor, walk_expr};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const ALERTS: &[&str] = &[
    "ControlHubCredentialNotReady",
    "ControlHubCredentialRotationOverdue",
    "ControlHubRequestErrors",
    "ControlHubOwnerQuotaNearlyFull",
    "ControlHubOperatorAbsent",
];
/// Metrics the expressions may use that Prometheus makes itself.
const PROMETHEUS_OWN: &[&str] = &["up"];
const RUNBOOK_BASE: &str = "https://docs.example/ops/troubleshooting.md";

fn helm() -> PathBuf {
    let dir = match std::env::var("K8S_BIN_DIR") {
        Ok(dir) => dir,
        Err(_) => {
            let out = Command::new("bash")
                .arg(format!("{ROOT}/scripts/k8s-tools.sh"))
                .arg("--dir")
                .output()
                .expect("running scripts/k8s-tools.sh --dir");
            String::from_utf8(out.stdout).unwrap().trim().to_string()
        }
    };
    let helm = Path::new(&dir).join("helm");
    assert!(
        helm.exists(),
        "helm not found at {}: build it with scripts/k8s-tools.sh",
        helm.display()
    );
    helm
}

/// The chart rendered with the rule and the dashboard on, as YAML documents.
fn render_monitoring() -> Vec<serde_yaml::Value> {
    let out = Command::new(helm())
        .args(["template", "mon", &format!("{ROOT}/charts/controlhub-operator")])
        .args(["--namespace", "ops"])
        .args(["--set", "monitoring.prometheusRule.enabled=true"])
        .args(["--set", "monitoring.dashboard.enabled=true"])
        .args(["--set", &format!("monitoring.runbookBaseUrl={RUNBOOK_BASE}")])
        .args(["--show-only", "templates/prometheusrule.yaml"])
        .args(["--show-only", "templates/dashboard-configmap.yaml"])
        .output()
        .expect("running helm template");
    assert!(
        out.status.success(),
        "helm template failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    serde_yaml::Deserializer::from_str(&text)
        .map(|doc| serde_yaml::Value::deserialize(doc).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

use serde::Deserialize;

fn of_kind<'a>(docs: &'a [serde_yaml::Value], kind: &str) -> &'a serde_yaml::Value {
    docs.iter()
        .find(|d| d["kind"].as_str() == Some(kind))
        .unwrap_or_else(|| panic!("no {kind} rendered"))
}

/// The rules of the rendered PrometheusRule, by alert name.
fn rules(docs: &[serde_yaml::Value]) -> BTreeMap<String, serde_yaml::Value> {
    let rule = of_kind(docs, "PrometheusRule");
    let mut out = BTreeMap::new();
    for group in rule["spec"]["groups"].as_sequence().expect("spec.groups") {
        for r in group["rules"].as_sequence().expect("rules") {
            let name = r["alert"].as_str().expect("every rule is an alert").to_string();
            assert!(
                out.insert(name.clone(), r.clone()).is_none(),
                "alert {name} twice"
            );
        }
    }
    out
}

/// The dashboard JSON of the rendered ConfigMap.
fn dashboard(docs: &[serde_yaml::Value]) -> serde_json::Value {
    let cm = of_kind(docs, "ConfigMap");
    assert_eq!(
        cm["metadata"]["labels"]["grafana_dashboard"].as_str(),
        Some("1"),
        "the Grafana sidecar picks dashboards up by this label"
    );
    let json = cm["data"]["controlhub-operator.json"]
        .as_str()
        .expect("the dashboard JSON");
    serde_json::from_str(json).expect("the dashboard is valid JSON")
}

struct Selectors(BTreeSet<String>);

impl ExprVisitor for Selectors {
    type Error = String;
    fn pre_visit(&mut self, expr: &Expr) -> Result<bool, String> {
        let vs = match expr {
            Expr::VectorSelector(vs) => vs,
            Expr::MatrixSelector(ms) => &ms.vs,
            _ => return Ok(true),
        };
        let name = vs.name.clone().or_else(|| {
            vs.matchers
                .matchers
                .iter()
                .find(|m| m.name == "__name__")
                .map(|m| m.value.clone())
        });
        match name {
            Some(name) => {
                self.0.insert(name);
                Ok(true)
            }
            None => Err(format!("a selector without a metric name: {vs}")),
        }
    }
}

/// Parses `expr` (failing the test with the parser's message) and returns the metric names it uses.
fn metrics_of(what: &str, expr: &str) -> BTreeSet<String> {
    let parsed = parser::parse(expr).unwrap_or_else(|e| panic!("{what}: {e}\n{expr}"));
    let mut names = Selectors(BTreeSet::new());
    walk_expr(&mut names, &parsed).unwrap_or_else(|e| panic!("{what}: {e}"));
    names.0
}

fn registered() -> BTreeSet<String> {
    metric_names()
        .into_iter()
        .chain(PROMETHEUS_OWN.iter().map(|s| s.to_string()))
        .collect()
}

fn assert_registered(what: &str, used: &BTreeSet<String>) {
    let known = registered();
    for name in used {
        assert!(
            known.contains(name),
            "{what} uses {name}, which the operator does not register; registered: {known:?}"
        );
    }
}

/// Every `expr` in a JSON value (dashboard panels and their targets).
fn json_exprs(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("expr", serde_json::Value::String(s)) => out.push(s.clone()),
                    _ => json_exprs(v, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| json_exprs(v, out)),
        _ => {}
    }
}

/// Grafana's variables replaced by values PromQL accepts.
fn grafana_to_promql(expr: &str) -> String {
    expr.replace("$__rate_interval", "5m")
        .replace("$__interval", "1m")
        .replace("$__range", "1h")
        .replace("$job", ".*")
}

/// `### Heading` lines under the `## section` heading of a markdown file.
fn headings_under(markdown: &str, section: &str) -> Vec<String> {
    let mut inside = false;
    let mut out = Vec::new();
    for line in markdown.lines() {
        if let Some(h2) = line.strip_prefix("## ") {
            inside = h2.trim() == section;
        } else if let Some(h3) = line.strip_prefix("### ")
            && inside
        {
            out.push(h3.trim().to_string());
        }
    }
    out
}

/// GitHub's anchor of a heading made of letters and digits.
fn anchor(heading: &str) -> String {
    heading.to_lowercase()
}

fn troubleshooting() -> String {
    std::fs::read_to_string(format!("{ROOT}/docs/troubleshooting.md")).expect("docs/troubleshooting.md")
}

#[test]
fn alert_expressions_parse_and_use_only_registered_metrics() {
    let docs = render_monitoring();
    let rules = rules(&docs);
    for alert in ALERTS {
        assert!(
            rules.contains_key(*alert),
            "alert {alert} missing: {:?}",
            rules.keys()
        );
    }
    let mut used = BTreeSet::new();
    for (name, rule) in &rules {
        let expr = rule["expr"].as_str().unwrap_or_else(|| panic!("{name}: expr"));
        let names = metrics_of(name, expr);
        assert!(!names.is_empty(), "{name} uses no metric");
        assert_registered(&format!("alert {name}"), &names);
        used.extend(names);
    }
    // The alerts rest on the per-object metrics this issue added.
    for needed in [
        "controlhub_operator_credential_ready",
        "controlhub_operator_credential_next_rotation_timestamp_seconds",
        "controlhub_operator_controlhub_requests_total",
        "controlhub_operator_controlhub_credentials_per_owner",
        "controlhub_operator_credential_quota_limit",
        "up",
    ] {
        assert!(used.contains(needed), "no alert uses {needed}");
    }
}

#[test]
fn every_alert_has_a_summary_a_description_naming_the_object_and_a_runbook_that_exists() {
    let docs = render_monitoring();
    let sections: BTreeSet<String> = headings_under(&troubleshooting(), "Alerts").into_iter().collect();
    for (name, rule) in rules(&docs) {
        let annotations = &rule["annotations"];
        let summary = annotations["summary"].as_str().unwrap_or_default();
        let description = annotations["description"].as_str().unwrap_or_default();
        assert!(!summary.is_empty(), "{name}: summary");
        assert!(
            description.contains("{{ $labels.") || description.contains("namespace ops"),
            "{name}: the description must name the object: {description}"
        );
        assert!(
            !rule["labels"]["severity"].as_str().unwrap_or_default().is_empty(),
            "{name}: severity"
        );
        assert!(
            !rule["for"].as_str().unwrap_or_default().is_empty(),
            "{name}: for"
        );
        let runbook = annotations["runbook_url"].as_str().unwrap_or_default();
        assert_eq!(
            runbook,
            format!("{RUNBOOK_BASE}#{}", anchor(&name)),
            "{name}: runbook_url"
        );
        assert!(
            sections.contains(&name),
            "docs/troubleshooting.md has no `### {name}` under `## Alerts` (has {sections:?})"
        );
    }
    // The ones the description templates name per object.
    let rules = rules(&docs);
    for (alert, label) in [
        ("ControlHubCredentialNotReady", "$labels.name"),
        ("ControlHubCredentialRotationOverdue", "$labels.name"),
        ("ControlHubOwnerQuotaNearlyFull", "$labels.owner"),
    ] {
        let description = rules[alert]["annotations"]["description"].as_str().unwrap();
        assert!(description.contains(label), "{alert}: {description}");
    }
}

#[test]
fn dashboard_queries_parse_and_use_only_registered_metrics() {
    let docs = render_monitoring();
    let dashboard = dashboard(&docs);
    let mut exprs = Vec::new();
    json_exprs(&dashboard["panels"], &mut exprs);
    assert!(exprs.len() >= 10, "only {} queries", exprs.len());
    for expr in &exprs {
        let names = metrics_of("dashboard", &grafana_to_promql(expr));
        assert_registered(&format!("dashboard query {expr}"), &names);
    }
    // Template variables: label_values(<metric>, <label>).
    for var in dashboard["templating"]["list"].as_array().unwrap() {
        if let Some(def) = var["definition"].as_str()
            && let Some(inner) = def.strip_prefix("label_values(")
        {
            let metric = inner.split([',', ')']).next().unwrap().trim();
            assert_registered("dashboard variable", &metrics_of("variable", metric));
        }
    }
    let ids: Vec<_> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_u64().unwrap())
        .collect();
    let unique: BTreeSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "panel ids repeat: {ids:?}");
}

#[test]
fn rule_and_dashboard_are_off_by_default() {
    let out = Command::new(helm())
        .args(["template", "mon", &format!("{ROOT}/charts/controlhub-operator")])
        .output()
        .expect("running helm template");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.contains("kind: PrometheusRule"));
    assert!(!text.contains("grafana_dashboard"));
}

#[test]
fn every_reason_has_a_troubleshooting_section() {
    let sections = headings_under(&troubleshooting(), "Condition reasons");
    let documented: BTreeSet<&str> = sections.iter().map(String::as_str).collect();
    let reasons: BTreeSet<&str> = Reason::ALL.iter().map(|r| r.as_str()).collect();
    let missing: Vec<_> = reasons.difference(&documented).collect();
    let unknown: Vec<_> = documented.difference(&reasons).collect();
    assert!(
        missing.is_empty(),
        "reasons without a section in docs/troubleshooting.md: {missing:?}"
    );
    assert!(unknown.is_empty(), "sections for no reason: {unknown:?}");
    assert_eq!(sections.len(), documented.len(), "a reason has two sections");
    // Each section says something.
    let text = troubleshooting();
    for reason in Reason::ALL {
        let start = text.find(&format!("\n### {reason}\n")).unwrap();
        let body = text[start + 5..].split("\n### ").next().unwrap();
        assert!(
            body.split_whitespace().count() > 10,
            "the section of {reason} is too short"
        );
    }
}

#[test]
fn metrics_reference_lists_exactly_the_registered_metrics() {
    let text = std::fs::read_to_string(format!("{ROOT}/docs/metrics.md")).expect("docs/metrics.md");
    let documented: BTreeSet<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .map(str::to_string)
        .collect();
    let series: BTreeSet<String> = metric_names().into_iter().collect();
    let covers = |doc: &str, series: &str| {
        series == doc
            || ["_bucket", "_sum", "_count"]
                .iter()
                .any(|suffix| series.strip_suffix(suffix) == Some(doc))
    };
    for s in &series {
        assert!(
            documented.iter().any(|d| covers(d, s)),
            "{s} is registered but not in docs/metrics.md"
        );
    }
    for d in &documented {
        assert!(
            series.iter().any(|s| covers(d, s)),
            "docs/metrics.md lists {d}, which the operator does not register ({series:?})"
        );
    }
}
