//! Identifier newtypes of the emulated Control Hub: organization, user and API-credential IDs.
//!
//! Owns how new identifiers are generated, in the formats of controlhub-api.md §3.3 (org IDs are v1
//! UUIDs, user IDs are `<v1-uuid>@<orgId>`, credential IDs are v4 UUIDs). Holds no secrets and must
//! not validate permissions: it only names things.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps an identifier received from a client or read from the state file.
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.0)
            }
        }
    };
}

string_id!(
    /// An organization ID (a v1 UUID, also the token claim `o`).
    OrgId
);
string_id!(
    /// A user ID, `<v1-uuid>@<orgId>`.
    UserId
);
string_id!(
    /// An API-credential ID (a v4 UUID): the `componentId`, the token claim `jti` and the
    /// `X-SS-App-Component-Id` header.
    CredentialId
);

impl OrgId {
    /// A fresh organization ID (v1 UUID, like the real service's).
    pub fn generate() -> Self {
        Self(v1_uuid().to_string())
    }
}

impl UserId {
    /// A fresh user ID inside `org`.
    pub fn generate(org: &OrgId) -> Self {
        Self(format!("{}@{}", v1_uuid(), org))
    }
}

impl CredentialId {
    /// A fresh credential ID (v4 UUID).
    pub fn generate() -> Self {
        Self(Uuid::new_v4().to_string())
    }
}

fn v1_uuid() -> Uuid {
    let node: [u8; 6] = rand::random();
    Uuid::now_v1(&node)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn org_ids_are_version_1_uuids() {
        let org = OrgId::generate();
        let parsed = Uuid::parse_str(org.as_str()).map(|u| u.get_version_num());
        assert_eq!(parsed, Ok(1));
    }

    #[test]
    fn user_ids_carry_their_org_after_the_at_sign() {
        let org = OrgId::generate();
        let user = UserId::generate(&org);
        let (uuid, suffix) = user.as_str().split_once('@').unwrap_or_default();
        assert_eq!(suffix, org.as_str());
        assert_eq!(Uuid::parse_str(uuid).map(|u| u.get_version_num()), Ok(1));
    }

    #[test]
    fn credential_ids_are_version_4_uuids_and_unique() {
        let a = CredentialId::generate();
        let b = CredentialId::generate();
        assert_ne!(a, b);
        assert_eq!(Uuid::parse_str(a.as_str()).map(|u| u.get_version_num()), Ok(4));
    }
}
