//! Which side effect a stack's workers perform: the ticket file (the original demo, the
//! default) or a charge at the payments provider simulator, which then runs as one more
//! service of the stack (`sidefx-provider`, started before the workers).

use serde::{Deserialize, Serialize};

/// Default port of the provider (its own default, `sidefx-provider --addr 127.0.0.1:8090`).
pub const DEFAULT_PROVIDER_PORT: u16 = 8090;

/// The side effect of a stack (`WORKER_EFFECT` of its workers).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum EffectMode {
    /// Write one ticket file per business key.
    #[default]
    Ticket,
    /// Charge the business key at the provider (Idempotency-Key = the effect id), then write
    /// the ticket holding the charge id.
    Provider,
}

impl EffectMode {
    /// The value of `WORKER_EFFECT`.
    pub fn name(self) -> &'static str {
        match self {
            EffectMode::Ticket => "ticket",
            EffectMode::Provider => "provider",
        }
    }
}

/// The provider of a provider-mode stack, as the state file records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProviderSetup {
    /// Base URL, e.g. `http://127.0.0.1:8090` (the workers' `PROVIDER_URL`).
    pub url: String,
    /// Its port (local mode: on 127.0.0.1).
    pub port: u16,
    /// Local mode: the faults it injects (none for `sidefx up`; `sidefx torture` turns them on).
    #[serde(default)]
    pub faults: ProviderFaults,
}

/// The fault injection of `sidefx-provider`: rates are probabilities per charge request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ProviderFaults {
    /// Commit the charge, then drop the connection before answering (the caller cannot know).
    pub drop_after_commit_rate: f64,
    /// Answer 5xx before committing anything.
    pub fail_before_commit_rate: f64,
    /// Answer after `slow_ms` (longer than the worker's timeout: an unknown outcome).
    pub slow_rate: f64,
    /// The delay of a slow answer (ms).
    pub slow_ms: u64,
}

impl ProviderFaults {
    /// The flags of `sidefx-provider` that turn these faults on (none when all rates are 0).
    pub fn args(&self) -> Vec<String> {
        let rates = [
            ("--drop-after-commit-rate", self.drop_after_commit_rate),
            ("--fail-before-commit-rate", self.fail_before_commit_rate),
            ("--slow-rate", self.slow_rate),
        ];
        let mut args = Vec::new();
        for (flag, rate) in rates.into_iter().filter(|(_, rate)| *rate > 0.0) {
            args.extend([flag.to_owned(), rate.to_string()]);
        }
        if self.slow_rate > 0.0 {
            args.extend(["--slow-ms".to_owned(), self.slow_ms.to_string()]);
        }
        args
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_faults_that_are_on_become_flags() {
        assert!(ProviderFaults::default().args().is_empty());
        let faults = ProviderFaults {
            drop_after_commit_rate: 0.1,
            slow_rate: 0.05,
            slow_ms: 1500,
            ..ProviderFaults::default()
        };
        assert_eq!(
            faults.args(),
            [
                "--drop-after-commit-rate",
                "0.1",
                "--slow-rate",
                "0.05",
                "--slow-ms",
                "1500"
            ]
        );
    }

    #[test]
    fn the_mode_is_the_worker_effect_value() {
        assert_eq!(EffectMode::default(), EffectMode::Ticket);
        assert_eq!(EffectMode::Provider.name(), "provider");
        assert_eq!(
            serde_json::to_value(EffectMode::Provider).unwrap(),
            "provider"
        );
    }
}
