//! Answers for requests no route serves: `404` for unknown paths and `405` for known paths with
//! another method, both with an `ISSUES` body. Must not do anything else.

use crate::errors::ApiError;

pub async fn not_found() -> ApiError {
    ApiError::RouteNotFound
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
