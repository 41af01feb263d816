//! The tenancy rule for SQL text: every statement a tenant prepares binds the org id as `?1` and
//! uses it — an INSERT lists `org_id` first with `?1` as its value, anything else constrains
//! `org_id = ?1`. A lint, checked on every statement at run time, that makes an unscoped query
//! fail loudly in the first test that runs it instead of leaking across tenants.

pub fn is_tenant_scoped(sql: &str) -> bool {
    let s = sql.trim_start();
    if s.len() >= 6 && s[..6].eq_ignore_ascii_case("INSERT") {
        s.contains("(org_id,") && s.contains("VALUES (?1,")
    } else {
        s.contains("org_id = ?1")
    }
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
        assert!(is_tenant_scoped(
            "SELECT id FROM projects WHERE org_id = ?1 AND id = ?2"
        ));
        assert!(is_tenant_scoped(
            "INSERT INTO members (org_id, id) VALUES (?1, ?2)"
        ));
        assert!(is_tenant_scoped(
            "UPDATE api_keys SET revoked_at = ?3 WHERE org_id = ?1 AND id = ?2"
        ));
        assert!(is_tenant_scoped(
            "DELETE FROM members WHERE org_id = ?1 AND id = ?2"
        ));
    }

    #[test]
    fn statements_without_the_tenant_predicate_are_refused() {
        assert!(!is_tenant_scoped("SELECT id FROM projects WHERE id = ?2"));
        assert!(!is_tenant_scoped("DELETE FROM members"));
        assert!(!is_tenant_scoped(
            "INSERT INTO members (id, org_id) VALUES (?2, ?1)"
        ));
        assert!(!is_tenant_scoped(
            "UPDATE projects SET name = ?2 WHERE org_id = ?2"
        ));
    }
}
