//! Profiles: one switch for every behaviour the public Control Hub sources leave open
//! (controlhub-api.md §10). `default` is the emulator's documented choice for each; `strict` is
//! the least convenient one a client must still cope with. Set with `--profile` or
//! `PUT /emulator/v1/profile`; the README has the table.
//!
//! A profile sets settings (persisted like any settings) and the fault baseline: the values that
//! absent fields of `PUT /emulator/v1/faults` take, and what `DELETE /emulator/v1/faults` restores.
//! Must not hold state itself.

use serde::{Deserialize, Serialize};

use crate::faults::FaultConfig;
use crate::state::model::Settings;

/// The quota refusal's code under `strict`: not the default one, like an unknown real code.
pub const STRICT_QUOTA_ISSUE_CODE: &str = "SECURITY_0042";
/// The quota refusal's message under `strict`: generic, says nothing about limits.
pub const STRICT_QUOTA_ISSUE_MESSAGE: &str = "Validation failed";
/// `listLagMs` and `revocationDelayMs` under `strict`.
pub const STRICT_DELAY_MS: u64 = 2_000;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// The emulator's documented choices (as without a profile).
    #[default]
    Default,
    /// The least convenient choice for each open behaviour.
    Strict,
}

impl Profile {
    /// Sets the settings of the open behaviours; leaves the others (limit, service accounts).
    pub fn apply_to_settings(self, settings: &mut Settings) {
        let defaults = Settings::default();
        match self {
            Profile::Default => {
                settings.admins_may_rename_for_others = defaults.admins_may_rename_for_others;
                settings.admins_may_regenerate_for_others = defaults.admins_may_regenerate_for_others;
                settings.quota_issue_code = defaults.quota_issue_code;
                settings.quota_issue_message = defaults.quota_issue_message;
            }
            Profile::Strict => {
                settings.admins_may_rename_for_others = false;
                settings.admins_may_regenerate_for_others = false;
                settings.quota_issue_code = STRICT_QUOTA_ISSUE_CODE.into();
                settings.quota_issue_message = STRICT_QUOTA_ISSUE_MESSAGE.into();
            }
        }
    }

    /// The fault configuration `{}` means under this profile.
    pub fn fault_baseline(self) -> FaultConfig {
        let mut config = FaultConfig::default();
        self.apply_to_faults(&mut config);
        config
    }

    /// Sets the faults of the open behaviours (`listLagMs`, `revocationDelayMs`); leaves the others.
    pub fn apply_to_faults(self, config: &mut FaultConfig) {
        let delay = match self {
            Profile::Default => 0,
            Profile::Strict => STRICT_DELAY_MS,
        };
        config.list_lag_ms = delay;
        config.revocation_delay_ms = delay;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_profile_is_the_emulators_defaults() {
        let mut settings = Settings::default();
        Profile::Strict.apply_to_settings(&mut settings);
        Profile::Default.apply_to_settings(&mut settings);
        assert_eq!(settings, Settings::default());
        assert_eq!(Profile::Default.fault_baseline(), FaultConfig::default());
    }

    #[test]
    fn strict_profile_takes_the_least_convenient_choice_for_each() {
        let mut settings = Settings {
            credential_limit: 3,
            admins_may_regenerate_for_others: true,
            ..Settings::default()
        };
        Profile::Strict.apply_to_settings(&mut settings);
        assert!(!settings.admins_may_rename_for_others);
        assert!(!settings.admins_may_regenerate_for_others);
        assert_ne!(settings.quota_issue_code, Settings::default().quota_issue_code);
        assert_eq!(settings.quota_issue_message, "Validation failed");
        assert_eq!(settings.credential_limit, 3);
        let faults = Profile::Strict.fault_baseline();
        assert_eq!((faults.list_lag_ms, faults.revocation_delay_ms), (2_000, 2_000));
    }
}
