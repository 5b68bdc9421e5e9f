//! Client ↔ emulator tests: the operator's Control Hub client against the real emulator binary
//! over HTTP(S). Each test starts its own emulator (build it first: `cargo build -p controlhub-emulator`).

#[path = "controlhub_client/support.rs"]
mod support;

#[path = "controlhub_client/errors.rs"]
mod errors;
#[path = "controlhub_client/operations.rs"]
mod operations;
#[path = "controlhub_client/resilience.rs"]
mod resilience;
#[path = "controlhub_client/transport.rs"]
mod transport;
