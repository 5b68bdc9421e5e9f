//! Test support shared by the integration tests, the e2e tests, the benchmarks and `make dev-up`:
//! a real local Kubernetes control plane ([`control_plane`]) and the Control Hub emulator
//! ([`emulator`]), each run as child processes that die with their parent; the one way every
//! harness builds its world on them ([`world`]: the connection, the operator's command line, an
//! ApiCredential) and the one test PKI ([`pki`]).

pub mod control_plane;
pub mod demo;
pub mod dev;
pub mod emulator;
pub mod pki;
pub mod process;
pub mod world;
