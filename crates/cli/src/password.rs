//! Reading the Qualys password from a file or a named environment variable.
//! Errors name the file or variable, never the text inside it.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use qgraph_integration::Secret;

/// Largest password file read, in bytes. A password is one short line, so a
/// larger file is the wrong file.
pub const MAX_PASSWORD_FILE_BYTES: u64 = 4096;

/// A password source that could not be read or contains no usable password.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("failed to read the password file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "the password file {path} is larger than {MAX_PASSWORD_FILE_BYTES} bytes: put only the Qualys password in it"
    )]
    TooLarge { path: PathBuf },

    #[error(
        "the password file {path} contains no password: put the Qualys password on its first line"
    )]
    EmptyFile { path: PathBuf },

    #[error(
        "the password file {path} has text on line {line}: put only the Qualys password in it, on one line"
    )]
    ExtraLine { path: PathBuf, line: usize },

    #[error(
        "--password-env needs the name of an environment variable, such as QUALYS_PASSWORD, not {var:?}"
    )]
    EnvName { var: String },

    #[error(
        "environment variable {var} named by --password-env is not set or not valid UTF-8: export it first"
    )]
    EnvUnset { var: String },

    #[error(
        "environment variable {var} named by --password-env is empty: set it to the Qualys password"
    )]
    EnvEmpty { var: String },

    #[error(
        "environment variable {var} named by --password-env has text on line {line}: set it to the Qualys password alone, on one line"
    )]
    EnvExtraLine { var: String, line: usize },
}

/// The problem of a text that is not a one-line password.
enum LineProblem {
    Empty,
    ExtraLine(usize),
}

/// Reads a password file: the password on the first line, optionally
/// followed by a line break and blank lines (`\n` or `\r\n`).
pub fn read_password_file(path: &Path) -> Result<Secret, PasswordError> {
    let read_error = |source| PasswordError::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_error)?;
    let mut bytes = Vec::new();
    file.take(MAX_PASSWORD_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() as u64 > MAX_PASSWORD_FILE_BYTES {
        return Err(PasswordError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    // The UTF-8 error names a byte index, never the bytes themselves.
    let text = String::from_utf8(bytes)
        .map_err(|error| read_error(std::io::Error::new(std::io::ErrorKind::InvalidData, error)))?;

    match single_line(&text) {
        Ok(password) => Ok(Secret::new(password)),
        Err(LineProblem::Empty) => Err(PasswordError::EmptyFile {
            path: path.to_path_buf(),
        }),
        Err(LineProblem::ExtraLine(line)) => Err(PasswordError::ExtraLine {
            path: path.to_path_buf(),
            line,
        }),
    }
}

/// Reads the password from the environment variable `var`, with the same
/// one-line rule as a password file.
pub fn password_from_env(var: &str) -> Result<Secret, PasswordError> {
    // An empty name or one with `=` or NUL cannot name a variable.
    if var.trim().is_empty() || var.contains(['=', '\0']) {
        return Err(PasswordError::EnvName {
            var: var.to_owned(),
        });
    }
    let text = std::env::var(var).map_err(|_| PasswordError::EnvUnset {
        var: var.to_owned(),
    })?;
    match single_line(&text) {
        Ok(password) => Ok(Secret::new(password)),
        Err(LineProblem::Empty) => Err(PasswordError::EnvEmpty {
            var: var.to_owned(),
        }),
        Err(LineProblem::ExtraLine(line)) => Err(PasswordError::EnvExtraLine {
            var: var.to_owned(),
            line,
        }),
    }
}

/// Returns the first line of `text` when every later line is blank. The
/// first line keeps its spaces, which may belong to the password.
fn single_line(text: &str) -> Result<&str, LineProblem> {
    // Editors on Windows may start the file with a byte order mark.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.split('\n');
    let first = lines.next().unwrap_or_default();
    let first = first.strip_suffix('\r').unwrap_or(first);
    for (index, line) in lines.enumerate() {
        if !line.trim().is_empty() {
            // `index` counts from the second line, which is line 2.
            return Err(LineProblem::ExtraLine(index + 2));
        }
    }
    if first.trim().is_empty() {
        return Err(LineProblem::Empty);
    }
    Ok(first)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    #![allow(clippy::panic, reason = "tests")]

    use super::*;

    /// Writes `content` to a fresh file and reads it as a password file.
    fn read(label: &str, content: &[u8]) -> (Result<Secret, PasswordError>, PathBuf) {
        let dir =
            std::env::temp_dir().join(format!("qgraph-password-{label}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("password.txt");
        std::fs::write(&path, content).unwrap();
        let result = read_password_file(&path);
        let _ = std::fs::remove_dir_all(&dir);
        (result, path)
    }

    #[test]
    fn trailing_line_breaks_are_dropped() {
        for (label, content) in [
            ("lf", &b"s3cret pass\n"[..]),
            ("crlf", b"s3cret pass\r\n"),
            ("none", b"s3cret pass"),
            ("blank-lines", b"s3cret pass\n\n  \n"),
            ("bom", "\u{feff}s3cret pass\n".as_bytes()),
        ] {
            let (result, _) = read(label, content);

            assert_eq!(result.unwrap().expose(), "s3cret pass", "{label}");
        }
    }

    #[test]
    fn second_line_is_rejected_unshown() {
        let (result, path) = read("two-lines", b"first-secret\nsecond-secret\n");
        let error = result.unwrap_err();
        let message = format!("{error} {error:?}");

        assert!(
            matches!(error, PasswordError::ExtraLine { line: 2, .. }),
            "{error:?}"
        );
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains("line 2"), "{message}");
        assert!(!message.contains("secret"), "password shown: {message}");
    }

    #[test]
    fn password_below_blank_first_line_is_rejected() {
        let (result, _) = read("blank-first", b"\nsecret-below\n");

        assert!(
            matches!(result, Err(PasswordError::ExtraLine { line: 2, .. })),
            "{result:?}"
        );
    }

    #[test]
    fn empty_and_blank_files_are_rejected() {
        for (label, content) in [
            ("empty", &b""[..]),
            ("newline", b"\n"),
            ("spaces", b"   \r\n"),
        ] {
            let (result, _) = read(label, content);

            assert!(
                matches!(result, Err(PasswordError::EmptyFile { .. })),
                "{label}: {result:?}"
            );
        }
    }

    #[test]
    fn huge_file_is_rejected() {
        let (result, _) = read("huge", &vec![b'p'; 100_000]);
        let message = result.unwrap_err().to_string();

        assert!(message.contains("larger than 4096 bytes"), "{message}");
        assert!(!message.contains("ppp"), "password shown: {message}");
    }

    #[test]
    fn invalid_utf8_is_a_read_error() {
        let (result, _) = read("binary", b"\xff\xfesecret\n");
        let message = result.unwrap_err().to_string();

        assert!(
            message.contains("failed to read the password file"),
            "{message}"
        );
        assert!(!message.contains("secret"), "password shown: {message}");
    }

    #[test]
    fn missing_file_names_the_path() {
        let path = Path::new("/nonexistent/qgraph/password.txt");

        let message = read_password_file(path).unwrap_err().to_string();

        assert!(
            message.contains("/nonexistent/qgraph/password.txt"),
            "{message}"
        );
    }
}
