//! Instance names: the key users type on every `qgraph integration` command
//! and that the CLI prints in lists and logs.

/// Maximum instance name length, in characters.
pub const MAX_INSTANCE_NAME_CHARS: usize = 64;

/// Characters of a rejected name that an error message repeats.
const SHOWN_NAME_CHARS: usize = 60;

/// The naming rule, as error messages state it.
const NAME_RULE: &str = "an instance name has 1 to 64 characters from A-Z, a-z, 0-9, '.', '_' and '-', and does not start with '-' or '.'";

/// An instance name that breaks the naming rule. `value` is the name as
/// Rust string syntax (control characters escaped), cut to 60 characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InstanceNameError {
    #[error("invalid instance name \"\": the name is empty, but {NAME_RULE}")]
    Empty,

    #[error("invalid instance name {value}: it has {chars} characters, but {NAME_RULE}")]
    TooLong { value: String, chars: usize },

    #[error(
        "invalid instance name {value}: character {character:?} at position {position} is not allowed, because {NAME_RULE}"
    )]
    InvalidCharacter {
        value: String,
        character: char,
        /// Position of the character, counted in characters from 1.
        position: usize,
    },

    #[error("invalid instance name {value}: it starts with {first:?}, but {NAME_RULE}")]
    InvalidStart { value: String, first: char },
}

/// Checks that `name` has 1 to 64 characters from `[A-Za-z0-9._-]` and does
/// not start with `-` (which reads as an option) or `.` (a hidden file name).
///
/// The rule keeps names safe to print on a terminal and to pass on a
/// command line. Only new names are checked, so an instance stored before
/// the rule existed can still be listed, shown, run and removed.
pub fn validate_instance_name(name: &str) -> Result<(), InstanceNameError> {
    let Some(first) = name.chars().next() else {
        return Err(InstanceNameError::Empty);
    };
    let chars = name.chars().count();
    if chars > MAX_INSTANCE_NAME_CHARS {
        return Err(InstanceNameError::TooLong {
            value: shown_name(name),
            chars,
        });
    }
    if let Some((index, character)) = name.chars().enumerate().find(|(_, c)| !is_name_char(*c)) {
        return Err(InstanceNameError::InvalidCharacter {
            value: shown_name(name),
            character,
            position: index + 1,
        });
    }
    if first == '-' || first == '.' {
        return Err(InstanceNameError::InvalidStart {
            value: shown_name(name),
            first,
        });
    }
    Ok(())
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

/// Returns the first 60 characters of `name` quoted as a Rust string, so
/// control characters show as escapes such as `\u{1b}` and never reach the
/// terminal raw.
fn shown_name(name: &str) -> String {
    let head: String = name.chars().take(SHOWN_NAME_CHARS).collect();
    if head.len() == name.len() {
        format!("{head:?}")
    } else {
        format!("{head:?}…")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    #![allow(clippy::panic, reason = "tests")]

    use super::*;

    #[test]
    fn valid_names_pass() {
        let longest = "a".repeat(MAX_INSTANCE_NAME_CHARS);
        for name in [
            "prod",
            "a",
            "Prod-EU_2.qg3",
            "0",
            "a.",
            "a-",
            "_x",
            &longest,
        ] {
            assert_eq!(validate_instance_name(name), Ok(()), "{name:?}");
        }
    }

    #[test]
    fn empty_name_is_rejected() {
        let error = validate_instance_name("").unwrap_err();

        assert_eq!(error, InstanceNameError::Empty);
        assert!(error.to_string().contains("1 to 64 characters"), "{error}");
    }

    #[test]
    fn huge_name_is_cut_in_message() {
        let name = "n".repeat(100_000);

        let error = validate_instance_name(&name).unwrap_err();
        let message = error.to_string();

        assert!(
            matches!(error, InstanceNameError::TooLong { chars: 100_000, .. }),
            "{error:?}"
        );
        assert!(message.contains("100000 characters"), "{message}");
        assert!(
            message.contains(&format!("\"{}\"…", "n".repeat(60))),
            "{message}"
        );
        assert!(message.len() < 400, "{} bytes", message.len());
    }

    #[test]
    fn sixty_five_characters_are_too_long() {
        let name = "a".repeat(MAX_INSTANCE_NAME_CHARS + 1);

        let error = validate_instance_name(&name).unwrap_err();

        assert!(
            matches!(error, InstanceNameError::TooLong { chars: 65, .. }),
            "{error:?}"
        );
    }

    #[test]
    fn control_characters_are_escaped_in_message() {
        let error = validate_instance_name("evil\u{1b}[31mRED\u{1b}[0m\rprod").unwrap_err();
        let message = error.to_string();

        assert!(
            matches!(
                error,
                InstanceNameError::InvalidCharacter {
                    character: '\u{1b}',
                    position: 5,
                    ..
                }
            ),
            "{error:?}"
        );
        assert!(
            message.contains(r#""evil\u{1b}[31mRED\u{1b}[0m\rprod""#),
            "{message}"
        );
        assert!(!message.contains('\u{1b}'), "raw escape: {message:?}");
        assert!(!message.contains('\r'), "raw carriage return: {message:?}");
    }

    #[test]
    fn other_characters_are_rejected() {
        for (name, bad) in [
            ("with space", ' '),
            ("new\nline", '\n'),
            ("slash/name", '/'),
            ("caf\u{e9}", '\u{e9}'),
            ("c1\u{9b}x", '\u{9b}'),
            ("semi;colon", ';'),
        ] {
            let error = validate_instance_name(name).unwrap_err();

            assert!(
                matches!(error, InstanceNameError::InvalidCharacter { character, .. } if character == bad),
                "{name:?}: {error:?}"
            );
        }
    }

    #[test]
    fn leading_dash_or_dot_is_rejected() {
        for (name, first) in [("-rf", '-'), (".hidden", '.'), ("..", '.')] {
            let error = validate_instance_name(name).unwrap_err();

            assert_eq!(
                error,
                InstanceNameError::InvalidStart {
                    value: format!("{name:?}"),
                    first
                },
                "{name:?}"
            );
            assert!(error.to_string().contains("does not start with '-' or '.'"));
        }
    }
}
