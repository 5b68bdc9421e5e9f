//! User stories of time: a schedule that comes due rotates exactly once (not once per step of a
//! reconcile), Replace leaves exactly one credential once the grace period is over however many
//! rotations happened inside it, and a Secret the API server will never accept does not cost the
//! working token.
//!
//! Time passes without waiting: the tests move `status.lastRotationTime` (or `status.retireAt`)
//! into the past with a status patch and poke the object with a new `controlhub.dev/refresh`
//! value. Counts come from the emulator's statistics (`updateCredential` is every
//! `POST …/api-user-credentials/{id}`: rename, (de)activate or regenerate; nothing but the
//! rotation changes a credential in these stories, once Control Hub lists the credential: while
//! lists lag behind its creation, a fresh list misses it and the operator confirms it exists with
//! an idempotent `POST …/{id}`, so counting starts after [`Env::wait_listed_as_recorded`]).

use chrono::{DateTime, Duration, Timelike, Utc};
use controlhub_operator::api::{ConditionType, ROTATE_ANNOTATION};
use kube::api::{Api, Patch, PatchParams};

use crate::env::{Env, WAIT, condition, within};
use crate::quiet::reconciled_again;
use crate::support::{eventually, plane};

/// Every `POST …/api-user-credentials/{id}` (regenerate, in these stories) answered 200.
const UPDATE: &str = "updateCredential";
const CREATE: &str = "createCredential";

fn ci_bot(rotation: &str) -> String {
    format!(
        "apiVersion: controlhub.dev/v1alpha1\nkind: ApiCredential\nmetadata:\n  name: ci-bot\nspec:\n  name: CI bot\n  rotation:\n{rotation}"
    )
}

async fn last_rotation(env: &Env, name: &str) -> Option<DateTime<Utc>> {
    env.credentials()
        .get(name)
        .await
        .unwrap()
        .status
        .and_then(|s| s.last_rotation_time)
}

/// Makes the schedule of `name` due: `lastRotationTime` moved `by` into the past, then a poke;
/// waits until the operator rotated (lastRotationTime newer than before the backdate) and is Ready
/// again with nothing in flight. A periodic reconcile that read the object just before the patch
/// may write the old time back; that race is detected (lastRotationTime back at its old value, no
/// rotation) and the backdate repeated.
async fn make_due_and_wait_rotated(env: &Env, name: &str, by: Duration) -> DateTime<Utc> {
    for _ in 0..3 {
        let (before, _) = env.backdate_last_rotation(name, by).await;
        env.poke(name).await;
        let rotated = within(std::time::Duration::from_secs(20), || async move {
            last_rotation(env, name).await.filter(|t| *t > before)
        })
        .await;
        if let Some(at) = rotated {
            // Count only once the reconcile has settled: Ready, nothing in flight.
            env.wait_ready(name).await;
            return at;
        }
        let now = last_rotation(env, name).await;
        assert_eq!(
            now,
            Some(before),
            "{name}: the schedule came due (lastRotationTime backdated by {by}) and was poked, but no rotation happened within 20s"
        );
    }
    panic!("{name}: the backdated lastRotationTime was overwritten three times in a row");
}

type ChCredential = (String, String, String, bool);

/// Ends the grace period of `name` now (retireAt in the past, then a poke) and waits up to 30 s
/// until exactly one credential is left in Control Hub (of `owner`, or besides the admin's);
/// returns whether that happened and what Control Hub holds. Should a concurrent status write put
/// retireAt back into the future, the backdate is repeated.
async fn expire_grace_and_wait_for_one(
    env: &Env,
    name: &str,
    owner: Option<&str>,
) -> (bool, Vec<ChCredential>) {
    let listed = || async {
        env.managed_credentials()
            .await
            .into_iter()
            .filter(|c| owner.is_none_or(|o| c.2 == o))
            .collect::<Vec<_>>()
    };
    let needs_expiry = || async {
        let status = env.credentials().get(name).await.ok()?.status?;
        status.previous_credential_id.as_ref()?;
        Some(status.retire_at.is_none_or(|at| at > Utc::now()))
    };
    if needs_expiry().await == Some(true) {
        env.expire_grace(name).await;
        env.poke(name).await;
    }
    let one = within(std::time::Duration::from_secs(30), || async {
        if listed().await.len() == 1 {
            return Some(());
        }
        if needs_expiry().await == Some(true) {
            env.expire_grace(name).await;
            env.poke(name).await;
        }
        None
    })
    .await;
    (one.is_some(), listed().await)
}

/// `interval: 1h`, Regenerate: the interval comes due once, so the token is regenerated once;
/// the next rotation is an interval later; the new token works and the old one does not. Another
/// drift check later, still exactly one regenerate.
#[tokio::test]
async fn an_interval_schedule_coming_due_regenerates_exactly_once() {
    let env = Env::start("time-interval").await;
    env.apply(&ci_bot("    interval: 1h\n")).await;
    env.wait_ready("ci-bot").await;
    let (id, old) = env.assert_token_works("ci-bot").await;
    env.wait_listed_as_recorded("ci-bot").await;
    env.emulator.reset_stats().await;

    make_due_and_wait_rotated(&env, "ci-bot", Duration::hours(2)).await;
    let regenerated = env.emulator.stats().await.count(UPDATE, 200);
    assert_eq!(
        regenerated, 1,
        "one due time must regenerate the token once; Control Hub counted {regenerated} regenerate calls"
    );
    let cred = env.wait_ready("ci-bot").await;
    let next = cred
        .status
        .unwrap()
        .next_rotation_time
        .expect("nextRotationTime is set with a schedule");
    assert!(
        next >= Utc::now() + Duration::minutes(50),
        "after the rotation the next one is an interval later, not {next} (now {})",
        Utc::now()
    );
    let (new_id, new) = env.assert_token_works("ci-bot").await;
    assert_eq!(new_id, id, "Regenerate keeps the credential ID");
    assert!(new != old, "a new token (values not shown)");
    env.assert_token_refused(&id, &old, "the token from before the rotation")
        .await;

    // More reconciles come and go: nothing is due.
    reconciled_again(&env, "ci-bot", 3).await;
    let regenerated = env.emulator.stats().await.count(UPDATE, 200);
    assert_eq!(
        regenerated, 1,
        "a schedule that is not due again must not rotate again; Control Hub counted {regenerated} regenerate calls"
    );
}

/// `schedule: "0 * * * *"` in Asia/Kolkata (UTC+5:30): the hourly rotation is at :30 UTC (plus
/// at most 5 minutes of jitter); three missed hours come due as one rotation, not three or more.
#[tokio::test]
async fn a_cron_schedule_comes_due_once_in_its_time_zone() {
    let env = Env::start("time-cron").await;
    env.apply(&ci_bot(
        "    schedule: \"0 * * * *\"\n    timeZone: Asia/Kolkata\n",
    ))
    .await;
    let status = env.wait_ready("ci-bot").await.status.unwrap();
    let next = status.next_rotation_time.expect("nextRotationTime is set");
    assert!(
        (30..=35).contains(&next.minute()),
        "hourly in Asia/Kolkata is at :30 UTC (+ jitter below 5 min): {next}"
    );
    let (id, old) = env.assert_token_works("ci-bot").await;
    env.wait_listed_as_recorded("ci-bot").await;
    env.emulator.reset_stats().await;

    make_due_and_wait_rotated(&env, "ci-bot", Duration::hours(3)).await;
    let regenerated = env.emulator.stats().await.count(UPDATE, 200);
    assert_eq!(
        regenerated, 1,
        "missed cron times come due as one rotation; Control Hub counted {regenerated} regenerate calls"
    );
    let status = env.wait_ready("ci-bot").await.status.unwrap();
    let next = status.next_rotation_time.expect("nextRotationTime is set");
    assert!(
        next > Utc::now() && next <= Utc::now() + Duration::minutes(66),
        "the next rotation is the next :30 UTC after now: {next}"
    );
    assert!((30..=35).contains(&next.minute()), "{next}");
    let (new_id, _) = env.assert_token_works("ci-bot").await;
    assert_eq!(new_id, id);
    env.assert_token_refused(&id, &old, "the token from before the rotation")
        .await;
}

/// Replace, interval 1h, gracePeriod 1m: coming due creates exactly one new credential; during
/// the grace period both tokens work; once the grace period is over exactly one credential is left,
/// the old token fails and the new one works.
#[tokio::test]
async fn a_replace_schedule_comes_due_creates_one_credential_and_retires_the_old_after_grace() {
    let env = Env::start("time-replace").await;
    env.apply(&ci_bot(
        "    interval: 1h\n    strategy: Replace\n    gracePeriod: 1m\n",
    ))
    .await;
    env.wait_ready("ci-bot").await;
    let (old_id, old) = env.assert_token_works("ci-bot").await;
    env.wait_listed_as_recorded("ci-bot").await;
    env.emulator.reset_stats().await;

    make_due_and_wait_rotated(&env, "ci-bot", Duration::hours(2)).await;
    let created = env.emulator.stats().await.count(CREATE, 200);
    let (new_id, new) = env.assert_token_works("ci-bot").await;
    assert_ne!(new_id, old_id, "the Secret holds the replacement");
    // Lists may lag behind the create: wait for the replacement to show, then count.
    let managed = env
        .eventually_managed_credentials("the replacement next to the old credential", |m| {
            m.iter().any(|c| c.0 == new_id)
        })
        .await;
    assert_eq!(
        created, 1,
        "one due time must create one replacement; Control Hub counted {created} creates and holds {managed:?}"
    );
    assert_eq!(
        managed.len(),
        2,
        "during the grace period the old and the new credential exist: {managed:?}"
    );
    assert_eq!(
        env.token_status(&old_id, &old).await,
        200,
        "the old token keeps working during the grace period"
    );
    let status = env.wait_ready("ci-bot").await.status.unwrap();
    assert_eq!(status.previous_credential_id.as_deref(), Some(old_id.as_str()));

    let (left, managed) = expire_grace_and_wait_for_one(&env, "ci-bot", None).await;
    assert!(
        left,
        "once the grace period is over exactly one credential is left: {managed:?}"
    );
    assert_eq!(managed[0].0, new_id, "the replacement is the one left");
    env.assert_token_refused(&old_id, &old, "the replaced token")
        .await;
    assert_eq!(env.token_status(&new_id, &new).await, 200);
    assert_eq!(env.assert_token_works("ci-bot").await.0, new_id);
}

/// Replace with a 10m grace period, two rotate requests inside it: once the grace period is
/// over, exactly one credential is left; neither replaced token works.
#[tokio::test]
async fn two_rotate_requests_inside_one_grace_period_leave_one_credential() {
    let env = Env::start("time-tworot").await;
    env.apply(&ci_bot(
        "    interval: 720h\n    strategy: Replace\n    gracePeriod: 10m\n",
    ))
    .await;
    env.wait_ready("ci-bot").await;
    let (first_id, first) = env.assert_token_works("ci-bot").await;

    let mut replaced = vec![(first_id.clone(), first)];
    for request in ["1", "2"] {
        env.annotate("ci-bot", ROTATE_ANNOTATION, request).await;
        env.wait_for("ci-bot", &format!("rotation {request} finished"), |c| {
            c.status.as_ref().is_some_and(|s| {
                s.last_rotation_request.as_deref() == Some(request) && s.rotation_in_progress.is_none()
            })
        })
        .await;
        let (id, token) = env.assert_token_works("ci-bot").await;
        assert!(
            replaced.iter().all(|(old, _)| *old != id),
            "rotation {request} switched the Secret to a new credential"
        );
        replaced.push((id, token));
    }
    let (current_id, current) = replaced.pop().expect("the current credential");

    let (left, managed) = expire_grace_and_wait_for_one(&env, "ci-bot", None).await;
    assert!(
        left,
        "two rotations inside one grace period must leave exactly one credential once it is over; Control Hub holds {managed:?} (current {current_id}, replaced {:?})",
        replaced.iter().map(|r| &r.0).collect::<Vec<_>>()
    );
    assert_eq!(managed[0].0, current_id, "the current credential is the one left");
    for (id, token) in &replaced {
        env.assert_token_refused(id, token, "a replaced credential").await;
    }
    assert_eq!(env.token_status(&current_id, &current).await, 200);
}

/// A service account's credential, strategy Regenerate, interval 1h: Control Hub refuses to
/// regenerate another user's credential, so the operator replaces it; coming due once creates
/// one credential, and once the old one is retired the service account has exactly one.
#[tokio::test]
async fn a_service_account_credential_rotates_on_schedule_without_leaving_one_behind() {
    let env = Env::start("time-sa").await;
    let robot = env
        .emulator
        .create_user("robot@example.com", "Robot", &[], true)
        .await;
    env.apply(&format!(
        "apiVersion: controlhub.dev/v1alpha1\nkind: ApiCredential\nmetadata:\n  name: robot\nspec:\n  name: Robot key\n  userId: {robot}\n  rotation:\n    interval: 1h\n    strategy: Regenerate\n"
    ))
    .await;
    env.wait_ready("robot").await;
    let (old_id, old) = env.assert_token_works("robot").await;
    env.emulator.reset_stats().await;

    make_due_and_wait_rotated(&env, "robot", Duration::hours(2)).await;
    let created = env.emulator.stats().await.count(CREATE, 200);
    let owned = |all: Vec<(String, String, String, bool)>| {
        all.into_iter().filter(|c| c.2 == robot).collect::<Vec<_>>()
    };
    let now_owned = owned(env.controlhub_credentials().await);
    assert_eq!(
        created, 1,
        "one due time must issue one replacement for the service account; Control Hub counted {created} creates and holds {now_owned:?}"
    );
    env.wait_ready("robot").await;
    let (one, now_owned) = expire_grace_and_wait_for_one(&env, "robot", Some(&robot)).await;
    assert!(
        one,
        "after the rotation the service account has exactly one credential: {now_owned:?}"
    );
    let (new_id, _) = env.assert_token_works("robot").await;
    assert_ne!(new_id, old_id, "replaced: a new credential");
    assert_eq!(now_owned[0].0, new_id, "the Secret's credential is the one left");
    env.assert_token_refused(&old_id, &old, "the replaced token")
        .await;
}

/// A ValidatingAdmissionPolicy (and binding) that denies writing Secret `secret` in `ns`;
/// deleted on drop.
struct DenySecretWrites {
    name: String,
}

impl DenySecretWrites {
    async fn install(ns: &str, secret: &str) -> Self {
        let name = format!("{ns}-deny-secret");
        let client = plane().client().await;
        let policy = serde_json::json!({
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": name},
            "spec": {
                "failurePolicy": "Fail",
                "matchConstraints": {
                    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}},
                    "resourceRules": [{
                        "apiGroups": [""], "apiVersions": ["v1"],
                        "operations": ["CREATE", "UPDATE"], "resources": ["secrets"]
                    }]
                },
                "validations": [{
                    "expression": format!("object.metadata.name != '{secret}'"),
                    "message": format!("e2e policy: Secret {secret} may not be written")
                }]
            }
        });
        let binding = serde_json::json!({
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": name},
            "spec": {"policyName": name, "validationActions": ["Deny"]}
        });
        for (kind, plural, value) in [
            ("ValidatingAdmissionPolicy", "validatingadmissionpolicies", policy),
            (
                "ValidatingAdmissionPolicyBinding",
                "validatingadmissionpolicybindings",
                binding,
            ),
        ] {
            let gvk = kube::core::GroupVersionKind::gvk("admissionregistration.k8s.io", "v1", kind);
            let ar = kube::core::ApiResource::from_gvk_with_plural(&gvk, plural);
            let api: Api<kube::core::DynamicObject> = Api::all_with(client.clone(), &ar);
            api.patch(&name, &PatchParams::apply("e2e").force(), &Patch::Apply(&value))
                .await
                .unwrap_or_else(|e| panic!("applying {kind} {name}: {e}"));
        }
        DenySecretWrites { name }
    }
}

impl Drop for DenySecretWrites {
    fn drop(&mut self) {
        let _ = plane()
            .kubectl()
            .args([
                "delete",
                "validatingadmissionpolicybinding,validatingadmissionpolicy",
                &self.name,
                "--ignore-not-found",
                "--wait=false",
            ])
            .output();
    }
}

/// The Secret can no longer be written (an admission policy denies it): a rotation request must
/// not regenerate the token in Control Hub (the old token would die with the new one undeliverable);
/// the old token keeps working and Ready=False says the Secret is the problem (`SecretRejected`).
#[tokio::test]
async fn a_secret_write_that_can_never_succeed_does_not_revoke_the_working_token() {
    let env = Env::start("time-secretdeny").await;
    let secret = "ci-bot-token";
    env.apply(&format!(
        "apiVersion: controlhub.dev/v1alpha1\nkind: ApiCredential\nmetadata:\n  name: ci-bot\nspec:\n  name: CI bot\n  secret:\n    name: {secret}\n"
    ))
    .await;
    env.wait_ready("ci-bot").await;
    let (id, old) = env.assert_token_works(secret).await;
    // Control Hub calls are counted below: only once lists show the credential (strict lists lag).
    env.wait_listed_as_recorded("ci-bot").await;

    let policy = DenySecretWrites::install(&env.ns.name, secret).await;
    // The policy is in effect once a dry-run write of the Secret is refused.
    let secrets = env.secrets();
    eventually("the policy to deny writing the Secret", WAIT, || {
        let secrets = secrets.clone();
        async move {
            let patch = serde_json::json!({"metadata": {"annotations": {"e2e/probe": "1"}}});
            let params = PatchParams {
                dry_run: true,
                ..Default::default()
            };
            secrets
                .patch(secret, &params, &Patch::Merge(&patch))
                .await
                .is_err()
                .then_some(())
        }
    })
    .await;
    env.emulator.reset_stats().await;

    env.annotate("ci-bot", ROTATE_ANNOTATION, "1").await;
    // A positive signal: the operator either reported the Secret problem or called Control Hub.
    let signal = within(WAIT, || async {
        let stats = env.emulator.stats().await;
        if stats.total(UPDATE) > 0 {
            return Some("Control Hub was called".to_string());
        }
        let cred = env.credentials().get("ci-bot").await.ok()?;
        condition(&cred, ConditionType::Ready)
            .filter(|(status, reason, _)| status == "False" && reason == "SecretRejected")
            .map(|_| "Ready=False SecretRejected".to_string())
    })
    .await;
    // More reconciles, for a rotation that may come after the report.
    reconciled_again(&env, "ci-bot", 2).await;
    let regenerated = env.emulator.stats().await.total(UPDATE);
    assert_eq!(
        regenerated, 0,
        "no Control Hub write may happen before the Secret write is known to succeed (dry run); Control Hub counted {regenerated} regenerate calls"
    );
    assert_eq!(
        env.token_status(&id, &old).await,
        200,
        "the token in the Secret must keep working while the Secret cannot be written"
    );
    assert!(
        signal.is_some(),
        "the ApiCredential must report Ready=False with reason SecretRejected within {WAIT:?}"
    );
    let cred = env.credentials().get("ci-bot").await.unwrap();
    let (status, reason, message) = condition(&cred, ConditionType::Ready).expect("a Ready condition");
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "SecretRejected"),
        "{message}"
    );
    assert!(
        message.contains(secret),
        "the message names the Secret: {message}"
    );
    assert_eq!(
        env.secret_credential(secret).await,
        (id, old),
        "the Secret is unchanged"
    );
    drop(policy);
}
