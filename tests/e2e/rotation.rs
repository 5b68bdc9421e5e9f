//! User stories of rotation strategies and schedules: an interval schedule and a cron schedule
//! (in a time zone) announce the next rotation in status; Replace issues a new credential and keeps
//! the old one working for its grace period; Replace without a free slot regenerates instead.

use chrono::{Datelike, Duration, Timelike, Utc};
use controlhub_operator::api::ROTATE_ANNOTATION;

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
    assert_eq!(
        env.token_status(&old_id, &old_token).await,
        401,
        "its token fails"
    );
    env.assert_token_works("ci-bot").await;
    let managed = env.managed_credentials().await;
    assert_eq!(
        managed.iter().map(|c| c.0.clone()).collect::<Vec<_>>(),
        vec![new_id],
        "only the new credential is left"
    );
    assert!(env.wait_event("ci-bot", "Retired").await.1.contains(&old_id));
}

/// Replace needs a free slot. When the owner (the connection's own user) is full, the token is
/// regenerated in place instead, with a Warning Event saying so, and no credential is created.
#[tokio::test]
async fn replace_without_a_free_slot_regenerates_own_credentials_instead() {
    let env = Env::start("rot-noslot").await;
    env.apply(&with_rotation(
        "    interval: 720h\n    strategy: Replace\n    gracePeriod: 1m\n",
    ))
    .await;
    env.wait_ready("ci-bot").await;
    let (id, old) = env.assert_token_works("ci-bot").await;
    for i in 0..8 {
        env.create_in_controlhub(&format!("made by hand {i}")).await;
    }
    let creates = env.emulator.stats().await.count("createCredential", 200);

    env.annotate("ci-bot", ROTATE_ANNOTATION, "replace-1").await;
    env.wait_for("ci-bot", "rotation request done", |c| {
        c.status.as_ref().and_then(|s| s.last_rotation_request.as_deref()) == Some("replace-1")
    })
    .await;
    let (type_, note) = env.wait_event("ci-bot", "RegeneratedInstead").await;
    assert_eq!(type_, "Warning");
    assert!(
        note.contains(&env.emulator.admin().user_id) && note.contains(&id),
        "{note}"
    );
    let (new_id, new) = env.assert_token_works("ci-bot").await;
    assert_eq!(new_id, id, "regenerated in place");
    assert!(new != old, "a new token (values not shown)");
    assert_eq!(
        env.token_status(&id, &old).await,
        401,
        "the old token stopped at once"
    );
    assert_eq!(
        env.emulator.stats().await.count("createCredential", 200),
        creates,
        "no credential was created"
    );
    let cred = env.wait_ready("ci-bot").await;
    assert!(
        cred.status.unwrap().previous_credential_id.is_none(),
        "nothing to retire"
    );
    let events = env.events_of("ci-bot").await;
    assert!(
        !events.iter().any(|e| e.starts_with("QuotaExceeded")),
        "never reported as blocked: {events:?}"
    );
    assert_eq!(
        env.managed_credentials().await.len(),
        9,
        "ours and the 8 made by hand, nothing else"
    );
}
