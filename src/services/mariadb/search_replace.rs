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
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub(crate) struct ReplaceStats {
    /// Text columns looked at.
    pub columns: u64,
    /// Plain-text values rewritten by the server.
    pub plain_rows: u64,
    /// Values that may be serialized, rewritten one by one (lengths fixed).
    pub serialized_rows: u64,
    /// Wall time of the whole rewrite.
    pub seconds: f64,
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
    let start = std::time::Instant::now();
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
        let mut changed: Vec<(Vec<Value>, Vec<u8>, Vec<u8>)> = Vec::new();
        for row in rows {
            let mut values: Vec<Value> = row.unwrap();
            let Some(Value::Bytes(old)) = values.pop() else {
                continue;
            };
            if let Some(new) = php_serialized::replace(&old, &bytes) {
                changed.push((values, old, new));
            }
        }
        stats.serialized_rows += write_back(admin, (db, table, column), keys, changed).await?;
    }
    admin.exec(&sql::commit()).await?;
    stats.seconds = start.elapsed().as_secs_f64();
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

/// Rows in one multi-row `UPDATE`.
const BATCH: usize = 500;

/// Writes rewritten values back: many rows per statement by a one-column primary key, else one
/// row at a time (by all key columns, or without a key by the old value). Returns rows changed.
async fn write_back(
    admin: &mut Admin,
    (db, table, column): (&str, &str, &str),
    keys: &[String],
    changed: Vec<(Vec<Value>, Vec<u8>, Vec<u8>)>,
) -> Result<u64, DbError> {
    let mut n = 0;
    if let [key] = keys {
        for chunk in changed.chunks(BATCH) {
            let stmt = sql::update_values_by_key(db, table, column, key, chunk.len())?;
            let mut params = Vec::with_capacity(chunk.len() * 3);
            for (k, _, new) in chunk {
                params.extend(k.iter().cloned());
                params.push(Value::Bytes(new.clone()));
            }
            for (k, _, _) in chunk {
                params.extend(k.iter().cloned());
            }
            n += admin.exec_with(&stmt, params).await?;
        }
        return Ok(n);
    }
    let update = sql::update_value(db, table, column, keys)?;
    for (k, old, new) in changed {
        let mut params = vec![Value::Bytes(new)];
        if keys.is_empty() {
            params.push(Value::Bytes(old));
        } else {
            params.extend(k);
        }
        n += admin.exec_with(&update, params).await?;
    }
    Ok(n)
}
