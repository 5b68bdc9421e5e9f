//! Writing the credential's Secret, the only place a token is stored (talks to Kubernetes only).
//!
//! Three rules keep a tenant from steering these writes and keep tokens from being lost:
//! - **A dry run first.** Before any Control Hub call that issues a token, the Secret that will be
//!   written is sent as a server-side dry run; a refusal (an invalid label, a policy, a quota)
//!   stops the reconcile before a working token is revoked or a credential created.
//! - **The first write creates.** Where no Secret exists, the write is a create, which fails if
//!   a Secret of that name appeared in the meantime: another application's Secret is never taken
//!   over (it would gain our owner reference and be garbage-collected with the ApiCredential).
//! - **Later writes are fenced.** An existing Secret is written by server-side apply carrying the
//!   `resourceVersion` seen when it was verified to be ours, so a Secret replaced in between
//!   (deleted and re-created by someone else) fails with a conflict instead of being overwritten.

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams, PostParams};

use crate::controlhub::{AuthToken, CredentialId};
use crate::controller::context::{Context, FIELD_MANAGER};
use crate::controller::secret::{self, SecretLayout};

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

/// Writes `id` and `token` to the Secret (see the module docs). Returns the new resourceVersion.
pub async fn write(
    ctx: &Context,
    layout: &SecretLayout,
    existing: &Existing,
    id: &CredentialId,
    token: &AuthToken,
    dry_run: bool,
) -> Result<String, WriteError> {
    let secrets: Api<Secret> = Api::namespaced(ctx.kube.clone(), &layout.namespace);
    let mut body = secret::build(layout, id, token);
    let written = match existing {
        Existing::None => {
            let params = PostParams {
                dry_run,
                field_manager: Some(FIELD_MANAGER.to_string()),
            };
            secrets.create(&params, &body).await
        }
        Existing::Ours { resource_version } => {
            body.metadata.resource_version = Some(resource_version.clone());
            let mut params = PatchParams::apply(FIELD_MANAGER).force();
            params.dry_run = dry_run;
            secrets.patch(&layout.name, &params, &Patch::Apply(&body)).await
        }
    };
    written
        .map(|s| s.metadata.resource_version.unwrap_or_default())
        .map_err(|e| classify(e, existing))
}

/// Sends the Secret this object would write as a dry run (with a placeholder credential).
pub async fn check_writable(
    ctx: &Context,
    layout: &SecretLayout,
    existing: &Existing,
) -> Result<(), WriteError> {
    let (id, token) = placeholder();
    write(ctx, layout, existing, &id, &token, true).await.map(|_| ())
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
