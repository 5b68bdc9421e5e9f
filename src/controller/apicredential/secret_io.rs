//! Writing the credential's Secret, the only place a token is stored (talks to Kubernetes only).
//!
//! Three rules keep a tenant from steering these writes and keep tokens from being lost:
//! - **The first write creates.** Where no Secret exists, an empty one (owner reference, the
//!   operator's labels, the declared type; no data) is created before any Control Hub call. The
//!   create fails if a Secret of that name appeared in the meantime, so another application's
//!   Secret is never taken over (it would gain our owner reference and be garbage-collected with
//!   the ApiCredential). The data is then written by server-side apply, so keys and labels the
//!   operator stops declaring are removed by the API server like any field it alone manages.
//! - **A dry run first.** Before any Control Hub call that issues a token, the Secret that will be
//!   written is sent as a server-side dry run (unless the empty Secret was just created and the
//!   spec adds no labels or annotations of its own, which that create already validated); a
//!   refusal (an invalid label, a policy, a quota) stops the reconcile before a working token is
//!   revoked or a credential created.
//! - **Writes are fenced.** An existing Secret is written by server-side apply carrying the
//!   `resourceVersion` seen when it was verified to be ours, so a Secret replaced in between
//!   (deleted and re-created by someone else) fails with a conflict instead of being overwritten.

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions};

use super::secret::{self, SecretLayout};
use crate::controlhub::{AuthToken, CredentialId};
use crate::controller::context::{Context, FIELD_MANAGER};

/// Where the Secret stands before a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Existing {
    /// No Secret of that name was seen: the write creates it.
    None,
    /// A Secret this object owns, at this resourceVersion.
    Ours { resource_version: String },
}

/// Why the Secret cannot be written.
#[derive(Debug)]
pub enum WriteError {
    /// A Secret of that name exists and is not this object's.
    Conflict,
    /// The API server refused the Secret as declared (4xx other than a conflict): the message
    /// names the field or policy.
    Rejected(String),
    /// The API server failed in a way that may pass.
    Kube(kube::Error),
}

impl std::fmt::Display for WriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WriteError::Conflict => {
                f.write_str("a Secret of that name exists and is not managed by this ApiCredential")
            }
            WriteError::Rejected(message) => write!(f, "the API server refused it: {message}"),
            WriteError::Kube(e) => write!(f, "{e}"),
        }
    }
}

/// The most of an API server message that reaches a condition or an Event.
const MESSAGE_MAX: usize = 300;

fn classify(e: kube::Error, existing: &Existing) -> WriteError {
    match e {
        kube::Error::Api(status) if status.code == 409 => match existing {
            // Create: the name is taken. Apply with a resourceVersion: the Secret changed under us;
            // the caller re-reads and decides again.
            Existing::None => WriteError::Conflict,
            Existing::Ours { .. } => WriteError::Kube(kube::Error::Api(status)),
        },
        kube::Error::Api(status) if (400..500).contains(&status.code) && status.code != 429 => {
            let mut message = status.message.clone();
            if message.len() > MESSAGE_MAX {
                let mut end = MESSAGE_MAX;
                while !message.is_char_boundary(end) {
                    end -= 1;
                }
                message.truncate(end);
                message.push('…');
            }
            WriteError::Rejected(message)
        }
        other => WriteError::Kube(other),
    }
}

/// A stand-in credential for dry runs: the same shape as a real one, no secret in it.
fn placeholder() -> (CredentialId, AuthToken) {
    (
        CredentialId::new("00000000-0000-4000-8000-000000000000"),
        AuthToken::new("dry-run"),
    )
}

/// Creates the empty Secret where there is none (see the module docs); a no-op for ours.
pub async fn ensure_exists(
    ctx: &Context,
    layout: &SecretLayout,
    existing: &Existing,
) -> Result<Existing, WriteError> {
    if let Existing::Ours { .. } = existing {
        return Ok(existing.clone());
    }
    let secrets: Api<Secret> = Api::namespaced(ctx.kube.clone(), &layout.namespace);
    let params = PostParams {
        dry_run: false,
        field_manager: Some(FIELD_MANAGER.to_string()),
    };
    let created = secrets
        .create(&params, &secret::build_shell(layout))
        .await
        .map_err(|e| classify(e, existing))?;
    Ok(Existing::Ours {
        resource_version: created.metadata.resource_version.unwrap_or_default(),
    })
}

/// Writes `id` and `token` to our Secret by server-side apply, fenced on the version we saw
/// (`dry_run`: only checked). Returns the new resourceVersion.
pub async fn write(
    ctx: &Context,
    layout: &SecretLayout,
    resource_version: &str,
    id: &CredentialId,
    token: &AuthToken,
    dry_run: bool,
) -> Result<String, WriteError> {
    let secrets: Api<Secret> = Api::namespaced(ctx.kube.clone(), &layout.namespace);
    let mut body = secret::build(layout, id, token);
    body.metadata.resource_version = Some(resource_version.to_string());
    let mut params = PatchParams::apply(FIELD_MANAGER).force();
    params.dry_run = dry_run;
    let existing = Existing::Ours {
        resource_version: resource_version.to_string(),
    };
    secrets
        .patch(&layout.name, &params, &Patch::Apply(&body))
        .await
        .map(|s| s.metadata.resource_version.unwrap_or_default())
        .map_err(|e| classify(e, &existing))
}

/// Deletes the Secret if it is still at `resource_version` (the empty one just created).
pub async fn discard(
    ctx: &Context,
    layout: &SecretLayout,
    resource_version: &str,
) -> Result<(), kube::Error> {
    let secrets: Api<Secret> = Api::namespaced(ctx.kube.clone(), &layout.namespace);
    let params = DeleteParams {
        preconditions: Some(Preconditions {
            resource_version: Some(resource_version.to_string()),
            uid: None,
        }),
        ..DeleteParams::default()
    };
    secrets.delete(&layout.name, &params).await.map(|_| ())
}

/// Makes sure the Secret can take a token before one is issued: creates the empty Secret where
/// there is none, and sends the full Secret as a dry run (with a placeholder credential) when
/// the create did not already validate everything. Returns how the Secret stands now.
pub async fn prepare(
    ctx: &Context,
    layout: &SecretLayout,
    existing: &Existing,
) -> Result<Existing, WriteError> {
    let just_created = matches!(existing, Existing::None);
    let now = ensure_exists(ctx, layout, existing).await?;
    let Existing::Ours { resource_version } = &now else {
        return Ok(now);
    };
    let validated = just_created && layout.labels.is_empty() && layout.annotations.is_empty();
    if !validated {
        let (id, token) = placeholder();
        write(ctx, layout, resource_version, &id, &token, true).await?;
    }
    Ok(now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::Status;

    fn api_error(code: u16, message: &str) -> kube::Error {
        let mut status = Status::failure(message, "x");
        status.code = code;
        kube::Error::Api(status.boxed())
    }

    #[test]
    fn a_create_that_finds_the_name_taken_is_a_conflict_never_a_retry() {
        assert!(matches!(
            classify(api_error(409, "exists"), &Existing::None),
            WriteError::Conflict
        ));
        let ours = Existing::Ours {
            resource_version: "1".into(),
        };
        assert!(matches!(
            classify(api_error(409, "changed"), &ours),
            WriteError::Kube(_)
        ));
    }

    #[test]
    fn refusals_are_rejections_with_a_bounded_message_and_outages_are_retried() {
        let long = "metadata.labels: Invalid value: ".repeat(40);
        match classify(api_error(422, &long), &Existing::None) {
            WriteError::Rejected(m) => assert!(m.len() <= MESSAGE_MAX + '…'.len_utf8(), "{}", m.len()),
            other => panic!("expected a rejection, got {other:?}"),
        }
        assert!(matches!(
            classify(api_error(403, "denied by policy"), &Existing::None),
            WriteError::Rejected(_)
        ));
        assert!(matches!(
            classify(api_error(429, "slow down"), &Existing::None),
            WriteError::Kube(_)
        ));
        assert!(matches!(
            classify(api_error(500, "etcd"), &Existing::None),
            WriteError::Kube(_)
        ));
    }
}
