//! The emulated organization's state: records (`model`), the in-memory aggregate with its indexes
//! and authentication check (`data`), the rules of §10 (`rules`), changes (`credentials`, `users`),
//! the first admin (`bootstrap`), delayed revocation (`revocation`), lagging lists (`list_lag`), the state file (`persist`) and
//! the concurrent, durable wrapper the HTTP layer uses (`store`).
//!
//! Nothing in here knows about HTTP; `crate::routes` translates requests into these calls.

pub mod bootstrap;
pub mod credentials;
pub mod data;
pub mod error;
pub mod list_lag;
pub mod model;
pub mod persist;
pub mod revocation;
pub mod rules;
pub mod store;
pub mod users;

pub use data::{AuthFailure, Data};
pub use error::StateError;
pub use store::{SettingsPatch, Store, StoreError};
