//! Stage 3, **decide** (pure: no Kubernetes, no Control Hub, no clock). The decision at the heart
//! of reconcile: given what was observed (the spec, the operator's own
//! record in status, the Secret, the owner's credentials in Control Hub, the clock), choose the one
//! next step. Pure: no I/O, no clock reads; every branch is a unit test below.
//!
//! Reconcile applies steps one at a time and decides again after each, so every intermediate state
//! is one this function can resume from after a crash (docs/architecture.md, "Never lose a token"):
//! - a credential is created under a *pending label* carrying the object's UID; until the Secret
//!   holds its token it is an orphan that a later pass adopts (regenerates) or deletes;
//! - a rotation is recorded in status before the token is regenerated, so a crash between the
//!   regenerate and the Secret write is finished by regenerating again.
//!
//! **What the Secret is trusted for.** Whoever may edit the namespace may edit the Secret, so the
//! credential ID in it is a claim, not a fact. It is believed only when it names the credential
//! recorded in status, or a credential that carries this object's exact marker (a pending label
//! only the operator writes, and admission refuses in `spec.name`). Both crash windows of the
//! protocol satisfy this: between the Secret write and the status write the new credential still
//! carries its pending label (the rename to the final label happens only after status records
//! it). Any other ID is a lost token: this object's own credential gets a new token, and the
//! foreign ID is never renamed, regenerated, adopted or deleted.

use chrono::{DateTime, Utc};

use super::{Desired, Record, RotationReason, SecretState, Strategy};
use crate::controlhub::{Credential, CredentialId};

/// Everything [`decide`] looks at.
#[derive(Debug, Clone)]
pub struct Observed<'a> {
    pub now: DateTime<Utc>,
    /// The object's UID: the marker in pending labels.
    pub uid: &'a str,
    pub desired: &'a Desired,
    pub record: &'a Record,
    pub secret: &'a SecretState,
    /// The owner's credentials in Control Hub (all of them, not only ours).
    pub credentials: &'a [Credential],
    /// Control Hub's per-owner credential limit.
    pub quota_limit: usize,
    /// The result of authenticating with the Secret's token, when that check ran this pass.
    pub token_valid: Option<bool>,
    /// When the token now in the Secret is due for rotation, if a schedule is set. Computed from
    /// the time that token was issued, so a rotation just finished moves it forward.
    pub next_rotation: Option<DateTime<Utc>>,
    /// The recorded credential's token was found elsewhere (under the old Secret name or keys,
    /// after `spec.secret` changed), or the Secret holds it but not as declared (an output format
    /// changed), and it can be written as declared instead of being re-issued.
    pub token_movable: bool,
    /// Control Hub refused to rename the credential in this pass: go on without renaming.
    pub rename_refused: bool,
}

/// Why reconcile cannot proceed until something changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blocker {
    /// A Secret of the target name exists and is not ours.
    SecretConflict,
    /// The owner already has `limit` credentials.
    QuotaExceeded { count: usize, limit: usize },
    /// Replace needs a free slot and none is free; the current token keeps working.
    NoSlotForReplace { count: usize, limit: usize },
}

/// The one next step.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Nothing can be done until the user (or Control Hub's state) changes.
    Blocked(Blocker),
    /// Create a credential under `pending_label`, store its token, record it.
    Create { pending_label: String, recreate: bool },
    /// An orphan with our marker exists while we have no credential (a crash after create): issue it
    /// a new token and make it ours. `replacing` when it is the new credential of a Replace.
    Adopt { id: CredentialId, replacing: bool },
    /// A credential with our marker that is neither current nor being retired: a leftover.
    DeleteOrphan { id: CredentialId },
    /// Record the start of a rotation in status (before any Control Hub call).
    BeginRotation {
        strategy: Strategy,
        reason: RotationReason,
    },
    /// Regenerate the current credential's token and store it.
    Regenerate { id: CredentialId },
    /// Replace: create the new credential under `pending_label`, switch the Secret, retire the old.
    CreateReplacement { pending_label: String },
    /// Put the label back / apply the declared label (also finishes a pending label).
    Rename { id: CredentialId, label: String },
    /// Put the active state back / apply the declared active state.
    SetActive { id: CredentialId, active: bool },
    /// The recorded credential's token sits under the Secret's old name or keys, or the Secret
    /// holds it but not as declared: write it to the declared place, as declared (no Control Hub
    /// call, the token keeps working).
    MoveToken,
    /// The grace period of a replaced credential is over.
    RetirePrevious { id: CredentialId },
    /// The Secret holds a credential that status has not recorded (a crash between the Secret
    /// write and the status write): record it. `previous` is the credential an interrupted
    /// Replace switched away from; it is kept for the grace period, then retired.
    RecordStored {
        id: CredentialId,
        previous: Option<CredentialId>,
    },
    /// In sync; look again at `requeue_at` at the latest.
    Done { requeue_at: Option<DateTime<Utc>> },
}

/// The label marker that ties a credential to the object with this UID.
pub fn marker(uid: &str) -> String {
    format!("[k8s:{uid}]")
}

/// The label a credential carries until its token is safely stored.
pub fn pending_label(label: &str, uid: &str) -> String {
    format!("{label} {}", marker(uid))
}

/// Whether `label` is a pending label of the object with `uid`: it ends with exactly that
/// object's marker and carries no other marker (a substring match would let a label naming
/// several UIDs, or another object's, pass).
pub fn carries_marker(label: &str, uid: &str) -> bool {
    label
        .strip_suffix(&marker(uid))
        .and_then(|rest| rest.strip_suffix(' '))
        .is_some_and(|rest| !rest.contains("[k8s:"))
}

/// The credential ID the Secret holds, if it may be believed (see the module docs).
pub fn trusted_stored_id<'a>(o: &Observed<'a>) -> Option<&'a CredentialId> {
    let SecretState::Managed {
        credential_id: Some(id),
    } = o.secret
    else {
        return None;
    };
    let recorded = o.record.credential_id.as_ref() == Some(id);
    let marked = o
        .credentials
        .iter()
        .any(|c| &c.id == id && carries_marker(&c.label, o.uid));
    (recorded || marked).then_some(id)
}

/// Chooses the next step. See the module docs for the protocol.
pub fn decide(o: &Observed<'_>) -> Step {
    if *o.secret == SecretState::Foreign {
        // Nothing of ours can be delivered; what an interrupted create left is removed first.
        let leftover = o.credentials.iter().find(|c| {
            carries_marker(&c.label, o.uid)
                && Some(&c.id) != o.record.credential_id.as_ref()
                && Some(&c.id) != o.record.previous_credential_id.as_ref()
        });
        if let Some(leftover) = leftover {
            return Step::DeleteOrphan {
                id: leftover.id.clone(),
            };
        }
        return Step::Blocked(Blocker::SecretConflict);
    }
    // The Secret is written first, so it may be ahead of status; it is believed only for what
    // this object wrote there (see the module docs).
    let stored_id = trusted_stored_id(o);
    let current_id = stored_id.or(o.record.credential_id.as_ref());
    let current = current_id.and_then(|id| o.credentials.iter().find(|c| &c.id == id));
    let orphans: Vec<&Credential> = o
        .credentials
        .iter()
        .filter(|c| carries_marker(&c.label, o.uid))
        .filter(|c| Some(&c.id) != current.map(|c| &c.id))
        .filter(|c| Some(&c.id) != o.record.previous_credential_id.as_ref())
        .collect();
    let replacing = matches!(o.record.rotation_in_progress, Some((Strategy::Replace, _)));

    // 0. A Replace in flight while an earlier replaced credential is still in its grace period:
    // that one is retired first, so finishing this Replace never overwrites the record of it.
    if replacing && let Some(previous) = &o.record.previous_credential_id {
        return Step::RetirePrevious { id: previous.clone() };
    }

    // 1. Leftovers of an interrupted create or replace.
    if let Some(orphan) = orphans.first() {
        if current.is_none() || replacing {
            return Step::Adopt {
                id: orphan.id.clone(),
                replacing: current.is_some(),
            };
        }
        return Step::DeleteOrphan {
            id: orphan.id.clone(),
        };
    }

    // 2. No credential: create one (again, if it was deleted behind our back).
    let Some(current) = current else {
        let count = o.credentials.len();
        if count >= o.quota_limit {
            return Step::Blocked(Blocker::QuotaExceeded {
                count,
                limit: o.quota_limit,
            });
        }
        return Step::Create {
            pending_label: pending_label(&o.desired.label, o.uid),
            recreate: current_id.is_some(),
        };
    };

    // 3. The Secret is ahead of status: record what it holds (and finish a Replace it completed).
    // The credential recorded so far is never just forgotten: it is kept as the previous one
    // and retired after the grace period (an earlier previous one is retired first).
    if let Some(stored) = stored_id
        && o.record.credential_id.as_ref() != Some(stored)
    {
        if let Some(previous) = &o.record.previous_credential_id
            && previous != stored
        {
            return Step::RetirePrevious { id: previous.clone() };
        }
        return Step::RecordStored {
            id: stored.clone(),
            previous: o.record.credential_id.clone(),
        };
    }

    // 4. A rotation in flight is finished first.
    if let Some((strategy, _)) = o.record.rotation_in_progress {
        return rotation_step(o, current, strategy);
    }

    // 5. Should a rotation start? A token merely stored under the old name or keys is moved.
    if stored_id.is_none() && o.token_movable {
        return Step::MoveToken;
    }
    if let Some(reason) = rotation_due(o, current, stored_id.is_some()) {
        let strategy = match reason {
            // A lost or invalid token is mended in place where possible: the ID stays stable.
            RotationReason::SecretLost | RotationReason::TokenInvalid if !o.desired.for_other_user => {
                Strategy::Regenerate
            }
            _ => o.desired.strategy,
        };
        return Step::BeginRotation { strategy, reason };
    }
    // The Secret holds the token but not as declared (no rotation is due to rewrite it anyway).
    if o.token_movable {
        return Step::MoveToken;
    }

    // 6. Drift and pending labels.
    if current.label != o.desired.label && !o.rename_refused {
        return Step::Rename {
            id: current.id.clone(),
            label: o.desired.label.clone(),
        };
    }
    if current.active != o.desired.active {
        return Step::SetActive {
            id: current.id.clone(),
            active: o.desired.active,
        };
    }

    // 7. Retire a replaced credential once its grace period is over.
    if let Some(previous) = &o.record.previous_credential_id {
        let due = o.record.retire_at.is_none_or(|at| at <= o.now);
        if due {
            return Step::RetirePrevious { id: previous.clone() };
        }
    }

    let requeue_at = [
        o.next_rotation,
        o.record.previous_credential_id.as_ref().and(o.record.retire_at),
    ]
    .into_iter()
    .flatten()
    .min();
    Step::Done { requeue_at }
}

fn rotation_due(o: &Observed<'_>, current: &Credential, secret_holds_token: bool) -> Option<RotationReason> {
    if !secret_holds_token {
        return Some(RotationReason::SecretLost);
    }
    if let Some(request) = &o.desired.rotate_request
        && o.record.last_rotation_request.as_ref() != Some(request)
    {
        return Some(RotationReason::Requested);
    }
    if o.next_rotation.is_some_and(|at| at <= o.now) {
        return Some(RotationReason::Schedule);
    }
    // An inactive credential never authenticates, so a failed check says nothing then.
    if o.token_valid == Some(false) && current.active {
        return Some(RotationReason::TokenInvalid);
    }
    None
}

/// The step of a rotation under way. (A Replace never gets here while an earlier replaced
/// credential is in its grace period: step 0 of [`decide`] retires that one first, so one object
/// never holds more than two credentials, or two quota slots.)
fn rotation_step(o: &Observed<'_>, current: &Credential, strategy: Strategy) -> Step {
    match strategy {
        Strategy::Regenerate => Step::Regenerate {
            id: current.id.clone(),
        },
        Strategy::Replace => {
            let count = o.credentials.len();
            if count < o.quota_limit {
                Step::CreateReplacement {
                    pending_label: pending_label(&o.desired.label, o.uid),
                }
            } else if o.desired.regenerate_when_no_slot && !o.desired.for_other_user {
                // No free slot, and the user opted in: regenerate in place (the old token dies).
                Step::Regenerate {
                    id: current.id.clone(),
                }
            } else {
                Step::Blocked(Blocker::NoSlotForReplace {
                    count,
                    limit: o.quota_limit,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controlhub::UserId;
    use chrono::TimeZone;

    const UID: &str = "0b1c2d3e-0000-4000-8000-000000000001";

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap()
    }

    fn cred(id: &str, label: &str, active: bool) -> Credential {
        Credential {
            id: CredentialId::from(id.to_string()),
            label: label.to_string(),
            owner: UserId::from("u@o".to_string()),
            registered_by: None,
            active,
        }
    }

    fn id(s: &str) -> CredentialId {
        CredentialId::from(s.to_string())
    }

    fn desired() -> Desired {
        Desired {
            label: "ci bot".into(),
            active: true,
            strategy: Strategy::Regenerate,
            grace: chrono::Duration::minutes(10),
            rotate_request: None,
            for_other_user: false,
            regenerate_when_no_slot: false,
        }
    }

    fn stored(s: &str) -> SecretState {
        SecretState::Managed {
            credential_id: Some(id(s)),
        }
    }

    struct Case {
        desired: Desired,
        record: Record,
        secret: SecretState,
        credentials: Vec<Credential>,
        limit: usize,
        token_valid: Option<bool>,
        next_rotation: Option<DateTime<Utc>>,
        token_movable: bool,
    }

    impl Case {
        fn new() -> Self {
            Case {
                desired: desired(),
                record: Record::default(),
                secret: SecretState::Missing,
                credentials: vec![],
                limit: 10,
                token_valid: None,
                next_rotation: None,
                token_movable: false,
            }
        }

        /// A credential `c1` in sync: stored in the Secret, recorded, label and state as declared.
        fn in_sync() -> Self {
            let mut c = Case::new();
            c.record.credential_id = Some(id("c1"));
            c.secret = stored("c1");
            c.credentials = vec![cred("c1", "ci bot", true)];
            c
        }

        fn decide(&self) -> Step {
            decide(&Observed {
                now: now(),
                uid: UID,
                desired: &self.desired,
                record: &self.record,
                secret: &self.secret,
                credentials: &self.credentials,
                quota_limit: self.limit,
                token_valid: self.token_valid,
                next_rotation: self.next_rotation,
                token_movable: self.token_movable,
                rename_refused: false,
            })
        }
    }

    fn others(n: usize) -> Vec<Credential> {
        (0..n)
            .map(|i| cred(&format!("other-{i}"), "someone else's", true))
            .collect()
    }

    #[test]
    fn a_new_object_creates_a_credential_under_a_pending_label() {
        let step = Case::new().decide();
        assert_eq!(
            step,
            Step::Create {
                pending_label: format!("ci bot [k8s:{UID}]"),
                recreate: false
            }
        );
    }

    #[test]
    fn a_foreign_secret_blocks_before_any_control_hub_write() {
        let mut c = Case::new();
        c.secret = SecretState::Foreign;
        assert_eq!(c.decide(), Step::Blocked(Blocker::SecretConflict));
        let mut c = Case::in_sync();
        c.secret = SecretState::Foreign;
        assert_eq!(c.decide(), Step::Blocked(Blocker::SecretConflict));
    }

    #[test]
    fn a_foreign_secret_still_lets_the_leftover_of_an_interrupted_create_be_deleted() {
        let mut c = Case::new();
        c.secret = SecretState::Foreign;
        c.credentials = vec![cred("new", &pending_label("ci bot", UID), true)];
        assert_eq!(c.decide(), Step::DeleteOrphan { id: id("new") });
        c.credentials.clear();
        assert_eq!(c.decide(), Step::Blocked(Blocker::SecretConflict));
    }

    #[test]
    fn create_is_refused_at_the_owners_quota() {
        let mut c = Case::new();
        c.credentials = others(10);
        assert_eq!(
            c.decide(),
            Step::Blocked(Blocker::QuotaExceeded { count: 10, limit: 10 })
        );
        c.credentials = others(9);
        assert!(matches!(c.decide(), Step::Create { .. }));
    }

    #[test]
    fn a_credential_deleted_by_hand_is_recreated() {
        let mut c = Case::in_sync();
        c.credentials = vec![];
        assert_eq!(
            c.decide(),
            Step::Create {
                pending_label: format!("ci bot [k8s:{UID}]"),
                recreate: true
            }
        );
    }

    #[test]
    fn recreate_respects_the_quota_too() {
        let mut c = Case::in_sync();
        c.credentials = others(10);
        assert_eq!(
            c.decide(),
            Step::Blocked(Blocker::QuotaExceeded { count: 10, limit: 10 })
        );
    }

    #[test]
    fn after_a_crash_between_create_and_secret_write_the_orphan_is_adopted() {
        let mut c = Case::new();
        c.credentials = vec![cred("new", &pending_label("ci bot", UID), true)];
        assert_eq!(
            c.decide(),
            Step::Adopt {
                id: id("new"),
                replacing: false
            }
        );
    }

    #[test]
    fn after_a_crash_between_secret_write_and_status_the_secret_wins() {
        let mut c = Case::new();
        c.secret = stored("new");
        c.credentials = vec![cred("new", &pending_label("ci bot", UID), true)];
        // Not an orphan: the Secret holds its token. It is recorded, then the pending label finished.
        assert_eq!(
            c.decide(),
            Step::RecordStored {
                id: id("new"),
                previous: None
            }
        );
        c.record.credential_id = Some(id("new"));
        assert_eq!(
            c.decide(),
            Step::Rename {
                id: id("new"),
                label: "ci bot".into()
            }
        );
    }

    #[test]
    fn a_marked_leftover_beside_the_current_credential_is_deleted() {
        let mut c = Case::in_sync();
        c.credentials
            .push(cred("stray", &pending_label("ci bot", UID), true));
        assert_eq!(c.decide(), Step::DeleteOrphan { id: id("stray") });
    }

    #[test]
    fn another_objects_marked_credentials_are_left_alone() {
        let mut c = Case::in_sync();
        c.credentials
            .push(cred("theirs", &pending_label("ci bot", "another-uid"), true));
        assert!(matches!(c.decide(), Step::Done { .. }));
    }

    #[test]
    fn in_sync_is_done_and_requeues_at_the_next_rotation() {
        let mut c = Case::in_sync();
        assert_eq!(c.decide(), Step::Done { requeue_at: None });
        let at = now() + chrono::Duration::hours(3);
        c.next_rotation = Some(at);
        assert_eq!(c.decide(), Step::Done { requeue_at: Some(at) });
    }

    #[test]
    fn a_rename_by_hand_is_put_back_and_a_new_name_is_applied() {
        let mut c = Case::in_sync();
        c.credentials[0].label = "renamed by hand".into();
        assert_eq!(
            c.decide(),
            Step::Rename {
                id: id("c1"),
                label: "ci bot".into()
            }
        );
        let mut c = Case::in_sync();
        c.desired.label = "new name".into();
        assert_eq!(
            c.decide(),
            Step::Rename {
                id: id("c1"),
                label: "new name".into()
            }
        );
    }

    #[test]
    fn active_state_follows_the_spec_both_ways() {
        let mut c = Case::in_sync();
        c.desired.active = false;
        assert_eq!(
            c.decide(),
            Step::SetActive {
                id: id("c1"),
                active: false
            }
        );
        let mut c = Case::in_sync();
        c.credentials[0].active = false;
        assert_eq!(
            c.decide(),
            Step::SetActive {
                id: id("c1"),
                active: true
            }
        );
    }

    #[test]
    fn rename_comes_before_activation() {
        let mut c = Case::in_sync();
        c.credentials[0].label = "x".into();
        c.credentials[0].active = false;
        assert!(matches!(c.decide(), Step::Rename { .. }));
    }

    #[test]
    fn a_due_schedule_begins_a_rotation_with_the_declared_strategy() {
        let mut c = Case::in_sync();
        c.next_rotation = Some(now());
        assert_eq!(
            c.decide(),
            Step::BeginRotation {
                strategy: Strategy::Regenerate,
                reason: RotationReason::Schedule
            }
        );
        c.desired.strategy = Strategy::Replace;
        assert_eq!(
            c.decide(),
            Step::BeginRotation {
                strategy: Strategy::Replace,
                reason: RotationReason::Schedule
            }
        );
    }

    #[test]
    fn a_schedule_not_yet_due_does_nothing() {
        let mut c = Case::in_sync();
        c.next_rotation = Some(now() + chrono::Duration::seconds(1));
        assert!(matches!(c.decide(), Step::Done { .. }));
    }

    #[test]
    fn a_new_rotate_annotation_value_rotates_once() {
        let mut c = Case::in_sync();
        c.desired.rotate_request = Some("2026-11-25".into());
        assert_eq!(
            c.decide(),
            Step::BeginRotation {
                strategy: Strategy::Regenerate,
                reason: RotationReason::Requested
            }
        );
        c.record.last_rotation_request = Some("2026-11-25".into());
        assert!(
            matches!(c.decide(), Step::Done { .. }),
            "the same value again is a no-op"
        );
    }

    #[test]
    fn an_invalid_token_of_an_active_credential_is_rotated_in_place() {
        let mut c = Case::in_sync();
        c.desired.strategy = Strategy::Replace;
        c.token_valid = Some(false);
        assert_eq!(
            c.decide(),
            Step::BeginRotation {
                strategy: Strategy::Regenerate,
                reason: RotationReason::TokenInvalid
            }
        );
    }

    #[test]
    fn a_failed_token_check_of_an_inactive_credential_means_nothing() {
        let mut c = Case::in_sync();
        c.desired.active = false;
        c.credentials[0].active = false;
        c.token_valid = Some(false);
        assert!(matches!(c.decide(), Step::Done { .. }));
    }

    #[test]
    fn a_lost_secret_gets_a_fresh_token() {
        let mut c = Case::in_sync();
        c.secret = SecretState::Missing;
        assert_eq!(
            c.decide(),
            Step::BeginRotation {
                strategy: Strategy::Regenerate,
                reason: RotationReason::SecretLost
            }
        );
        let mut c = Case::in_sync();
        c.secret = SecretState::Managed { credential_id: None };
        assert!(matches!(
            c.decide(),
            Step::BeginRotation {
                reason: RotationReason::SecretLost,
                ..
            }
        ));
    }

    #[test]
    fn another_users_lost_token_is_replaced_since_regenerate_may_be_refused() {
        let mut c = Case::in_sync();
        c.desired.for_other_user = true;
        c.desired.strategy = Strategy::Replace;
        c.secret = SecretState::Missing;
        assert_eq!(
            c.decide(),
            Step::BeginRotation {
                strategy: Strategy::Replace,
                reason: RotationReason::SecretLost
            }
        );
    }

    #[test]
    fn a_recorded_regenerate_is_finished_after_a_crash() {
        let mut c = Case::in_sync();
        c.record.rotation_in_progress = Some((Strategy::Regenerate, RotationReason::Schedule));
        assert_eq!(c.decide(), Step::Regenerate { id: id("c1") });
    }

    #[test]
    fn a_recorded_replace_creates_the_replacement() {
        let mut c = Case::in_sync();
        c.record.rotation_in_progress = Some((Strategy::Replace, RotationReason::Schedule));
        assert_eq!(
            c.decide(),
            Step::CreateReplacement {
                pending_label: pending_label("ci bot", UID)
            }
        );
    }

    #[test]
    fn replace_without_a_free_slot_is_refused_unless_the_user_opted_into_regenerate() {
        let mut c = Case::in_sync();
        c.credentials.extend(others(9));
        c.record.rotation_in_progress = Some((Strategy::Replace, RotationReason::Schedule));
        assert_eq!(
            c.decide(),
            Step::Blocked(Blocker::NoSlotForReplace { count: 10, limit: 10 }),
            "never silently downgraded to Regenerate (its old token would die at once)"
        );
        c.desired.regenerate_when_no_slot = true;
        assert_eq!(c.decide(), Step::Regenerate { id: id("c1") });
    }

    #[test]
    fn a_second_replace_inside_a_grace_period_retires_the_first_previous_credential_first() {
        let mut c = Case::in_sync();
        c.record.previous_credential_id = Some(id("old"));
        c.record.retire_at = Some(now() + chrono::Duration::minutes(5));
        c.credentials.push(cred("old", "ci bot", true));
        c.record.rotation_in_progress = Some((Strategy::Replace, RotationReason::Requested));
        assert_eq!(c.decide(), Step::RetirePrevious { id: id("old") });
        c.record.previous_credential_id = None;
        c.credentials.retain(|x| x.id != id("old"));
        assert!(matches!(c.decide(), Step::CreateReplacement { .. }));
    }

    #[test]
    fn a_foreign_id_in_the_secret_is_a_lost_token_never_adopted_or_recorded() {
        let mut c = Case::in_sync();
        c.secret = stored("victim");
        c.credentials.push(cred("victim", "someone's", true));
        assert_eq!(
            c.decide(),
            Step::BeginRotation {
                strategy: Strategy::Regenerate,
                reason: RotationReason::SecretLost
            },
            "the object's own credential gets a new token"
        );
        let mut c = Case::new();
        c.secret = stored("victim");
        c.credentials.push(cred("victim", "someone's", true));
        assert!(
            matches!(c.decide(), Step::Create { recreate: false, .. }),
            "with nothing recorded, a foreign ID is ignored and a credential created"
        );
    }

    #[test]
    fn markers_match_exactly() {
        assert!(carries_marker(&pending_label("ci bot", UID), UID));
        assert!(!carries_marker(&pending_label("ci bot", UID), "0b1c2d3e"));
        assert!(!carries_marker(&format!("x [k8s:{UID}] y"), UID));
        assert!(!carries_marker(&format!("[k8s:other] {}", marker(UID)), UID));
        assert!(!carries_marker(&format!("ci bot{}", marker(UID)), UID));
        let mut c = Case::in_sync();
        c.credentials
            .push(cred("theirs", &format!("{} [k8s:x]", marker(UID)), true));
        assert!(matches!(c.decide(), Step::Done { .. }), "not ours: left alone");
    }

    #[test]
    fn a_token_under_the_old_secret_name_or_keys_is_moved_not_reissued() {
        let mut c = Case::in_sync();
        c.secret = SecretState::Missing;
        c.token_movable = true;
        assert_eq!(c.decide(), Step::MoveToken);
    }

    #[test]
    fn a_secret_holding_the_token_but_not_as_declared_is_rewritten_unless_a_rotation_writes_it() {
        let mut c = Case::in_sync();
        c.token_movable = true;
        assert_eq!(
            c.decide(),
            Step::MoveToken,
            "an output format changed: rewrite, no new token"
        );
        c.next_rotation = Some(now());
        assert!(
            matches!(c.decide(), Step::BeginRotation { .. }),
            "a due rotation writes the Secret as declared anyway"
        );
    }

    #[test]
    fn replace_without_a_free_slot_for_another_user_is_blocked_and_says_why() {
        let mut c = Case::in_sync();
        c.desired.for_other_user = true;
        c.credentials.extend(others(9));
        c.record.rotation_in_progress = Some((Strategy::Replace, RotationReason::Schedule));
        assert_eq!(
            c.decide(),
            Step::Blocked(Blocker::NoSlotForReplace { count: 10, limit: 10 })
        );
    }

    #[test]
    fn after_a_crash_during_replace_the_new_credential_is_adopted() {
        let mut c = Case::in_sync();
        c.record.rotation_in_progress = Some((Strategy::Replace, RotationReason::Schedule));
        c.credentials
            .push(cred("new", &pending_label("ci bot", UID), true));
        assert_eq!(
            c.decide(),
            Step::Adopt {
                id: id("new"),
                replacing: true
            }
        );
    }

    #[test]
    fn a_replaced_credential_is_retired_after_its_grace_period_only() {
        let mut c = Case::in_sync();
        c.record.previous_credential_id = Some(id("old"));
        c.credentials.push(cred("old", "ci bot", true));
        c.record.retire_at = Some(now() + chrono::Duration::minutes(5));
        assert_eq!(
            c.decide(),
            Step::Done {
                requeue_at: c.record.retire_at
            }
        );
        c.record.retire_at = Some(now());
        assert_eq!(c.decide(), Step::RetirePrevious { id: id("old") });
    }

    #[test]
    fn the_credential_being_retired_is_not_an_orphan_even_with_a_pending_label() {
        let mut c = Case::in_sync();
        c.record.previous_credential_id = Some(id("old"));
        c.record.retire_at = Some(now() + chrono::Duration::minutes(5));
        c.credentials
            .push(cred("old", &pending_label("ci bot", UID), true));
        assert!(matches!(c.decide(), Step::Done { .. }));
    }

    #[test]
    fn requeue_is_the_earlier_of_rotation_and_retirement() {
        let mut c = Case::in_sync();
        c.record.previous_credential_id = Some(id("old"));
        let retire = now() + chrono::Duration::minutes(5);
        c.record.retire_at = Some(retire);
        c.next_rotation = Some(now() + chrono::Duration::hours(1));
        assert_eq!(
            c.decide(),
            Step::Done {
                requeue_at: Some(retire)
            }
        );
    }

    #[test]
    fn the_secret_id_wins_over_a_stale_status_id_only_while_it_carries_our_marker() {
        let mut c = Case::in_sync();
        c.record.credential_id = Some(id("old"));
        c.credentials.push(cred("old", "ci bot", true));
        c.secret = stored("c1");
        assert!(
            matches!(
                c.decide(),
                Step::BeginRotation {
                    reason: RotationReason::SecretLost,
                    ..
                }
            ),
            "an unmarked, unrecorded ID is someone's claim: our own credential gets a new token"
        );
        c.credentials[0].label = pending_label("ci bot", UID);
        assert_eq!(
            c.decide(),
            Step::RecordStored {
                id: id("c1"),
                previous: Some(id("old"))
            },
            "the superseded credential is kept as previous and retired, never forgotten"
        );
    }

    #[test]
    fn after_a_crash_between_the_replace_secret_write_and_status_the_replace_is_finished() {
        let mut c = Case::in_sync();
        c.record.rotation_in_progress = Some((Strategy::Replace, RotationReason::Requested));
        c.secret = stored("new");
        c.credentials
            .push(cred("new", &pending_label("ci bot", UID), true));
        // Not a second replacement: the Secret already holds the new credential.
        assert_eq!(
            c.decide(),
            Step::RecordStored {
                id: id("new"),
                previous: Some(id("c1"))
            }
        );
    }
}
