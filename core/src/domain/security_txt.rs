//! `/.well-known/security.txt` (RFC 9116): Contact, Expires (under a year away), Policy,
//! Preferred-Languages and Canonical.

use super::time::Timestamp;

/// Expires 180 days after `now`: always valid and always under the one-year ceiling.
pub fn render(origin: &str, contact: &str, now: Timestamp) -> String {
    let expires = Timestamp::from_millis(now.millis() + 180 * 86_400_000);
    let expires = expires.to_rfc3339();
    // RFC 9116 uses the Internet date/time format; seconds precision is conventional.
    let expires = format!("{}Z", &expires[..19]);
    format!(
        "Contact: {contact}\nExpires: {expires}\nPolicy: {origin}/security-policy\nPreferred-Languages: en\nCanonical: {origin}/.well-known/security.txt\n"
    )
}

/// The page security.txt's `Policy` field points to.
pub fn policy(contact: &str) -> String {
    format!(
        "ParityRail vulnerability disclosure policy\n\n\
         Report suspected vulnerabilities to {contact}. Include what you found, how to reproduce it, \
         and what an attacker could gain. Please do not access data that is not yours, degrade the \
         service, or disclose the issue before we have fixed it.\n\n\
         We acknowledge reports within 3 business days and keep you informed until the fix ships. \
         Good-faith research that follows this policy will not be pursued legally.\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_has_every_required_field_and_expires_within_a_year() {
        let now = Timestamp::parse("2026-11-23T00:00:00Z").unwrap();
        let t = render(
            "https://parityrail.example",
            "mailto:security@parityrail.example",
            now,
        );
        assert!(t.contains("Contact: mailto:security@parityrail.example\n"));
        assert!(t.contains("Expires: 2027-05-22T00:00:00Z\n"));
        assert!(t.contains("Canonical: https://parityrail.example/.well-known/security.txt\n"));
        assert!(t.contains("Preferred-Languages: en\n"));
        assert!(t.contains("Policy: "));
    }
}
