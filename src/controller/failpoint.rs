//! Pause points for crash tests: when the environment variable `CONTROLHUB_PAUSE_AT` names a point
//! the operator reaches, it writes that name to the file `CONTROLHUB_PAUSE_FILE` and stops there
//! forever, so a test can SIGKILL the process at exactly that instant and check recovery.
//!
//! Points: `create:issued`, `create:stored`, `rotation:recorded`, `regenerate:issued`,
//! `regenerate:stored`, `replace:issued`, `replace:stored`, `cleanup:deleted`.
//! Unset (always, in production), a point costs one comparison.

use std::sync::OnceLock;

fn configured() -> Option<&'static (String, String)> {
    static POINT: OnceLock<Option<(String, String)>> = OnceLock::new();
    POINT
        .get_or_init(|| {
            let at = std::env::var("CONTROLHUB_PAUSE_AT").ok()?;
            let file = std::env::var("CONTROLHUB_PAUSE_FILE").unwrap_or_else(|_| "/dev/null".into());
            Some((at, file))
        })
        .as_ref()
}

/// Pauses forever at `point` when a test asked for it.
pub async fn pause_point(point: &str) {
    let Some((at, file)) = configured() else { return };
    if at != point {
        return;
    }
    tracing::warn!(point, "paused at a test pause point; waiting to be killed");
    let _ = std::fs::write(file, point);
    std::future::pending::<()>().await;
}
