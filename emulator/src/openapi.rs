//! The ten `/{app}/rest/openapi.json` documents the SDK loads while it starts (controlhub-api.md §5).
//!
//! The SDK reads OpenAPI 3 `components.schemas.<Name>.properties` to build request templates; the
//! security document therefore describes the schemas the emulator implements (`ApiCredentialsJson`
//! with exactly its six properties, `ApiCredentialsRequestJson`, `UserJson`, …) and the
//! credential paths. The other apps get an empty but valid document. Built once at start-up;
//! must not depend on the organization's state.

use std::collections::HashMap;

use axum::body::Bytes;
use serde_json::{Map, Value, json};

use crate::paths;

/// Pre-serialized documents by app name.
#[derive(Debug, Clone)]
pub struct OpenApiDocs {
    docs: HashMap<&'static str, Bytes>,
}

impl OpenApiDocs {
    pub fn build() -> Self {
        let docs = paths::OPENAPI_APPS
            .iter()
            .map(|app| {
                let doc = if *app == "security" {
                    security()
                } else {
                    empty(app)
                };
                (*app, Bytes::from(doc.to_string()))
            })
            .collect();
        Self { docs }
    }

    pub fn get(&self, app: &str) -> Option<Bytes> {
        self.docs.get(app).cloned()
    }
}

fn info(app: &str) -> Value {
    json!({"title": format!("{app} RESTful API (Control Hub emulator)"), "version": "1.0.0"})
}

fn empty(app: &str) -> Value {
    json!({"openapi": "3.0.1", "info": info(app), "paths": {}, "components": {"schemas": {}}})
}

/// An object schema from `(property, type)` pairs; `"array"` means an array of strings.
fn object(properties: &[(&str, &str)]) -> Value {
    let properties: Map<String, Value> = properties
        .iter()
        .map(|(name, kind)| {
            let schema = match *kind {
                "array" => json!({"type": "array", "items": {"type": "string"}}),
                "object" => json!({"type": "object", "additionalProperties": {"type": "string"}}),
                "int64" => json!({"type": "integer", "format": "int64"}),
                other => json!({"type": other}),
            };
            (name.to_string(), schema)
        })
        .collect();
    json!({"type": "object", "properties": properties})
}

fn reference(schema: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{schema}")})
}

fn operation(id: &str, request: Option<&str>, response: Value) -> Value {
    let mut op = json!({
        "operationId": id,
        "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": response}}}}
    });
    if let Some(schema) = request {
        op["requestBody"] =
            json!({"required": false, "content": {"application/json": {"schema": reference(schema)}}});
    }
    op
}

fn security_path(template: &str) -> String {
    template.trim_start_matches("/security/rest").to_string()
}

fn security() -> Value {
    let credential = reference("ApiCredentialsJson");
    let credentials = json!({"type": "array", "items": credential});
    let mut paths = Map::new();
    paths.insert(
        security_path(paths::CREDENTIALS),
        json!({
            "get": operation("listApiCredentials", None, credentials.clone()),
            "post": operation("createApiUserCredentials", Some("ApiCredentialsRequestJson"), credential.clone()),
        }),
    );
    paths.insert(
        security_path(paths::CREDENTIAL),
        json!({
            "post": operation("updateApiUserCredentials", Some("ApiCredentialsRequestJson"), credential.clone()),
            "delete": operation("deleteApiUserCredentials", None, credential.clone()),
        }),
    );
    paths.insert(
        security_path(paths::ORG_CREDENTIALS),
        json!({"get": operation("listApiCredentialsForOrg", None, credentials)}),
    );
    paths.insert(
        security_path(paths::CURRENT_USER),
        json!({"get": operation("getCurrentUser", None, reference("SSOPrincipalJson"))}),
    );
    json!({
        "openapi": "3.0.1",
        "info": info("Security"),
        "servers": [{"url": "/security/rest"}],
        "paths": paths,
        "components": {"schemas": {
            "ApiCredentialsJson": object(&[
                ("label", "string"), ("userId", "string"), ("registeredBy", "string"),
                ("componentId", "string"), ("authToken", "string"), ("active", "boolean"),
            ]),
            "ApiCredentialsRequestJson": object(&[
                ("label", "string"), ("active", "boolean"), ("generateAuthToken", "boolean"), ("userId", "string"),
            ]),
            "UserJson": object(&[
                ("id", "string"), ("organization", "string"), ("name", "string"), ("email", "string"),
                ("roles", "array"), ("groups", "array"), ("projectRoles", "array"), ("active", "boolean"),
                ("passwordExpiryTime", "int64"), ("passwordGenerated", "boolean"), ("creator", "string"),
                ("createdOn", "int64"), ("lastModifiedBy", "string"), ("lastModifiedOn", "int64"),
                ("destroyer", "string"), ("deleteTime", "int64"), ("userDeleted", "boolean"),
                ("nameInOrg", "string"), ("migrationAliases", "array"),
            ]),
            "SSOPrincipalJson": object(&[
                ("principalId", "string"), ("principalName", "string"), ("organizationId", "string"),
                ("organizationName", "string"), ("email", "string"), ("roles", "array"), ("groups", "array"),
                ("app", "boolean"), ("attributes", "object"), ("tokenStr", "string"), ("issuerUrl", "string"),
                ("expires", "int64"), ("containerId", "string"), ("filteredEntityManagerEnabled", "boolean"),
            ]),
            "RoleJson": object(&[("id", "string"), ("label", "string"), ("requiredRoles", "array")]),
            "OrganizationConfigJson": object(&[
                ("id", "string"), ("name", "string"), ("value", "string"), ("type", "string"),
                ("defaultValue", "string"), ("orgModifiable", "boolean"), ("possibleValues", "array"),
            ]),
        }},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(app: &str) -> Value {
        let docs = OpenApiDocs::build();
        docs.get(app)
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    #[test]
    fn every_app_the_sdk_loads_has_a_document_with_components() {
        for app in paths::OPENAPI_APPS {
            assert!(parsed(app).get("components").is_some(), "{app}");
        }
    }

    #[test]
    fn the_credential_schema_has_exactly_the_six_documented_properties() {
        let doc = parsed("security");
        let properties = doc["components"]["schemas"]["ApiCredentialsJson"]["properties"]
            .as_object()
            .cloned();
        let mut names: Vec<String> = properties.unwrap_or_default().keys().cloned().collect();
        names.sort();
        assert_eq!(
            names,
            [
                "active",
                "authToken",
                "componentId",
                "label",
                "registeredBy",
                "userId"
            ]
        );
    }
}
