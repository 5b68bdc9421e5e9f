//! `kubectl controlhub status`: each ApiCredential with its owner, Ready status and reason, last
//! and next rotation, and how many of Control Hub's per-owner slots its owner uses.
//!
//! Quota use comes from the status of the object's connection (`credentialsPerOwner`, what the
//! operator last listed for each owner); a connection the caller may not read shows no quota.
//! Reads Kubernetes only (never Control Hub, never a Secret). [`rows`] is pure.

use std::collections::HashMap;

use chrono::{DateTime, SecondsFormat, Utc};
use controlhub_operator::api::{
    ApiCredential, ClusterControlHubConnection, ConditionType, ConnectionKind, ConnectionStatus,
    ControlHubConnection, conditions::find_condition,
};
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use serde::Serialize;

use crate::cluster::Cluster;
use crate::error::{CliError, kube_error};
use crate::table::Table;

/// Which connection an ApiCredential uses: kind, namespace (namespaced kind only) and name.
pub type ConnectionId = (ConnectionKind, Option<String>, String);

/// How many credentials the owner holds in Control Hub, of how many allowed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Quota {
    pub used: u32,
    pub limit: u32,
}

/// One ApiCredential, as `status` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusRow {
    pub namespace: String,
    pub name: String,
    /// `Kind/name` of the connection.
    pub connection: String,
    pub owner: Option<String>,
    pub credential_id: Option<String>,
    pub ready: Option<String>,
    pub reason: Option<String>,
    pub message: Option<String>,
    pub last_rotation_time: Option<DateTime<Utc>>,
    pub next_rotation_time: Option<DateTime<Utc>>,
    /// `None` when the connection's status is not readable or has not counted this owner yet.
    pub owner_quota: Option<Quota>,
}

/// The connection an ApiCredential uses.
pub fn connection_of(cred: &ApiCredential) -> ConnectionId {
    let reference = cred.connection_ref();
    let namespace = match reference.kind {
        ConnectionKind::ControlHubConnection => cred.namespace(),
        ConnectionKind::ClusterControlHubConnection => None,
    };
    (reference.kind, namespace, reference.name)
}

/// The rows for `credentials`, with quota use from `connections` (the statuses that could be
/// read), sorted by namespace and name.
pub fn rows(
    credentials: &[ApiCredential],
    connections: &HashMap<ConnectionId, ConnectionStatus>,
    limit: u32,
) -> Vec<StatusRow> {
    let mut rows: Vec<StatusRow> = credentials
        .iter()
        .map(|cred| {
            let status = cred.status.clone().unwrap_or_default();
            let ready = find_condition(&status.conditions, ConditionType::Ready);
            let owner = status.user_id.clone().or_else(|| cred.spec.user_id.clone());
            let connection = connection_of(cred);
            let owner_quota = owner.as_ref().and_then(|owner| {
                let counts = &connections.get(&connection)?.credentials_per_owner;
                let count = counts.iter().find(|c| &c.owner == owner)?;
                Some(Quota {
                    used: count.count,
                    limit,
                })
            });
            StatusRow {
                namespace: cred.namespace().unwrap_or_default(),
                name: cred.name_any(),
                connection: format!("{}/{}", connection.0.as_str(), connection.2),
                owner,
                credential_id: status.credential_id.clone(),
                ready: ready.map(|c| c.status.clone()),
                reason: ready.map(|c| c.reason.clone()),
                message: ready.map(|c| c.message.clone()),
                last_rotation_time: status.last_rotation_time,
                next_rotation_time: status.next_rotation_time,
                owner_quota,
            }
        })
        .collect();
    rows.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    rows
}

/// The rows as a kubectl-style table; the NAMESPACE column only when listing all namespaces.
pub fn render(rows: &[StatusRow], all_namespaces: bool) -> String {
    let mut header = vec![
        "NAME",
        "OWNER",
        "READY",
        "REASON",
        "LAST ROTATION",
        "NEXT ROTATION",
        "OWNER QUOTA",
    ];
    if all_namespaces {
        header.insert(0, "NAMESPACE");
    }
    let mut table = Table::new(&header);
    let or_none = |value: Option<&str>| value.unwrap_or("<none>").to_string();
    let time = |t: Option<DateTime<Utc>>| {
        t.map_or_else(
            || "<none>".to_string(),
            |t| t.to_rfc3339_opts(SecondsFormat::Secs, true),
        )
    };
    for row in rows {
        let mut cells = vec![
            row.name.clone(),
            or_none(row.owner.as_deref()),
            or_none(row.ready.as_deref()),
            or_none(row.reason.as_deref()),
            time(row.last_rotation_time),
            time(row.next_rotation_time),
            row.owner_quota
                .as_ref()
                .map_or_else(|| "<unknown>".to_string(), |q| format!("{}/{}", q.used, q.limit)),
        ];
        if all_namespaces {
            cells.insert(0, row.namespace.clone());
        }
        table.row(cells);
    }
    table.render()
}

/// Reads the ApiCredentials (of `namespace`, or of all namespaces) and their connections' statuses.
pub async fn collect(
    cluster: &Cluster,
    namespace: Option<&str>,
    limit: u32,
) -> Result<Vec<StatusRow>, CliError> {
    let (api, scope): (Api<ApiCredential>, String) = match namespace {
        Some(ns) => (
            Api::namespaced(cluster.client.clone(), ns),
            format!("in namespace {ns}"),
        ),
        None => (Api::all(cluster.client.clone()), "in all namespaces".to_string()),
    };
    let action = format!("list ApiCredentials {scope}");
    let credentials = api
        .list(&ListParams::default())
        .await
        .map_err(kube_error(
            &action,
            "the ApiCredential resource (is the CRD installed?)",
            "ask for list on apicredentials.controlhub.dev there",
        ))?
        .items;
    let mut connections = HashMap::new();
    for cred in &credentials {
        let id = connection_of(cred);
        if connections.contains_key(&id) {
            continue;
        }
        if let Some(status) = connection_status(cluster, &id).await {
            connections.insert(id, status);
        }
    }
    Ok(rows(&credentials, &connections, limit))
}

/// A connection's status; `None` (with a note on stderr) when it cannot be read.
async fn connection_status(
    cluster: &Cluster,
    (kind, namespace, name): &ConnectionId,
) -> Option<ConnectionStatus> {
    let result = match (kind, namespace) {
        (ConnectionKind::ControlHubConnection, Some(ns)) => {
            Api::<ControlHubConnection>::namespaced(cluster.client.clone(), ns)
                .get_opt(name)
                .await
                .map(|c| c.map(|c| c.status))
        }
        _ => Api::<ClusterControlHubConnection>::all(cluster.client.clone())
            .get_opt(name)
            .await
            .map(|c| c.map(|c| c.status)),
    };
    let place = namespace
        .as_ref()
        .map_or(String::new(), |ns| format!(" in namespace {ns}"));
    match result {
        Ok(found) => found.flatten(),
        Err(e) => {
            eprintln!(
                "note: cannot read {} {name}{place} ({}); its owners' quota use is not shown",
                kind.as_str(),
                crate::error::kube_text(&e)
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credential(ns: &str, name: &str, status: serde_json::Value) -> ApiCredential {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "controlhub.dev/v1alpha1",
            "kind": "ApiCredential",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"connectionRef": {"kind": "ControlHubConnection", "name": "hub"}},
            "status": status,
        }))
        .expect("a valid ApiCredential")
    }

    fn counts(owner: &str, count: u32) -> ConnectionStatus {
        serde_json::from_value(serde_json::json!({
            "credentialsPerOwner": [{"owner": owner, "count": count}]
        }))
        .expect("a valid status")
    }

    #[test]
    fn a_row_carries_owner_ready_reason_times_and_the_owners_count_from_its_own_connection() {
        let cred = credential(
            "apps",
            "ci-bot",
            serde_json::json!({
                "userId": "u@org",
                "lastRotationTime": "2026-11-30T10:00:00Z",
                "nextRotationTime": "2026-12-14T10:00:00Z",
                "conditions": [{"type": "Ready", "status": "False", "reason": "QuotaExceeded",
                    "message": "user u@org already has 10 of 10", "lastTransitionTime": "2026-11-30T10:00:00Z"}]
            }),
        );
        let own = (
            ConnectionKind::ControlHubConnection,
            Some("apps".into()),
            "hub".into(),
        );
        let other = (
            ConnectionKind::ControlHubConnection,
            Some("other".into()),
            "hub".into(),
        );
        let connections = HashMap::from([(own, counts("u@org", 10)), (other, counts("u@org", 3))]);
        let rows = rows(&[cred], &connections, 10);
        assert_eq!(rows.len(), 1);
        let row = &rows[0];
        assert_eq!(row.owner.as_deref(), Some("u@org"));
        assert_eq!(row.ready.as_deref(), Some("False"));
        assert_eq!(row.reason.as_deref(), Some("QuotaExceeded"));
        assert_eq!(row.owner_quota, Some(Quota { used: 10, limit: 10 }));
        assert_eq!(row.connection, "ControlHubConnection/hub");
        let table = render(&rows, true);
        assert_eq!(
            table.lines().nth(1),
            Some(
                "apps        ci-bot   u@org   False   QuotaExceeded   2026-11-30T10:00:00Z   2026-12-14T10:00:00Z   10/10"
            ),
            "{table}"
        );
    }

    #[test]
    fn unknown_quota_and_missing_status_say_so_instead_of_guessing() {
        let rows = rows(
            &[credential("apps", "new", serde_json::json!({}))],
            &HashMap::new(),
            10,
        );
        assert_eq!(rows[0].owner_quota, None);
        let table = render(&rows, false);
        assert!(table.starts_with("NAME   OWNER    READY    REASON"), "{table}");
        assert_eq!(
            table
                .lines()
                .nth(1)
                .map(|l| l.split_whitespace().collect::<Vec<_>>()),
            Some(vec![
                "new",
                "<none>",
                "<none>",
                "<none>",
                "<none>",
                "<none>",
                "<unknown>"
            ])
        );
    }

    #[test]
    fn rows_are_sorted_by_namespace_then_name() {
        let creds = [
            credential("b", "x", serde_json::json!({})),
            credential("a", "z", serde_json::json!({})),
            credential("a", "y", serde_json::json!({})),
        ];
        let names: Vec<String> = rows(&creds, &HashMap::new(), 10)
            .into_iter()
            .map(|r| format!("{}/{}", r.namespace, r.name))
            .collect();
        assert_eq!(names, ["a/y", "a/z", "b/x"]);
    }
}
