//! What every reconcile shares: the Kubernetes client, settings, caches (connections, owners'
//! credential lists), per-object memory (token checks, backoff), metrics and the event recorder.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kube::runtime::events::{Recorder, Reporter};

use crate::controller::caches::Caches;
use crate::controller::connections::{Connections, UrlPolicy};
use crate::controller::owners::Owners;
use crate::leader::Fence;
use crate::metrics::Metrics;

/// Field manager of every server-side apply the operator makes.
pub const FIELD_MANAGER: &str = "controlhub-operator";

/// Operator settings (from the command line).
#[derive(Debug, Clone)]
pub struct Settings {
    /// How often each credential is compared with Control Hub (and owners' lists refreshed).
    pub drift_check_interval: Duration,
    /// How often the token in each Secret is tried against Control Hub.
    pub token_check_interval: Duration,
    /// Control Hub's per-owner credential limit.
    pub quota_limit: usize,
    /// Steps one reconcile may take before it yields (it requeues at once to continue).
    pub max_steps: usize,
    /// Concurrent ApiCredential reconciles.
    pub concurrency: u16,
    /// What URLs namespaced (tenant-written) connections may name.
    pub namespaced_connection_urls: UrlPolicy,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            drift_check_interval: Duration::from_secs(600),
            token_check_interval: Duration::from_secs(3600),
            quota_limit: 10,
            max_steps: 12,
            concurrency: 16,
            namespaced_connection_urls: UrlPolicy::default(),
        }
    }
}

/// Per-object memory that need not survive a restart.
#[derive(Default)]
pub struct Memory {
    token_checked: HashMap<String, Instant>,
    failures: HashMap<String, u32>,
    /// The last warning said per object, to say each one once.
    warned: HashMap<String, u64>,
    /// Per object, a resourceVersion known to include this process's last status write (see `wrote`).
    written: HashMap<String, String>,
    /// Objects that must not be reconciled before an instant (a failure's backoff or a server's
    /// Retry-After), with the generation they were held at: events this process causes itself
    /// (a Secret written or deleted) must not cut the wait short; a spec change does.
    held: HashMap<String, (Instant, Option<i64>)>,
    /// Per object, the version of its Secret whose data this process knows to match the
    /// operator's annotations (written by it, or read and checked), with the keys layout it was
    /// checked for: while the cache shows that version, the Secret need not be read.
    verified_secret: HashMap<String, (String, u64)>,
    /// Per object, the restart targets (`Kind/name`) this process saw carrying a token
    /// fingerprint: not read again while the fingerprint stays.
    restarted: HashMap<String, HashMap<String, String>>,
}

pub struct Context {
    pub kube: kube::Client,
    pub settings: Settings,
    pub metrics: Arc<Metrics>,
    /// Who publishes Events. A fresh `Recorder` per Event: kube's recorder caches every Event
    /// for minutes to merge repeats, which costs ~38 MB at 10,000 objects.
    reporter: Reporter,
    pub connections: Connections,
    pub owners: Owners,
    /// The watch caches (installed by each run of the controllers).
    pub caches: Arc<Caches>,
    memory: Mutex<Memory>,
    /// Open while this process may start new steps: closed when it stops being the leader or is
    /// asked to shut down, so in-flight reconciles stop at their next step.
    writes_open: std::sync::atomic::AtomicBool,
    /// The leader lease as this process last renewed it (monotonic deadline; see `leader::Fence`).
    lease: Arc<Fence>,
}

impl Context {
    pub fn new(
        kube: kube::Client,
        settings: Settings,
        metrics: Arc<Metrics>,
        instance: Option<String>,
    ) -> Self {
        let reporter = Reporter {
            controller: "controlhub-operator".into(),
            instance,
        };
        let caches = Arc::new(Caches::default());
        Context {
            reporter,
            connections: Connections::new(
                kube.clone(),
                metrics.clone(),
                settings.drift_check_interval,
                settings.namespaced_connection_urls.clone(),
                caches.clone(),
            ),
            caches,
            owners: Owners::new(
                settings.drift_check_interval,
                metrics.credentials_per_owner.clone(),
            ),
            kube,
            settings,
            metrics,
            memory: Mutex::new(Memory::default()),
            writes_open: std::sync::atomic::AtomicBool::new(true),
            lease: Fence::unbounded(),
        }
    }

    /// Ties the write gate to the leader lease: [`Context::may_write`] turns false by itself when
    /// the lease was not renewed within the renew deadline, before the election notices.
    pub fn with_lease(mut self, lease: Arc<Fence>) -> Self {
        self.lease = lease;
        self
    }

    /// Whether this process may start a step (a change to Kubernetes or Control Hub): the gate is
    /// open (no shutdown, no step-down) and the lease is held by the monotonic clock. Check it
    /// before each step.
    pub fn may_write(&self) -> bool {
        self.writes_open.load(std::sync::atomic::Ordering::Acquire) && self.lease.holds()
    }

    /// Whether this process still holds the leader lease (by the monotonic clock), whatever the
    /// gate: true while a shutdown lets the step in flight finish. Check it right before a Control
    /// Hub write inside a step; Kubernetes writes are checked by the client itself
    /// (`leader::FenceLayer`).
    pub fn holds_lease(&self) -> bool {
        self.lease.holds()
    }

    /// Stops all further steps of this process (lost leadership, shutdown); the step in flight
    /// finishes. Irreversible.
    pub fn close_writes(&self) {
        self.writes_open
            .store(false, std::sync::atomic::Ordering::Release);
    }

    fn memory(&self) -> std::sync::MutexGuard<'_, Memory> {
        self.memory.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the token of object `uid` is due for a check (and if so, records the check).
    pub fn token_check_due(&self, uid: &str) -> bool {
        let mut memory = self.memory();
        let due = memory
            .token_checked
            .get(uid)
            .is_none_or(|at| at.elapsed() >= self.settings.token_check_interval);
        if due {
            memory.token_checked.insert(uid.to_string(), Instant::now());
        }
        due
    }

    /// Marks the token of `uid` as just issued (no need to check it soon).
    pub fn token_fresh(&self, uid: &str) {
        self.memory()
            .token_checked
            .insert(uid.to_string(), Instant::now());
    }

    /// Counts a failed reconcile of `uid`; returns how many in a row.
    pub fn failed(&self, uid: &str) -> u32 {
        let mut memory = self.memory();
        let n = memory.failures.entry(uid.to_string()).or_insert(0);
        *n = n.saturating_add(1);
        *n
    }

    pub fn succeeded(&self, uid: &str) {
        self.memory().failures.remove(uid);
    }

    /// Publishes an Event about `obj` (failures are logged, never fatal). `note` must never hold a token.
    pub async fn publish(
        &self,
        obj: &crate::api::ApiCredential,
        type_: kube::runtime::events::EventType,
        reason: &str,
        note: String,
    ) {
        use kube::Resource;
        let event = kube::runtime::events::Event {
            type_,
            reason: reason.to_string(),
            note: Some(note),
            action: reason.to_string(),
            secondary: None,
        };
        let recorder = Recorder::new(self.kube.clone(), self.reporter.clone());
        if let Err(e) = recorder.publish(&event, &obj.object_ref(&())).await {
            tracing::warn!(error = %e, "could not publish an Event");
        }
    }

    pub fn forget(&self, uid: &str) {
        let mut memory = self.memory();
        memory.failures.remove(uid);
        memory.token_checked.remove(uid);
        memory.warned.remove(uid);
        memory.written.remove(uid);
        memory.held.remove(uid);
        memory.verified_secret.remove(uid);
        memory.restarted.remove(uid);
    }

    /// Whether this process saw `target` of `uid` carry `fingerprint` (see `Memory::restarted`).
    pub fn restart_known(&self, uid: &str, target: &str, fingerprint: &str) -> bool {
        self.memory()
            .restarted
            .get(uid)
            .and_then(|targets| targets.get(target))
            .is_some_and(|f| f == fingerprint)
    }

    /// Records that `target` of `uid` carries `fingerprint`.
    pub fn restart_seen(&self, uid: &str, target: String, fingerprint: &str) {
        self.memory()
            .restarted
            .entry(uid.to_string())
            .or_default()
            .insert(target, fingerprint.to_string());
    }

    /// Records that `uid`'s Secret at `resource_version` holds what its annotations say, for
    /// the keys layout `keys` (see `Memory::verified_secret`).
    pub fn secret_verified(&self, uid: &str, resource_version: String, keys: u64) {
        self.memory()
            .verified_secret
            .insert(uid.to_string(), (resource_version, keys));
    }

    /// Whether `uid`'s Secret at `resource_version` is known to hold what its annotations say.
    pub fn is_secret_verified(&self, uid: &str, resource_version: &str, keys: u64) -> bool {
        self.memory()
            .verified_secret
            .get(uid)
            .is_some_and(|(rv, k)| rv == resource_version && *k == keys)
    }

    /// Whether [`Context::token_check_due`] would say yes now (without marking the check).
    pub fn token_check_pending(&self, uid: &str) -> bool {
        self.memory()
            .token_checked
            .get(uid)
            .is_none_or(|at| at.elapsed() >= self.settings.token_check_interval)
    }

    /// Records a resourceVersion of `uid` known to include this process's last status write: the
    /// one that write produced, or one read afresh from the API server after it.
    pub fn wrote(&self, uid: &str, resource_version: String) {
        self.memory().written.insert(uid.to_string(), resource_version);
    }

    /// Whether the copy of `uid` at `resource_version` may be older than this process's own last
    /// write (the watch cache lags): then the object is read afresh before acting on its status.
    pub fn may_be_stale(&self, uid: &str, resource_version: Option<&str>) -> bool {
        self.memory()
            .written
            .get(uid)
            .is_some_and(|ours| Some(ours.as_str()) != resource_version)
    }

    /// Holds `uid` back for `wait` (see `held`).
    pub fn hold(&self, uid: &str, wait: Duration, generation: Option<i64>) {
        self.memory()
            .held
            .insert(uid.to_string(), (Instant::now() + wait, generation));
    }

    /// How long `uid` is still held back, unless its spec changed since.
    pub fn held_for(&self, uid: &str, generation: Option<i64>) -> Option<Duration> {
        let mut memory = self.memory();
        let (until, at) = *memory.held.get(uid)?;
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() || at != generation {
            memory.held.remove(uid);
            return None;
        }
        Some(left)
    }

    /// Whether `message` differs from the last warning recorded for `uid` (and records it).
    pub fn is_news(&self, uid: &str, message: &str) -> bool {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        message.hash(&mut hasher);
        let digest = hasher.finish();
        self.memory().warned.insert(uid.to_string(), digest) != Some(digest)
    }
}

/// Exponential backoff with full jitter for the `n`th failure in a row: 1 s, 2 s, … capped at 5 min.
pub fn backoff(n: u32) -> Duration {
    let cap = Duration::from_secs(300);
    let base = Duration::from_secs(1).saturating_mul(2u32.saturating_pow(n.saturating_sub(1).min(16)));
    let bound = base.min(cap);
    let jittered = bound.mul_f64(0.5 + rand::random::<f64>() * 0.5);
    jittered.max(Duration::from_millis(500))
}

/// A server's `Retry-After`, bounded: `0` would make a hot loop, and a huge value would silence
/// an object for months. At least 1 s, at most 10 minutes.
pub fn bounded_retry_after(d: Duration) -> Duration {
    d.clamp(Duration::from_secs(1), Duration::from_secs(600))
}

/// `d` plus up to 10% random jitter, so periodic work of many objects spreads out.
pub fn with_jitter(d: Duration) -> Duration {
    d + d.mul_f64(rand::random::<f64>() * 0.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_bounded_both_ways() {
        assert_eq!(bounded_retry_after(Duration::ZERO), Duration::from_secs(1));
        assert_eq!(
            bounded_retry_after(Duration::from_secs(86_400 * 90)),
            Duration::from_secs(600)
        );
        assert_eq!(
            bounded_retry_after(Duration::from_secs(7)),
            Duration::from_secs(7)
        );
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        for n in 1..40 {
            let b = backoff(n);
            assert!(
                b >= Duration::from_millis(500) && b <= Duration::from_secs(300),
                "n={n}: {b:?}"
            );
        }
        assert!(backoff(1) <= Duration::from_secs(1));
        assert!(backoff(8) >= Duration::from_secs(64));
    }
}
