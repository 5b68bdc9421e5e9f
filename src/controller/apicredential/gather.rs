//! Stage 2, **gather**: what is true now, into a [`World`] — the Secret (ours, foreign or
//! missing, and what it holds), the owner's credentials in Control Hub (a shared cache, listed
//! afresh when the user asks or the spec changed), whether the stored token still works, and the
//! operator's record from status. Reads Kubernetes and Control Hub; writes nothing.
//!
//! The Secret comes from the managed-Secret watch cache when this process knows what its data is
//! at the cached version (it wrote that version, or read it and found it exactly as the operator
//! builds it: see [`read_secret`]); otherwise, and when the token is due to be tried, it is read.
//! A steady-state reconcile therefore reads nothing from the API server.
//!
//! [`World`] is also the reconcile's local picture that [`super::act`] keeps up to date as it
//! performs steps, so the next decision sees each result without listing again.

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::Secret;
use kube::Resource;
use kube::api::Api;
use kube::runtime::events::EventType;

use super::resolve::Target;
use super::secret::{self, StoredCredential};
use super::secret_io::Existing;
use super::{Record, RotationReason, SecretState, Strategy};
use crate::api::{self, Reason, RotationStrategy};
use crate::controlhub::{Credential, CredentialId};
use crate::controller::context::Context;
use crate::controller::error::{Error, Result};

/// The reconcile's picture of the world, updated as steps are performed.
pub struct World {
    pub record: Record,
    pub secret: SecretState,
    /// How the next Secret write is made: a create, or an apply fenced on this version.
    pub secret_existing: Existing,
    /// The recorded credential's token found under the Secret's old name or keys, or in the
    /// declared Secret when that does not hold it as declared (an output format changed): to be
    /// written as declared without re-issuing it.
    pub movable: Option<StoredCredential>,
    /// Control Hub refused the rename this pass (why): the rest of the plan goes on without it.
    pub rename_refused: Option<String>,
    /// This pass created the Secret empty (before a create that may still fail).
    pub empty_secret_created: bool,
    pub credentials: Vec<Credential>,
    pub token_valid: Option<bool>,
    /// Fingerprint of the token now in the Secret.
    pub token_fingerprint: Option<String>,
    /// When the token now in the Secret was issued.
    pub last_rotation: Option<DateTime<Utc>>,
    /// Events raised so far (type, reason, message).
    pub events: Vec<(EventType, &'static str, String)>,
}

/// Reads the Secret, the owner's credentials and (when due) whether the stored token works.
pub async fn gather(ctx: &Context, target: &Target) -> Result<World> {
    let status = &target.status;
    let want_token = target.desired.active && ctx.token_check_pending(&target.uid);
    let seen = read_secret(ctx, target, want_token).await?;
    let existing = seen.secret.as_ref();
    let owned = existing.filter(|s| secret::is_owned_by(s, &target.uid));
    let secret_state = secret::classify_with(existing, &target.uid, seen.stored_id.clone());
    let secret_existing = match owned {
        Some(s) => Existing::Ours {
            resource_version: s.metadata.resource_version.clone().unwrap_or_default(),
        },
        None => Existing::None,
    };

    // A fresh list (not the shared cache) when the user asked for one, changed the spec, or the
    // object waits for quota; untouched objects keep to one list per owner per drift interval.
    let refresh = target.obj.refresh_request().map(str::to_string);
    let waiting_for_quota = target.obj.status.as_ref().is_some_and(|s| {
        api::conditions::find_condition(&s.conditions, api::ConditionType::Ready)
            .is_some_and(|c| c.reason == Reason::QuotaExceeded.as_str())
    });
    // (A new object uses the shared list: a create Control Hub refuses for quota re-lists anyway.)
    let spec_changed = status
        .observed_generation
        .is_some_and(|seen| Some(seen) != target.obj.meta().generation);
    if refresh != status.last_refresh_request || spec_changed || waiting_for_quota {
        ctx.owners.invalidate(&target.connection.key, &target.owner).await;
    }
    let credentials = ctx.owners.list(&target.connection, &target.owner).await?;

    let mut record = record_from_status(status);
    record.last_refresh_request = refresh;
    let recorded = record.credential_id.clone();

    // After spec.secret.name or .keys changed: the recorded token may sit in the old place.
    let movable = if seen.stored_id.is_none() && recorded.is_some() {
        find_movable(ctx, target, status, owned)
            .await?
            .filter(|m| Some(&m.id) == recorded.as_ref())
    } else {
        owned
            .zip(seen.stored.as_ref())
            .filter(|(s, st)| {
                Some(&st.id) == recorded.as_ref() && !secret::holds_as_declared(s, &target.layout, st)
            })
            .map(|(_, st)| st.clone())
    };

    // The token is tried only when it is the recorded credential's (never on a Secret's word).
    let holds_recorded = seen.stored_id.is_some() && seen.stored_id == recorded;
    let mut token_valid = None;
    if let Some(stored) = seen.stored.as_ref().filter(|_| holds_recorded) {
        let current_active = credentials.iter().find(|c| c.id == stored.id).map(|c| c.active);
        if current_active == Some(true) && ctx.token_check_due(&target.uid) {
            token_valid = check_token(target, stored).await;
        }
    }
    Ok(World {
        record,
        secret: secret_state,
        secret_existing,
        movable,
        rename_refused: None,
        empty_secret_created: false,
        credentials,
        token_valid,
        // Restart targets follow the token only of our own Secret holding the recorded credential.
        token_fingerprint: owned
            .filter(|_| holds_recorded)
            .and_then(secret::fingerprint_of)
            .map(str::to_string),
        last_rotation: status.last_rotation_time,
        events: Vec::new(),
    })
}

/// The declared Secret as gather sees it.
struct Seen {
    /// The Secret: read in full, or only its cached metadata (see [`read_secret`]).
    secret: Option<Secret>,
    /// The credential ID it holds with a non-empty token (when ours).
    stored_id: Option<CredentialId>,
    /// The ID and token, when the Secret was read in full.
    stored: Option<StoredCredential>,
}

/// The declared Secret. From the cache when this process knows the data at the cached version
/// (its own write, or a read that found it as declared and described by the operator's annotations) and the token is not needed;
/// else read, and remembered as known when it holds what the spec declares and the operator's
/// annotations (credential ID, token fingerprint) describe its data: then the metadata alone
/// tells the next pass what the data is.
async fn read_secret(ctx: &Context, target: &Target, want_token: bool) -> Result<Seen> {
    let digest = secret::layout_digest(&target.layout);
    if !want_token
        && let Some(cached) = ctx
            .caches
            .managed_secret(&target.namespace, &target.layout.name)
            .present()
        && let Some(version) = cached.metadata.resource_version.as_deref()
        && ctx.is_secret_verified(&target.uid, version, digest)
    {
        let secret = Secret {
            metadata: cached.metadata.clone(),
            ..Secret::default()
        };
        let stored_id = secret
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(secret::CREDENTIAL_ID_ANNOTATION))
            .map(|id| CredentialId::new(id.clone()));
        return Ok(Seen {
            secret: Some(secret),
            stored_id,
            stored: None,
        });
    }
    tracing::debug!(namespace = %target.namespace, name = %target.name, want_token, "reading the Secret (not known at the cached version)");
    let secrets: Api<Secret> = Api::namespaced(ctx.kube.clone(), &target.namespace);
    let secret = secrets
        .get_opt(&target.layout.name)
        .await
        .map_err(Error::read(format!("Secret {}", target.layout.name)))?;
    let stored = secret
        .as_ref()
        .filter(|s| secret::is_owned_by(s, &target.uid))
        .and_then(|s| secret::read(s, &target.layout.keys));
    if let (Some(s), Some(stored)) = (secret.as_ref(), stored.as_ref())
        && secret::annotations_describe(s, stored)
        && secret::holds_as_declared(s, &target.layout, stored)
        && let Some(version) = s.metadata.resource_version.clone()
    {
        ctx.secret_verified(&target.uid, version, digest);
    }
    Ok(Seen {
        stored_id: stored.as_ref().map(|s| s.id.clone()),
        stored,
        secret,
    })
}

/// Whether the stored token authenticates. A refusal counts only when the connection's own token
/// is accepted at the same time: during a Control Hub authentication outage both fail, and a
/// working token must not be rotated for it.
async fn check_token(target: &Target, stored: &secret::StoredCredential) -> Option<bool> {
    let probe = target
        .connection
        .client
        .for_credential(stored.id.clone(), stored.token.clone())
        .ok()?;
    match probe.current_user().await {
        Ok(_) => Some(true),
        Err(crate::controlhub::Error::Unauthorized { .. }) => {
            match target.connection.client.current_user().await {
                Ok(_) => Some(false),
                Err(_) => None,
            }
        }
        Err(_) => None,
    }
}

/// The recorded credential's token under the Secret's previous name (status.secretName) or under
/// other keys of the declared Secret, found by the annotations the operator wrote with it.
async fn find_movable(
    ctx: &Context,
    target: &Target,
    status: &api::ApiCredentialStatus,
    owned: Option<&Secret>,
) -> Result<Option<secret::StoredCredential>> {
    if let Some(found) = owned.and_then(secret::recover) {
        return Ok(Some(found));
    }
    let Some(old) = status
        .secret_name
        .as_deref()
        .filter(|old| *old != target.layout.name)
    else {
        return Ok(None);
    };
    let secrets: Api<Secret> = Api::namespaced(ctx.kube.clone(), &target.namespace);
    Ok(secrets
        .get_opt(old)
        .await
        .map_err(Error::read(format!("Secret {old}")))?
        .filter(|s| secret::is_owned_by(s, &target.uid))
        .as_ref()
        .and_then(secret::recover))
}

fn record_from_status(status: &api::ApiCredentialStatus) -> Record {
    Record {
        credential_id: status.credential_id.clone().map(CredentialId::new),
        previous_credential_id: status.previous_credential_id.clone().map(CredentialId::new),
        retire_at: status.retire_at,
        rotation_in_progress: status.rotation_in_progress.as_ref().map(|r| {
            let strategy = match r.strategy {
                RotationStrategy::Replace => Strategy::Replace,
                RotationStrategy::Regenerate => Strategy::Regenerate,
            };
            let reason = match r.reason {
                api::RotationReason::Schedule => RotationReason::Schedule,
                api::RotationReason::Requested => RotationReason::Requested,
                api::RotationReason::TokenInvalid => RotationReason::TokenInvalid,
                api::RotationReason::Recreate | api::RotationReason::SecretLost => RotationReason::SecretLost,
            };
            (strategy, reason)
        }),
        last_rotation_request: status.last_rotation_request.clone(),
        last_refresh_request: status.last_refresh_request.clone(),
    }
}
