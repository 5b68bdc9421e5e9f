//! A small OpenAPI v3 checker for the keywords our CRDs use, reporting errors the way the
//! Kubernetes API server words them (`spec.x: Invalid value: ...: spec.x in body should match
//! '...'`), so fixture expectations can be checked without a cluster. Test-only.
//!
//! It covers type, required, enum, pattern, min/maxLength, minimum/maximum, maxItems, nullable
//! and list-type map/set uniqueness. It is not a full validator: the end-to-end tests against a
//! real API server remain the authority.

use regex::Regex;
use serde_json::Value;

/// What checking one object found.
#[derive(Debug, Default)]
pub struct Findings {
    /// Errors the API server would report.
    pub errors: Vec<String>,
    /// Fields the schema does not declare (the API server prunes or, with strict field
    /// validation, refuses them).
    pub unknown_fields: Vec<String>,
}

/// Checks a whole custom resource against its CRD's openAPIV3Schema.
pub fn check_object(schema: &Value, object: &Value) -> Findings {
    let mut findings = Findings::default();
    let Some(fields) = object.as_object() else {
        findings.errors.push("object must be a map".to_owned());
        return findings;
    };
    for (name, value) in fields {
        // The API server handles these itself; the CRD schema does not list them.
        if matches!(name.as_str(), "apiVersion" | "kind" | "metadata") {
            continue;
        }
        match schema["properties"].get(name) {
            Some(child) => check(child, value, name, &mut findings),
            None => findings.unknown_fields.push(name.clone()),
        }
    }
    check_required(schema, fields, "", &mut findings);
    findings
}

fn check(schema: &Value, value: &Value, path: &str, findings: &mut Findings) {
    if value.is_null() {
        if schema["nullable"] != true {
            findings.errors.push(format!(
                "{path}: Invalid value: \"null\": {path} in body must be of type {}",
                schema["type"]
            ));
        }
        return;
    }
    if !type_matches(schema["type"].as_str(), value) {
        let expected = schema["type"].as_str().unwrap_or("?");
        findings.errors.push(format!(
            "{path}: Invalid value: {value}: {path} in body must be of type {expected}"
        ));
        return;
    }
    check_enum(schema, value, path, findings);
    match value {
        Value::String(text) => check_string(schema, text, path, findings),
        Value::Number(number) => {
            check_number(schema, number.as_f64().unwrap_or_default(), value, path, findings)
        }
        Value::Array(items) => check_array(schema, items, path, findings),
        Value::Object(fields) => check_fields(schema, fields, path, findings),
        Value::Bool(_) | Value::Null => {}
    }
}

fn type_matches(expected: Option<&str>, value: &Value) -> bool {
    match expected {
        Some("string") => value.is_string(),
        Some("integer") => value.is_i64() || value.is_u64(),
        Some("number") => value.is_number(),
        Some("boolean") => value.is_boolean(),
        Some("array") => value.is_array(),
        Some("object") => value.is_object(),
        _ => true,
    }
}

fn check_enum(schema: &Value, value: &Value, path: &str, findings: &mut Findings) {
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(value)
    {
        let supported: Vec<String> = allowed.iter().map(Value::to_string).collect();
        findings.errors.push(format!(
            "{path}: Unsupported value: {value}: supported values: {}",
            supported.join(", ")
        ));
    }
}

fn check_string(schema: &Value, text: &str, path: &str, findings: &mut Findings) {
    let chars = text.chars().count() as u64;
    if let Some(max) = schema["maxLength"].as_u64()
        && chars > max
    {
        findings
            .errors
            .push(format!("{path}: Too long: may not be more than {max} bytes"));
    }
    if let Some(min) = schema["minLength"].as_u64()
        && chars < min
    {
        findings.errors.push(format!(
            "{path}: Invalid value: {text:?}: {path} in body should be at least {min} chars long"
        ));
    }
    if let Some(pattern) = schema["pattern"].as_str() {
        let matches = Regex::new(pattern).map(|re| re.is_match(text));
        match matches {
            Ok(true) => {}
            Ok(false) => findings.errors.push(format!(
                "{path}: Invalid value: {text:?}: {path} in body should match '{pattern}'"
            )),
            Err(err) => findings
                .errors
                .push(format!("{path}: pattern {pattern:?} does not compile: {err}")),
        }
    }
}

fn check_number(schema: &Value, number: f64, value: &Value, path: &str, findings: &mut Findings) {
    if let Some(min) = schema["minimum"].as_f64()
        && number < min
    {
        findings.errors.push(format!(
            "{path}: Invalid value: {value}: {path} in body should be greater than or equal to {min}"
        ));
    }
    if let Some(max) = schema["maximum"].as_f64()
        && number > max
    {
        findings.errors.push(format!(
            "{path}: Invalid value: {value}: {path} in body should be less than or equal to {max}"
        ));
    }
}

fn check_array(schema: &Value, items: &[Value], path: &str, findings: &mut Findings) {
    if let Some(max) = schema["maxItems"].as_u64()
        && items.len() as u64 > max
    {
        findings.errors.push(format!(
            "{path}: Too many: {}: must have at most {max} items",
            items.len()
        ));
    }
    let keys: Option<Vec<&str>> = match schema["x-kubernetes-list-type"].as_str() {
        Some("map") => schema["x-kubernetes-list-map-keys"]
            .as_array()
            .map(|keys| keys.iter().filter_map(Value::as_str).collect()),
        Some("set") => Some(Vec::new()),
        _ => None,
    };
    if let Some(keys) = keys {
        let identity = |item: &Value| -> Value {
            if keys.is_empty() {
                item.clone()
            } else {
                keys.iter().map(|k| item[*k].clone()).collect()
            }
        };
        for (index, item) in items.iter().enumerate() {
            if items[..index]
                .iter()
                .any(|earlier| identity(earlier) == identity(item))
            {
                findings
                    .errors
                    .push(format!("{path}[{index}]: Duplicate value: {item}"));
            }
        }
    }
    for (index, item) in items.iter().enumerate() {
        check(&schema["items"], item, &format!("{path}[{index}]"), findings);
    }
}

fn check_fields(
    schema: &Value,
    fields: &serde_json::Map<String, Value>,
    path: &str,
    findings: &mut Findings,
) {
    for (name, value) in fields {
        let child_path = format!("{path}.{name}");
        if let Some(child) = schema["properties"].get(name) {
            check(child, value, &child_path, findings);
        } else if schema["additionalProperties"].is_object() {
            check(&schema["additionalProperties"], value, &child_path, findings);
        } else if schema["x-kubernetes-preserve-unknown-fields"] != true {
            findings.unknown_fields.push(child_path);
        }
    }
    check_required(schema, fields, path, findings);
}

fn check_required(
    schema: &Value,
    fields: &serde_json::Map<String, Value>,
    path: &str,
    findings: &mut Findings,
) {
    for name in schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if !fields.contains_key(name) {
            let full = if path.is_empty() {
                name.to_owned()
            } else {
                format!("{path}.{name}")
            };
            findings.errors.push(format!("{full}: Required value"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({"type": "object", "required": ["spec"], "properties": {"spec": {"type": "object", "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 3, "pattern": "^[a-z]+$"},
            "mode": {"type": "string", "enum": ["A", "B"]},
            "count": {"type": "integer", "minimum": 1.0, "maximum": 5.0},
            "opt": {"type": "string", "nullable": true},
            "list": {"type": "array", "maxItems": 2, "x-kubernetes-list-type": "map",
                     "x-kubernetes-list-map-keys": ["k"],
                     "items": {"type": "object", "required": ["k"], "properties": {"k": {"type": "string"}}}}
        }}}})
    }

    fn errors(spec: Value) -> Vec<String> {
        check_object(&schema(), &json!({"spec": spec})).errors
    }

    #[test]
    fn valid_object_has_no_findings() {
        let findings = check_object(
            &schema(),
            &json!({"apiVersion": "x/v1", "kind": "K", "metadata": {},
            "spec": {"name": "ab", "mode": "A", "count": 3, "opt": null, "list": [{"k": "a"}, {"k": "b"}]}}),
        );
        assert!(
            findings.errors.is_empty() && findings.unknown_fields.is_empty(),
            "{findings:?}"
        );
    }

    #[test]
    fn reports_each_keyword_like_the_api_server() {
        assert_eq!(
            errors(json!({"name": ""})),
            [
                "spec.name: Invalid value: \"\": spec.name in body should be at least 1 chars long",
                "spec.name: Invalid value: \"\": spec.name in body should match '^[a-z]+$'"
            ]
        );
        assert_eq!(
            errors(json!({"name": "abcd"})),
            ["spec.name: Too long: may not be more than 3 bytes"]
        );
        assert_eq!(
            errors(json!({"mode": "C"})),
            ["spec.mode: Unsupported value: \"C\": supported values: \"A\", \"B\""]
        );
        assert_eq!(
            errors(json!({"count": 0})),
            ["spec.count: Invalid value: 0: spec.count in body should be greater than or equal to 1"]
        );
        assert_eq!(
            errors(json!({"count": "1"})),
            ["spec.count: Invalid value: \"1\": spec.count in body must be of type integer"]
        );
        assert_eq!(
            errors(json!({"list": [{"k": "a"}, {"k": "a"}]})),
            ["spec.list[1]: Duplicate value: {\"k\":\"a\"}"]
        );
        assert_eq!(
            errors(json!({"list": [{"k": "a"}, {"k": "b"}, {"k": "c"}]})),
            ["spec.list: Too many: 3: must have at most 2 items"]
        );
        assert_eq!(errors(json!({"list": [{}]})), ["spec.list[0].k: Required value"]);
        assert_eq!(
            check_object(&schema(), &json!({})).errors,
            ["spec: Required value"]
        );
    }

    #[test]
    fn reports_undeclared_fields_separately() {
        let mut findings = check_object(&schema(), &json!({"spec": {"nmae": "x"}, "extra": 1}));
        assert!(findings.errors.is_empty());
        findings.unknown_fields.sort();
        assert_eq!(findings.unknown_fields, ["extra", "spec.nmae"]);
    }
}
