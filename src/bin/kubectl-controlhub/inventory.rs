//! `kubectl controlhub inventory --connection NAME`: every credential Control Hub holds for the
//! organization (or one `--user`), as its admin view lists them, each classified against the
//! ApiCredentials the caller can see: managed (and by which), a replaced one in its grace period,
//! one carrying a live object's pending marker, an operator leftover (a ` [k8s:<uid>]` marker no
//! live ApiCredential has), the connection's own credential, or unmanaged.
//!
//! Calls Control Hub as the connection's identity (see [`crate::connection`]); lists only, never
//! writes. [`classify`] and [`render`] are pure.

use std::collections::HashMap;

use controlhub_operator::api::ApiCredential;
use controlhub_operator::controlhub::{Credential, CredentialId, UserId};
use controlhub_operator::controller::apicredential::decide::carries_marker;
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use serde::Serialize;

use crate::cluster::Cluster;
use crate::connection::{self, Connected};
use crate::error::{CliError, kube_error};
use crate::table::Table;

/// How a credential relates to the operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum State {
    /// The credential an ApiCredential's status records.
    Managed,
    /// The credential a Replace rotation switched away from, kept until `retireAt`.
    Retiring,
    /// Carries a live ApiCredential's pending marker (being created, or left by an interrupted
    /// step that the operator adopts or deletes).
    Pending,
    /// Carries the operator's marker, but no live ApiCredential has that UID.
    Leftover,
    /// The credential the connection itself authenticates with.
    Connection,
    /// Not the operator's.
    Unmanaged,
}

impl State {
    fn as_str(self) -> &'static str {
        match self {
            State::Managed => "managed",
            State::Retiring => "retiring",
            State::Pending => "pending",
            State::Leftover => "leftover",
            State::Connection => "connection",
            State::Unmanaged => "unmanaged",
        }
    }
}

/// One credential of the inventory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    pub label: String,
    pub credential_id: String,
    pub active: bool,
    pub owner: String,
    pub state: State,
    /// `namespace/name` of the ApiCredential it belongs to, when there is one.
    pub api_credential: Option<String>,
    /// The UID in the label's marker, when it carries one.
    pub marker_uid: Option<String>,
}

/// The UID of the operator's ` [k8s:<uid>]` marker that ends `label`, if it carries exactly one
/// (the operator's own rule, `decide::carries_marker`).
pub fn marker_uid(label: &str) -> Option<&str> {
    let (_, rest) = label.rsplit_once(" [k8s:")?;
    let uid = rest.strip_suffix(']')?;
    carries_marker(label, uid).then_some(uid)
}

/// Classifies Control Hub's `credentials` against the visible `objects` and the connection's own
/// credential ID; sorted by owner, then label, then ID.
pub fn classify(
    credentials: &[Credential],
    objects: &[ApiCredential],
    connection: &CredentialId,
) -> Vec<Row> {
    let key = |o: &ApiCredential| format!("{}/{}", o.namespace().unwrap_or_default(), o.name_any());
    let mut by_id: HashMap<&str, (State, String)> = HashMap::new();
    let mut by_uid: HashMap<String, String> = HashMap::new();
    for o in objects {
        if let Some(uid) = &o.metadata.uid {
            by_uid.insert(uid.clone(), key(o));
        }
        let Some(status) = &o.status else { continue };
        if let Some(id) = &status.previous_credential_id {
            by_id.insert(id, (State::Retiring, key(o)));
        }
        if let Some(id) = &status.credential_id {
            by_id.insert(id, (State::Managed, key(o)));
        }
    }
    let mut rows: Vec<Row> = credentials
        .iter()
        .map(|c| {
            let uid = marker_uid(&c.label);
            let (state, api_credential) = if let Some((state, owner)) = by_id.get(c.id.as_str()) {
                (*state, Some(owner.clone()))
            } else if let Some(uid) = uid {
                match by_uid.get(uid) {
                    Some(owner) => (State::Pending, Some(owner.clone())),
                    None => (State::Leftover, None),
                }
            } else if &c.id == connection {
                (State::Connection, None)
            } else {
                (State::Unmanaged, None)
            };
            Row {
                label: c.label.clone(),
                credential_id: c.id.to_string(),
                active: c.active,
                owner: c.owner.to_string(),
                state,
                api_credential,
                marker_uid: uid.map(str::to_string),
            }
        })
        .collect();
    rows.sort_by(|a, b| (&a.owner, &a.label, &a.credential_id).cmp(&(&b.owner, &b.label, &b.credential_id)));
    rows
}

/// The rows as a kubectl-style table.
pub fn render(rows: &[Row]) -> String {
    let mut table = Table::new(&[
        "LABEL",
        "CREDENTIAL ID",
        "ACTIVE",
        "OWNER",
        "STATE",
        "APICREDENTIAL",
    ]);
    for row in rows {
        table.row(vec![
            row.label.clone(),
            row.credential_id.clone(),
            row.active.to_string(),
            row.owner.clone(),
            row.state.as_str().to_string(),
            row.api_credential.clone().unwrap_or_else(|| "<none>".into()),
        ]);
    }
    table.render()
}

/// Lists the organization's credentials through the connection and classifies them.
pub async fn run(
    cluster: &Cluster,
    connection_name: &str,
    namespace: Option<&str>,
    user: Option<&str>,
) -> Result<Vec<Row>, CliError> {
    let Connected { display, client } = connection::connect(cluster, connection_name, namespace).await?;
    let principal = client
        .current_user()
        .await
        .map_err(|source| CliError::ControlHub {
            action: format!("authenticate to Control Hub as {display}"),
            source,
        })?;
    let user = user.map(UserId::new);
    let credentials = if principal.is_org_admin() {
        client.list_org_credentials(user.as_ref()).await
    } else if user.as_ref().is_some_and(|u| *u != principal.user_id) {
        return Err(CliError::Invalid(format!(
            "{display} authenticates as {}, who is not an Organization Administrator: Control Hub lists only that user's own credentials to it, not those of {}",
            principal.user_id,
            user.as_ref().map(UserId::as_str).unwrap_or_default()
        )));
    } else {
        eprintln!(
            "note: {display} authenticates as {}, who is not an Organization Administrator: only that user's credentials are listed",
            principal.user_id
        );
        client.list_own_credentials().await
    }
    .map_err(|source| CliError::ControlHub {
        action: format!("list the organization's credentials as {display}"),
        source,
    })?;
    let objects = visible_api_credentials(cluster, namespace).await?;
    Ok(classify(&credentials, &objects, client.credential_id()))
}

/// Every ApiCredential the caller may list: all namespaces, or (when that is forbidden) the
/// namespaced connection's own namespace, with a note that classification is then partial.
async fn visible_api_credentials(
    cluster: &Cluster,
    namespace: Option<&str>,
) -> Result<Vec<ApiCredential>, CliError> {
    let all: Api<ApiCredential> = Api::all(cluster.client.clone());
    match all.list(&ListParams::default()).await {
        Ok(list) => return Ok(list.items),
        Err(kube::Error::Api(status)) if status.code == 403 && namespace.is_some() => {}
        Err(e) => {
            return Err(kube_error(
                "list ApiCredentials in all namespaces",
                "the ApiCredential resource (is the CRD installed?)",
                "inventory tells managed credentials from leftovers by every ApiCredential's UID and status; ask for list on apicredentials.controlhub.dev cluster-wide",
            )(e));
        }
    }
    let ns = namespace.unwrap_or_default();
    eprintln!(
        "note: you may list ApiCredentials only in namespace {ns}: a credential managed from another namespace shows as unmanaged or leftover"
    );
    let api: Api<ApiCredential> = Api::namespaced(cluster.client.clone(), ns);
    api.list(&ListParams::default())
        .await
        .map(|l| l.items)
        .map_err(kube_error(
            &format!("list ApiCredentials in namespace {ns}"),
            "the ApiCredential resource",
            "ask for list on apicredentials.controlhub.dev there",
        ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const UID: &str = "7d1c0c8e-1111-4a4a-9b9b-000000000001";
    const GONE: &str = "7d1c0c8e-2222-4a4a-9b9b-000000000002";

    fn credential(id: &str, label: &str) -> Credential {
        Credential {
            id: CredentialId::new(id),
            label: label.into(),
            owner: UserId::new("admin@org"),
            registered_by: None,
            active: true,
        }
    }

    fn object(name: &str, uid: &str, status: serde_json::Value) -> ApiCredential {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "controlhub.dev/v1alpha1",
            "kind": "ApiCredential",
            "metadata": {"name": name, "namespace": "apps", "uid": uid},
            "spec": {},
            "status": status,
        }))
        .expect("a valid ApiCredential")
    }

    fn state_of<'a>(rows: &'a [Row], id: &str) -> (State, Option<&'a str>) {
        let row = rows.iter().find(|r| r.credential_id == id).expect("listed");
        (row.state, row.api_credential.as_deref())
    }

    #[test]
    fn each_credential_is_classified_by_status_marker_or_connection() {
        let objects = [object(
            "ci-bot",
            UID,
            serde_json::json!({"credentialId": "current", "previousCredentialId": "old"}),
        )];
        let credentials = [
            credential("current", "CI bot"),
            credential("old", "CI bot"),
            credential("pending", &format!("CI bot [k8s:{UID}]")),
            credential("leftover", &format!("gone bot [k8s:{GONE}]")),
            credential("conn", "admin key"),
            credential("by-hand", "made in the UI"),
        ];
        let rows = classify(&credentials, &objects, &CredentialId::new("conn"));
        assert_eq!(state_of(&rows, "current"), (State::Managed, Some("apps/ci-bot")));
        assert_eq!(state_of(&rows, "old"), (State::Retiring, Some("apps/ci-bot")));
        assert_eq!(state_of(&rows, "pending"), (State::Pending, Some("apps/ci-bot")));
        assert_eq!(state_of(&rows, "leftover"), (State::Leftover, None));
        assert_eq!(state_of(&rows, "conn"), (State::Connection, None));
        assert_eq!(state_of(&rows, "by-hand"), (State::Unmanaged, None));
        let leftover = rows.iter().find(|r| r.credential_id == "leftover").unwrap();
        assert_eq!(leftover.marker_uid.as_deref(), Some(GONE));
    }

    #[test]
    fn only_the_operators_exact_marker_counts() {
        assert_eq!(marker_uid(&format!("x [k8s:{UID}]")), Some(UID));
        assert_eq!(marker_uid(&format!("x [k8s:{UID}] trailing")), None);
        assert_eq!(marker_uid(&format!("x[k8s:{UID}]")), None, "needs the space");
        assert_eq!(marker_uid(&format!("[k8s:a] x [k8s:{UID}]")), None, "two markers");
        assert_eq!(marker_uid("plain label"), None);
    }

    #[test]
    fn the_table_names_state_and_owner_object() {
        let rows = classify(
            &[credential("c1", "CI bot")],
            &[object("ci-bot", UID, serde_json::json!({"credentialId": "c1"}))],
            &CredentialId::new("conn"),
        );
        assert_eq!(
            render(&rows),
            "LABEL    CREDENTIAL ID   ACTIVE   OWNER       STATE     APICREDENTIAL\n\
             CI bot   c1              true     admin@org   managed   apps/ci-bot\n"
        );
    }
}
