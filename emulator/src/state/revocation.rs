//! Delayed revocation: with the `revocationDelayMs` fault set, a token that a deactivation,
//! regeneration or deletion just invalidated keeps authenticating until the delay passes, as the
//! real service may take up to ~30 s (controlhub-api.md §6.2, §10).
//!
//! Holds only secret hashes and deadlines, in memory (never persisted). Must not decide whether a
//! token is valid now; `Store::authenticate` asks it only after the normal check failed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::ids::{CredentialId, UserId};
use crate::state::credentials::Revoked;
use crate::token::SecretHash;

#[derive(Debug)]
struct Grace {
    hash: SecretHash,
    user: UserId,
    until: Instant,
}

#[derive(Debug, Default)]
pub struct Revocations {
    /// Fast path: false while no grace entry exists.
    any: AtomicBool,
    entries: Mutex<HashMap<CredentialId, Vec<Grace>>>,
}

impl Revocations {
    /// Lets `revoked` keep authenticating for `delay` (nothing happens for a zero delay).
    pub fn record(&self, revoked: Revoked, delay: Duration) {
        if delay.is_zero() {
            return;
        }
        let grace = Grace {
            hash: revoked.hash,
            user: revoked.user,
            until: Instant::now() + delay,
        };
        let mut entries = self.entries.lock();
        entries.entry(revoked.id).or_default().push(grace);
        self.any.store(true, Ordering::Release);
    }

    /// The user a revoked-but-still-graced token acts as, if `hash` is such a token of `id`.
    pub fn still_valid(&self, id: &CredentialId, hash: &SecretHash) -> Option<UserId> {
        if !self.any.load(Ordering::Acquire) {
            return None;
        }
        let now = Instant::now();
        let mut entries = self.entries.lock();
        entries.retain(|_, graces| {
            graces.retain(|g| g.until > now);
            !graces.is_empty()
        });
        self.any.store(!entries.is_empty(), Ordering::Release);
        entries
            .get(id)?
            .iter()
            .find(|g| g.hash.matches(hash))
            .map(|g| g.user.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::Secret;

    fn revoked() -> (Revoked, SecretHash) {
        let hash = Secret::generate().hash();
        (
            Revoked {
                id: CredentialId::generate(),
                hash,
                user: UserId::new("u@o"),
            },
            hash,
        )
    }

    #[test]
    fn a_graced_token_is_valid_until_the_delay_passes() {
        let revocations = Revocations::default();
        let (entry, hash) = revoked();
        let id = entry.id.clone();
        revocations.record(entry, Duration::from_millis(50));
        assert_eq!(revocations.still_valid(&id, &hash), Some(UserId::new("u@o")));
        std::thread::sleep(Duration::from_millis(80));
        assert_eq!(revocations.still_valid(&id, &hash), None);
    }

    #[test]
    fn zero_delay_records_nothing_and_other_secrets_never_match() {
        let revocations = Revocations::default();
        let (entry, hash) = revoked();
        let id = entry.id.clone();
        revocations.record(entry, Duration::ZERO);
        assert_eq!(revocations.still_valid(&id, &hash), None);
        let (entry, _) = revoked();
        let id = entry.id.clone();
        revocations.record(entry, Duration::from_secs(60));
        assert_eq!(revocations.still_valid(&id, &Secret::generate().hash()), None);
    }
}
