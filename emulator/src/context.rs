//! [`AppState`]: what every handler shares (the store, faults, statistics, the OpenAPI documents
//! and how the emulator is reached), and how the public base URL of a request is derived.
//!
//! Must not hold request-specific data.

use std::ops::Deref;
use std::sync::Arc;

use axum::http::{HeaderMap, header};

use crate::faults::Faults;
use crate::openapi::OpenApiDocs;
use crate::profile::Profile;
use crate::state::Store;
use crate::stats::Stats;

/// `http` or `https`, as the emulator is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

#[derive(Debug)]
pub struct Shared {
    pub store: Store,
    pub faults: Faults,
    pub stats: Stats,
    /// The profile last chosen (`--profile` or the admin API); it gives the fault baseline.
    pub profile: parking_lot::RwLock<Profile>,
    pub openapi: OpenApiDocs,
    pub scheme: Scheme,
    /// A fixed public base URL (`--public-url`); otherwise derived from each request's `Host`.
    pub public_url: Option<String>,
    /// `host:port` used when a request has no `Host` header.
    pub default_authority: String,
}

/// Cheaply clonable handle on [`Shared`].
#[derive(Debug, Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }

    /// The base URL a client reached the emulator at, e.g. `http://127.0.0.1:8080`.
    pub fn base_url(&self, headers: &HeaderMap) -> String {
        if let Some(url) = &self.public_url {
            return url.trim_end_matches('/').to_string();
        }
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .filter(|h| {
                !h.is_empty()
                    && h.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-.:[]_".contains(c))
            })
            .unwrap_or(&self.default_authority);
        format!("{}://{}", self.scheme.as_str(), host)
    }
}

impl Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}
