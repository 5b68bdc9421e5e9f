//! The `listLagMs` fault: list responses show a recently created or changed credential as it was
//! `listLagMs` ago (an eventually consistent read model). A new credential is absent from lists
//! until the delay has passed; a renamed or (de)activated one shows its previous label and flag.
//!
//! Keeps, per credential, the changes whose delay has not passed yet: when it becomes visible and
//! what lists showed before (`None`: not listed). Only lists are affected: authentication, the
//! per-owner limit, updates and deletes always see the current state. Deletion is not delayed.
//! Must not lock `Data` (the store calls it under its lock) nor persist anything.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::ids::CredentialId;
use crate::state::model::Credential;

/// What a list shows of a credential that the lag concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Listed {
    label: String,
    active: bool,
}

impl Listed {
    fn of(credential: &Credential) -> Self {
        Self {
            label: credential.label.clone(),
            active: credential.active,
        }
    }
}

#[derive(Debug)]
struct Change {
    visible_at: Instant,
    before: Option<Listed>,
}

#[derive(Debug, Default)]
pub struct ListLag {
    pending: Mutex<HashMap<CredentialId, Vec<Change>>>,
}

impl ListLag {
    /// Records that `after` was created (`before` = `None`) or changed; lists show the change only
    /// after `lag`. Changes that lists cannot see (a regenerated secret) are not recorded.
    pub fn record(&self, before: Option<&Credential>, after: &Credential, lag: Duration) {
        if lag.is_zero() {
            return;
        }
        let before = before.map(Listed::of);
        if before.as_ref() == Some(&Listed::of(after)) {
            return;
        }
        let now = Instant::now();
        let mut pending = self.pending.lock();
        pending.retain(|_, changes| {
            changes.retain(|c| c.visible_at > now);
            !changes.is_empty()
        });
        pending.entry(after.id.clone()).or_default().push(Change {
            visible_at: now + lag,
            before,
        });
    }

    /// Forgets a deleted credential (deletion is not delayed).
    pub fn forget(&self, id: &CredentialId) {
        self.pending.lock().remove(id);
    }

    /// Drops every pending change (the fault was cleared: lists are current again).
    pub fn clear(&self) {
        self.pending.lock().clear();
    }

    /// `credentials` as lists show them now: as of `listLagMs` ago for recent changes.
    pub fn listed<'a>(&self, credentials: impl IntoIterator<Item = &'a Credential>) -> Vec<Credential> {
        let now = Instant::now();
        let pending = self.pending.lock();
        credentials
            .into_iter()
            .filter_map(|credential| {
                let first = pending
                    .get(&credential.id)
                    .and_then(|changes| changes.iter().find(|c| c.visible_at > now));
                match first {
                    None => Some(credential.clone()),
                    Some(Change { before: None, .. }) => None,
                    Some(Change {
                        before: Some(listed), ..
                    }) => {
                        let mut shown = credential.clone();
                        shown.label = listed.label.clone();
                        shown.active = listed.active;
                        Some(shown)
                    }
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{OrgId, UserId};
    use crate::token::Secret;

    fn credential(label: &str, active: bool) -> Credential {
        let owner = UserId::generate(&OrgId::generate());
        Credential {
            id: CredentialId::new("c1"),
            label: label.into(),
            user_id: owner.clone(),
            registered_by: owner,
            active,
            secret_hash: Secret::generate().hash(),
            seq: 0,
            created_on: 0,
        }
    }

    fn labels(lag: &ListLag, c: &Credential) -> Vec<(String, bool)> {
        lag.listed([c]).into_iter().map(|c| (c.label, c.active)).collect()
    }

    #[test]
    fn without_lag_lists_are_current() {
        let lag = ListLag::default();
        let c = credential("a", true);
        lag.record(None, &c, Duration::ZERO);
        assert_eq!(labels(&lag, &c), vec![("a".to_string(), true)]);
    }

    #[test]
    fn new_credentials_appear_and_changes_show_only_after_the_lag() {
        let lag = ListLag::default();
        let created = credential("a", true);
        lag.record(None, &created, Duration::from_millis(150));
        assert!(labels(&lag, &created).is_empty());
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(labels(&lag, &created), vec![("a".to_string(), true)]);

        let renamed = credential("b", false);
        lag.record(Some(&created), &renamed, Duration::from_millis(150));
        assert_eq!(labels(&lag, &renamed), vec![("a".to_string(), true)]);
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(labels(&lag, &renamed), vec![("b".to_string(), false)]);
    }

    #[test]
    fn resending_the_same_label_is_no_change() {
        let lag = ListLag::default();
        let c = credential("a", true);
        lag.record(Some(&c), &c, Duration::from_secs(60));
        assert_eq!(labels(&lag, &c), vec![("a".to_string(), true)]);
    }

    #[test]
    fn forgetting_and_clearing_end_the_lag() {
        let lag = ListLag::default();
        let c = credential("a", true);
        lag.record(None, &c, Duration::from_secs(60));
        lag.forget(&c.id);
        assert_eq!(labels(&lag, &c).len(), 1);
        lag.record(None, &c, Duration::from_secs(60));
        lag.clear();
        assert_eq!(labels(&lag, &c).len(), 1);
    }
}
