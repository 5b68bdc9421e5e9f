//! [`Data`]: everything the emulated organization holds, with the indexes that keep lookups cheap,
//! and the authentication check of controlhub-api.md §9 against it.
//!
//! Owns the credential-by-owner index (kept in step by [`Data::insert_credential`] and
//! [`Data::remove_credential`]). Must not lock, persist or talk HTTP: `Store` wraps it.

use std::collections::{BTreeMap, HashMap};

use crate::ids::{CredentialId, UserId};
use crate::state::model::{Bootstrap, Credential, Org, Principal, Settings, User};
use crate::token::SecretHash;

/// Why a presented credential did not authenticate (logged at debug level, answered with SSO_01).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthFailure {
    #[error("header {0} is missing")]
    MissingHeader(&'static str),
    #[error("the token is malformed")]
    MalformedToken,
    #[error("the token's jti differs from X-SS-App-Component-Id")]
    ComponentMismatch,
    #[error("the token belongs to another organization")]
    OrgMismatch,
    #[error("no such credential")]
    UnknownCredential,
    #[error("the token's secret does not match the credential")]
    SecretMismatch,
    #[error("the credential is deactivated")]
    CredentialInactive,
    #[error("the credential's user is deactivated or deleted")]
    UserUnusable,
}

#[derive(Debug)]
pub struct Data {
    pub org: Org,
    pub settings: Settings,
    pub bootstrap: Bootstrap,
    /// Users by ID (so lists come out ordered by ID, the SDK's default `orderBy=ID`).
    pub users: BTreeMap<UserId, User>,
    credentials: HashMap<CredentialId, Credential>,
    /// Credential IDs per owner, in creation order.
    by_owner: HashMap<UserId, Vec<CredentialId>>,
    next_seq: u64,
    /// Bumped by every accepted change; the persister writes versions.
    pub(crate) version: u64,
}

impl Data {
    pub fn new(
        org: Org,
        settings: Settings,
        bootstrap: Bootstrap,
        users: impl IntoIterator<Item = User>,
        credentials: impl IntoIterator<Item = Credential>,
    ) -> Self {
        let mut data = Data {
            org,
            settings,
            bootstrap,
            users: users.into_iter().map(|u| (u.id.clone(), u)).collect(),
            credentials: HashMap::new(),
            by_owner: HashMap::new(),
            next_seq: 0,
            version: 0,
        };
        let mut sorted: Vec<Credential> = credentials.into_iter().collect();
        sorted.sort_by_key(|c| c.seq);
        for credential in sorted {
            data.next_seq = data.next_seq.max(credential.seq + 1);
            data.insert_credential(credential);
        }
        data
    }

    pub fn credential(&self, id: &CredentialId) -> Option<&Credential> {
        self.credentials.get(id)
    }

    pub(crate) fn credential_mut(&mut self, id: &CredentialId) -> Option<&mut Credential> {
        self.credentials.get_mut(id)
    }

    pub fn user(&self, id: &UserId) -> Option<&User> {
        self.users.get(id)
    }

    /// The credentials `owner` holds, in creation order.
    pub fn owned_by<'a>(&'a self, owner: &UserId) -> impl Iterator<Item = &'a Credential> + 'a {
        self.by_owner
            .get(owner)
            .into_iter()
            .flat_map(|ids| ids.iter())
            .filter_map(|id| self.credentials.get(id))
    }

    pub fn count_owned(&self, owner: &UserId) -> usize {
        self.by_owner.get(owner).map_or(0, Vec::len)
    }

    /// Every credential of the organization, in creation order.
    pub fn all_credentials(&self) -> Vec<&Credential> {
        let mut all: Vec<&Credential> = self.credentials.values().collect();
        all.sort_by_key(|c| c.seq);
        all
    }

    pub(crate) fn next_seq(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }

    pub(crate) fn insert_credential(&mut self, credential: Credential) {
        self.by_owner
            .entry(credential.user_id.clone())
            .or_default()
            .push(credential.id.clone());
        self.credentials.insert(credential.id.clone(), credential);
    }

    pub(crate) fn remove_credential(&mut self, id: &CredentialId) -> Option<Credential> {
        let credential = self.credentials.remove(id)?;
        if let Some(ids) = self.by_owner.get_mut(&credential.user_id) {
            ids.retain(|other| other != id);
            if ids.is_empty() {
                self.by_owner.remove(&credential.user_id);
            }
        }
        Some(credential)
    }

    /// The principal of an active credential whose secret hashes to `hash` (§9).
    pub fn authenticate(&self, id: &CredentialId, hash: &SecretHash) -> Result<Principal, AuthFailure> {
        let credential = self.credentials.get(id).ok_or(AuthFailure::UnknownCredential)?;
        if !credential.secret_hash.matches(hash) {
            return Err(AuthFailure::SecretMismatch);
        }
        if !credential.active {
            return Err(AuthFailure::CredentialInactive);
        }
        self.principal_of(&credential.user_id, id)
    }

    /// The principal `user` acts as when presenting credential `id` (the user must be usable).
    pub fn principal_of(&self, user: &UserId, id: &CredentialId) -> Result<Principal, AuthFailure> {
        let user = self
            .users
            .get(user)
            .filter(|u| u.is_usable())
            .ok_or(AuthFailure::UserUnusable)?;
        Ok(Principal {
            credential_id: id.clone(),
            user_id: user.id.clone(),
            org_id: self.org.id.clone(),
            org_name: self.org.name.clone(),
            email: user.email.clone(),
            name: user.name.clone(),
            roles: user.roles.clone(),
        })
    }
}
