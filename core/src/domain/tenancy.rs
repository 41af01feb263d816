//! The tenancy rule for SQL text, checked on every statement a tenant prepares, at run time. It
//! checks structure, not a substring: the org id is bound as `?1`, and
//!
//! - an `INSERT` lists `org_id` as its first column with `?1` as its first value (and an
//!   `ON CONFLICT … DO UPDATE` must itself be limited to `org_id = ?1`);
//! - a `SELECT`, `UPDATE` or `DELETE` has a top-level `WHERE` whose top-level conjuncts include
//!   `org_id = ?1` (or `alias.org_id = ?1`) and that has no top-level `OR` — so
//!   `WHERE id = ?2 OR org_id = ?1` is refused;
//! - every subquery `(SELECT …)` obeys the same rule;
//! - a `SELECT` or `DELETE` reads exactly one table (no joins, no comma lists), an `UPDATE` has
//!   no `FROM` and never sets `org_id`, an `INSERT` is a plain `INSERT INTO` (no `OR REPLACE`);
//! - the pin names the statement's own table (`org_id`, `table.org_id` or `alias.org_id`), never
//!   an outer query's alias or an upsert's `excluded.`; no `SET` (UPDATE or upsert) assigns
//!   `org_id`;
//! - every table named is a tenant table (one with an `org_id` column);
//! - no comments, no `;`, no quoted identifiers (`"`, `` ` ``, `[`), no `WITH`, `CASE` or
//!   `BETWEEN` (whose `AND` is not a conjunction), no `UNION`/`INTERSECT`/`EXCEPT`, no `JOIN`,
//!   no second `ON CONFLICT`, no output column named `org_id`, no multi-row `VALUES`, anywhere;
//!   a top-level `OR` is found as a word, spaced or not.
//!
//! An unscoped query then fails loudly in the first test that runs it instead of leaking across
//! tenants. The rule may refuse a safe statement (write it the plain way); it never accepts one
//! whose top-level filter does not pin the org.

/// Whether `sql` is scoped to the org bound as `?1`.
pub fn is_tenant_scoped(sql: &str) -> bool {
    // No string literals at all: every value is a bound parameter, and quotes are where a
    // scanner could be told that a parenthesis or a keyword is not there.
    if ["--", "/*", ";", "\"", "`", "[", "'"]
        .iter()
        .any(|t| sql.contains(t))
        || !sql.is_ascii()
    {
        return false;
    }
    let s = normalize(sql);
    let upper = s.to_ascii_uppercase();
    let words: Vec<&str> = upper
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .collect();
    if [
        "UNION",
        "INTERSECT",
        "EXCEPT",
        "JOIN",
        "REPLACE",
        "PRAGMA",
        "ATTACH",
        "WITH",
        "CASE",
        "BETWEEN",
    ]
    .iter()
    .any(|w| words.contains(w))
    {
        return false;
    }
    let tokens: Vec<&str> = words.iter().copied().filter(|w| !w.is_empty()).collect();
    let conflicts = tokens.iter().filter(|w| **w == "CONFLICT").count();
    let aliased_org = tokens.windows(2).any(|w| w == ["AS", "ORG_ID"]);
    if conflicts > 1 || aliased_org || !tables_are_tenant_tables(&tokens) {
        return false;
    }
    if !subqueries_scoped(&s) {
        return false;
    }
    let scoped_where = |upper: &str, names: &[&str]| match top_level(upper, " WHERE ") {
        Some(at) => where_scoped(&s[at + 7..], names),
        None => false,
    };
    match upper.split(' ').next().unwrap_or("") {
        "INSERT" => upper.starts_with("INSERT INTO ") && insert_scoped(&s, &upper),
        "SELECT" | "DELETE" => match single_table(&upper) {
            Some(names) => scoped_where(
                &upper,
                &names.iter().map(String::as_str).collect::<Vec<_>>(),
            ),
            None => false,
        },
        "UPDATE" => {
            let table = upper.split(' ').nth(1).unwrap_or("").to_owned();
            update_shape_ok(&upper) && scoped_where(&upper, &[table.as_str()])
        }
        _ => false,
    }
}

/// The top-level FROM names one table, with an optional alias (`FROM t` or `FROM t a`): the
/// names (upper case) a pin may be qualified with.
fn single_table(upper: &str) -> Option<Vec<String>> {
    let from = top_level(upper, " FROM ")?;
    let rest = &upper[from + 6..];
    let end = top_level(rest, " WHERE ").unwrap_or(rest.len());
    let tables = rest[..end].trim();
    let ok = !tables.is_empty()
        && tables.split(' ').count() <= 2
        && tables
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ' ');
    ok.then(|| tables.split(' ').map(str::to_owned).collect())
}

/// `UPDATE t SET … WHERE …`: no `FROM`, and the SET list never assigns `org_id`.
fn update_shape_ok(upper: &str) -> bool {
    if top_level(upper, " FROM ").is_some() {
        return false;
    }
    let (Some(set), Some(wh)) = (top_level(upper, " SET "), top_level(upper, " WHERE ")) else {
        return false;
    };
    set < wh && !mentions_org_id(&upper[set..wh])
}

fn mentions_org_id(upper: &str) -> bool {
    upper
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .any(|w| w == "ORG_ID")
}

/// One space between tokens, none around parentheses' insides: `( a )` → `(a)`.
fn normalize(sql: &str) -> String {
    let collapsed = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    collapsed.replace("( ", "(").replace(" )", ")")
}

/// Byte offsets at paren depth 0 (outside string literals) where `needle` (upper case) starts.
fn top_level_all(upper: &str, needle: &str) -> Vec<usize> {
    let bytes = upper.as_bytes();
    let (mut depth, mut quoted, mut out) = (0i32, false, Vec::new());
    for i in 0..bytes.len() {
        match bytes[i] {
            b'\'' => quoted = !quoted,
            b'(' if !quoted => depth += 1,
            b')' if !quoted => depth -= 1,
            _ if !quoted && depth == 0 && bytes[i..].starts_with(needle.as_bytes()) => out.push(i),
            _ => {}
        }
    }
    out
}

fn top_level(upper: &str, needle: &str) -> Option<usize> {
    top_level_all(upper, needle).into_iter().next()
}

/// Whether the word `word` (upper case) stands at paren depth 0, outside strings, bounded by
/// anything that cannot continue an identifier (`0 OR(1)`, `'a'OR 1`, `(0)OR 1` all count).
fn top_level_word(upper: &str, word: &str) -> bool {
    let bytes = upper.as_bytes();
    let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let (mut depth, mut quoted) = (0i32, false);
    for i in 0..bytes.len() {
        match bytes[i] {
            b'\'' => quoted = !quoted,
            b'(' if !quoted => depth += 1,
            b')' if !quoted => depth -= 1,
            _ if !quoted
                && depth == 0
                && bytes[i..].starts_with(word.as_bytes())
                && (i == 0 || !ident(bytes[i - 1]))
                && bytes.get(i + word.len()).is_none_or(|b| !ident(*b)) =>
            {
                return true
            }
            _ => {}
        }
    }
    false
}

/// Tables with an `org_id` column: the only ones a tenant statement may name.
static TENANT_TABLES: [&str; 31] = [
    "HOOK_ENDPOINTS",
    "HOOK_CURSORS",
    "HOOK_EVENTS",
    "HOOK_DELIVERIES",
    "HOOK_ATTEMPTS",
    "ALERT_QUEUE",
    "ALERT_DIGESTS",
    "SESSIONS",
    "LOGIN_LINKS",
    "SIGNING_KEYS",
    "EXPORTS",
    "CHAIN_HEADS",
    "AUDIT_CUSTOMERS",
    "REPAIRS",
    "REPAIR_CHECKS",
    "WEBHOOK_GAPS",
    "WEBHOOK_EVENTS",
    "OUTBOX",
    "RUNS",
    "CALLER_CHECKS",
    "AUTO_APPROVAL_CHECKS",
    "ORGS",
    "MEMBERS",
    "PROJECTS",
    "PROJECT_ROLES",
    "API_KEYS",
    "AUDIT_LOG",
    "CREDENTIALS",
    "MAPPINGS",
    "INCIDENTS",
    "SNAPSHOTS",
];

/// Every word after FROM, INTO or UPDATE (not an upsert's `DO UPDATE`) names a tenant table.
fn tables_are_tenant_tables(tokens: &[&str]) -> bool {
    tokens.iter().enumerate().all(|(i, t)| {
        let names_table =
            matches!(*t, "FROM" | "INTO") || (*t == "UPDATE" && (i == 0 || tokens[i - 1] != "DO"));
        !names_table || tokens.get(i + 1).is_some_and(|n| TENANT_TABLES.contains(n))
    })
}

/// The WHERE clause (text after `WHERE `) up to ORDER BY / GROUP BY / LIMIT / RETURNING, pinned
/// to the org through one of `names` (the statement's own table and alias, upper case).
fn where_scoped(clause: &str, names: &[&str]) -> bool {
    let upper = clause.to_ascii_uppercase();
    let end = [" ORDER BY ", " GROUP BY ", " LIMIT ", " RETURNING "]
        .iter()
        .filter_map(|k| top_level(&upper, k))
        .min()
        .unwrap_or(clause.len());
    let (clause, upper) = (&clause[..end], &upper[..end]);
    if top_level_word(upper, "OR") {
        return false;
    }
    let mut start = 0;
    let mut conjuncts = Vec::new();
    for at in top_level_all(upper, " AND ") {
        conjuncts.push(&clause[start..at]);
        start = at + 5;
    }
    conjuncts.push(&clause[start..]);
    conjuncts.iter().any(|c| pins_org(c.trim(), names))
}

/// `org_id = ?1`, or `name.org_id = ?1` where `name` is the statement's own table or alias.
fn pins_org(conjunct: &str, names: &[&str]) -> bool {
    let Some(column) = conjunct.strip_suffix(" = ?1") else {
        return false;
    };
    match column.rsplit_once('.') {
        Some((qualifier, "org_id")) => names.iter().any(|n| n.eq_ignore_ascii_case(qualifier)),
        None => column == "org_id",
        _ => false,
    }
}

fn insert_scoped(s: &str, upper: &str) -> bool {
    // INSERT INTO name (org_id, …) VALUES (?1, …) [ON CONFLICT (…) DO NOTHING | DO UPDATE … WHERE …]
    let Some(cols) = s.find('(') else {
        return false;
    };
    let Some(values) = top_level(upper, " VALUES (") else {
        return false;
    };
    // One row only: a second `(…)` after VALUES would not be pinned to ?1.
    let mut depth = 0i32;
    let mut row_end = None;
    for (i, b) in s.as_bytes()[values + 8..].iter().enumerate() {
        match b {
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    row_end = Some(values + 8 + i);
                    break;
                }
            }
            _ => {}
        }
    }
    match row_end {
        Some(e) if !s[e + 1..].trim_start().starts_with(',') => {}
        _ => return false,
    }
    let columns_ok = s[cols + 1..].starts_with("org_id,") || s[cols + 1..].starts_with("org_id)");
    let values_ok = s[values + 9..].starts_with("?1,") || s[values + 9..].starts_with("?1)");
    // An upsert's update is pinned to the existing row's org (unqualified `org_id`; never
    // `excluded.`, the proposed row) and never assigns `org_id`.
    let conflict_ok = match top_level(upper, " DO UPDATE ") {
        None => true,
        Some(at) => match top_level(&upper[at..], " WHERE ") {
            Some(w) => !mentions_org_id(&upper[at..at + w]) && where_scoped(&s[at + w + 7..], &[]),
            None => false,
        },
    };
    columns_ok && values_ok && conflict_ok
}

/// Every `(SELECT …)` anywhere in the statement is itself scoped.
fn subqueries_scoped(s: &str) -> bool {
    let bytes = s.as_bytes();
    let mut stack = Vec::new();
    for (i, b) in bytes.iter().enumerate() {
        match b {
            b'(' => stack.push(i),
            b')' => {
                let Some(open) = stack.pop() else {
                    return false;
                };
                let inner = &s[open + 1..i];
                let is_select = inner
                    .get(..6)
                    .is_some_and(|h| h.eq_ignore_ascii_case("SELECT"))
                    && !inner[6..]
                        .chars()
                        .next()
                        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
                if is_select && !is_tenant_scoped(&inner.replacen(&inner[..6], "SELECT ", 1)) {
                    return false;
                }
            }
            _ => {}
        }
    }
    stack.is_empty()
}

/// A batch may run only if every statement in it was prepared for the org running it
/// (SPEC §1: a batch that would touch two orgs is refused). An empty batch is harmless.
pub fn batch_is_single_tenant<'a, T: PartialEq + 'a>(
    owner: &T,
    statement_orgs: impl IntoIterator<Item = &'a T>,
) -> bool {
    statement_orgs.into_iter().all(|org| org == owner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_with_a_statement_of_another_org_is_refused() {
        let (a, b) = ("org_A", "org_B");
        assert!(batch_is_single_tenant(&a, [&a, &a]));
        assert!(batch_is_single_tenant(&a, std::iter::empty::<&&str>()));
        assert!(!batch_is_single_tenant(&a, [&a, &b]));
        assert!(!batch_is_single_tenant(&a, [&b]));
    }

    #[test]
    fn statements_that_bind_the_org_pass() {
        for sql in [
            "SELECT id FROM projects WHERE org_id = ?1 AND id = ?2",
            "INSERT INTO members (org_id, id) VALUES (?1, ?2)",
            "UPDATE api_keys SET revoked_at = ?3 WHERE org_id = ?1 AND id = ?2",
            "DELETE FROM members WHERE org_id = ?1 AND id = ?2",
            "SELECT a FROM api_keys WHERE org_id = ?1 AND (?2 IS NULL OR project_id = ?2) AND id > ?3 ORDER BY id LIMIT ?4",
            "SELECT c FROM credentials WHERE org_id = ?1 AND (key_id != ?2 OR format < ?5)\n   AND id > ?3 ORDER BY id LIMIT ?4",
            "SELECT p.id, (SELECT r.role FROM project_roles r WHERE r.org_id = ?1 AND r.project_id = p.id) AS o \
             FROM projects p WHERE p.org_id = ?1 AND p.id = ?2",
            "INSERT INTO project_roles (org_id, project_id, role) VALUES (?1, ?2, ?3) \
             ON CONFLICT (project_id, member_id) DO UPDATE SET role = excluded.role WHERE org_id = ?1",
            "SELECT org_id AS id, name FROM orgs WHERE org_id = ?1",
            "DELETE FROM webhook_events WHERE org_id = ?1 AND rowid IN \
             (SELECT e.rowid FROM webhook_events e WHERE e.org_id = ?1 AND e.received_at < ?2 \
              AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.org_id = ?1 AND o.project_id = e.project_id \
              AND o.status = ?3 AND o.event_id = e.event_id) LIMIT ?4)",
        ] {
            assert!(is_tenant_scoped(sql), "{sql}");
        }
    }

    #[test]
    fn an_org_predicate_inside_an_or_does_not_scope_anything() {
        for sql in [
            "SELECT * FROM projects WHERE id = ?2 OR org_id = ?1",
            "SELECT * FROM projects WHERE org_id = ?1 OR id = ?2",
            "UPDATE api_keys SET revoked_at = ?3 WHERE org_id = ?1 AND id = ?2 OR 1 = 1",
            "DELETE FROM members WHERE (org_id = ?1 OR 1) AND id = ?2",
        ] {
            assert!(!is_tenant_scoped(sql), "{sql}");
        }
    }

    proptest::proptest! {
        #[test]
        fn no_text_makes_the_check_panic(sql in ".{0,200}") {
            let _ = is_tenant_scoped(&sql);
        }
    }

    #[test]
    fn statements_without_the_tenant_predicate_are_refused() {
        for sql in [
            "SELECT id FROM projects WHERE id = ?2",
            "DELETE FROM members",
            "INSERT INTO members (id, org_id) VALUES (?2, ?1)",
            "UPDATE projects SET name = ?2 WHERE org_id = ?2",
            "UPDATE projects SET org_id = ?1 WHERE id = ?2",
            "SELECT id FROM projects WHERE org_id = ?10",
            "SELECT id FROM projects WHERE org_id != ?1",
            "SELECT id FROM projects WHERE xorg_id = ?1",
            "SELECT id FROM projects WHERE name = 'org_id = ?1'",
            // Parentheses inside literals once hid a subquery's OR and a second VALUES row.
            "SELECT id, (SELECT group_concat(key_hash) FROM api_keys WHERE org_id = ?1 AND name = ')' OR 1 = 1 OR name = '(') AS leak FROM projects WHERE org_id = ?1",
            "INSERT INTO members (org_id, id, email) VALUES (?1, ')(', ?2), ('org_B', ?3, ?4)",
            "SELECT id FROM projects WHERE org_id = ?1 AND name = 'x'",
            "SELECT id FROM projects WHERE org_id = ?1 AND id IN (SELECT id FROM projects WHERE id = ?2)",
            "INSERT INTO project_roles (org_id, role) VALUES (?1, ?2) ON CONFLICT (id) DO UPDATE SET role = ?2",
            "INSERT INTO members (org_id, id) SELECT org_id, id FROM members",
            "PRAGMA foreign_keys = OFF",
            "SELECT é FROM projects WHERE ünïcode = ?1 OR (SELECTé) AND org_id = ?1",
            // From the security review: each of these passed the first version of the rule.
            "SELECT id FROM projects WHERE org_id = ?1 AND id = ?2 UNION SELECT key_hash FROM api_keys",
            "SELECT k.key_hash FROM api_keys k, members m WHERE m.org_id = ?1",
            "SELECT k.key_hash FROM api_keys k JOIN members m ON 1 = 1 WHERE m.org_id = ?1",
            "INSERT OR REPLACE INTO members (org_id, id, email) VALUES (?1, ?2, ?3)",
            "REPLACE INTO members (org_id, id) VALUES (?1, ?2)",
            "UPDATE projects SET org_id = ?2 WHERE org_id = ?1 AND id = ?3",
            "UPDATE projects SET name = ?2, org_id = ?3 WHERE org_id = ?1",
            "UPDATE projects SET name = k.name FROM api_keys k WHERE org_id = ?1",
            "SELECT id FROM projects WHERE org_id = ?1 AND id = ?2 --'\nOR 1 = 1 --'",
            "SELECT id FROM projects WHERE org_id = ?1 /* */ OR 1 = 1",
            "SELECT id FROM projects WHERE org_id = ?1; DELETE FROM members",
            "SELECT id FROM projects WHERE org_id = ?1 AND id IN (SELECT\"key_hash\"FROM api_keys)",
            "SELECT id FROM projects WHERE org_id = ?1 AND id IN (SELECT\nkey_hash FROM api_keys)",
            // From the second review.
            "SELECT p.id, (SELECT group_concat(key_hash) FROM api_keys WHERE p.org_id = ?1) FROM projects p WHERE p.org_id = ?1",
            "INSERT INTO project_roles (org_id, project_id, member_id, role) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (project_id, member_id) DO UPDATE SET role = excluded.role WHERE excluded.org_id = ?1",
            "INSERT INTO project_roles (org_id, project_id, role) VALUES (?1, ?2, ?3) \
             ON CONFLICT (project_id) DO UPDATE SET org_id = ?5 WHERE org_id = ?1",
            "SELECT key_hash, 1 AS \"'\", 1 AS \"'b\" FROM api_keys WHERE org_id = ?1 AND \"'\" OR 1 = 1 AND \"'b\" = 1",
            "SELECT id FROM projects WHERE org_id = ?1 AND id IN (WITH x AS (SELECT id FROM api_keys) SELECT id FROM x)",
            "SELECT id FROM projects p WHERE q.org_id = ?1",
            "SELECT id FROM [projects] WHERE org_id = ?1",
            "INSERT INTO members (org_id, id) VALUES (?1, ?2), (?3, ?4)",
            "INSERT INTO members (org_id, id) VALUES (?1, ?2) , (?3, ?4)",
            // From the third review.
            "SELECT key_hash FROM api_keys WHERE org_id = ?1 AND 0 OR(1)",
            "SELECT key_hash FROM api_keys WHERE org_id = ?1 AND 0 OR'1'",
            "SELECT key_hash FROM api_keys WHERE org_id = ?1 AND (0)OR 1",
            "UPDATE api_keys SET revoked_at = ?2 WHERE org_id = ?1 AND 0 OR(1)",
            "SELECT key_hash FROM api_keys WHERE CASE WHEN 0 AND org_id = ?1 AND 0 THEN 0 ELSE 1 END",
            "SELECT key_hash FROM api_keys WHERE NOT 1 BETWEEN 0 AND org_id = ?1",
            "INSERT INTO members (org_id, id, email) VALUES (?1, ?2, lower(?5)), ('org_B', ?3, ?4)",
            "INSERT INTO members (org_id, id, email) VALUES (?1, ?2, ?3) ON CONFLICT (email) DO UPDATE SET role = role \
             WHERE org_id = ?1 ON CONFLICT (id) DO UPDATE SET org_id = ?1, email = ?3 AND org_id = ?1",
            "SELECT id FROM projects WHERE org_id = ?1 AND id IN (SELECT cursor FROM job_state WHERE org_id = ?1)",
            "SELECT cursor, ?1 AS org_id FROM job_state WHERE org_id = ?1",
            "SELECT key_hash, ?1 AS org_id FROM api_keys WHERE org_id = ?1",
        ] {
            assert!(!is_tenant_scoped(sql), "{sql}");
        }
    }
}
