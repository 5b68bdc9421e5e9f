//! JSON shapes of the emulated Control Hub API (controlhub-api.md §4.1, §5.1, §8), with the
//! conversions from the state records.
//!
//! Owns field names and nullability only; must not decide anything.

pub mod credentials;
pub mod principal;
pub mod users;

use serde::Serialize;

/// `{"totalCount","offset","len","data":[…]}`, Control Hub's pagination wrapper.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Wrapper<T> {
    pub total_count: usize,
    pub offset: usize,
    pub len: usize,
    pub data: Vec<T>,
}

impl<T> Wrapper<T> {
    pub fn page(total_count: usize, offset: usize, data: Vec<T>) -> Self {
        Self {
            total_count,
            offset,
            len: data.len(),
            data,
        }
    }
}

/// Whether a `withWrapper` query value asks for the wrapper (the SDK sends Python's `True`).
pub fn wants_wrapper(value: Option<&str>) -> bool {
    value.is_some_and(|v| v.eq_ignore_ascii_case("true"))
}
