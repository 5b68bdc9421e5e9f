//! The owners' credential lists, shared by every ApiCredential of the same owner: one list call
//! per owner per refresh period, however many ApiCredentials that owner has, and concurrent
//! reconciles of one owner wait for a single call (no thundering herd at start-up).
//!
//! The operator's own writes update the cached list in place, so quota counts stay exact between
//! refreshes; changes made by hand in Control Hub are seen at the next refresh.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::controlhub::{self, Credential, CredentialId, UserId};
use crate::controller::connections::{Connection, ConnectionKey};

type Key = (ConnectionKey, UserId);

#[derive(Default)]
struct Entry {
    list: Option<(Instant, Vec<Credential>)>,
}

/// The cache.
pub struct Owners {
    entries: Mutex<HashMap<Key, Arc<tokio::sync::Mutex<Entry>>>>,
    max_age: Duration,
}

impl Owners {
    pub fn new(max_age: Duration) -> Self {
        Owners {
            entries: Mutex::new(HashMap::new()),
            max_age,
        }
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
        guard.list = Some((Instant::now(), list.clone()));
        Ok(list)
    }

    /// Applies one of the operator's own changes to the cached list (if any is cached).
    pub async fn update(&self, connection: &ConnectionKey, owner: &UserId, change: Change) {
        let entry = self.entry(&(connection.clone(), owner.clone()));
        let mut guard = entry.lock().await;
        if let Some((_, list)) = &mut guard.list {
            change.apply(list);
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
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.retain(|(c, _), _| c != connection);
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
