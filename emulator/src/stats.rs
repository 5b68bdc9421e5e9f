//! Request statistics: how many requests of each operation ended with each status (or were
//! dropped), served by `GET /emulator/v1/stats` and reset by `DELETE /emulator/v1/stats`.
//!
//! Tests use these counts to prove how many calls a client made. Must not measure time.

use std::collections::{BTreeMap, HashMap};

use parking_lot::Mutex;
use serde::Serialize;

use crate::operation::Operation;

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ending {
    Status(u16),
    /// The connection was closed without a response (the `dropRate` fault).
    Dropped,
}

impl Ending {
    fn key(self) -> String {
        match self {
            Ending::Status(code) => code.to_string(),
            Ending::Dropped => "dropped".to_string(),
        }
    }
}

/// `{"operations":{"createCredential":{"200":3,"400":1}}}`.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct StatsSnapshot {
    pub operations: BTreeMap<&'static str, BTreeMap<String, u64>>,
}

#[derive(Debug, Default)]
pub struct Stats {
    counts: Mutex<HashMap<(Operation, Ending), u64>>,
}

impl Stats {
    pub fn record(&self, operation: Operation, ending: Ending) {
        *self.counts.lock().entry((operation, ending)).or_insert(0) += 1;
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        let counts = self.counts.lock().clone();
        let mut operations: BTreeMap<&'static str, BTreeMap<String, u64>> = BTreeMap::new();
        for ((operation, ending), count) in counts {
            operations
                .entry(operation.name())
                .or_default()
                .insert(ending.key(), count);
        }
        StatsSnapshot { operations }
    }

    pub fn reset(&self) {
        self.counts.lock().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_operation_and_status_and_resets() {
        let stats = Stats::default();
        for _ in 0..3 {
            stats.record(Operation::CreateCredential, Ending::Status(200));
        }
        stats.record(Operation::CreateCredential, Ending::Status(400));
        stats.record(Operation::ListCredentials, Ending::Dropped);
        let json = serde_json::to_value(stats.snapshot()).unwrap_or_default();
        assert_eq!(
            json,
            serde_json::json!({"operations": {
                "createCredential": {"200": 3, "400": 1},
                "listCredentials": {"dropped": 1}
            }})
        );
        stats.reset();
        assert!(stats.snapshot().operations.is_empty());
    }
}
