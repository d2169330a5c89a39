//! Qualys credentials; the password never appears in `Debug` output or logs.

use std::fmt;

/// A secret string whose `Debug` output is redacted and which has no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// Returns the secret value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(redacted)")
    }
}

/// Username and password for HTTP Basic authentication.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    /// Qualys user name.
    pub username: String,
    /// Qualys password.
    pub password: Secret,
}

impl Credentials {
    /// Builds credentials from a user name and password.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            password: Secret::new(password),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_password() {
        let credentials = Credentials::new("exmpl3aw", "hunter2-secret");
        let printed = format!("{credentials:?}");
        assert!(!printed.contains("hunter2-secret"), "{printed}");
        assert!(printed.contains("exmpl3aw"));
    }
}
