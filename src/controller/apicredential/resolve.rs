//! Stage 1, **resolve**: the spec, the connection and the owner of the credential, resolved into
//! a [`Target`] once per reconcile. Reads Kubernetes (the connection, its Secret, the namespace)
//! and asks Control Hub who the connection is (cached); writes nothing.
//!
//! What only runtime can refuse — a schedule that does not parse, a connection that may not be
//! used from here, a user the connection does not allow, the connection's own identity when it is
//! not shared, an owner that changed under a recorded credential — is a [`Refusal`].

use std::sync::Arc;

use chrono::{DateTime, Utc};
use kube::{Resource, ResourceExt};

use super::{Desired, Strategy, secret};
use crate::api::{self, ApiCredential, Reason, RotationStrategy};
use crate::controlhub::UserId;
use crate::controller::connections::{Connection, ConnectionProblem, Connections};
use crate::controller::context::Context;
use crate::controller::error::Error;
use crate::controller::schedule::Schedule;

/// Everything about the object a step needs, resolved once per reconcile.
pub struct Target {
    pub obj: Arc<ApiCredential>,
    /// The status as read (the operator's record of its work).
    pub status: api::ApiCredentialStatus,
    /// When the object was created (the first rotation counts from it).
    pub created: Option<DateTime<Utc>>,
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub desired: Desired,
    pub schedule: Option<Schedule>,
    /// The owner of the credential in Control Hub.
    pub owner: UserId,
    /// `Some(owner)` when creating for another user (sent as `userId`).
    pub create_for: Option<UserId>,
    pub layout: secret::SecretLayout,
    pub connection: Connection,
}

/// Why there is no [`Target`]: something the user (or the connection's owner) must change, or
/// a connection that cannot be used now.
pub enum Refusal {
    Blocked { reason: Reason, message: String },
    Connection(ConnectionProblem),
    Failed(Error),
}

impl Refusal {
    fn blocked(reason: Reason, message: String) -> Self {
        Refusal::Blocked { reason, message }
    }
}

impl From<Error> for Refusal {
    fn from(e: Error) -> Self {
        Refusal::Failed(e)
    }
}

/// Resolves `obj` (with its `uid` and `namespace`) into the [`Target`] of this reconcile.
pub async fn resolve(
    obj: &Arc<ApiCredential>,
    ctx: &Context,
    uid: String,
    namespace: String,
) -> Result<Target, Refusal> {
    // Runtime validation admission could not do.
    let schedule = match obj
        .spec
        .rotation
        .as_ref()
        .map(Schedule::from_rotation)
        .transpose()
    {
        Ok(s) => s.flatten(),
        Err(e) => {
            return Err(Refusal::blocked(
                Reason::InvalidSchedule,
                format!("spec.rotation: {e}; fix the schedule"),
            ));
        }
    };
    let grace = match obj.grace_period() {
        Ok(g) => g,
        Err(e) => {
            return Err(Refusal::blocked(
                Reason::InvalidSchedule,
                format!("spec.rotation.gracePeriod: {e}"),
            ));
        }
    };

    let key = Connections::key_for(&obj.connection_ref(), &namespace);
    let connection = match ctx.connections.resolve(&key, &namespace).await {
        Ok(c) => c,
        Err(problem) => return Err(Refusal::Connection(problem)),
    };

    // Who owns the credential, and may this namespace mint it.
    let (owner, create_for) = match obj.spec.user_id.as_deref() {
        Some(user) if user != connection.principal.user_id.as_str() => {
            if !connection.settings.allows_user(user) {
                let msg = format!(
                    "{key} does not list user {user} in spec.allowedUserIds: ask the connection's owner to allow it, or remove spec.userId"
                );
                return Err(Refusal::blocked(Reason::UserNotAllowed, msg));
            }
            if !connection.principal.is_org_admin() {
                let msg = format!(
                    "{key} authenticates as {}, who is not an Organization Administrator: only org admins create credentials for other users",
                    connection.principal.user_id
                );
                return Err(Refusal::blocked(Reason::Forbidden, msg));
            }
            (UserId::new(user), Some(UserId::new(user)))
        }
        _ => {
            if !connection.share_identity {
                let msg = format!(
                    "{key} does not share its own identity ({}) with namespaces: set spec.userId to a service account the connection allows (spec.allowedUserIds), use a ControlHubConnection in this namespace, or ask the connection's owner to set spec.shareConnectionIdentity: true",
                    connection.principal.user_id
                );
                return Err(Refusal::blocked(Reason::IdentityNotShared, msg));
            }
            (connection.principal.user_id.clone(), None)
        }
    };

    let status = obj.status.clone().unwrap_or_default();
    // The credential belongs to the owner recorded when it was made. If the connection now
    // authenticates as someone else, everything this object knows belongs to that other user:
    // creating afresh would leak the old credential, so a person decides.
    if let (Some(recorded_owner), Some(id)) = (&status.user_id, &status.credential_id)
        && recorded_owner.as_str() != owner.as_str()
    {
        let msg = format!(
            "credential {id} belongs to {recorded_owner}, but {key} now authenticates as {owner}: point the connection back at {recorded_owner}'s identity to keep managing it, or delete and re-create this ApiCredential to get a credential of {owner} (delete {id} in Control Hub if it is no longer used)"
        );
        return Err(Refusal::blocked(Reason::OwnerChanged, msg));
    }
    let desired = Desired {
        label: obj.effective_label().to_string(),
        active: obj.spec.active,
        strategy: match obj.spec.rotation.as_ref().map(|r| r.strategy) {
            Some(RotationStrategy::Replace) => Strategy::Replace,
            _ => Strategy::Regenerate,
        },
        grace: chrono::Duration::from_std(grace).unwrap_or_else(|_| chrono::Duration::minutes(10)),
        rotate_request: obj.rotate_request().map(str::to_string),
        for_other_user: create_for.is_some(),
        regenerate_when_no_slot: obj
            .spec
            .rotation
            .as_ref()
            .is_some_and(|r| r.regenerate_when_no_slot),
    };
    let layout = secret::SecretLayout {
        name: obj.secret_name().to_string(),
        namespace: namespace.clone(),
        keys: obj.keys().into(),
        type_: obj.secret_type().to_string(),
        labels: obj
            .spec
            .secret
            .as_ref()
            .map(|s| s.labels.clone())
            .unwrap_or_default(),
        annotations: obj
            .spec
            .secret
            .as_ref()
            .map(|s| s.annotations.clone())
            .unwrap_or_default(),
        url: connection.client.base_url().to_string(),
        org_id: connection.principal.org_id.to_string(),
        formats: obj.output_formats().iter().map(Into::into).collect(),
        owner: obj
            .controller_owner_ref(&())
            .ok_or(Error::MissingField("metadata.uid"))?,
    };

    Ok(Target {
        namespace: namespace.clone(),
        name: obj.name_any(),
        uid: uid.clone(),
        created: obj.meta().creation_timestamp.as_ref().map(to_chrono),
        status,
        obj: obj.clone(),
        desired,
        schedule,
        owner,
        create_for,
        layout,
        connection,
    })
}

fn to_chrono(t: &k8s_openapi::apimachinery::pkg::apis::meta::v1::Time) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(t.0.as_second(), 0).unwrap_or_default()
}
