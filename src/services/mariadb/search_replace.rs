//! Search and replace across every text column of a site's tables, safe for PHP-serialized
//! values: plain-text values are rewritten by the server in one `UPDATE` per column; values that
//! may be serialized are read, rewritten by `services::php_serialized` (lengths fixed) and written
//! back one row at a time by primary key. All of it runs in one transaction.

use std::collections::BTreeMap;

use mysql_async::{Row, Value};
use serde::Serialize;

use super::conn::Admin;
use super::error::DbError;
use super::sql;
use crate::services::php_serialized;

/// What a search and replace changed.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub(crate) struct ReplaceStats {
    /// Text columns looked at.
    pub columns: u64,
    /// Plain-text values rewritten by the server.
    pub plain_rows: u64,
    /// Serialized values rewritten with their lengths fixed.
    pub serialized_rows: u64,
}

/// Replaces each `(from, to)` of `pairs` in every text column of the tables of `db` named
/// `prefix…`, except the `(table, column)`s in `skip`.
pub(crate) async fn search_replace(
    admin: &mut Admin,
    db: &str,
    prefix: &str,
    pairs: &[(String, String)],
    skip: &[(String, String)],
) -> Result<ReplaceStats, DbError> {
    let columns: Vec<(String, String)> = admin.fetch(&sql::text_columns(db, prefix)?).await?;
    let mut keys: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let pk: Vec<(String, String)> = admin.fetch(&sql::primary_keys(db, prefix)?).await?;
    for (table, column) in pk {
        keys.entry(table).or_default().push(column);
    }
    let bytes: Vec<(Vec<u8>, Vec<u8>)> = pairs
        .iter()
        .map(|(f, t)| (f.as_bytes().to_vec(), t.as_bytes().to_vec()))
        .collect();
    let mut stats = ReplaceStats::default();
    admin.exec(&sql::start_transaction()).await?;
    for (table, column) in &columns {
        if skip.iter().any(|(t, c)| t == table && c == column) {
            continue;
        }
        stats.columns += 1;
        stats.plain_rows += admin
            .exec_counted(&sql::replace_plain(db, table, column, pairs)?)
            .await?;
        let keys = keys.get(table).map(Vec::as_slice).unwrap_or_default();
        let rows: Vec<Row> = admin
            .fetch(&sql::select_serialized(db, table, column, keys, pairs)?)
            .await?;
        if rows.is_empty() {
            continue;
        }
        let update = sql::update_value(db, table, column, keys)?;
        for row in rows {
            let mut values: Vec<Value> = row.unwrap();
            let Some(Value::Bytes(old)) = values.pop() else {
                continue;
            };
            let Some(new) = php_serialized::replace(&old, &bytes) else {
                continue;
            };
            let mut params = vec![Value::Bytes(new)];
            if keys.is_empty() {
                params.push(Value::Bytes(old));
            } else {
                params.extend(values);
            }
            stats.serialized_rows += admin.exec_with(&update, params).await?;
        }
    }
    admin.exec(&sql::commit()).await?;
    Ok(stats)
}

/// The pairs that move a WordPress site from `old` to `new` (host names): `//old` as written
/// in HTML and options, and `\/\/old` as JSON escapes it (block attributes, page builders).
pub(crate) fn url_pairs(old: &str, new: &str) -> Vec<(String, String)> {
    vec![
        (format!("//{old}"), format!("//{new}")),
        (format!("\\/\\/{old}"), format!("\\/\\/{new}")),
    ]
}
