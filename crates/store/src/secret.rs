//! Passwords and the key that encrypts them at rest (XChaCha20-Poly1305).

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::rand_core::RngCore;
use chacha20poly1305::aead::{Aead, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use crate::error::StoreError;
use crate::types::InstanceId;

/// Length of an XChaCha20-Poly1305 nonce in bytes.
pub(crate) const NONCE_LEN: usize = 24;

/// A password. `Debug` and `Display` print a mask; only [`Password::expose`] reveals it.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Wraps a password.
    pub fn new(value: impl Into<String>) -> Self {
        Password(value.into())
    }

    /// Returns the password text, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(********)")
    }
}

impl fmt::Display for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("********")
    }
}

/// Where the 32-byte key that encrypts passwords comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A file of 64 hexadecimal characters, created with mode 0600 on first use.
    File(PathBuf),
    /// An environment variable with 64 hexadecimal characters.
    Env(String),
    /// A random key that lives as long as the store (in-memory stores and tests).
    Ephemeral,
}

impl KeySource {
    /// The environment variable read by [`KeySource::default_for`] when set.
    pub const ENV_VAR: &'static str = "QGRAPH_SECRET_KEY";

    /// Returns the key source for a database file: the `QGRAPH_SECRET_KEY`
    /// variable when set, else the file `<database>.key` beside it.
    pub fn default_for(database: &Path) -> Self {
        if std::env::var_os(Self::ENV_VAR).is_some() {
            return KeySource::Env(Self::ENV_VAR.to_owned());
        }
        let mut name = database.as_os_str().to_owned();
        name.push(".key");
        KeySource::File(PathBuf::from(name))
    }

    /// Loads the key, creating the key file when it does not exist yet.
    pub fn load(&self) -> Result<SecretKey, StoreError> {
        match self {
            KeySource::File(path) => load_or_create_key_file(path),
            KeySource::Env(name) => {
                let text =
                    std::env::var(name).map_err(|_| StoreError::KeyEnvMissing(name.clone()))?;
                SecretKey::from_hex(&text).ok_or_else(|| StoreError::InvalidKey {
                    origin: format!("environment variable {name}"),
                })
            }
            KeySource::Ephemeral => SecretKey::random(),
        }
    }
}

/// A 32-byte XChaCha20-Poly1305 key. `Debug` prints a mask.
#[derive(Clone)]
pub struct SecretKey([u8; 32]);

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(********)")
    }
}

impl SecretKey {
    /// Draws a random key from the operating system.
    pub fn random() -> Result<Self, StoreError> {
        let mut bytes = [0u8; 32];
        OsRng
            .try_fill_bytes(&mut bytes)
            .map_err(|_| StoreError::Random)?;
        Ok(SecretKey(bytes))
    }

    /// Parses 64 hexadecimal characters (surrounding white space allowed).
    pub fn from_hex(text: &str) -> Option<Self> {
        let text = text.trim();
        if text.len() != 64 {
            return None;
        }
        let mut bytes = [0u8; 32];
        for (i, byte) in bytes.iter_mut().enumerate() {
            let pair = text.get(2 * i..2 * i + 2)?;
            *byte = u8::from_str_radix(pair, 16).ok()?;
        }
        Some(SecretKey(bytes))
    }

    fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Encrypts a password for `instance`; returns (nonce, ciphertext). The
    /// instance id is bound as associated data, so a ciphertext copied to
    /// another instance does not decrypt.
    pub(crate) fn encrypt(
        &self,
        instance: InstanceId,
        password: &Password,
    ) -> Result<(Vec<u8>, Vec<u8>), StoreError> {
        let mut nonce = [0u8; NONCE_LEN];
        OsRng
            .try_fill_bytes(&mut nonce)
            .map_err(|_| StoreError::Random)?;
        let cipher = XChaCha20Poly1305::new((&self.0).into());
        let aad = instance.0.to_le_bytes();
        let payload = Payload {
            msg: password.expose().as_bytes(),
            aad: &aad,
        };
        let ciphertext = cipher
            .encrypt(XNonce::from_slice(&nonce), payload)
            .map_err(|_| StoreError::Encrypt {
                instance: instance.to_string(),
            })?;
        Ok((nonce.to_vec(), ciphertext))
    }

    /// Decrypts what [`SecretKey::encrypt`] produced for `instance`.
    pub(crate) fn decrypt(
        &self,
        instance: InstanceId,
        nonce: &[u8],
        ciphertext: &[u8],
    ) -> Result<Password, StoreError> {
        if nonce.len() != NONCE_LEN {
            return Err(StoreError::Decrypt {
                instance: instance.to_string(),
            });
        }
        let cipher = XChaCha20Poly1305::new((&self.0).into());
        let aad = instance.0.to_le_bytes();
        let payload = Payload {
            msg: ciphertext,
            aad: &aad,
        };
        let plain = cipher
            .decrypt(XNonce::from_slice(nonce), payload)
            .map_err(|_| StoreError::Decrypt {
                instance: instance.to_string(),
            })?;
        let text = String::from_utf8(plain).map_err(|_| StoreError::Decrypt {
            instance: instance.to_string(),
        })?;
        Ok(Password(text))
    }
}

fn key_file_error(path: &Path) -> impl Fn(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::KeyFile {
        path: path.to_owned(),
        source,
    }
}

fn load_or_create_key_file(path: &Path) -> Result<SecretKey, StoreError> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            check_key_file_mode(path)?;
            SecretKey::from_hex(&text).ok_or_else(|| StoreError::InvalidKey {
                origin: format!("key file {}", path.display()),
            })
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => create_key_file(path),
        Err(error) => Err(key_file_error(path)(error)),
    }
}

fn create_key_file(path: &Path) -> Result<SecretKey, StoreError> {
    let key = SecretKey::random()?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(key_file_error(path))?;
    file.write_all(key.to_hex().as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(key_file_error(path))?;
    Ok(key)
}

#[cfg(unix)]
fn check_key_file_mode(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(key_file_error(path))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(StoreError::KeyFilePermissions {
            path: path.to_owned(),
            mode: mode & 0o777,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_key_file_mode(_path: &Path) -> Result<(), StoreError> {
    Ok(())
}
