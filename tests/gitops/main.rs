//! GitOps: the Argo CD health checks and the `rotate` action in `deploy/argocd/`, run in an
//! embedded Lua 5.1 (the dialect of gopher-lua, which Argo CD runs), and the kstatus rules Flux
//! applies, over the same sample objects. Plus the image archive `make image` writes (`image`).

mod image;

use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeZone, Utc};
use controlhub_operator::api::conditions::merge_conditions;
use controlhub_operator::api::{ConditionStatus, ConditionType, DesiredCondition, Reason};
use mlua::{Lua, Value as LuaValue};
use serde_json::{Map, Value, json};

const GROUP: &str = "controlhub.dev";
const KINDS: [&str; 3] = [
    "ApiCredential",
    "ControlHubConnection",
    "ClusterControlHubConnection",
];

fn customizations() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/argocd/resource_customizations/controlhub.dev")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn health_script(kind: &str) -> String {
    read(&customizations().join(kind).join("health.lua"))
}

// ---------------------------------------------------------------------------------------------
// serde_json <-> Lua, the way Argo CD hands objects to its scripts (JSON objects and arrays as
// tables, numbers as Lua numbers) and reads the result back.

fn to_lua(lua: &Lua, value: &Value) -> LuaValue {
    match value {
        Value::Null => LuaValue::Nil,
        Value::Bool(b) => LuaValue::Boolean(*b),
        Value::Number(n) => LuaValue::Number(n.as_f64().expect("finite number")),
        Value::String(s) => LuaValue::String(lua.create_string(s).expect("string")),
        Value::Array(items) => {
            let table = lua.create_table().expect("table");
            for (i, item) in items.iter().enumerate() {
                table.set(i + 1, to_lua(lua, item)).expect("set");
            }
            LuaValue::Table(table)
        }
        Value::Object(fields) => {
            let table = lua.create_table().expect("table");
            for (key, item) in fields {
                table.set(key.as_str(), to_lua(lua, item)).expect("set");
            }
            LuaValue::Table(table)
        }
    }
}

/// A table whose keys are exactly 1..n is an array; any other table an object. An empty table
/// is an empty object (the samples hold no empty arrays).
fn from_lua(value: LuaValue) -> Value {
    match value {
        LuaValue::Nil => Value::Null,
        LuaValue::Boolean(b) => Value::Bool(b),
        LuaValue::Integer(i) => json!(i),
        LuaValue::Number(n) if n.fract() == 0.0 && n.abs() < 9e15 => json!(n as i64),
        LuaValue::Number(n) => json!(n),
        LuaValue::String(s) => Value::String(s.to_str().expect("utf-8").to_string()),
        LuaValue::Table(table) => {
            let pairs: Vec<(LuaValue, LuaValue)> = table
                .pairs::<LuaValue, LuaValue>()
                .map(|pair| pair.expect("pair"))
                .collect();
            let index = |key: &LuaValue| match key {
                LuaValue::Integer(i) => Some(*i as f64),
                LuaValue::Number(n) => Some(*n),
                _ => None,
            };
            let n = pairs.len();
            let is_array = n > 0
                && pairs
                    .iter()
                    .all(|(k, _)| index(k).is_some_and(|i| i >= 1.0 && i <= n as f64 && i.fract() == 0.0));
            if is_array {
                let mut items = vec![Value::Null; n];
                for (k, v) in pairs {
                    items[index(&k).expect("index") as usize - 1] = from_lua(v);
                }
                Value::Array(items)
            } else {
                let mut fields = Map::new();
                for (k, v) in pairs {
                    let key = match k {
                        LuaValue::String(s) => s.to_str().expect("utf-8").to_string(),
                        other => panic!("non-string key {other:?}"),
                    };
                    fields.insert(key, from_lua(v));
                }
                Value::Object(fields)
            }
        }
        other => panic!("unexpected Lua value {other:?}"),
    }
}

/// Runs `script` with the global `obj` set to `object`, as Argo CD does, and returns its result.
fn run(script: &str, name: &str, object: &Value) -> Value {
    let lua = Lua::new();
    lua.globals().set("obj", to_lua(&lua, object)).expect("set obj");
    let result: LuaValue = lua
        .load(script)
        .set_name(name)
        .eval()
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    from_lua(result)
}

fn argo_health(kind: &str, object: &Value) -> (String, String) {
    let hs = run(&health_script(kind), &format!("{kind}/health.lua"), object);
    let status = hs["status"].as_str().expect("hs.status").to_string();
    let message = hs["message"].as_str().expect("hs.message").to_string();
    (status, message)
}

// ---------------------------------------------------------------------------------------------
// kstatus, as sigs.k8s.io/cli-utils/pkg/kstatus/status computes it for a custom resource (what
// Flux's health checks and kstatus-based tools use): deletionTimestamp → Terminating;
// metadata.generation ≠ status.observedGeneration (when both present) → InProgress; then the
// first condition that is Reconciling=True → InProgress or Stalled=True → Failed. Newer releases
// then read a Ready condition (True → Current, False/Unknown → InProgress: `checkReadyCondition`);
// older ones stop there. Otherwise Current.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KStatus {
    InProgress,
    Failed,
    Current,
    Terminating,
}

fn kstatus(object: &Value) -> (KStatus, String) {
    kstatus_with(object, true)
}

fn kstatus_with(object: &Value, ready_fallback: bool) -> (KStatus, String) {
    if object["metadata"]["deletionTimestamp"]
        .as_str()
        .is_some_and(|s| !s.is_empty())
    {
        return (KStatus::Terminating, "Resource scheduled for deletion".into());
    }
    if let (Some(generation), Some(observed)) = (
        object["metadata"]["generation"].as_i64(),
        object["status"]["observedGeneration"].as_i64(),
    ) && generation != observed
    {
        return (
            KStatus::InProgress,
            format!(
                "{} generation is {generation}, but latest observed generation is {observed}",
                object["kind"].as_str().unwrap_or_default()
            ),
        );
    }
    let conditions = object["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for condition in &conditions {
        let message = condition["message"].as_str().unwrap_or_default().to_string();
        match (condition["type"].as_str(), condition["status"].as_str()) {
            (Some("Reconciling"), Some("True")) => return (KStatus::InProgress, message),
            (Some("Stalled"), Some("True")) => return (KStatus::Failed, message),
            _ => {}
        }
    }
    for condition in conditions.iter().filter(|_| ready_fallback) {
        if condition["type"].as_str() != Some("Ready") {
            continue;
        }
        let message = condition["message"].as_str().unwrap_or_default().to_string();
        match condition["status"].as_str() {
            Some("True") => return (KStatus::Current, "Resource is Ready".into()),
            Some("False") | Some("Unknown") => return (KStatus::InProgress, message),
            _ => {}
        }
    }
    (KStatus::Current, "Resource is current".into())
}

// ---------------------------------------------------------------------------------------------
// Sample objects, with conditions built by the operator's own merge.

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 30, 12, 0, 0)
        .single()
        .expect("valid")
}

fn cond(type_: ConditionType, status: ConditionStatus, reason: Reason, message: &str) -> DesiredCondition {
    DesiredCondition::new(type_, status, reason, message)
}

fn ready(status: ConditionStatus, reason: Reason, message: &str) -> DesiredCondition {
    cond(ConditionType::Ready, status, reason, message)
}

fn sample(kind: &str, generation: i64, observed: Option<i64>, conditions: &[DesiredCondition]) -> Value {
    let mut object = json!({
        "apiVersion": "controlhub.dev/v1alpha1",
        "kind": kind,
        "metadata": {
            "name": "ci-bot",
            "namespace": "apps",
            "uid": "0b6f1b4e-4c7e-4a8b-9b8e-1f0d8c1d2e3f",
            "generation": generation,
            "resourceVersion": "4711",
            "labels": {"app.kubernetes.io/name": "ci"},
        },
        "spec": {"name": "CI bot", "active": true, "rotation": {"interval": "336h"}},
    });
    if kind == "ClusterControlHubConnection" {
        object["metadata"]
            .as_object_mut()
            .expect("metadata")
            .remove("namespace");
    }
    let conditions = merge_conditions(&[], conditions, observed, now());
    let mut status = json!({ "conditions": serde_json::to_value(conditions).expect("json") });
    if let Some(observed) = observed {
        status["observedGeneration"] = json!(observed);
    }
    object["status"] = status;
    object
}

struct Case {
    name: &'static str,
    object: fn(&str) -> Value,
    argo: &'static str,
    /// A fragment the Argo CD message must contain.
    argo_message: &'static str,
    kstatus: KStatus,
    /// What a kstatus without the Ready fallback (older cli-utils) says, where it differs.
    kstatus_without_ready_fallback: Option<KStatus>,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "no status yet",
            object: |kind| {
                let mut object = sample(kind, 1, None, &[]);
                object.as_object_mut().expect("object").remove("status");
                object
            },
            argo: "Progressing",
            argo_message: "Waiting for the operator",
            // kstatus has nothing to go on (no observedGeneration, no condition) and says Current.
            kstatus: KStatus::Current,
            kstatus_without_ready_fallback: None,
        },
        Case {
            name: "generation ahead of observedGeneration",
            object: |kind| {
                sample(
                    kind,
                    3,
                    Some(2),
                    &[ready(ConditionStatus::True, Reason::Ready, "Ready")],
                )
            },
            argo: "Progressing",
            argo_message: "generation 3",
            kstatus: KStatus::InProgress,
            kstatus_without_ready_fallback: None,
        },
        Case {
            name: "Reconciling",
            object: |kind| {
                sample(
                    kind,
                    1,
                    Some(1),
                    &[
                        ready(
                            ConditionStatus::False,
                            Reason::Creating,
                            "Creating the credential",
                        ),
                        cond(
                            ConditionType::Reconciling,
                            ConditionStatus::True,
                            Reason::Creating,
                            "Creating the credential",
                        ),
                    ],
                )
            },
            argo: "Progressing",
            argo_message: "Creating: Creating the credential",
            kstatus: KStatus::InProgress,
            kstatus_without_ready_fallback: None,
        },
        Case {
            name: "Stalled",
            object: |kind| {
                sample(
                    kind,
                    2,
                    Some(2),
                    &[
                        ready(
                            ConditionStatus::False,
                            Reason::QuotaExceeded,
                            "owner u@org already has 10 credentials",
                        ),
                        cond(
                            ConditionType::Stalled,
                            ConditionStatus::True,
                            Reason::QuotaExceeded,
                            "stalled",
                        ),
                    ],
                )
            },
            argo: "Degraded",
            argo_message: "QuotaExceeded: owner u@org already has 10 credentials",
            kstatus: KStatus::Failed,
            kstatus_without_ready_fallback: None,
        },
        Case {
            name: "Ready=False with a reason, neither Reconciling nor Stalled",
            object: |kind| {
                sample(
                    kind,
                    1,
                    Some(1),
                    &[ready(
                        ConditionStatus::False,
                        Reason::ControlHubUnavailable,
                        "Control Hub answered 503",
                    )],
                )
            },
            argo: "Degraded",
            argo_message: "ControlHubUnavailable: Control Hub answered 503",
            // kstatus only fails on Stalled=True: a Ready=False is work in progress to it. The
            // operator writes this for a connection that fails (connections carry only Ready).
            kstatus: KStatus::InProgress,
            kstatus_without_ready_fallback: Some(KStatus::Current),
        },
        Case {
            name: "Ready=True",
            object: |kind| {
                sample(
                    kind,
                    4,
                    Some(4),
                    &[ready(
                        ConditionStatus::True,
                        Reason::Ready,
                        "The credential is as declared",
                    )],
                )
            },
            argo: "Healthy",
            argo_message: "The credential is as declared",
            kstatus: KStatus::Current,
            kstatus_without_ready_fallback: None,
        },
        Case {
            name: "Ready=True with reason RotationBlocked",
            object: |kind| {
                sample(
                    kind,
                    1,
                    Some(1),
                    &[ready(
                        ConditionStatus::True,
                        Reason::RotationBlocked,
                        "no free slot for owner u@org; the current token keeps working",
                    )],
                )
            },
            argo: "Healthy",
            argo_message: "RotationBlocked",
            kstatus: KStatus::Current,
            kstatus_without_ready_fallback: None,
        },
        Case {
            name: "Ready=Unknown",
            object: |kind| {
                let mut object = sample(kind, 1, Some(1), &[]);
                object["status"]["conditions"] = json!([{
                    "type": "Ready", "status": "Unknown", "reason": "", "message": "",
                    "lastTransitionTime": "2026-11-30T12:00:00Z"
                }]);
                object
            },
            argo: "Progressing",
            argo_message: "Waiting for the Ready condition",
            kstatus: KStatus::InProgress,
            kstatus_without_ready_fallback: Some(KStatus::Current),
        },
    ]
}

#[test]
fn argo_cd_health_for_every_kind_and_case() {
    for kind in KINDS {
        for case in cases() {
            let object = (case.object)(kind);
            let (status, message) = argo_health(kind, &object);
            assert_eq!(status, case.argo, "{kind}, {}: {message}", case.name);
            assert!(
                message.contains(case.argo_message),
                "{kind}, {}: message {message:?} lacks {:?}",
                case.name,
                case.argo_message
            );
        }
    }
}

#[test]
fn kstatus_as_flux_sees_the_same_samples() {
    for kind in KINDS {
        for case in cases() {
            let object = (case.object)(kind);
            let (status, message) = kstatus(&object);
            assert_eq!(status, case.kstatus, "{kind}, {}: {message}", case.name);
            let (status, message) = kstatus_with(&object, false);
            assert_eq!(
                status,
                case.kstatus_without_ready_fallback.unwrap_or(case.kstatus),
                "{kind}, {} (without the Ready fallback): {message}",
                case.name
            );
        }
    }
    let mut deleting = (cases()[5].object)("ApiCredential");
    deleting["metadata"]["deletionTimestamp"] = json!("2026-11-30T12:00:00Z");
    assert_eq!(kstatus(&deleting).0, KStatus::Terminating);
}

/// The two agree wherever the operator sets its conditions as it does (Stalled with every
/// terminal Ready=False, Reconciling while it works): every reason, as Reconciling, Stalled or Ready.
#[test]
fn argo_cd_and_kstatus_agree_on_every_reason_the_operator_writes() {
    for &reason in Reason::ALL {
        let working = sample(
            "ApiCredential",
            1,
            Some(1),
            &[
                ready(ConditionStatus::False, reason, "working"),
                cond(
                    ConditionType::Reconciling,
                    ConditionStatus::True,
                    reason,
                    "working",
                ),
            ],
        );
        assert_eq!(argo_health("ApiCredential", &working).0, "Progressing");
        assert_eq!(kstatus(&working).0, KStatus::InProgress);
        let stuck = sample(
            "ApiCredential",
            1,
            Some(1),
            &[
                ready(ConditionStatus::False, reason, "stuck"),
                cond(ConditionType::Stalled, ConditionStatus::True, reason, "stuck"),
            ],
        );
        assert_eq!(
            argo_health("ApiCredential", &stuck),
            ("Degraded".to_string(), format!("{reason}: stuck"))
        );
        assert_eq!(kstatus(&stuck).0, KStatus::Failed);
        let done = sample(
            "ApiCredential",
            1,
            Some(1),
            &[ready(ConditionStatus::True, reason, "fine")],
        );
        assert_eq!(argo_health("ApiCredential", &done).0, "Healthy");
        assert_eq!(kstatus(&done).0, KStatus::Current);
    }
}

#[test]
fn the_three_kinds_share_one_health_script() {
    let first = health_script(KINDS[0]);
    for kind in &KINDS[1..] {
        assert_eq!(health_script(kind), first, "{kind}/health.lua differs");
    }
}

fn rotate_action() -> String {
    read(&customizations().join("ApiCredential/actions/rotate/action.lua"))
}

#[test]
fn discovery_lists_the_rotate_action() {
    let script = read(&customizations().join("ApiCredential/actions/discovery.lua"));
    let actions = run(
        &script,
        "discovery.lua",
        &sample("ApiCredential", 1, Some(1), &[]),
    );
    let names: Vec<&String> = actions.as_object().expect("a table of actions").keys().collect();
    assert_eq!(names, ["rotate"]);
    for name in names {
        assert!(
            customizations()
                .join("ApiCredential/actions")
                .join(name)
                .join("action.lua")
                .is_file()
        );
    }
}

#[test]
fn rotate_sets_the_annotation_to_now_and_leaves_the_rest() {
    let mut with_annotations = sample(
        "ApiCredential",
        2,
        Some(2),
        &[ready(ConditionStatus::True, Reason::Ready, "Ready")],
    );
    with_annotations["metadata"]["annotations"] = json!({
        "controlhub.dev/rotate": "old",
        "example.com/keep": "me",
    });
    let without_annotations = sample(
        "ApiCredential",
        2,
        Some(2),
        &[ready(ConditionStatus::True, Reason::Ready, "Ready")],
    );
    for original in [with_annotations, without_annotations] {
        let before = Utc::now().timestamp();
        let mut rotated = run(&rotate_action(), "rotate/action.lua", &original);
        let after = Utc::now().timestamp();
        let value = rotated["metadata"]["annotations"]["controlhub.dev/rotate"]
            .as_str()
            .expect("the rotate annotation")
            .to_string();
        let at = DateTime::parse_from_rfc3339(&value)
            .unwrap_or_else(|e| panic!("{value:?} is not RFC 3339: {e}"))
            .timestamp();
        assert!(value.ends_with('Z'), "{value} is not UTC");
        assert!((before..=after).contains(&at), "{value} is not now");

        // Everything else is as it was.
        let annotations = rotated["metadata"]["annotations"]
            .as_object_mut()
            .expect("annotations");
        annotations.remove("controlhub.dev/rotate");
        let mut expected = original.clone();
        match expected["metadata"]["annotations"].as_object_mut() {
            Some(original_annotations) => {
                original_annotations.remove("controlhub.dev/rotate");
            }
            None => {
                expected["metadata"]["annotations"] = json!({});
            }
        }
        assert_eq!(rotated, expected);
    }
}

/// deploy/argocd/argocd-cm.yaml carries exactly the scripts under resource_customizations/
/// (it is generated by scripts/argocd-cm.py).
#[test]
fn the_argocd_cm_snippet_installs_exactly_these_scripts() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/argocd/argocd-cm.yaml");
    let cm: serde_yaml::Value = serde_yaml::from_str(&read(&path)).expect("argocd-cm.yaml");
    assert_eq!(cm["kind"].as_str(), Some("ConfigMap"));
    assert_eq!(cm["metadata"]["name"].as_str(), Some("argocd-cm"));
    let data = cm["data"].as_mapping().expect("data");
    for kind in KINDS {
        let key = format!("resource.customizations.health.{GROUP}_{kind}");
        assert_eq!(
            data.get(key.as_str()).and_then(|v| v.as_str()),
            Some(health_script(kind).as_str()),
            "{key}"
        );
    }
    let key = format!("resource.customizations.actions.{GROUP}_ApiCredential");
    let actions: serde_yaml::Value =
        serde_yaml::from_str(data.get(key.as_str()).and_then(|v| v.as_str()).expect("actions"))
            .expect("actions YAML");
    assert_eq!(
        actions["discovery.lua"].as_str(),
        Some(read(&customizations().join("ApiCredential/actions/discovery.lua")).as_str())
    );
    let definitions = actions["definitions"].as_sequence().expect("definitions");
    assert_eq!(definitions.len(), 1);
    assert_eq!(definitions[0]["name"].as_str(), Some("rotate"));
    assert_eq!(
        definitions[0]["action.lua"].as_str(),
        Some(rotate_action().as_str())
    );
    assert_eq!(data.len(), KINDS.len() + 1, "no other keys");
}
