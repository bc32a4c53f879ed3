//! [`ConfigError`]: what can go wrong while evaluating `repo.ocu.star` and assembling its
//! settings: an [`EvalError`] of the SDK, or a setting with a bad value.

use crate::sdk::{EvalError, Secrets};

/// An error from evaluating a config file or assembling its settings.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Evaluating the file failed (see [`EvalError`]).
    #[error(transparent)]
    Eval(#[from] EvalError),
    /// A setting (a global of `repo.ocu.star` or an `OCU_CFG_` variable) has a bad value.
    #[error("invalid setting {name}: {reason}")]
    BadSetting {
        /// The global or environment variable name.
        name: String,
        /// What is wrong with the value.
        reason: String,
    },
}

impl ConfigError {
    /// Returns the error with every secret registered in `secrets` masked in its text.
    pub fn masked(self, secrets: &Secrets) -> Self {
        match self {
            ConfigError::Eval(e) => ConfigError::Eval(e.masked(secrets)),
            ConfigError::BadSetting { name, reason } if !secrets.is_empty() => {
                ConfigError::BadSetting {
                    name,
                    reason: secrets.mask(&reason),
                }
            }
            other => other,
        }
    }
}
