//! A digest of what a dump of one database would hold, read without dumping it: the definition
//! of every table and view, `CHECKSUM TABLE` of every base table, routines, triggers and events,
//! and InnoDB's per-table count of row changes. Equal digests mean the previous dump still
//! describes the database, so a backup can refer to it instead of dumping again.
//! Two independent signals guard the data: the checksum (content) and the change counter (any
//! write since the counter was last reset moves it), so an undetected change needs both to
//! coincide.

use mysql_async::Row;
use sha2::{Digest, Sha256};

use super::conn::Admin;
use super::error::DbError;
use super::sql;

fn feed(h: &mut Sha256, tag: &str, rows: &[Row]) {
    h.update(tag.as_bytes());
    for r in rows {
        for i in 0..r.len() {
            let v = r.as_ref(i).map(|v| v.as_sql(true)).unwrap_or_default();
            h.update((v.len() as u64).to_le_bytes());
            h.update(v.as_bytes());
        }
        h.update(b"\n");
    }
}

/// The digest (hex) of database `db`; six statements plus one per table and view.
pub(crate) async fn fingerprint(admin: &mut Admin, db: &str) -> Result<String, DbError> {
    let mut h = Sha256::new();
    let tables: Vec<(String, String)> = admin.fetch(&sql::show_full_tables(db)?).await?;
    let base: Vec<String> = tables
        .iter()
        .filter(|(_, kind)| kind == "BASE TABLE")
        .map(|(t, _)| t.clone())
        .collect();
    for (t, kind) in &tables {
        let rows: Vec<Row> = admin.fetch(&sql::show_create(db, t)?).await?;
        feed(&mut h, kind, &rows);
    }
    if !base.is_empty() {
        let rows: Vec<Row> = admin.fetch(&sql::checksum_tables(db, &base)?).await?;
        // NULL: the table could not be read; without a checksum nothing may be concluded
        if let Some(r) = rows
            .iter()
            .find(|r| r.as_ref(1) == Some(&mysql_async::Value::NULL))
        {
            let name = r.as_ref(0).map(|v| v.as_sql(true)).unwrap_or_default();
            return Err(DbError::invalid_value(
                &name,
                "CHECKSUM TABLE returned NULL",
            ));
        }
        feed(&mut h, "checksum", &rows);
    }
    let rows: Vec<Row> = admin.fetch(&sql::schema_objects(db)?).await?;
    feed(&mut h, "objects", &rows);
    let rows: Vec<Row> = admin.fetch(&sql::innodb_modified(db)?).await?;
    feed(&mut h, "modified", &rows);
    Ok(hex::encode(h.finalize()))
}
