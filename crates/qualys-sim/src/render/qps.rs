//! Criteria and paging rules shared by the QPS searches.

use crate::params::{Criterion, ServiceRequest};

/// QPS default for `limitResults`.
const DEFAULT_LIMIT: u64 = 100;
/// Largest `limitResults` honoured; larger values are lowered to it, as Qualys does.
const MAX_LIMIT: u64 = 1_000;

/// A rejected QPS search, answered with HTTP 200 and `responseCode` `INVALID_REQUEST`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct QpsError {
    pub message: String,
    pub resolution: String,
}

impl QpsError {
    pub(crate) fn unknown_field(field: &str) -> Self {
        Self {
            message: format!("Criteria: Unknown or unsupported field '{field}'."),
            resolution: "Use a field documented for this search.".to_owned(),
        }
    }

    fn operator(criterion: &Criterion) -> Self {
        Self {
            message: format!(
                "Criteria: Operator '{}' is not supported for field '{}'.",
                criterion.operator, criterion.field
            ),
            resolution: "Use an operator documented for this field.".to_owned(),
        }
    }

    pub(crate) fn invalid_value(criterion: &Criterion, kind: &str) -> Self {
        Self {
            message: format!(
                "Criteria: Invalid value format for criteria '{}' ({}).",
                criterion.field, criterion.value
            ),
            resolution: format!("Specify criteria value(s) as {kind}."),
        }
    }
}

pub(crate) fn check_operator(criterion: &Criterion, allowed: &[&str]) -> Result<(), QpsError> {
    if allowed.contains(&criterion.operator.as_str()) {
        Ok(())
    } else {
        Err(QpsError::operator(criterion))
    }
}

/// The comma-separated numbers of a criterion.
pub(crate) fn id_list(criterion: &Criterion, operators: &[&str]) -> Result<Vec<u64>, QpsError> {
    check_operator(criterion, operators)?;
    criterion
        .value
        .split(',')
        .map(|item| {
            item.trim()
                .parse()
                .map_err(|_| QpsError::invalid_value(criterion, "Long"))
        })
        .collect()
}

/// A date criterion, in seconds since the epoch.
pub(crate) fn date(criterion: &Criterion, operators: &[&str]) -> Result<i64, QpsError> {
    check_operator(criterion, operators)?;
    crate::time::parse_timestamp(&criterion.value)
        .ok_or_else(|| QpsError::invalid_value(criterion, "Date"))
}

/// A boolean criterion.
pub(crate) fn boolean(criterion: &Criterion) -> Result<bool, QpsError> {
    check_operator(criterion, &["EQUALS"])?;
    match criterion.value.as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(QpsError {
            message: format!(
                "Invalid value '{}' for field {}",
                criterion.value, criterion.field
            ),
            resolution: "Acceptable values are: [true, false]".to_owned(),
        }),
    }
}

/// The records to skip and the page size.
pub(crate) fn page_bounds(request: &ServiceRequest) -> Result<(u64, u64), QpsError> {
    let offset = request.start_from_offset.unwrap_or(1);
    if offset == 0 {
        return Err(QpsError {
            message: "startFromOffset must be at least 1.".to_owned(),
            resolution: "Records are numbered from 1.".to_owned(),
        });
    }
    let limit = request
        .limit_results
        .unwrap_or(DEFAULT_LIMIT)
        .clamp(1, MAX_LIMIT);
    Ok((offset - 1, limit))
}

/// Takes one page from records in id order: skips `offset`, keeps `limit`, and reports
/// whether more follow.
pub(crate) fn take_page<T>(
    records: impl Iterator<Item = T>,
    offset: u64,
    limit: u64,
) -> (Vec<T>, bool) {
    let mut page = Vec::new();
    let mut rest = records.skip(usize::try_from(offset).unwrap_or(usize::MAX));
    for record in rest.by_ref() {
        if page.len() as u64 == limit {
            return (page, true);
        }
        page.push(record);
    }
    (page, false)
}
