//! User stories of rotation strategies and schedules: an interval schedule and a cron schedule
//! (in a time zone) announce the next rotation in status; Replace issues a new credential and keeps
//! the old one working for its grace period; Replace without a free slot waits (Ready stays True)
//! unless the user opted into regenerating in place. Lists may lag and revocation may be delayed
//! (the strict emulator profile): nothing here depends on either being immediate.

use chrono::{Datelike, Duration, Timelike, Utc};
use controlhub_operator::api::{ConditionType, ROTATE_ANNOTATION};

use crate::env::Env;

fn with_rotation(rotation: &str) -> String {
    format!(
        "apiVersion: controlhub.dev/v1alpha1\nkind: ApiCredential\nmetadata:\n  name: ci-bot\nspec:\n  name: CI bot\n  rotation:\n{rotation}"
    )
}

/// `interval: 1h` puts `nextRotationTime` one interval (plus a jitter of at most 5% = 3 min)
/// after `lastRotationTime`, in the future; a rotation on demand moves both, by the same offset.
#[tokio::test]
async fn an_interval_schedule_sets_the_next_rotation_one_interval_after_the_last() {
    let env = Env::start("rot-interval").await;
    env.apply(&with_rotation("    interval: 1h\n")).await;
    let status = env.wait_ready("ci-bot").await.status.unwrap();
    let last = status
        .last_rotation_time
        .expect("lastRotationTime is set when the token is first written");
    let next = status
        .next_rotation_time
        .expect("nextRotationTime is set with a schedule");
    assert!(next > Utc::now(), "the next rotation ({next}) is in the future");
    let offset = next - last;
    assert!(
        offset >= Duration::hours(1) && offset < Duration::hours(1) + Duration::minutes(3),
        "next - last = {offset} must be 1h plus a jitter below 3min"
    );

    let (id, old) = env.assert_token_works("ci-bot").await;
    env.annotate("ci-bot", ROTATE_ANNOTATION, "now").await;
    let status = env
        .wait_for("ci-bot", "rotated on demand", |c| {
            c.status.as_ref().is_some_and(|s| {
                s.last_rotation_request.as_deref() == Some("now") && s.last_rotation_time > Some(last)
            })
        })
        .await
        .status
        .unwrap();
    let (new_id, new) = env.assert_token_works("ci-bot").await;
    assert_eq!(new_id, id);
    assert!(new != old, "a new token (values not shown)");
    let (last2, next2) = (
        status.last_rotation_time.unwrap(),
        status.next_rotation_time.expect("still scheduled"),
    );
    assert!(next2 > next, "the schedule restarts from the rotation on demand");
    assert_eq!(
        next2 - last2,
        offset,
        "the jitter is the object's own, the same every time"
    );
}

/// A cron schedule with a time zone: the next rotation is the next Sunday 03:00 in Berlin (plus at
/// most 5 minutes of jitter), not 03:00 UTC.
#[tokio::test]
async fn a_cron_schedule_in_a_time_zone_sets_the_next_rotation() {
    let env = Env::start("rot-cron").await;
    env.apply(&with_rotation(
        "    schedule: \"0 3 * * 0\"\n    timeZone: Europe/Berlin\n",
    ))
    .await;
    let status = env.wait_ready("ci-bot").await.status.unwrap();
    let last = status.last_rotation_time.expect("lastRotationTime");
    let next = status
        .next_rotation_time
        .expect("nextRotationTime is set with a schedule");
    assert!(
        next > Utc::now() && next - last <= Duration::days(7) + Duration::minutes(5),
        "next {next}, last {last}"
    );
    let berlin = next.with_timezone(&chrono_tz::Europe::Berlin);
    assert_eq!(berlin.weekday(), chrono::Weekday::Sun, "{berlin}");
    assert_eq!(berlin.hour(), 3, "03:00 Berlin time: {berlin}");
    assert!(berlin.minute() < 5, "jitter below 5 minutes: {berlin}");
    assert_ne!(next.hour(), 3, "not 03:00 UTC: {next}");
}

/// Replace via the rotate annotation: the Secret switches to a new credential; the old token keeps
/// working during the grace period (status shows previousCredentialId and retireAt); then the old
/// credential is deleted and its token fails.
#[tokio::test]
async fn replace_keeps_the_old_credential_working_for_the_grace_period() {
    let env = Env::start("rot-replace").await;
    env.apply(&with_rotation(
        "    interval: 720h\n    strategy: Replace\n    gracePeriod: 10s\n",
    ))
    .await;
    env.wait_ready("ci-bot").await;
    let (old_id, old_token) = env.assert_token_works("ci-bot").await;

    env.annotate("ci-bot", ROTATE_ANNOTATION, "replace-1").await;
    let status = env
        .wait_for("ci-bot", "the old credential kept for its grace period", |c| {
            c.status
                .as_ref()
                .is_some_and(|s| s.previous_credential_id.as_deref() == Some(old_id.as_str()))
        })
        .await
        .status
        .unwrap();
    assert_eq!(
        env.token_status(&old_id, &old_token).await,
        200,
        "the old token works during the grace period"
    );
    let (new_id, _) = env.assert_token_works("ci-bot").await;
    assert_ne!(new_id, old_id, "a new credential");
    assert_eq!(status.credential_id.as_deref(), Some(new_id.as_str()));
    let retire_at = status.retire_at.expect("retireAt is set");
    assert!(
        retire_at > Utc::now() - Duration::seconds(1) && retire_at <= Utc::now() + Duration::seconds(10),
        "{retire_at}"
    );
    assert!(env.wait_event("ci-bot", "Replaced").await.1.contains(&new_id));

    env.wait_for("ci-bot", "the previous credential retired", |c| {
        c.status
            .as_ref()
            .is_some_and(|s| s.previous_credential_id.is_none() && s.retire_at.is_none())
    })
    .await;
    assert!(
        env.controlhub_credential(&old_id).await.is_none(),
        "the old credential is deleted"
    );
    env.assert_token_refused(&old_id, &old_token, "the retired credential")
        .await;
    env.assert_token_works("ci-bot").await;
    env.eventually_managed_credentials("only the new credential is left", |managed| {
        managed.iter().map(|c| c.0.as_str()).eq([new_id.as_str()])
    })
    .await;
    assert!(env.wait_event("ci-bot", "Retired").await.1.contains(&old_id));
}

/// Replace needs a free slot. When the owner is full, the rotation is refused, never silently
/// downgraded: the current token keeps working, Ready stays True with reason RotationBlocked and a
/// Warning Event names the owner and the way out; nothing is created or regenerated. Opting in
/// with `regenerateWhenNoSlot: true` then regenerates in place (the old token stops at once).
#[tokio::test]
async fn replace_without_a_free_slot_is_refused_unless_regenerate_is_opted_in() {
    let env = Env::start("rot-noslot").await;
    let spec = "    interval: 720h\n    strategy: Replace\n    gracePeriod: 1m\n";
    env.apply(&with_rotation(spec)).await;
    env.wait_ready("ci-bot").await;
    let (id, old) = env.assert_token_works("ci-bot").await;
    env.fill_admin_quota().await;
    env.emulator.reset_stats().await;

    env.annotate("ci-bot", ROTATE_ANNOTATION, "replace-1").await;
    let (type_, note) = env.wait_event("ci-bot", "RotationBlocked").await;
    assert_eq!(type_, "Warning");
    assert!(
        note.contains(&env.emulator.admin().user_id) && note.contains("regenerateWhenNoSlot"),
        "the Event names the full owner and the way out: {note}"
    );
    let cred = env.wait_reason("ci-bot", "RotationBlocked").await;
    let ready = crate::env::condition(&cred, ConditionType::Ready).expect("a Ready condition");
    assert_eq!(ready.0, "True", "the current token works, so Ready stays True");
    assert_eq!(
        env.token_status(&id, &old).await,
        200,
        "the current token was not revoked"
    );
    let stats = env.emulator.stats().await;
    assert_eq!(
        stats.count("createCredential", 200),
        0,
        "no credential was created (a create Control Hub refused for quota may be tried once, on a list that had not seen the slots fill)"
    );
    assert_eq!(
        stats.count("updateCredential", 200),
        0,
        "nothing was regenerated (or renamed)"
    );

    // The user opts in: the waiting rotation now regenerates in place.
    let opted =
        "    interval: 720h\n    strategy: Replace\n    gracePeriod: 1m\n    regenerateWhenNoSlot: true\n";
    env.apply(&with_rotation(opted)).await;
    env.wait_for("ci-bot", "rotation request done", |c| {
        c.status.as_ref().and_then(|s| s.last_rotation_request.as_deref()) == Some("replace-1")
    })
    .await;
    env.wait_event("ci-bot", "RegeneratedInstead").await;
    let (new_id, new) = env.assert_token_works("ci-bot").await;
    assert_eq!(new_id, id, "regenerated in place");
    assert!(new != old, "a new token (values not shown)");
    env.assert_token_refused(&id, &old, "regenerated in place: the old token stops")
        .await;
    assert_eq!(
        env.emulator.stats().await.count("createCredential", 200),
        0,
        "no credential was created"
    );
    let cred = env.wait_ready("ci-bot").await;
    assert!(
        cred.status.unwrap().previous_credential_id.is_none(),
        "nothing to retire"
    );
    let managed = env.managed_credentials_settled().await;
    assert_eq!(
        managed.len(),
        9,
        "ours and the 8 made by hand, nothing else: {managed:?}"
    );
}
