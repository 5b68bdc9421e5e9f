//! The plugin's errors: what went wrong, phrased for the person at the terminal.
//!
//! Owns [`CliError`] and the mapping of Kubernetes API errors to messages that say which object,
//! which verb and what to do. It must never carry a token: messages are built from names, IDs,
//! reasons and Control Hub's typed errors (whose text is already token-free).

use std::fmt;

/// Why a command failed. Printed as `error: <message>` with a non-zero exit code.
#[derive(Debug)]
pub enum CliError {
    /// The caller's kubeconfig cannot be loaded.
    Kubeconfig(String),
    /// The Kubernetes API refused a request, or it failed.
    Kube { action: String, source: kube::Error },
    /// The caller may not do `action` (HTTP 403), with advice.
    Forbidden { action: String, advice: String },
    /// An object that must exist does not.
    NotFound(String),
    /// Control Hub refused or failed.
    ControlHub {
        action: String,
        source: controlhub_operator::controlhub::Error,
    },
    /// A rotation did not finish (blocked, stalled, timed out, deleted).
    Rotation(String),
    /// Anything else the user must fix (a connection without a URL, a Secret without a key…).
    Invalid(String),
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Kubeconfig(message) => write!(f, "cannot use your kubeconfig: {message}"),
            CliError::Kube { action, source } => write!(f, "{action}: {}", kube_text(source)),
            CliError::Forbidden { action, advice } => write!(f, "you are not allowed to {action}: {advice}"),
            CliError::NotFound(what) => write!(f, "{what} not found"),
            CliError::ControlHub { action, source } => write!(f, "{action}: {source}"),
            CliError::Rotation(message) | CliError::Invalid(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for CliError {}

/// A short, token-free text for a Kubernetes client error (the API server's own message when it
/// answered, else the transport error).
pub fn kube_text(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) => format!("{} ({})", status.message, status.code),
        other => other.to_string(),
    }
}

/// Maps a failed Kubernetes request: 403 becomes [`CliError::Forbidden`] with `advice`, 404 becomes
/// [`CliError::NotFound`] naming `what`, anything else keeps its API text.
pub fn kube_error(action: &str, what: &str, advice: &str) -> impl FnOnce(kube::Error) -> CliError {
    let (action, what, advice) = (action.to_string(), what.to_string(), advice.to_string());
    move |source| match &source {
        kube::Error::Api(status) if status.code == 403 => CliError::Forbidden { action, advice },
        kube::Error::Api(status) if status.code == 404 => CliError::NotFound(what),
        _ => CliError::Kube { action, source },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api_error(code: u16) -> kube::Error {
        kube::Error::Api(
            kube::core::Status::failure("secrets \"x\" is forbidden", "Forbidden")
                .with_code(code)
                .boxed(),
        )
    }

    #[test]
    fn a_403_names_the_action_and_the_way_out() {
        let err = kube_error("read Secret ns/x", "Secret ns/x", "ask for get on it")(api_error(403));
        assert_eq!(
            err.to_string(),
            "you are not allowed to read Secret ns/x: ask for get on it"
        );
    }

    #[test]
    fn a_404_names_the_missing_object() {
        let err = kube_error("read ApiCredential a/b", "ApiCredential a/b", "")(api_error(404));
        assert_eq!(err.to_string(), "ApiCredential a/b not found");
    }
}
