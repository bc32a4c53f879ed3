//! The settings overlay of §5.4: globals of `repo.ocu.star`, then `OCU_CFG_` variables.

use std::collections::BTreeMap;

use starlark::environment::FrozenModule;
use starlark::values::UnpackValue;
use starlark::values::Value;
use starlark::values::list_or_tuple::UnpackListOrTuple;

use crate::config::{ConfigError, RepoConfig};
use crate::sdk::store_value;
use crate::store::StoreSelection;

fn bad(name: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::BadSetting {
        name: name.to_owned(),
        reason: reason.into(),
    }
}

fn string_list(name: &str, value: Value<'_>) -> Result<Vec<String>, ConfigError> {
    UnpackListOrTuple::<String>::unpack_value(value)
        .ok()
        .flatten()
        .map(|l| l.items)
        .ok_or_else(|| {
            bad(
                name,
                format!("expected a list of strings, got {}", value.get_type()),
            )
        })
}

/// Applies the globals `repo_alias`, `repo_remotes`, `state_store`, `intent_store` and
/// `release_ignore`; `None` (or absence) leaves a setting unchanged.
pub(crate) fn apply_globals(
    module: &FrozenModule,
    config: &mut RepoConfig,
) -> Result<(), ConfigError> {
    let get = |name: &str| {
        module
            .get_option(name)
            .ok()
            .flatten()
            .filter(|v| !v.value().is_none())
    };
    if let Some(v) = get("repo_alias") {
        let alias = v.value().unpack_str().ok_or_else(|| {
            bad(
                "repo_alias",
                format!("expected a string, got {}", v.value().get_type()),
            )
        })?;
        if alias.is_empty() {
            return Err(bad("repo_alias", "alias cannot be empty"));
        }
        config.repo_alias = Some(alias.to_owned());
    }
    if let Some(v) = get("repo_remotes") {
        config.remotes = Some(string_list("repo_remotes", v.value())?);
    }
    let state = get("state_store")
        .map(|v| store_value::from_value(v.value()).map_err(|e| bad("state_store", e)))
        .transpose()?;
    let intent = get("intent_store")
        .map(|v| store_value::from_value(v.value()).map_err(|e| bad("intent_store", e)))
        .transpose()?;
    match (state, intent, &mut config.stores) {
        (Some(state), intent, stores) => {
            let intent = intent.or_else(|| stores.as_ref().and_then(|s| s.intent.clone()));
            *stores = Some(StoreSelection { state, intent });
        }
        (None, Some(intent), Some(stores)) => stores.intent = Some(intent),
        (None, Some(_), None) => {
            return Err(bad(
                "intent_store",
                "an intent store needs a state store (state_store or store.set)",
            ));
        }
        (None, None, _) => {}
    }
    if let Some(v) = get("release_ignore") {
        config.release_ignore = string_list("release_ignore", v.value())?;
    }
    Ok(())
}

/// Parses a list-typed `OCU_CFG_` value: a JSON list of strings or a comma-separated list.
fn env_list(name: &str, raw: &str) -> Result<Vec<String>, ConfigError> {
    let trimmed = raw.trim();
    if trimmed.starts_with('[') {
        return serde_json::from_str::<Vec<String>>(trimmed)
            .map_err(|e| bad(name, format!("expected a JSON list of strings: {e}")));
    }
    Ok(trimmed
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect())
}

/// Applies `OCU_CFG_repo_alias`, `OCU_CFG_repo_remotes` and `OCU_CFG_release_ignore`.
pub(crate) fn apply_env(
    env: &BTreeMap<String, String>,
    config: &mut RepoConfig,
) -> Result<(), ConfigError> {
    let get = |name: &str| env.get(name).filter(|v| !v.trim().is_empty());
    if let Some(alias) = get("OCU_CFG_repo_alias") {
        config.repo_alias = Some(alias.clone());
    }
    if let Some(raw) = get("OCU_CFG_repo_remotes") {
        config.remotes = Some(env_list("OCU_CFG_repo_remotes", raw)?);
    }
    if let Some(raw) = get("OCU_CFG_release_ignore") {
        config.release_ignore = env_list("OCU_CFG_release_ignore", raw)?;
    }
    Ok(())
}
