//! The middleware every request passes through: classify it as an [`Operation`], apply the
//! configured faults (latency, drop, 429, 503) before the handler runs, and count the outcome.
//!
//! Must not authenticate or look at bodies; faults are decided before authentication, like a
//! gateway in front of the real service would.

use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::context::AppState;
use crate::errors::ApiError;
use crate::faults::{DropConnection, Outcome};
use crate::operation::Operation;
use crate::stats::Ending;

pub async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map(|m| m.as_str());
    let operation = Operation::classify(request.method(), route);
    let plan = state.faults.plan(operation);
    if !plan.latency.is_zero() {
        tokio::time::sleep(plan.latency).await;
    }
    let response = match plan.outcome {
        Outcome::Pass => next.run(request).await,
        Outcome::Drop => {
            let mut response = StatusCode::SERVICE_UNAVAILABLE.into_response();
            response.extensions_mut().insert(DropConnection);
            response
        }
        Outcome::RateLimit { retry_after_seconds } => {
            ApiError::RateLimited(retry_after_seconds).into_response()
        }
        Outcome::Error => ApiError::InjectedFault.into_response(),
    };
    let ending = if response.extensions().get::<DropConnection>().is_some() {
        Ending::Dropped
    } else {
        Ending::Status(response.status().as_u16())
    };
    state.stats.record(operation, ending);
    response
}
