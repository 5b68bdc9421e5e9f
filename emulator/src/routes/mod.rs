//! The router: every path of `crate::paths` bound to its handler, the 404/405 fallbacks, and the
//! `observe` middleware (operation classification, faults, statistics) around all of them.
//!
//! Must only assemble; handlers live in the submodules.

pub mod admin;
pub mod credentials;
pub mod fallback;
pub mod sdk_init;
pub mod users;

use axum::Router;
use axum::extract::State;
use axum::middleware;
use axum::routing::{get, post};

use crate::context::AppState;
use crate::observe::observe;
use crate::paths;

/// The complete application for `state`, ready to serve.
pub fn build_app(state: AppState) -> Router {
    let mut router = Router::new()
        .route(paths::ORG_INFO, get(sdk_init::org_info))
        .route(paths::LANDING, get(sdk_init::landing))
        .route(paths::CURRENT_USER, get(sdk_init::current_user))
        .route(paths::ROLES, get(sdk_init::roles))
        .route(paths::TRANSLATIONS, get(sdk_init::translations))
        .route(paths::ENGINES, get(sdk_init::engines))
        .route(paths::SERVER_INFO, get(sdk_init::server_info))
        .route(paths::ORGANIZATIONS, get(sdk_init::organizations))
        .route(paths::USERS, get(users::list))
        .route(paths::USER, get(users::get))
        .route(paths::CONFIGS, get(users::configs_list))
        .route(
            paths::CREDENTIALS,
            get(credentials::list_own).post(credentials::create),
        )
        .route(
            paths::CREDENTIAL,
            post(credentials::update).delete(credentials::delete),
        )
        .route(paths::ORG_CREDENTIALS, get(credentials::list_org))
        .route(paths::ADMIN_USERS, post(admin::create_user))
        .route(
            paths::ADMIN_USER,
            axum::routing::put(admin::update_user).delete(admin::delete_user),
        )
        .route(paths::ADMIN_USER_CREDENTIALS, post(admin::issue_credential))
        .route(
            paths::ADMIN_SETTINGS,
            get(admin::get_settings).put(admin::put_settings),
        )
        .route(
            paths::ADMIN_FAULTS,
            get(admin::get_faults)
                .put(admin::put_faults)
                .delete(admin::clear_faults),
        )
        .route(
            paths::ADMIN_STATS,
            get(admin::get_stats).delete(admin::reset_stats),
        )
        .route(
            paths::ADMIN_PROFILE,
            get(admin::get_profile).put(admin::put_profile),
        );
    for app in paths::OPENAPI_APPS {
        let handler = move |State(state): State<AppState>| sdk_init::openapi(state, app);
        router = router.route(&paths::openapi(app), get(handler));
    }
    router
        .fallback(fallback::not_found)
        .method_not_allowed_fallback(fallback::method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}
