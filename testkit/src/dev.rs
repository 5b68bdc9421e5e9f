//! The local environment behind `make dev-up` and `make demo`.

use std::path::Path;

pub fn up(_dir: &Path, _operator: bool) -> Result<(), String> {
    Err("not yet".into())
}

pub fn demo(_dir: &Path) -> Result<(), String> {
    Err("not yet".into())
}
