//! The owners' credential lists, shared by every ApiCredential of the same owner: one list call
//! per owner per refresh period, however many ApiCredentials that owner has, and concurrent
//! reconciles of one owner wait for a single call (no thundering herd at start-up).
//!
//! The operator's own writes update the cached list in place, so quota counts stay exact between
//! refreshes; changes made by hand in Control Hub are seen at the next refresh.
//!
//! Also owns the gauge `controlhub_credentials_per_owner`: one series per cached list, set whenever
//! that list is fetched or changed, and removed with it (an owner no ApiCredential uses any more,
//! see [`Owners::retain_owners`], or a deleted connection).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;

use crate::controlhub::{self, Credential, CredentialId, UserId};
use crate::controller::connections::{Connection, ConnectionKey};
use crate::metrics::OwnerLabels;

type Key = (ConnectionKey, UserId);

#[derive(Default)]
struct Entry {
    list: Option<(Instant, Vec<Credential>)>,
}

/// The cache.
pub struct Owners {
    entries: Mutex<HashMap<Key, Arc<tokio::sync::Mutex<Entry>>>>,
    max_age: Duration,
    /// Credentials per owner, as last listed (the metrics family `controlhub_credentials_per_owner`).
    gauge: Family<OwnerLabels, Gauge<i64>>,
}

impl Owners {
    /// A cache whose lists are fresh for `max_age`, publishing each list's length on `gauge`.
    pub fn new(max_age: Duration, gauge: Family<OwnerLabels, Gauge<i64>>) -> Self {
        Owners {
            entries: Mutex::new(HashMap::new()),
            max_age,
            gauge,
        }
    }

    fn labels((connection, owner): &Key) -> OwnerLabels {
        OwnerLabels {
            connection: connection.to_string(),
            owner: owner.to_string(),
        }
    }

    /// Sets the owner's series to the length of its list as it now is.
    fn publish(&self, key: &Key, list: &[Credential]) {
        let count = i64::try_from(list.len()).unwrap_or(i64::MAX);
        self.gauge.get_or_create(&Self::labels(key)).set(count);
    }

    /// Drops the entries (and their series) of `connection` whose owner `keep` refuses.
    fn drop_entries(&self, connection: &ConnectionKey, keep: impl Fn(&UserId) -> bool) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.retain(|key, _| {
            let retained = &key.0 != connection || keep(&key.1);
            if !retained {
                self.gauge.remove(&Self::labels(key));
            }
            retained
        });
    }

    fn entry(&self, key: &Key) -> Arc<tokio::sync::Mutex<Entry>> {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.entry(key.clone()).or_default().clone()
    }

    /// The credentials `owner` has, listed through `connection` (the connection's own list when the
    /// owner is its principal, else the org-admin list filtered by user).
    pub async fn list(
        &self,
        connection: &Connection,
        owner: &UserId,
    ) -> Result<Vec<Credential>, controlhub::Error> {
        let key = (connection.key.clone(), owner.clone());
        let entry = self.entry(&key);
        let mut guard = entry.lock().await;
        if let Some((at, list)) = &guard.list
            && at.elapsed() < self.max_age
        {
            return Ok(list.clone());
        }
        let list = if *owner == connection.principal.user_id {
            connection.client.list_own_credentials().await?
        } else {
            connection.client.list_org_credentials(Some(owner)).await?
        };
        self.publish(&key, &list);
        guard.list = Some((Instant::now(), list.clone()));
        Ok(list)
    }

    /// Applies one of the operator's own changes to the cached list (if any is cached).
    pub async fn update(&self, connection: &ConnectionKey, owner: &UserId, change: Change) {
        let key = (connection.clone(), owner.clone());
        let entry = self.entry(&key);
        let mut guard = entry.lock().await;
        if let Some((_, list)) = &mut guard.list {
            change.apply(list);
            self.publish(&key, list);
        }
    }

    /// Forgets a cached list, so the next reconcile lists again (after a surprise from Control Hub).
    pub async fn invalidate(&self, connection: &ConnectionKey, owner: &UserId) {
        let entry = self.entry(&(connection.clone(), owner.clone()));
        entry.lock().await.list = None;
    }

    /// Forgets every list of a deleted connection (so memory does not grow with connections that
    /// came and went).
    pub fn forget_connection(&self, connection: &ConnectionKey) {
        self.drop_entries(connection, |_| false);
    }

    /// Forgets the lists (and series) of the connection's owners not in `in_use`: owners whose
    /// last ApiCredential went. Their next ApiCredential lists afresh.
    pub fn retain_owners(&self, connection: &ConnectionKey, in_use: &HashSet<UserId>) {
        self.drop_entries(connection, |owner| in_use.contains(owner));
    }

    /// Cached counts per owner of one connection, for the connection's status.
    pub fn counts(&self, connection: &ConnectionKey) -> Vec<(UserId, usize)> {
        let entries: Vec<(UserId, Arc<tokio::sync::Mutex<Entry>>)> = {
            let all = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            all.iter()
                .filter(|((c, _), _)| c == connection)
                .map(|((_, u), e)| (u.clone(), e.clone()))
                .collect()
        };
        let mut counts: Vec<(UserId, usize)> = entries
            .into_iter()
            .filter_map(|(user, entry)| {
                let guard = entry.try_lock().ok()?;
                guard.list.as_ref().map(|(_, list)| (user, list.len()))
            })
            .collect();
        counts.sort();
        counts
    }
}

/// A change the operator made in Control Hub.
#[derive(Debug, Clone)]
pub enum Change {
    Added(Credential),
    Updated(Credential),
    Removed(CredentialId),
}

impl Change {
    fn apply(self, list: &mut Vec<Credential>) {
        match self {
            Change::Added(c) | Change::Updated(c) => match list.iter_mut().find(|x| x.id == c.id) {
                Some(slot) => *slot = c,
                None => list.push(c),
            },
            Change::Removed(id) => list.retain(|c| c.id != id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cred(id: &str, label: &str) -> Credential {
        Credential {
            id: CredentialId::new(id),
            label: label.into(),
            owner: UserId::new("u@o"),
            registered_by: None,
            active: true,
        }
    }

    fn key(name: &str) -> ConnectionKey {
        ConnectionKey {
            kind: crate::api::ConnectionKind::ControlHubConnection,
            namespace: Some("ns".into()),
            name: name.into(),
        }
    }

    /// Caches `list` for `owner` of `connection` as a fetch would (without Control Hub).
    async fn seed(owners: &Owners, connection: &ConnectionKey, owner: &str, list: Vec<Credential>) {
        let key = (connection.clone(), UserId::new(owner));
        owners.publish(&key, &list);
        owners.entry(&key).lock().await.list = Some((Instant::now(), list));
    }

    fn series(
        gauge: &Family<OwnerLabels, Gauge<i64>>,
        connection: &ConnectionKey,
        owner: &str,
    ) -> Option<i64> {
        let labels = OwnerLabels {
            connection: connection.to_string(),
            owner: owner.into(),
        };
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register("per_owner", "test", gauge.clone());
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).ok()?;
        let prefix = format!(
            "per_owner{{connection=\"{}\",owner=\"{}\"}} ",
            labels.connection, labels.owner
        );
        text.lines().find_map(|l| l.strip_prefix(&prefix)?.parse().ok())
    }

    #[tokio::test]
    async fn the_series_follows_the_list_and_goes_with_the_owner_or_the_connection() {
        let gauge = Family::<OwnerLabels, Gauge<i64>>::default();
        let owners = Owners::new(Duration::from_secs(60), gauge.clone());
        let (a, b) = (key("a"), key("b"));
        seed(&owners, &a, "u@o", vec![cred("1", "x")]).await;
        seed(&owners, &a, "sa@o", vec![cred("2", "y")]).await;
        seed(&owners, &b, "u@o", vec![cred("3", "z")]).await;
        owners
            .update(&a, &UserId::new("u@o"), Change::Added(cred("4", "w")))
            .await;
        assert_eq!(
            series(&gauge, &a, "u@o"),
            Some(2),
            "a change to the list is published"
        );

        owners.retain_owners(&a, &HashSet::from([UserId::new("u@o")]));
        assert_eq!(series(&gauge, &a, "sa@o"), None, "an owner no longer in use goes");
        assert_eq!(series(&gauge, &a, "u@o"), Some(2));
        assert_eq!(owners.counts(&a), vec![(UserId::new("u@o"), 2)]);

        owners.forget_connection(&a);
        assert_eq!(
            series(&gauge, &a, "u@o"),
            None,
            "a deleted connection's series go"
        );
        assert!(owners.counts(&a).is_empty());
        assert_eq!(
            series(&gauge, &b, "u@o"),
            Some(1),
            "other connections keep theirs"
        );
    }

    #[test]
    fn changes_keep_the_cached_list_exact() {
        let mut list = vec![cred("a", "x")];
        Change::Added(cred("b", "y")).apply(&mut list);
        assert_eq!(list.len(), 2);
        Change::Updated(cred("b", "renamed")).apply(&mut list);
        assert_eq!(list[1].label, "renamed");
        Change::Added(cred("b", "again")).apply(&mut list);
        assert_eq!(list.len(), 2, "adding a known id replaces it");
        Change::Removed(CredentialId::new("a")).apply(&mut list);
        assert_eq!(list.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), ["b"]);
    }
}
