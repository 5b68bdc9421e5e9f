//! The JSON bodies exchanged with the Control Hub security app, exactly as on the wire.
//!
//! Owns the serde structs for credential requests/responses, the current-user principal, `ISSUES`
//! error bodies and the org-info document. It must not do IO or decide anything; conversion into
//! domain types lives in [`super::model`].

use serde::{Deserialize, Serialize};

use super::ids::{CredentialId, OrgId, UserId};
use super::token::AuthToken;

/// `ApiCredentialsJson`: the credential object every credential endpoint returns (six fields).
/// `authToken` is non-null only in create and regenerate responses.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiCredentialJson {
    #[serde(default)]
    pub label: Option<String>,
    pub user_id: UserId,
    #[serde(default)]
    pub registered_by: Option<UserId>,
    pub component_id: CredentialId,
    #[serde(default)]
    pub auth_token: Option<AuthToken>,
    pub active: bool,
}

/// `ApiCredentialsRequestJson`, serialized field for field as the official SDK sends it (docs/controlhub-api.md §4.2):
/// `label`, `generateAuthToken`, then `active` only when set, then `userId` only on create
/// (`null` for the caller itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialRequest<'a> {
    pub label: &'a str,
    pub generate_auth_token: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    /// `None`: key absent (updates). `Some(None)`: `"userId":null` (create for self).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<Option<&'a UserId>>,
}

impl<'a> CredentialRequest<'a> {
    /// Create, for the caller (`for_user = None`) or for another user / service account.
    pub fn create(label: &'a str, for_user: Option<&'a UserId>, active: bool) -> Self {
        Self {
            label,
            generate_auth_token: true,
            active: Some(active),
            user_id: Some(for_user),
        }
    }

    /// Rename: the new label, nothing else changes.
    pub fn rename(label: &'a str) -> Self {
        Self {
            label,
            generate_auth_token: false,
            active: None,
            user_id: None,
        }
    }

    /// Activate or deactivate, resending the current label.
    pub fn set_active(label: &'a str, active: bool) -> Self {
        Self {
            label,
            generate_auth_token: false,
            active: Some(active),
            user_id: None,
        }
    }

    /// Issue a new token for the same credential ID, resending the current label.
    pub fn regenerate(label: &'a str) -> Self {
        Self {
            label,
            generate_auth_token: true,
            active: None,
            user_id: None,
        }
    }
}

/// The part of `SSOPrincipalJson` (`GET /security/rest/v1/currentUser`) the operator uses.
/// Other fields, notably `tokenStr`, are deliberately not read.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrincipalJson {
    pub principal_id: UserId,
    pub organization_id: OrgId,
    #[serde(default)]
    pub principal_name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub roles: Option<Vec<String>>,
}

/// A Control Hub error body: `{"ISSUES":[{"code":"…","message":"…"}]}`.
#[derive(Debug, Clone, Deserialize)]
pub struct IssuesJson {
    #[serde(rename = "ISSUES", default)]
    pub issues: Vec<IssueJson>,
}

/// One entry of an `ISSUES` array.
#[derive(Debug, Clone, Deserialize)]
pub struct IssueJson {
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

/// The ASTER org-info document; only `data.landingUrl` is read (as the SDK does).
#[derive(Debug, Clone, Deserialize)]
pub struct OrgInfoJson {
    pub data: OrgInfoData,
}

/// `data` of [`OrgInfoJson`].
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrgInfoData {
    pub landing_url: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(request: &CredentialRequest<'_>) -> String {
        serde_json::to_string(request).unwrap()
    }

    #[test]
    fn create_for_self_sends_explicit_null_user_id() {
        assert_eq!(
            json(&CredentialRequest::create("x1", None, true)),
            r#"{"label":"x1","generateAuthToken":true,"active":true,"userId":null}"#
        );
    }

    #[test]
    fn create_for_another_user_sends_the_user_id() {
        let user = UserId::new("3b56a1a4-b7ec-11eb-b93c-f3705df146b8@3bb73836-b7ec-11eb-b93c-758d73010046");
        assert_eq!(
            json(&CredentialRequest::create("svc", Some(&user), true)),
            r#"{"label":"svc","generateAuthToken":true,"active":true,"userId":"3b56a1a4-b7ec-11eb-b93c-f3705df146b8@3bb73836-b7ec-11eb-b93c-758d73010046"}"#
        );
    }

    #[test]
    fn create_inactive_sends_active_false() {
        assert_eq!(
            json(&CredentialRequest::create("x1", None, false)),
            r#"{"label":"x1","generateAuthToken":true,"active":false,"userId":null}"#
        );
    }

    #[test]
    fn rename_sends_label_and_no_token_generation_only() {
        assert_eq!(
            json(&CredentialRequest::rename("renamed")),
            r#"{"label":"renamed","generateAuthToken":false}"#
        );
    }

    #[test]
    fn deactivate_and_activate_resend_the_label() {
        assert_eq!(
            json(&CredentialRequest::set_active("renamed", false)),
            r#"{"label":"renamed","generateAuthToken":false,"active":false}"#
        );
        assert_eq!(
            json(&CredentialRequest::set_active("renamed", true)),
            r#"{"label":"renamed","generateAuthToken":false,"active":true}"#
        );
    }

    #[test]
    fn regenerate_requests_a_token_and_nothing_else() {
        assert_eq!(
            json(&CredentialRequest::regenerate("renamed")),
            r#"{"label":"renamed","generateAuthToken":true}"#
        );
    }

    #[test]
    fn credential_json_reads_all_six_fields_and_keeps_the_token_redacted() {
        let body = r#"{"label":"From SDK","userId":"u@o","registeredBy":"a@o","componentId":"c1","authToken":"h.p.","active":true}"#;
        let cred: ApiCredentialJson = serde_json::from_str(body).unwrap();
        assert_eq!(cred.component_id.as_str(), "c1");
        assert_eq!(cred.registered_by.as_ref().map(UserId::as_str), Some("a@o"));
        assert_eq!(cred.auth_token.as_ref().map(AuthToken::expose), Some("h.p."));
        assert!(!format!("{cred:?}").contains("h.p."));
    }

    #[test]
    fn listed_credential_with_null_token_and_registered_by_parses() {
        let body = r#"{"label":null,"userId":"u@o","registeredBy":null,"componentId":"c1","authToken":null,"active":false}"#;
        let cred: ApiCredentialJson = serde_json::from_str(body).unwrap();
        assert!(cred.auth_token.is_none() && cred.registered_by.is_none() && cred.label.is_none());
    }

    #[test]
    fn issues_body_parses_code_and_message() {
        let body = r#"{"ISSUES":[{"code":"SSO_01","message":"User not authenticated"}]}"#;
        let issues: IssuesJson = serde_json::from_str(body).unwrap();
        assert_eq!(issues.issues[0].code.as_deref(), Some("SSO_01"));
    }
}
