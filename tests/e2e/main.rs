//! End-to-end tests: the real kube-apiserver and kube-controller-manager (one control plane for the
//! whole run, started on first use by `controlhub_testkit::control_plane::shared`), one namespace per
//! test. Everything that needs the control plane lives in this one test binary so that a test run
//! starts exactly one control plane.

mod chart;
mod env;
mod quiet;
mod support;

mod admission;
mod caches;
mod connections;
mod crash;
mod deletion;
mod drift;
mod faults;
mod formats;
mod hostile_connections;
mod kills;
mod kubectl;
mod leaks;
mod lifecycle;
mod plugin;
mod quota;
mod rbac;
mod recipes;
mod replicas;
mod restart_targets;
mod restarts;
mod rotation;
mod secrets;
mod service_accounts;
mod shutdown;
mod smoke;
mod strict;
mod teardown;
mod tenant;
mod time;
