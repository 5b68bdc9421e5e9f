//! Leader election on a `coordination.k8s.io/v1` Lease, so that of several replicas exactly one
//! reconciles. Optimistic concurrency (resourceVersion) decides races; a leader that fails to renew
//! before its lease expires steps down, and the process exits so it restarts as a follower.
//!
//! Owns only the Lease; it knows nothing about what the leader does.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, ObjectMeta, PostParams};
use tokio::sync::watch;

/// Settings of the election.
#[derive(Debug, Clone)]
pub struct LeaseConfig {
    pub namespace: String,
    pub name: String,
    /// This replica's identity (the pod name).
    pub identity: String,
    /// How long a lease is valid without renewal.
    pub lease_duration: Duration,
    /// How often the leader renews (and a follower retries).
    pub retry_period: Duration,
}

impl LeaseConfig {
    pub fn new(namespace: String, name: String, identity: String) -> Self {
        LeaseConfig {
            namespace,
            name,
            identity,
            lease_duration: Duration::from_secs(15),
            retry_period: Duration::from_secs(3),
        }
    }
}

/// Leadership as seen by the rest of the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leadership {
    /// The first attempt has not finished yet.
    Unknown,
    Follower,
    Leader,
    /// Was leader and could not renew in time: the process must stop reconciling.
    Lost,
}

/// Runs the election forever, publishing the state on the returned channel.
pub fn spawn(client: kube::Client, config: LeaseConfig) -> watch::Receiver<Leadership> {
    let (tx, rx) = watch::channel(Leadership::Unknown);
    tokio::spawn(async move {
        let api: Api<Lease> = Api::namespaced(client, &config.namespace);
        let mut last_renewed: Option<tokio::time::Instant> = None;
        loop {
            let was_leader = *tx.borrow() == Leadership::Leader;
            match try_acquire_or_renew(&api, &config).await {
                Ok(true) => {
                    last_renewed = Some(tokio::time::Instant::now());
                    if !was_leader {
                        tracing::info!(lease = %config.name, identity = %config.identity, "became leader");
                    }
                    let _ = tx.send(Leadership::Leader);
                }
                Ok(false) => {
                    if was_leader {
                        tracing::error!(lease = %config.name, "another replica took the lease; stepping down");
                        let _ = tx.send(Leadership::Lost);
                        return;
                    }
                    let _ = tx.send(Leadership::Follower);
                }
                Err(e) => {
                    tracing::warn!(lease = %config.name, error = %e, "lease update failed");
                    let expired = last_renewed.is_some_and(|t| t.elapsed() >= config.lease_duration);
                    if was_leader && expired {
                        tracing::error!(lease = %config.name, "could not renew the lease in time; stepping down");
                        let _ = tx.send(Leadership::Lost);
                        return;
                    }
                    if *tx.borrow() == Leadership::Unknown {
                        let _ = tx.send(Leadership::Follower);
                    }
                }
            }
            tokio::time::sleep(config.retry_period).await;
        }
    });
    rx
}

/// One round: true when this replica holds the lease afterwards.
async fn try_acquire_or_renew(api: &Api<Lease>, config: &LeaseConfig) -> Result<bool, kube::Error> {
    let now = MicroTime(k8s_openapi::jiff::Timestamp::now());
    let duration_secs = config.lease_duration.as_secs() as i32;
    let Some(mut lease) = api.get_opt(&config.name).await? else {
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(config.name.clone()),
                ..Default::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(config.identity.clone()),
                lease_duration_seconds: Some(duration_secs),
                acquire_time: Some(now.clone()),
                renew_time: Some(now),
                lease_transitions: Some(0),
                ..Default::default()
            }),
        };
        return match api.create(&PostParams::default(), &lease).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
            Err(e) => Err(e),
        };
    };
    let spec = lease.spec.get_or_insert_with(Default::default);
    let holder = spec.holder_identity.clone().unwrap_or_default();
    let held_by_us = holder == config.identity;
    let expired = match (&spec.renew_time, spec.lease_duration_seconds) {
        (Some(renewed), Some(secs)) => renewed.0.as_second() + i64::from(secs) < now.0.as_second(),
        _ => true,
    };
    if !held_by_us && !holder.is_empty() && !expired {
        return Ok(false);
    }
    if !held_by_us {
        spec.acquire_time = Some(now.clone());
        spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
        spec.holder_identity = Some(config.identity.clone());
    }
    spec.renew_time = Some(now);
    spec.lease_duration_seconds = Some(duration_secs);
    // replace() carries the resourceVersion we read: a concurrent writer makes this a 409.
    match api.replace(&config.name, &PostParams::default(), &lease).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
        Err(e) => Err(e),
    }
}
