//! Column conversions: ids and statuses are read back through their checked constructors,
//! so a row that breaks a rule (e.g. a hand-edited file) fails loudly instead of leaking in.

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

use super::{EffectStatus, RunStatus};
use crate::ids::{BusinessKey, EffectId, RunId, StepId};

/// A status column held a value this build does not know.
#[derive(Debug, thiserror::Error)]
#[error("unknown status {0:?}")]
struct UnknownStatus(String);

/// Reads a TEXT column and runs it through `parse`.
fn parse_text<T, E>(
    value: ValueRef<'_>,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> FromSqlResult<T>
where
    E: std::error::Error + Send + Sync + 'static,
{
    parse(value.as_str()?).map_err(|e| FromSqlError::Other(Box::new(e)))
}

/// `ToSql`/`FromSql` for the id newtypes: stored as their string form.
macro_rules! text_column {
    ($($ty:ty),*) => {$(
        impl ToSql for $ty {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.as_str()))
            }
        }

        impl FromSql for $ty {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                parse_text(value, <$ty>::parse)
            }
        }
    )*};
}

text_column!(RunId, StepId, BusinessKey, EffectId);

impl ToSql for EffectStatus {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

impl FromSql for EffectStatus {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        parse_text(value, |s| {
            EffectStatus::parse(s).ok_or_else(|| UnknownStatus(s.to_owned()))
        })
    }
}

impl ToSql for RunStatus {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

impl FromSql for RunStatus {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        parse_text(value, |s| {
            RunStatus::parse(s).ok_or_else(|| UnknownStatus(s.to_owned()))
        })
    }
}
