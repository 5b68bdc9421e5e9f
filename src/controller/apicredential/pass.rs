//! Stage 3 (pure), the rules of one reconcile pass around [`super::decide::decide`]: a step budget, and at most one
//! rotation begun per pass (a rotation that just finished must never start another, whatever
//! the plan says). Pure: performing a step is `act`'s job, and `credential` runs the loop.

use super::decide::Step;

/// One pass's accounting.
#[derive(Debug)]
pub struct Pass {
    budget: usize,
    taken: usize,
    rotations: usize,
}

impl Pass {
    pub fn new(budget: usize) -> Self {
        Pass {
            budget,
            taken: 0,
            rotations: 0,
        }
    }

    /// Whether `step` may be performed in this pass. `false` ends the pass (the object is
    /// requeued): the budget is spent, or a second rotation was asked for.
    pub fn admit(&mut self, step: &Step) -> bool {
        if matches!(step, Step::Done { .. } | Step::Blocked(_)) {
            return true;
        }
        if self.taken >= self.budget {
            return false;
        }
        if matches!(step, Step::BeginRotation { .. }) {
            if self.rotations > 0 {
                return false;
            }
            self.rotations += 1;
        }
        self.taken += 1;
        true
    }
}

/// The loop run against a model of Control Hub, the Secret and status that applies each step
/// the way `act` does: from every combination of starting states, a pass must end in `Done` or
/// `Blocked` within the budget, issue at most one token, leave nothing of its own behind, and
/// never touch a credential that is not its own.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::controlhub::{Credential, CredentialId, UserId};
    use crate::controller::apicredential::decide::{self as plan, Observed, carries_marker, pending_label};
    use crate::controller::apicredential::{Desired, Record, RotationReason, SecretState, Strategy};
    use chrono::{DateTime, Duration, TimeZone, Utc};

    const UID: &str = "0b1c2d3e-0000-4000-8000-000000000001";
    const LABEL: &str = "ci bot";
    const BUDGET: usize = 12;

    fn cred(id: &str, label: &str, active: bool) -> Credential {
        Credential {
            id: CredentialId::new(id),
            label: label.into(),
            owner: UserId::new("u@o"),
            registered_by: None,
            active,
        }
    }

    #[derive(Clone, Debug)]
    struct Model {
        now: DateTime<Utc>,
        interval: Option<Duration>,
        credentials: Vec<Credential>,
        secret: SecretState,
        record: Record,
        last_rotation: Option<DateTime<Utc>>,
        /// The Secret holds its credential but not as declared (an output format changed).
        secret_stale: bool,
        /// Control Hub calls that issued a token, with the credential.
        issued: Vec<CredentialId>,
        /// Every credential a call changed or deleted.
        touched: Vec<CredentialId>,
        made: usize,
    }

    impl Model {
        fn observe<'a>(&'a self, desired: &'a Desired) -> Observed<'a> {
            Observed {
                now: self.now,
                uid: UID,
                desired,
                record: &self.record,
                secret: &self.secret,
                credentials: &self.credentials,
                quota_limit: 10,
                token_valid: None,
                next_rotation: self.interval.zip(self.last_rotation).map(|(i, last)| last + i),
                // As gather: only the recorded credential's Secret is rewritten.
                token_movable: self.secret_stale
                    && self.record.credential_id.is_some()
                    && self.secret
                        == SecretState::Managed {
                            credential_id: self.record.credential_id.clone(),
                        },
                rename_refused: false,
            }
        }

        fn new_credential(&mut self, label: &str, active: bool) -> CredentialId {
            self.made += 1;
            let id = CredentialId::new(format!("new-{}", self.made));
            self.credentials.push(cred(id.as_str(), label, active));
            self.issued.push(id.clone());
            id
        }

        fn store(&mut self, id: &CredentialId) {
            self.secret = SecretState::Managed {
                credential_id: Some(id.clone()),
            };
            self.secret_stale = false;
            self.last_rotation = Some(self.now);
        }

        fn finish_replace(&mut self, d: &Desired, previous: Option<CredentialId>) {
            if let Some(p) = previous.filter(|p| Some(p) != self.record.credential_id.as_ref()) {
                self.record.previous_credential_id = Some(p);
                self.record.retire_at = Some(self.now + d.grace);
            }
            self.record.rotation_in_progress = None;
            self.record.last_rotation_request = d.rotate_request.clone();
        }

        fn slot(&mut self, id: &CredentialId) -> Option<&mut Credential> {
            self.credentials.iter_mut().find(|c| &c.id == id)
        }

        /// What `act::perform` does, in memory.
        fn perform(&mut self, d: &Desired, step: &Step) {
            match step.clone() {
                Step::Done { .. } | Step::Blocked(_) => {}
                Step::Create { pending_label, .. } => {
                    let id = self.new_credential(&pending_label, d.active);
                    self.store(&id);
                    self.record.credential_id = Some(id);
                    self.record.last_rotation_request = d.rotate_request.clone();
                    self.record.rotation_in_progress = None;
                }
                Step::Adopt { id, replacing } => {
                    self.issued.push(id.clone());
                    self.touched.push(id.clone());
                    let previous = self.record.credential_id.clone();
                    self.store(&id);
                    self.record.credential_id = Some(id);
                    self.record.last_rotation_request = d.rotate_request.clone();
                    self.record.rotation_in_progress = None;
                    if replacing {
                        self.finish_replace(d, previous);
                    }
                }
                Step::DeleteOrphan { id } | Step::RetirePrevious { id } => {
                    self.touched.push(id.clone());
                    self.credentials.retain(|c| c.id != id);
                    if self.record.previous_credential_id.as_ref() == Some(&id) {
                        self.record.previous_credential_id = None;
                        self.record.retire_at = None;
                    }
                }
                Step::BeginRotation { strategy, reason } => {
                    self.record.rotation_in_progress = Some((strategy, reason));
                }
                Step::Regenerate { id } => {
                    self.issued.push(id.clone());
                    self.touched.push(id.clone());
                    self.store(&id);
                    self.record.rotation_in_progress = None;
                    self.record.last_rotation_request = d.rotate_request.clone();
                }
                Step::CreateReplacement { pending_label } => {
                    let id = self.new_credential(&pending_label, d.active);
                    let previous = self.record.credential_id.clone();
                    self.store(&id);
                    self.record.credential_id = Some(id);
                    self.finish_replace(d, previous);
                }
                Step::Rename { id, label } => {
                    self.touched.push(id.clone());
                    if let Some(c) = self.slot(&id) {
                        c.label = label;
                    }
                }
                Step::SetActive { id, active } => {
                    self.touched.push(id.clone());
                    if let Some(c) = self.slot(&id) {
                        c.active = active;
                    }
                }
                Step::MoveToken => self.secret_stale = false,
                Step::RecordStored { id, previous } => {
                    self.record.credential_id = Some(id);
                    self.last_rotation = Some(self.now);
                    if previous.is_some() {
                        self.finish_replace(d, previous);
                    } else {
                        self.record.last_rotation_request = d.rotate_request.clone();
                    }
                }
            }
        }
    }

    /// Runs one pass the way `credential::apply` does; returns the last step.
    fn pass(m: &mut Model, d: &Desired) -> Step {
        let mut pass = Pass::new(BUDGET);
        loop {
            let step = plan::decide(&m.observe(d));
            if !pass.admit(&step) {
                return step;
            }
            m.perform(d, &step);
            if matches!(step, Step::Done { .. } | Step::Blocked(_)) {
                return step;
            }
        }
    }

    fn starts() -> Vec<(Model, Desired)> {
        let now = Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap();
        let mut out = Vec::new();
        let c1_states: [Option<Credential>; 5] = [
            None,
            Some(cred("c1", LABEL, true)),
            Some(cred("c1", &pending_label(LABEL, UID), true)),
            Some(cred("c1", "renamed by hand", true)),
            Some(cred("c1", LABEL, false)),
        ];
        let secrets = [
            SecretState::Missing,
            SecretState::Managed { credential_id: None },
            SecretState::Managed {
                credential_id: Some(CredentialId::new("c1")),
            },
            SecretState::Managed {
                credential_id: Some(CredentialId::new("victim")),
            },
            SecretState::Managed {
                credential_id: Some(CredentialId::new("orphan")),
            },
            SecretState::Foreign,
        ];
        let rotations = [
            None,
            Some((Strategy::Regenerate, RotationReason::Schedule)),
            Some((Strategy::Replace, RotationReason::Requested)),
        ];
        for others in [0usize, 8, 10] {
            for recorded in [false, true] {
                for c1 in &c1_states {
                    for secret in &secrets {
                        for orphan in [false, true] {
                            for rotation in rotations {
                                for previous in [None, Some(true), Some(false)] {
                                    for due in [false, true] {
                                        for request in [false, true] {
                                            for strategy in [Strategy::Regenerate, Strategy::Replace] {
                                                let mut credentials: Vec<Credential> = (0..others)
                                                    .map(|i| cred(&format!("other-{i}"), "someone's", true))
                                                    .collect();
                                                credentials.push(cred("victim", "a victim", true));
                                                credentials.extend(c1.clone());
                                                if orphan {
                                                    credentials.push(cred(
                                                        "orphan",
                                                        &pending_label(LABEL, UID),
                                                        true,
                                                    ));
                                                }
                                                let mut record = Record {
                                                    credential_id: recorded.then(|| CredentialId::new("c1")),
                                                    rotation_in_progress: rotation.filter(|_| recorded),
                                                    last_rotation_request: Some("old".into()),
                                                    ..Record::default()
                                                };
                                                if let Some(expired) = previous.filter(|_| recorded) {
                                                    credentials.push(cred("p1", LABEL, true));
                                                    record.previous_credential_id =
                                                        Some(CredentialId::new("p1"));
                                                    record.retire_at = Some(if expired {
                                                        now - Duration::minutes(1)
                                                    } else {
                                                        now + Duration::minutes(5)
                                                    });
                                                }
                                                let desired = Desired {
                                                    label: LABEL.into(),
                                                    active: true,
                                                    strategy,
                                                    grace: Duration::minutes(10),
                                                    rotate_request: Some(
                                                        if request { "new" } else { "old" }.into(),
                                                    ),
                                                    for_other_user: false,
                                                    regenerate_when_no_slot: false,
                                                };
                                                let model = Model {
                                                    now,
                                                    interval: Some(Duration::hours(1)),
                                                    credentials,
                                                    secret: secret.clone(),
                                                    record,
                                                    last_rotation: Some(if due {
                                                        now - Duration::hours(2)
                                                    } else {
                                                        now - Duration::minutes(10)
                                                    }),
                                                    secret_stale: false,
                                                    issued: vec![],
                                                    touched: vec![],
                                                    made: 0,
                                                };
                                                out.push((model, desired));
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        // Each again with a Secret that holds its credential but not as declared.
        let stale: Vec<(Model, Desired)> = out
            .iter()
            .cloned()
            .map(|(mut m, d)| {
                m.secret_stale = true;
                (m, d)
            })
            .collect();
        out.extend(stale);
        out
    }

    #[test]
    fn admit_enforces_the_budget_and_one_rotation_per_pass() {
        let mut pass = Pass::new(2);
        let rotate = Step::BeginRotation {
            strategy: Strategy::Regenerate,
            reason: RotationReason::Schedule,
        };
        assert!(pass.admit(&rotate));
        assert!(!pass.admit(&rotate), "a second rotation waits for the next pass");
        assert!(pass.admit(&Step::MoveToken));
        assert!(!pass.admit(&Step::MoveToken), "budget spent");
        assert!(
            pass.admit(&Step::Done { requeue_at: None }),
            "ending is always allowed"
        );
    }

    #[test]
    fn every_pass_ends_within_budget_issues_at_most_one_token_and_orphans_nothing() {
        let starts = starts();
        assert!(starts.len() > 10_000, "{} starting states", starts.len());
        for (start, desired) in starts {
            let mut m = start.clone();
            let last = pass(&mut m, &desired);
            let context = || format!("from {start:#?}\nwanting {desired:?}\nended {last:?} as {m:#?}");
            assert!(
                matches!(last, Step::Done { .. } | Step::Blocked(_)),
                "the pass must end in Done or Blocked within {BUDGET} steps: {}",
                context()
            );
            assert!(m.issued.len() <= 1, "at most one token per pass: {}", context());
            assert!(
                !m.touched
                    .iter()
                    .any(|id| id.as_str() == "victim" || id.as_str().starts_with("other-")),
                "a credential that is not this object's was changed: {}",
                context()
            );
            if matches!(last, Step::Done { .. }) {
                let current = m
                    .record
                    .credential_id
                    .clone()
                    .expect("Done means a credential is recorded");
                assert_eq!(
                    m.secret,
                    SecretState::Managed {
                        credential_id: Some(current.clone())
                    },
                    "Done means the Secret holds the recorded credential: {}",
                    context()
                );
                assert!(
                    !m.secret_stale,
                    "Done means the Secret is as declared: {}",
                    context()
                );
                let c = m.credentials.iter().find(|c| c.id == current).expect("it exists");
                assert!(
                    c.label == LABEL && c.active,
                    "Done means as declared: {}",
                    context()
                );
                for c in &m.credentials {
                    let previous = Some(&c.id) == m.record.previous_credential_id.as_ref();
                    let theirs = c.id.as_str() == "victim"
                        || c.id.as_str().starts_with("other-")
                        || (c.id.as_str() == "c1" && start.record.credential_id.is_none());
                    assert!(
                        theirs || previous || (c.id == current && !carries_marker(&c.label, UID)),
                        "left behind: {c:?}: {}",
                        context()
                    );
                }
                // A second pass right away has nothing to do: no rotation repeats.
                let mut again = m.clone();
                again.issued.clear();
                let next = pass(&mut again, &desired);
                assert!(
                    matches!(next, Step::Done { .. }) && again.issued.is_empty(),
                    "a second pass must be idle, got {next:?}: {}",
                    context()
                );
            }
        }
    }
}
