//! User changes and queries on [`Data`]: create, update, delete (with the credential cascade of
//! controlhub-api.md §7.9 / §10) and the filtered, paginated user list.
//!
//! Users are seeded through the emulator's admin API (Control Hub itself invites them through
//! ASTER, which is not emulated). Must not lock, persist or build HTTP responses.

use crate::ids::{CredentialId, UserId};
use crate::state::data::Data;
use crate::state::error::StateError;
use crate::state::model::{BASE_ROLES, User, now_millis};

#[derive(Debug, Default)]
pub struct NewUser {
    pub email: String,
    pub name: Option<String>,
    pub roles: Vec<String>,
    pub service_account: bool,
    pub active: Option<bool>,
}

#[derive(Debug, Default)]
pub struct UserChanges {
    pub email: Option<String>,
    pub name: Option<String>,
    pub roles: Option<Vec<String>>,
    pub active: Option<bool>,
}

/// What deleting a user removed.
#[derive(Debug)]
pub struct DeletedUser {
    pub user: User,
    pub credentials: Vec<CredentialId>,
}

/// Filters of `GET …/users` (SDK: `offset, len, orderBy, order, active, filterText, deleted`).
#[derive(Debug, Default)]
pub struct UserQuery {
    pub offset: usize,
    pub len: Option<usize>,
    pub order_by: Option<String>,
    pub descending: bool,
    pub active: Option<bool>,
    pub deleted: bool,
    pub filter_text: Option<String>,
}

/// One page of users and the count before paging.
#[derive(Debug)]
pub struct UserPage<'a> {
    pub total: usize,
    pub users: Vec<&'a User>,
}

/// Every user holds `org-user` and `user`, as Control Hub requires. Keeps order, drops duplicates.
fn with_base_roles(roles: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for role in roles.into_iter().chain(BASE_ROLES.iter().map(|r| r.to_string())) {
        if !role.trim().is_empty() && !out.contains(&role) {
            out.push(role);
        }
    }
    out
}

fn validate_email(email: &str) -> Result<(), StateError> {
    if email.trim().is_empty() {
        Err(StateError::Invalid("`email` must not be blank".into()))
    } else {
        Ok(())
    }
}

impl Data {
    pub fn create_user(&mut self, creator: Option<&UserId>, new: NewUser) -> Result<User, StateError> {
        validate_email(&new.email)?;
        let now = now_millis();
        let user = User {
            id: UserId::generate(&self.org.id),
            name: new
                .name
                .filter(|n| !n.trim().is_empty())
                .unwrap_or_else(|| new.email.clone()),
            email: new.email,
            roles: with_base_roles(new.roles),
            active: new.active.unwrap_or(true),
            deleted: false,
            service_account: new.service_account,
            creator: creator.cloned(),
            created_on: now,
            last_modified_on: now,
            delete_time: None,
            destroyer: None,
        };
        self.users.insert(user.id.clone(), user.clone());
        Ok(user)
    }

    pub fn update_user(&mut self, id: &UserId, changes: UserChanges) -> Result<User, StateError> {
        if let Some(email) = &changes.email {
            validate_email(email)?;
        }
        let user = self
            .users
            .get_mut(id)
            .filter(|u| !u.deleted)
            .ok_or_else(|| StateError::UserNotFound(id.clone()))?;
        if let Some(email) = changes.email {
            user.email = email;
        }
        if let Some(name) = changes.name {
            user.name = name;
        }
        if let Some(roles) = changes.roles {
            user.roles = with_base_roles(roles);
        }
        if let Some(active) = changes.active {
            user.active = active;
        }
        user.last_modified_on = now_millis();
        Ok(user.clone())
    }

    /// Marks the user deleted and removes every credential it owns or registered.
    pub fn delete_user(&mut self, caller: &UserId, id: &UserId) -> Result<DeletedUser, StateError> {
        if caller == id {
            return Err(StateError::CannotDeleteSelf);
        }
        let user = self
            .users
            .get_mut(id)
            .filter(|u| !u.deleted)
            .ok_or_else(|| StateError::UserNotFound(id.clone()))?;
        let now = now_millis();
        user.deleted = true;
        user.active = false;
        user.delete_time = Some(now);
        user.destroyer = Some(caller.clone());
        user.last_modified_on = now;
        let user = user.clone();
        let doomed: Vec<CredentialId> = self
            .all_credentials()
            .into_iter()
            .filter(|c| &c.user_id == id || &c.registered_by == id)
            .map(|c| c.id.clone())
            .collect();
        for credential in &doomed {
            self.remove_credential(credential);
        }
        Ok(DeletedUser {
            user,
            credentials: doomed,
        })
    }

    pub fn list_users(&self, query: &UserQuery) -> UserPage<'_> {
        let needle = query
            .filter_text
            .as_deref()
            .map(str::to_lowercase)
            .filter(|n| !n.is_empty());
        let mut users: Vec<&User> = self
            .users
            .values()
            .filter(|u| u.deleted == query.deleted)
            .filter(|u| query.active.is_none_or(|active| u.active == active))
            .filter(|u| {
                needle.as_deref().is_none_or(|n| {
                    [u.id.as_str(), &u.email, &u.name]
                        .iter()
                        .any(|field| field.to_lowercase().contains(n))
                })
            })
            .collect();
        match query.order_by.as_deref().map(str::to_ascii_uppercase).as_deref() {
            Some("NAME") => users.sort_by(|a, b| a.name.cmp(&b.name)),
            Some("EMAIL") => users.sort_by(|a, b| a.email.cmp(&b.email)),
            Some("CREATED_ON") => users.sort_by_key(|u| u.created_on),
            _ => {}
        }
        if query.descending {
            users.reverse();
        }
        let total = users.len();
        let page = users
            .into_iter()
            .skip(query.offset)
            .take(query.len.unwrap_or(usize::MAX))
            .collect();
        UserPage { total, users: page }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::bootstrap;
    use crate::state::credentials::Fresh;
    use crate::token;

    fn data() -> Data {
        let Ok(data) = bootstrap::fresh(&bootstrap::BootstrapOptions::default()) else {
            panic!("bootstrap")
        };
        data
    }

    fn issue(data: &mut Data, owner: &UserId, registered_by: &UserId) -> CredentialId {
        let id = CredentialId::generate();
        let Ok(minted) = token::mint("dev", &id, &data.org.id) else {
            panic!("mint")
        };
        let fresh = Fresh {
            id: id.clone(),
            minted,
        };
        let issued = data.issue(owner.clone(), registered_by.clone(), "l".into(), true, fresh);
        assert!(issued.is_ok());
        id
    }

    #[test]
    fn new_users_get_the_base_roles_and_an_id_in_the_org() {
        let mut data = data();
        let new = NewUser {
            email: "sa@example.com".into(),
            roles: vec!["jobrunner:operator".into()],
            ..NewUser::default()
        };
        let Ok(user) = data.create_user(None, new) else {
            panic!("create")
        };
        assert!(user.id.as_str().ends_with(&format!("@{}", data.org.id)));
        assert_eq!(user.roles, ["jobrunner:operator", "org-user", "user"]);
        assert_eq!(user.name, "sa@example.com");
        assert!(user.active);
    }

    #[test]
    fn deleting_a_user_removes_credentials_it_owns_and_registered() {
        let mut data = data();
        let admin = data.bootstrap.user_id.clone();
        let new = |email: &str| NewUser {
            email: email.into(),
            ..NewUser::default()
        };
        let (Ok(doomed), Ok(other)) = (
            data.create_user(None, new("d@x")),
            data.create_user(None, new("o@x")),
        ) else {
            panic!("create")
        };
        let owned = issue(&mut data, &doomed.id, &doomed.id);
        let registered = issue(&mut data, &other.id, &doomed.id);
        let kept = issue(&mut data, &other.id, &admin);
        let Ok(deleted) = data.delete_user(&admin, &doomed.id) else {
            panic!("delete")
        };
        assert_eq!(deleted.credentials, [owned.clone(), registered.clone()]);
        assert!(data.credential(&owned).is_none() && data.credential(&registered).is_none());
        assert!(data.credential(&kept).is_some());
        assert!(data.user(&doomed.id).is_some_and(|u| u.deleted && !u.active));
        assert!(matches!(
            data.delete_user(&admin, &doomed.id),
            Err(StateError::UserNotFound(_))
        ));
    }

    #[test]
    fn users_cannot_delete_themselves() {
        let mut data = data();
        let admin = data.bootstrap.user_id.clone();
        assert!(matches!(
            data.delete_user(&admin, &admin),
            Err(StateError::CannotDeleteSelf)
        ));
    }

    #[test]
    fn the_user_list_filters_and_pages() {
        let mut data = data();
        for i in 0..5 {
            let new = NewUser {
                email: format!("bot{i}@x"),
                active: Some(i % 2 == 0),
                ..NewUser::default()
            };
            assert!(data.create_user(None, new).is_ok());
        }
        let everyone = data.list_users(&UserQuery::default());
        assert_eq!(everyone.total, 6);
        let bots = data.list_users(&UserQuery {
            filter_text: Some("BOT".into()),
            ..UserQuery::default()
        });
        assert_eq!(bots.total, 5);
        let inactive = data.list_users(&UserQuery {
            active: Some(false),
            ..UserQuery::default()
        });
        assert_eq!(inactive.total, 2);
        let page = data.list_users(&UserQuery {
            offset: 4,
            len: Some(10),
            ..UserQuery::default()
        });
        assert_eq!((page.total, page.users.len()), (6, 2));
    }
}
