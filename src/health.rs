//! The operator's HTTP endpoints: `/healthz` (the process and its runtime answer), `/readyz`
//! (leadership is known and, on the leader, the controllers' caches have synced; it fails
//! otherwise) and `/metrics` (Prometheus text).
//!
//! Owns only serving; readiness is reported to it through [`Readiness`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use tokio::sync::watch;

use crate::leader::Leadership;
use crate::metrics::Metrics;

/// What `/readyz` reports on.
pub struct Readiness {
    leadership: watch::Receiver<Leadership>,
    synced: AtomicBool,
}

impl Readiness {
    pub fn new(leadership: watch::Receiver<Leadership>) -> Arc<Self> {
        Arc::new(Readiness {
            leadership,
            synced: AtomicBool::new(false),
        })
    }

    /// Called once the controllers' watches have listed their resources.
    pub fn mark_synced(&self) {
        self.synced.store(true, Ordering::Relaxed);
    }

    /// Whether [`Readiness::mark_synced`] was called.
    pub fn is_synced(&self) -> bool {
        self.synced.load(Ordering::Relaxed)
    }

    /// Ready, or the reason why not.
    pub fn check(&self) -> Result<&'static str, &'static str> {
        match *self.leadership.borrow() {
            Leadership::Unknown => Err("leader election has not completed its first round"),
            Leadership::Lost => Err("leadership lost; restarting"),
            Leadership::Follower => Ok("standby (not the leader)"),
            Leadership::Leader if self.synced.load(Ordering::Relaxed) => Ok("leader, caches synced"),
            Leadership::Leader => Err("leader, caches not synced yet"),
        }
    }
}

#[derive(Clone)]
struct AppState {
    readiness: Arc<Readiness>,
    metrics: Arc<Metrics>,
}

fn router(readiness: Arc<Readiness>, metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(render_metrics))
        .with_state(AppState { readiness, metrics })
}

async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    match state.readiness.check() {
        Ok(msg) => (StatusCode::OK, msg),
        Err(msg) => (StatusCode::SERVICE_UNAVAILABLE, msg),
    }
}

async fn render_metrics(State(state): State<AppState>) -> ([(&'static str, &'static str); 1], String) {
    (
        [(
            "content-type",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
}

/// Serves the endpoints on `health_addr` and `metrics_addr` (the same router on both; they may be
/// the same address).
pub async fn serve(
    health_addr: SocketAddr,
    metrics_addr: SocketAddr,
    readiness: Arc<Readiness>,
    metrics: Arc<Metrics>,
) -> std::io::Result<()> {
    let app = router(readiness, metrics);
    let health = tokio::net::TcpListener::bind(health_addr).await?;
    tracing::info!(addr = %health.local_addr()?, "serving /healthz and /readyz");
    if metrics_addr == health_addr {
        return axum::serve(health, app).await;
    }
    let metrics_listener = tokio::net::TcpListener::bind(metrics_addr).await?;
    tracing::info!(addr = %metrics_listener.local_addr()?, "serving /metrics");
    let a = axum::serve(health, app.clone());
    let b = axum::serve(metrics_listener, app);
    tokio::try_join!(a, b).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_fails_until_leadership_is_known_and_caches_synced() {
        let (tx, rx) = watch::channel(Leadership::Unknown);
        let r = Readiness::new(rx);
        assert!(r.check().is_err());
        tx.send(Leadership::Follower).unwrap();
        assert!(r.check().is_ok(), "a standby replica is ready");
        tx.send(Leadership::Leader).unwrap();
        assert!(r.check().is_err(), "a leader with unsynced caches is not ready");
        r.mark_synced();
        assert!(r.check().is_ok());
        tx.send(Leadership::Lost).unwrap();
        assert!(r.check().is_err());
    }
}
