//! The text of an error and its causes, as the binary prints it.

use crate::escape::escape_controls;

/// Returns the message of `error` followed by each cause whose text the
/// message so far does not already contain, joined by `: `, with control
/// characters escaped.
///
/// Many errors include their source in their own message and also return it
/// from `source()`, so printing every link of the chain would repeat it.
pub fn error_chain_text(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(current) = cause {
        let message = current.to_string();
        if !message.is_empty() && !text.contains(&message) {
            text.push_str(": ");
            text.push_str(&message);
        }
        cause = current.source();
    }
    escape_controls(&text).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("failed to read {path}: {source}")]
    struct Repeating {
        path: &'static str,
        #[source]
        source: std::io::Error,
    }

    #[derive(Debug, thiserror::Error)]
    #[error("outer step failed")]
    struct Silent {
        #[source]
        source: std::io::Error,
    }

    #[test]
    fn cause_in_message_is_not_repeated() {
        let error = Repeating {
            path: "b/nonexist",
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        };

        assert_eq!(
            error_chain_text(&error),
            "failed to read b/nonexist: no such file"
        );
    }

    #[test]
    fn cause_missing_from_message_is_added() {
        let error = Silent {
            source: std::io::Error::other("disk full"),
        };

        assert_eq!(error_chain_text(&error), "outer step failed: disk full");
    }

    #[test]
    fn control_characters_are_escaped() {
        let error = Silent {
            source: std::io::Error::other("bad \u{1b}[2J name"),
        };

        assert_eq!(
            error_chain_text(&error),
            "outer step failed: bad \\u{1b}[2J name"
        );
    }
}
