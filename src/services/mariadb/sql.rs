//! The only place SQL text is built: quoting, escaping, host validation and statement builders.
//! Invariant: every identifier goes through `quote_ident`, every literal through `quote_str`,
//! every account host through `validate_host`; a `Stmt`'s `Debug` never shows a password.

use super::error::DbError;
use super::secret::Secret;

/// One SQL statement plus a printable form with secrets replaced.
#[derive(Clone)]
pub(crate) struct Stmt {
    text: String,
    shown: String,
}

impl Stmt {
    fn plain(text: String) -> Self {
        Stmt {
            shown: text.clone(),
            text,
        }
    }

    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    /// The statement with passwords replaced by `'[redacted]'` (for logs and errors).
    pub(crate) fn shown(&self) -> &str {
        &self.shown
    }
}

impl std::fmt::Debug for Stmt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

fn refuse_nul(s: &str) -> Result<(), DbError> {
    if s.contains('\0') {
        return Err(DbError::invalid_value(
            s,
            "NUL bytes are not allowed in SQL",
        ));
    }
    Ok(())
}

/// `` `name` `` with embedded backticks doubled. Refuses empty names, NUL and > 64 chars.
pub(crate) fn quote_ident(name: &str) -> Result<String, DbError> {
    refuse_nul(name)?;
    if name.is_empty() || name.chars().count() > 64 {
        return Err(DbError::invalid_value(
            name,
            "identifiers must be 1 to 64 characters long",
        ));
    }
    Ok(format!("`{}`", name.replace('`', "``")))
}

/// `'text'` with `'` doubled and `\` doubled (MariaDB's default sql_mode treats `\` as an escape).
pub(crate) fn quote_str(s: &str) -> Result<String, DbError> {
    refuse_nul(s)?;
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\'' => out.push_str("''"),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('\'');
    Ok(out)
}

/// The database part of a GRANT: `_` and `%` are wildcards there, so escape them to match
/// exactly one database (this is also the form stored in `mysql.db.Db`).
pub(crate) fn grant_db_pattern(database: &str) -> String {
    let mut out = String::with_capacity(database.len() + 8);
    for c in database.chars() {
        if matches!(c, '_' | '%' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Account host part: `localhost`, an IP, `IP/NETMASK`, or a lowercase hostname; `%`/`_`
/// patterns only with `allow_patterns` (`config::values::valid_db_host`).
pub(crate) fn validate_host(host: &str, allow_patterns: bool) -> Result<(), DbError> {
    crate::config::values::valid_db_host(host, allow_patterns)
        .map_err(|problem| DbError::invalid_value(host, problem))
}

/// `'user'@'host'` (the host must already be validated; it is escaped anyway).
pub(crate) fn account(user: &str, host: &str) -> Result<String, DbError> {
    Ok(format!("{}@{}", quote_str(user)?, quote_str(host)?))
}

fn charset_word(s: &str) -> Result<&str, DbError> {
    if s.is_empty()
        || s.len() > 64
        || !s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(DbError::invalid_value(
            s,
            "character set / collation names are [a-z0-9_]",
        ));
    }
    Ok(s)
}

pub(crate) fn create_database(db: &str, charset: &str, collation: &str) -> Result<Stmt, DbError> {
    Ok(Stmt::plain(format!(
        "CREATE DATABASE {} CHARACTER SET {} COLLATE {}",
        quote_ident(db)?,
        charset_word(charset)?,
        charset_word(collation)?
    )))
}

pub(crate) fn drop_database(db: &str) -> Result<Stmt, DbError> {
    Ok(Stmt::plain(format!(
        "DROP DATABASE IF EXISTS {}",
        quote_ident(db)?
    )))
}

fn with_password(
    prefix: &str,
    user: &str,
    host: &str,
    pw: &Secret,
    suffix: &str,
) -> Result<Stmt, DbError> {
    let acct = account(user, host)?;
    Ok(Stmt {
        text: format!(
            "{prefix} {acct} IDENTIFIED BY {}{suffix}",
            quote_str(pw.expose())?
        ),
        shown: format!("{prefix} {acct} IDENTIFIED BY '[redacted]'{suffix}"),
    })
}

/// With `require_tls` the account accepts only TLS connections (`REQUIRE SSL`).
pub(crate) fn create_user(
    user: &str,
    host: &str,
    pw: &Secret,
    require_tls: bool,
) -> Result<Stmt, DbError> {
    let suffix = if require_tls { " REQUIRE SSL" } else { "" };
    with_password("CREATE USER", user, host, pw, suffix)
}

/// Changes only the password: the account's TLS requirement stays as it is.
pub(crate) fn alter_user_password(user: &str, host: &str, pw: &Secret) -> Result<Stmt, DbError> {
    with_password("ALTER USER", user, host, pw, "")
}

/// An existing account accepts only TLS connections from now on.
pub(crate) fn require_ssl(user: &str, host: &str) -> Result<Stmt, DbError> {
    Ok(Stmt::plain(format!(
        "ALTER USER {} REQUIRE SSL",
        account(user, host)?
    )))
}

pub(crate) fn drop_user(user: &str, host: &str) -> Result<Stmt, DbError> {
    Ok(Stmt::plain(format!(
        "DROP USER IF EXISTS {}",
        account(user, host)?
    )))
}

/// All privileges on exactly one database, without GRANT OPTION.
pub(crate) fn grant_all_on_db(db: &str, user: &str, host: &str) -> Result<Stmt, DbError> {
    Ok(Stmt::plain(format!(
        "GRANT ALL PRIVILEGES ON {}.* TO {}",
        quote_ident(&grant_db_pattern(db))?,
        account(user, host)?
    )))
}

/// Removes every global, database, table, column and routine privilege of the account.
pub(crate) fn revoke_everything(user: &str, host: &str) -> Result<Stmt, DbError> {
    Ok(Stmt::plain(format!(
        "REVOKE ALL PRIVILEGES, GRANT OPTION FROM {}",
        account(user, host)?
    )))
}

/// `('a','b')`; an empty set becomes `(NULL)`, which matches nothing.
pub(crate) fn in_list<'a>(values: impl IntoIterator<Item = &'a str>) -> Result<String, DbError> {
    let quoted = values
        .into_iter()
        .map(quote_str)
        .collect::<Result<Vec<_>, _>>()?;
    if quoted.is_empty() {
        return Ok("(NULL)".to_owned());
    }
    Ok(format!("({})", quoted.join(",")))
}

/// Observation 1/3: existing databases among `names` with their defaults.
pub(crate) fn observe_schemata<'a>(
    names: impl IntoIterator<Item = &'a str>,
) -> Result<Stmt, DbError> {
    Ok(Stmt::plain(format!(
        "SELECT SCHEMA_NAME, DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME \
         FROM information_schema.SCHEMATA WHERE SCHEMA_NAME IN {}",
        in_list(names)?
    )))
}

/// Observation 2/3: accounts with the given user names, their auth plugin/hash, global
/// privilege bitmask and TLS requirement (MariaDB ≥ 10.4 stores these as JSON in
/// mysql.global_priv; `ssl_type` is absent for none, 1 for `REQUIRE SSL`).
pub(crate) fn observe_accounts<'a>(
    users: impl IntoIterator<Item = &'a str>,
) -> Result<Stmt, DbError> {
    Ok(Stmt::plain(format!(
        "SELECT User, Host, \
         COALESCE(JSON_VALUE(Priv, '$.plugin'), ''), \
         COALESCE(JSON_VALUE(Priv, '$.authentication_string'), ''), \
         CAST(COALESCE(JSON_VALUE(Priv, '$.access'), '0') AS UNSIGNED), \
         CAST(COALESCE(JSON_VALUE(Priv, '$.ssl_type'), '0') AS UNSIGNED) \
         FROM mysql.global_priv WHERE User IN {}",
        in_list(users)?
    )))
}

/// Observation 3/3: every database-level grant of the users (with a flag "exactly ALL
/// PRIVILEGES without GRANT OPTION") plus any table/column/routine grant, in one result.
pub(crate) fn observe_grants<'a>(
    users: impl IntoIterator<Item = &'a str> + Clone,
) -> Result<Stmt, DbError> {
    let list = in_list(users)?;
    Ok(Stmt::plain(format!(
        "SELECT 'db', User, Host, Db, \
         (Select_priv='Y' AND Insert_priv='Y' AND Update_priv='Y' AND Delete_priv='Y' \
          AND Create_priv='Y' AND Drop_priv='Y' AND Grant_priv='N' AND References_priv='Y' \
          AND Index_priv='Y' AND Alter_priv='Y' AND Create_tmp_table_priv='Y' \
          AND Lock_tables_priv='Y' AND Create_view_priv='Y' AND Show_view_priv='Y' \
          AND Create_routine_priv='Y' AND Alter_routine_priv='Y' AND Execute_priv='Y' \
          AND Event_priv='Y' AND Trigger_priv='Y' AND Delete_history_priv='Y') \
         FROM mysql.db WHERE User IN {list} \
         UNION ALL SELECT 'table', User, Host, CONCAT(Db, '.', Table_name), 0 \
         FROM mysql.tables_priv WHERE User IN {list} \
         UNION ALL SELECT 'routine', User, Host, CONCAT(Db, '.', Routine_name), 0 \
         FROM mysql.procs_priv WHERE User IN {list}"
    )))
}

/// Sizes of the given databases plus the accounts holding database grants on them.
pub(crate) fn list_databases<'a>(
    names: impl IntoIterator<Item = &'a str>,
) -> Result<Stmt, DbError> {
    Ok(Stmt::plain(format!(
        "SELECT s.SCHEMA_NAME, \
         CAST(COALESCE(SUM(t.DATA_LENGTH + t.INDEX_LENGTH), 0) AS UNSIGNED), \
         COUNT(t.TABLE_NAME), \
         COALESCE((SELECT GROUP_CONCAT(CONCAT(d.User, '@', d.Host) ORDER BY d.User, d.Host) \
                   FROM mysql.db d WHERE d.Db = REPLACE(REPLACE(s.SCHEMA_NAME, '_', '\\\\_'), '%', '\\\\%')), '') \
         FROM information_schema.SCHEMATA s \
         LEFT JOIN information_schema.TABLES t ON t.TABLE_SCHEMA = s.SCHEMA_NAME \
         WHERE s.SCHEMA_NAME IN {} GROUP BY s.SCHEMA_NAME ORDER BY s.SCHEMA_NAME",
        in_list(names)?
    )))
}

/// Tables and views of `db` with their type.
pub(crate) fn show_full_tables(db: &str) -> Result<Stmt, DbError> {
    Ok(Stmt::plain(format!(
        "SHOW FULL TABLES FROM {}",
        quote_ident(db)?
    )))
}

/// `SHOW CREATE TABLE` (also answers for a view).
pub(crate) fn show_create(db: &str, table: &str) -> Result<Stmt, DbError> {
    Ok(Stmt::plain(format!(
        "SHOW CREATE TABLE {}.{}",
        quote_ident(db)?,
        quote_ident(table)?
    )))
}

/// One `CHECKSUM TABLE` over `tables` of `db` (a full read of each: EXTENDED is the default).
pub(crate) fn checksum_tables<'a>(
    db: &str,
    tables: impl IntoIterator<Item = &'a String>,
) -> Result<Stmt, DbError> {
    let db = quote_ident(db)?;
    let list = tables
        .into_iter()
        .map(|t| Ok(format!("{db}.{}", quote_ident(t)?)))
        .collect::<Result<Vec<_>, DbError>>()?;
    Ok(Stmt::plain(format!("CHECKSUM TABLE {}", list.join(", "))))
}

/// Routines, triggers and events of `db` (what a dump with `--routines --triggers --events`
/// holds besides tables), every column as text.
pub(crate) fn schema_objects(db: &str) -> Result<Stmt, DbError> {
    let d = quote_str(db)?;
    Ok(Stmt::plain(format!(
        "SELECT 'routine', ROUTINE_NAME, CAST(LAST_ALTERED AS CHAR), ROUTINE_DEFINITION \
         FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = {d} \
         UNION ALL SELECT 'trigger', TRIGGER_NAME, CAST(CREATED AS CHAR), ACTION_STATEMENT \
         FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = {d} \
         UNION ALL SELECT 'event', EVENT_NAME, CAST(LAST_ALTERED AS CHAR), EVENT_DEFINITION \
         FROM information_schema.EVENTS WHERE EVENT_SCHEMA = {d} ORDER BY 1, 2"
    )))
}

/// InnoDB's per-table count of row changes (since its statistics were last recalculated).
pub(crate) fn innodb_modified(db: &str) -> Result<Stmt, DbError> {
    let pattern = format!(
        "{}/%",
        db.replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    );
    Ok(Stmt::plain(format!(
        "SELECT NAME, CAST(MODIFIED_COUNTER AS CHAR) FROM information_schema.INNODB_SYS_TABLESTATS \
         WHERE NAME LIKE {} ORDER BY NAME",
        quote_str(&pattern)?
    )))
}

/// `SELECT name, COUNT(*)` for each table of `db` (one statement). Table names are quoted with
/// doubled backticks; control characters are refused.
pub(crate) fn count_rows<'a>(
    db: &str,
    tables: impl IntoIterator<Item = &'a String>,
) -> Result<Stmt, DbError> {
    let q = |n: &str| -> Result<String, DbError> {
        if n.is_empty() || n.chars().any(char::is_control) {
            return Err(DbError::invalid_value(n, "not a table name"));
        }
        Ok(format!("`{}`", n.replace('`', "``")))
    };
    let db = q(db)?;
    let parts = tables
        .into_iter()
        .map(|t| {
            Ok(format!(
                "SELECT {}, COUNT(*) FROM {db}.{}",
                quote_str(t)?,
                q(t)?
            ))
        })
        .collect::<Result<Vec<_>, DbError>>()?;
    Ok(Stmt::plain(parts.join(" UNION ALL ")))
}

/// Which of `(schema, table)` exist (e.g. each WordPress site's `<prefix>options`), in one query.
pub(crate) fn existing_tables<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<Stmt, DbError> {
    let mut schemas = Vec::new();
    let mut tables = Vec::new();
    for (s, t) in pairs {
        schemas.push(s);
        tables.push(t);
    }
    Ok(Stmt::plain(format!(
        "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA IN {} AND TABLE_NAME IN {}",
        in_list(schemas)?,
        in_list(tables)?
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idents() {
        assert_eq!(quote_ident("shop").unwrap(), "`shop`");
        assert_eq!(quote_ident("a`b").unwrap(), "`a``b`");
        assert_eq!(quote_ident("``").unwrap(), "``````");
        assert!(quote_ident("").is_err());
        assert!(quote_ident("a\0b").is_err());
        assert!(quote_ident(&"x".repeat(65)).is_err());
        assert!(quote_ident(&"x".repeat(64)).is_ok());
    }

    #[test]
    fn strings() {
        assert_eq!(quote_str("abc").unwrap(), "'abc'");
        assert_eq!(quote_str("o'hara").unwrap(), "'o''hara'");
        assert_eq!(quote_str(r"a\b").unwrap(), r"'a\\b'");
        assert_eq!(quote_str(r"\'").unwrap(), r"'\\'''");
        assert_eq!(quote_str("").unwrap(), "''");
        assert!(quote_str("x\0").is_err());
    }

    #[test]
    fn grant_pattern_escapes_wildcards() {
        assert_eq!(grant_db_pattern("shop_example"), r"shop\_example");
        assert_eq!(grant_db_pattern("a%b"), r"a\%b");
        assert_eq!(grant_db_pattern("plain"), "plain");
    }

    #[test]
    fn hosts() {
        for ok in [
            "localhost",
            "127.0.0.1",
            "::1",
            "web1.example.test",
            "10.0.0.0/255.255.255.0",
        ] {
            assert!(validate_host(ok, false).is_ok(), "{ok}");
        }
        for bad in [
            "", "%", "10.0.%", "web_1", "a b", "x'y", "x`y", "-a.test", "A.TEST", "a..b", "h\0",
        ] {
            assert!(validate_host(bad, false).is_err(), "{bad:?}");
        }
        assert!(validate_host("%", true).is_ok());
        assert!(validate_host("10.0.0.%", true).is_ok());
        assert!(validate_host("x'%", true).is_err());
        let msg = validate_host("%", false).unwrap_err().to_string();
        assert!(msg.contains("explicitly"), "{msg}");
    }

    #[test]
    fn statements() {
        let pw = Secret::new("p'w\\");
        let s = create_user("u", "localhost", &pw, false).unwrap();
        assert_eq!(
            s.text(),
            r"CREATE USER 'u'@'localhost' IDENTIFIED BY 'p''w\\'"
        );
        assert!(!format!("{s:?}").contains("p''w"));
        assert!(s.shown().contains("[redacted]"));
        assert_eq!(
            grant_all_on_db("a_b", "u", "127.0.0.1").unwrap().text(),
            r"GRANT ALL PRIVILEGES ON `a\_b`.* TO 'u'@'127.0.0.1'"
        );
        assert_eq!(
            create_database("a", "utf8mb4", "utf8mb4_uca1400_ai_ci")
                .unwrap()
                .text(),
            "CREATE DATABASE `a` CHARACTER SET utf8mb4 COLLATE utf8mb4_uca1400_ai_ci"
        );
        assert!(create_database("a", "utf8mb4; DROP", "x").is_err());
        assert_eq!(in_list(Vec::<&str>::new()).unwrap(), "(NULL)");
        assert_eq!(in_list(["a", "b'"]).unwrap(), "('a','b''')");
    }
}
