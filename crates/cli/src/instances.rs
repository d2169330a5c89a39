//! Registering, changing and removing integration instances, with the
//! validation and credential check that come before the store is touched.

use qgraph_integration::{Config, ConfigErrors, InstanceNameError, RawConfig};
use qgraph_qualys::{PortalVersion, QualysError};
use qgraph_store::{
    GraphStore, Instance, InstanceKind, NewInstance, Password, RemovalReport, StoreError,
};

use crate::sync::{SyncError, stored_raw_config};

/// Checks applied to an instance configuration before it is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckOptions {
    /// Accept an API URL on a loopback address (a simulator or a test server).
    pub allow_loopback: bool,
    /// Call the portal version API with the credentials before storing them.
    pub verify: bool,
}

/// An instance change that was rejected. Nothing was stored.
#[derive(Debug, thiserror::Error)]
pub enum InstanceError {
    #[error(transparent)]
    InvalidName(#[from] InstanceNameError),

    #[error("invalid configuration of instance {name:?}: {errors}")]
    Invalid { name: String, errors: ConfigErrors },

    #[error(
        "the API URL {api_url} is a loopback address, which only a simulator or a test server uses: pass --allow-loopback-api-url to accept it"
    )]
    LoopbackNotAllowed { api_url: String },

    #[error(
        "an integration instance named {name:?} already exists: choose another name, or change it with `qgraph integration edit {name}`"
    )]
    Exists { name: String },

    #[error(
        "integration instance {name:?} not found: run `qgraph integration list` to see the registered names"
    )]
    NotFound { name: String },

    #[error("failed to create the Qualys client for {api_url}: {source}")]
    Client {
        api_url: String,
        #[source]
        source: Box<QualysError>,
    },

    #[error(
        "the Qualys credential check at {api_url} failed: {source}; check the user name, the password and the API URL, or pass --no-verify to store them unchecked"
    )]
    Verification {
        api_url: String,
        #[source]
        source: Box<QualysError>,
    },

    #[error(
        "the Qualys subscription at {api_url} has expired: renew it with Qualys, or pass --no-verify to store the instance unchecked; the user name and password are not at fault ({source})"
    )]
    SubscriptionExpired {
        api_url: String,
        #[source]
        source: Box<QualysError>,
    },

    #[error(transparent)]
    Stored(#[from] SyncError),

    #[error("graph store error: {0}")]
    Store(#[from] StoreError),
}

/// Validates `name` and `raw` (the account name defaults to `name`), checks
/// the credentials when `options.verify` is set, and registers the instance
/// with its password encrypted.
pub async fn add_instance<S: GraphStore>(
    store: &S,
    name: &str,
    mut raw: RawConfig,
    options: CheckOptions,
) -> Result<Instance, InstanceError> {
    qgraph_integration::validate_instance_name(name)?;
    if raw.account_name.is_none() {
        raw.account_name = Some(name.to_owned());
    }
    let config = validate(name, raw, options)?;
    if store.instance_by_name(name)?.is_some() {
        return Err(InstanceError::Exists {
            name: name.to_owned(),
        });
    }
    if options.verify {
        verify_credentials(&config).await?;
    }
    let created = store.create_instance(NewInstance {
        name: name.to_owned(),
        kind: InstanceKind::Qualys,
        config: config_json(&config)?,
        password: Some(Password::new(config.password.expose())),
    });
    match created {
        Err(StoreError::InstanceExists(_)) => Err(InstanceError::Exists {
            name: name.to_owned(),
        }),
        other => Ok(other?),
    }
}

/// Applies the fields set in `changes` to the instance `name`, keeping every
/// other field and the stored password unless `changes` sets one. The
/// credentials are checked again when the user name, password or API URL
/// changed and `options.verify` is set.
pub async fn edit_instance<S: GraphStore>(
    store: &S,
    name: &str,
    changes: RawConfig,
    options: CheckOptions,
) -> Result<Instance, InstanceError> {
    edit_instance_with(store, name, changes, options, || Ok(())).await
}

/// Like [`edit_instance`], and runs `before_password` after every check
/// passed, right before a new password is stored. A rejected edit never runs
/// it, so what it changes (such as clearing the passwords of a lost key)
/// happens only with an edit that succeeds.
pub async fn edit_instance_with<S: GraphStore>(
    store: &S,
    name: &str,
    changes: RawConfig,
    options: CheckOptions,
    before_password: impl FnOnce() -> Result<(), StoreError>,
) -> Result<Instance, InstanceError> {
    let instance = find(store, name)?;
    let mut stored = stored_raw_config(&instance)?;
    let new_password = changes.qualys_password.clone();
    if new_password.is_none() {
        let password = store.password(instance.id)?;
        stored.qualys_password = password.map(|p| qgraph_integration::Secret::new(p.expose()));
    }
    let before = stored.clone();
    // A stored URL was accepted when it was set, loopback included.
    let options = CheckOptions {
        allow_loopback: options.allow_loopback || changes.qualys_api_url.is_none(),
        ..options
    };
    let config = validate(name, changes.or(stored), options)?;

    let credentials_changed = new_password.is_some()
        || before.qualys_username.as_deref() != Some(config.username.as_str())
        || before.qualys_api_url.as_deref() != Some(config.api_url.as_string().as_str());
    if options.verify && credentials_changed {
        verify_credentials(&config).await?;
    }

    // The password goes first: it fails when the key file is missing and
    // other instances need the lost key, and then nothing has changed.
    if new_password.is_some() {
        before_password()?;
        store.set_password(instance.id, Some(&Password::new(config.password.expose())))?;
    }
    let updated = store.update_instance_config(instance.id, config_json(&config)?)?;
    Ok(updated)
}

/// Removes the instance `name` with its credentials, jobs and every entity
/// and relationship it owns.
pub fn remove_instance<S: GraphStore>(
    store: &S,
    name: &str,
    now_ms: i64,
) -> Result<RemovalReport, InstanceError> {
    let instance = find(store, name)?;
    Ok(store.remove_instance(instance.id, now_ms)?)
}

/// Returns the instance `name`, or [`InstanceError::NotFound`].
pub fn find<S: GraphStore>(store: &S, name: &str) -> Result<Instance, InstanceError> {
    store
        .instance_by_name(name)?
        .ok_or_else(|| InstanceError::NotFound {
            name: name.to_owned(),
        })
}

/// Checks the credentials with the portal version call.
pub async fn verify_credentials(config: &Config) -> Result<PortalVersion, InstanceError> {
    let api_url = config.api_url.as_string();
    let client =
        qgraph_integration::client::connect(config).map_err(|source| InstanceError::Client {
            api_url: api_url.clone(),
            source: Box::new(source),
        })?;
    client.portal_version().await.map_err(|source| {
        let source = Box::new(source);
        if source.is_subscription_expired() {
            InstanceError::SubscriptionExpired { api_url, source }
        } else {
            InstanceError::Verification { api_url, source }
        }
    })
}

fn validate(name: &str, raw: RawConfig, options: CheckOptions) -> Result<Config, InstanceError> {
    let config = raw.validate().map_err(|errors| InstanceError::Invalid {
        name: name.to_owned(),
        errors,
    })?;
    if config.api_url.is_loopback() && !options.allow_loopback {
        return Err(InstanceError::LoopbackNotAllowed {
            api_url: config.api_url.as_string(),
        });
    }
    Ok(config)
}

/// Returns the configuration as stored: the normal form of every field, without the password.
fn config_json(config: &Config) -> Result<serde_json::Value, StoreError> {
    serde_json::to_value(config.to_raw()).map_err(|source| StoreError::EncodeJson {
        what: "instance configuration",
        source,
    })
}
