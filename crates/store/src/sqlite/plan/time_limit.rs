//! Stops a running statement once a query's deadline passes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rusqlite::Connection;

use crate::plan::Deadline;

/// Virtual machine instructions between two deadline checks. A check reads the
/// monotonic clock, which takes some tens of nanoseconds where no system call is
/// needed (Linux vDSO), so by estimate it adds well under one percent to a statement.
const INSTRUCTIONS_PER_CHECK: i32 = 1_000;

/// A progress handler on the connection that makes SQLite stop the running
/// statement with `SQLITE_INTERRUPT` once the deadline passes.
///
/// The handler, unlike `sqlite3_interrupt`, sets no flag on the connection and is
/// removed when the guard drops, so a stop can never reach a later statement,
/// such as a sync commit that takes the connection next.
pub(super) struct TimeLimit<'c> {
    conn: &'c Connection,
    fired: Arc<AtomicBool>,
}

impl<'c> TimeLimit<'c> {
    /// Installs the handler on `conn` until the guard drops.
    pub(super) fn install(conn: &'c Connection, deadline: Deadline) -> Self {
        let fired = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&fired);
        conn.progress_handler(
            INSTRUCTIONS_PER_CHECK,
            Some(move || {
                let passed = deadline.has_passed();
                if passed {
                    flag.store(true, Ordering::Relaxed);
                }
                passed
            }),
        );
        TimeLimit { conn, fired }
    }

    /// Whether the handler stopped a statement.
    pub(super) fn fired(&self) -> bool {
        self.fired.load(Ordering::Relaxed)
    }
}

impl Drop for TimeLimit<'_> {
    fn drop(&mut self) {
        self.conn.progress_handler(0, None::<fn() -> bool>);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rusqlite::{Connection, ErrorCode};

    use super::TimeLimit;
    use crate::plan::Deadline;

    /// Counts to `n` one row at a time, a few virtual machine instructions per row.
    fn count_to(conn: &Connection, n: i64) -> rusqlite::Result<i64> {
        conn.query_row(
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?1) \
             SELECT count(*) FROM c",
            [n],
            |row| row.get(0),
        )
    }

    #[test]
    fn passed_deadline_stops_a_long_statement() {
        let conn = Connection::open_in_memory().unwrap();
        let limit = TimeLimit::install(&conn, Deadline::after(Duration::ZERO));

        let error = count_to(&conn, 1_000_000_000).unwrap_err();

        assert_eq!(
            error.sqlite_error_code(),
            Some(ErrorCode::OperationInterrupted)
        );
        assert!(limit.fired());
    }

    #[test]
    fn dropped_limit_leaves_later_statements_alone() {
        let conn = Connection::open_in_memory().unwrap();
        let limit = TimeLimit::install(&conn, Deadline::after(Duration::ZERO));
        assert!(count_to(&conn, 1_000_000_000).is_err());
        drop(limit);

        assert_eq!(count_to(&conn, 100_000).unwrap(), 100_000);
        assert!(!conn.is_interrupted());
    }

    #[test]
    fn distant_deadline_lets_a_statement_finish() {
        let conn = Connection::open_in_memory().unwrap();
        let limit = TimeLimit::install(&conn, Deadline::after(Duration::from_secs(3600)));

        assert_eq!(count_to(&conn, 100_000).unwrap(), 100_000);
        assert!(!limit.fired());
    }

    #[test]
    fn unrepresentable_deadline_never_passes() {
        let deadline = Deadline::after(Duration::MAX);

        assert!(!deadline.has_passed());
        assert!(deadline.check().is_ok());
        assert_eq!(deadline.limit(), Duration::MAX);
    }
}
