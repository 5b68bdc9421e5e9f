//! Identifier newtypes for Control Hub domain values: credential, user and organization IDs.
//!
//! Owns only the types and their string forms; it must not validate IDs against Control Hub or
//! hold anything secret (tokens live in [`super::token`]).

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! id_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps an ID received from Control Hub, a token claim or a user.
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }

            /// The ID as sent on the wire.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Consumes the newtype, returning the plain string.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> Self {
                Self(id)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                Self(id.to_string())
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

id_newtype!(
    /// An API credential's ID (`componentId` on the wire, claim `jti` of its token, the value of the
    /// `X-SS-App-Component-Id` header).
    CredentialId
);
id_newtype!(
    /// A Control Hub user ID, `<uuid>@<orgId>` (also service accounts).
    UserId
);
id_newtype!(
    /// A Control Hub organization ID (claim `o` of a token).
    OrgId
);

impl OrgId {
    /// The system-administration organization, which has no org-info record to discover a base URL from.
    pub const SYS_ADMIN: &'static str = "admin";

    /// Whether this is the sys-admin organization (`admin`).
    pub fn is_sys_admin(&self) -> bool {
        self.0 == Self::SYS_ADMIN
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_serialize_as_plain_json_strings() {
        let id = CredentialId::new("93a9f902-0619-4f6d-8aab-174be9155046");
        assert_eq!(
            serde_json::to_string(&id).unwrap(),
            "\"93a9f902-0619-4f6d-8aab-174be9155046\""
        );
        let back: UserId = serde_json::from_str("\"u@o\"").unwrap();
        assert_eq!(back.as_str(), "u@o");
    }

    #[test]
    fn debug_names_the_kind_of_id() {
        assert_eq!(format!("{:?}", OrgId::new("o1")), "OrgId(\"o1\")");
        assert_eq!(UserId::new("u@o").to_string(), "u@o");
    }

    #[test]
    fn only_the_admin_org_is_sys_admin() {
        assert!(OrgId::new("admin").is_sys_admin());
        assert!(!OrgId::new("3bb73836-b7ec-11eb-b93c-758d73010046").is_sys_admin());
    }
}
