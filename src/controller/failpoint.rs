//! Pause points for crash and race tests: when the environment variable `CONTROLHUB_PAUSE_AT`
//! names a point the operator reaches, it writes that name to the file `CONTROLHUB_PAUSE_FILE` and
//! waits there, so a test can SIGKILL the process at exactly that instant and check recovery, or
//! change the world and let it go on by writing `resume` into the file.
//!
//! Points: `create:secret` (before the Secret is prepared for a new credential), `create:issued`,
//! `create:stored`, `adopt:issued`, `orphan:deleting`, `rotation:recorded`, `regenerate:issued`,
//! `regenerate:stored`, `replace:issued`, `replace:stored`, `rename:pending` (before a pending
//! label is finished), `retire:deleting`, `cleanup:extra`, `cleanup:deleting`, `cleanup:deleted`.
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
    tracing::warn!(
        point,
        "paused at a test pause point; waiting to be killed or resumed"
    );
    let _ = std::fs::write(file, point);
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        if std::fs::read_to_string(file).is_ok_and(|s| s.trim() == "resume") {
            tracing::warn!(point, "resumed from a test pause point");
            return;
        }
    }
}
