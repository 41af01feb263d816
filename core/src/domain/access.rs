//! Who may change whom (SPEC §1, §2): members, ownership, per-project overrides and API keys, as
//! pure functions the edge calls before it writes anything. The invariants they keep:
//!
//! - **A test key never changes live access.** Member changes, ownership transfer and anything
//!   touching a live key need a live key; a test key manages test keys only.
//! - **Role ceilings.** Nobody acts on a member ranked above them, nobody grants a role above
//!   their own, and a key that acts for *another* member needs a role strictly above that
//!   member's (otherwise an admin could act as another admin and hide who really acted).
//! - **Overrides are set by org-level admins**, never on the owner, never above the caller.
//!
//! Rotation arithmetic lives here too, so the edge only reads rows and writes the result.

use super::apikey::Environment;
use super::roles::Role;
use super::time::Timestamp;

/// The caller as the rules see it: the org role of the member its key acts for, and the key's
/// environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    pub org_role: Role,
    pub environment: Environment,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AccessDenied {
    #[error(
        "a test key cannot change members, ownership, live keys or live projects; use a live key"
    )]
    LiveKeyRequired,
    #[error("cannot act on a member whose role is above yours")]
    TargetAboveCaller,
    #[error("a key that acts for another member needs a role above that member's")]
    NotAboveTarget,
    #[error("project role overrides are set by org admins")]
    OrgAdminRequired,
    #[error("cannot grant a role above your own")]
    GrantAboveCaller,
    #[error("the owner's role cannot be overridden")]
    OwnerOverride,
    #[error("an org has exactly one owner: transfer ownership by making another member owner")]
    OneOwner,
    #[error("changing the owner's role, or making someone owner, needs the owner")]
    OwnerOnly,
    #[error("changing a member's role needs the admin or owner role")]
    AdminOnly,
    #[error("the owner cannot be removed; transfer ownership first")]
    OwnerRemoval,
}

/// Whether a member of `target` role may be removed from the org (by whoever may act on them):
/// never the owner, whose role only moves by a transfer.
pub fn may_remove_member(target: Role) -> Result<(), AccessDenied> {
    if target == Role::Owner {
        return Err(AccessDenied::OwnerRemoval);
    }
    Ok(())
}

/// Who a role change moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mover {
    /// The member making the change (the owner stepping down in a transfer).
    Caller,
    /// The member whose role is changed.
    Target,
}

/// A change of `target`'s org role from `from` to `to` by a caller of role `caller`, as the
/// moves to apply in order (empty: nothing changes). Only the owner touches the owner role;
/// making someone owner transfers ownership (the owner steps down to admin first, so the org
/// never has two owners), and the owner cannot step down any other way.
pub fn role_change(caller: Role, from: Role, to: Role) -> Result<Vec<(Mover, Role)>, AccessDenied> {
    if from == Role::Owner || to == Role::Owner {
        if caller != Role::Owner {
            return Err(AccessDenied::OwnerOnly);
        }
    } else if caller < Role::Admin {
        return Err(AccessDenied::AdminOnly);
    }
    if from == to {
        return Ok(vec![]);
    }
    match (from, to) {
        (Role::Owner, _) => Err(AccessDenied::OneOwner),
        (_, Role::Owner) => Ok(vec![
            (Mover::Caller, Role::Admin),
            (Mover::Target, Role::Owner),
        ]),
        _ => Ok(vec![(Mover::Target, to)]),
    }
}

/// Adding, changing or removing a member, or transferring ownership: a live key only (the
/// member's live keys live and die with the membership).
pub fn may_change_members(c: Caller) -> Result<(), AccessDenied> {
    match c.environment {
        Environment::Live => Ok(()),
        Environment::Test => Err(AccessDenied::LiveKeyRequired),
    }
}

/// Can this caller see a key of `key_env` at all? A test key sees test keys only; a live key
/// sees both. (A key it cannot see is answered as missing, not as forbidden.)
pub fn may_see_key(c: Caller, key_env: Environment) -> bool {
    c.environment == Environment::Live || key_env == Environment::Test
}

/// Minting (or rotating, which mints a successor) a key of `key_env` that acts for a member of
/// `target_role`; `is_self` when the caller's own member.
pub fn may_mint_key(
    c: Caller,
    key_env: Environment,
    target_role: Role,
    is_self: bool,
) -> Result<(), AccessDenied> {
    if !may_see_key(c, key_env) {
        return Err(AccessDenied::LiveKeyRequired);
    }
    if is_self || target_role < c.org_role {
        Ok(())
    } else {
        Err(AccessDenied::NotAboveTarget)
    }
}

/// Revoking a key of `key_env` that acts for a member of `target_role`: never a key of someone
/// ranked above the caller.
pub fn may_revoke_key(
    c: Caller,
    key_env: Environment,
    target_role: Role,
) -> Result<(), AccessDenied> {
    if !may_see_key(c, key_env) {
        return Err(AccessDenied::LiveKeyRequired);
    }
    if target_role <= c.org_role {
        Ok(())
    } else {
        Err(AccessDenied::TargetAboveCaller)
    }
}

/// Ending a member's dashboard sessions: never those of someone ranked above the caller.
pub fn may_end_sessions(c: Caller, target_role: Role) -> Result<(), AccessDenied> {
    if target_role <= c.org_role {
        Ok(())
    } else {
        Err(AccessDenied::TargetAboveCaller)
    }
}

/// A per-project role override. `caller_in_project` is the caller's effective role in the
/// project; `target_org_role` and `target_in_project` are the target's org role and current
/// effective role there; `grant` is the new override (`None` clears it).
pub fn may_set_override(
    caller_org_role: Role,
    caller_in_project: Role,
    target_org_role: Role,
    target_in_project: Role,
    grant: Option<Role>,
) -> Result<(), AccessDenied> {
    if caller_org_role < Role::Admin || caller_in_project < Role::Admin {
        return Err(AccessDenied::OrgAdminRequired);
    }
    if target_org_role == Role::Owner || grant == Some(Role::Owner) {
        return Err(AccessDenied::OwnerOverride);
    }
    // Clearing an override returns the target to its org role: that is a grant too.
    let granted = grant.unwrap_or(target_org_role);
    if target_in_project > caller_in_project || target_org_role > caller_org_role {
        return Err(AccessDenied::TargetAboveCaller);
    }
    if granted > caller_in_project {
        return Err(AccessDenied::GrantAboveCaller);
    }
    Ok(())
}

/// The most a member of role `minter` can grant through a key it mints for someone else: one
/// rank below its own (an owner's keys for others act as admin at most; an admin's as member).
pub fn grant_ceiling(minter: Role) -> Role {
    match minter {
        Role::Owner => Role::Admin,
        Role::Admin | Role::Member => Role::Member,
    }
}

/// The cap a key minted by (or through) a member keeps once that member's role fell to
/// `minter_now`: the member may still hold the key, so it acts with no more than the member
/// could grant now. `None` when the key's cap is already within that.
pub fn recap(minter_now: Role, key_cap: Role) -> Option<Role> {
    let ceiling = grant_ceiling(minter_now);
    (key_cap > ceiling).then_some(ceiling)
}

/// Who stands behind a new key and the most it acts with: `None` for a member's own key,
/// `Some((minter, cap))` otherwise.
pub type Origin<M> = Option<(M, Role)>;

/// The origin of a key minted (or of a rotation's successor) for `target` by a caller acting
/// for `caller` with `caller_role` (its acting role), itself holding a key of origin `calling`.
///
/// - A caller's own, uncapped key: a key for itself is its own; for someone else it is the
///   caller's, capped at `grant_ceiling(caller_role)`.
/// - A capped key (minted by someone else) passes on its minter and its cap, lowered further for
///   someone else: it can never mint its way out of its cap, and what it mints stays on the
///   account of the member who really holds it.
/// - No exception, not even for the owner: whoever minted a capped key may still hold it, so a
///   key minted with it never acts above the cap (after an ownership transfer, the new owner
///   gets an uncapped key from the operator: `POST /v1/operator/orgs/{oid}/owner-key`).
///
/// `previous` is the rotated key's own origin: a successor never acts above it.
pub fn key_origin<M: Clone + PartialEq>(
    caller: &M,
    caller_role: Role,
    calling: Origin<M>,
    target: &M,
    previous: Option<Origin<M>>,
) -> Origin<M> {
    let is_self = target == caller;
    let fresh = match calling {
        None if is_self => None,
        None => Some((caller.clone(), grant_ceiling(caller_role))),
        Some((minter, cap)) if is_self => Some((minter, cap)),
        Some((minter, cap)) => Some((minter, cap.min(grant_ceiling(caller_role)))),
    };
    match (fresh, previous.flatten()) {
        (Some((m, cap)), Some((_, old))) => Some((m, cap.min(old))),
        (None, Some((m, old))) => Some((m, old)),
        (fresh, _) => fresh,
    }
}

/// The role a key acts with: its member's current role (at org level, or effective in a
/// project), but never above `cap` — the `grant_ceiling` of whoever minted it for that member
/// (`None` for keys a member minted for itself). Checked on every request, so "demote, mint,
/// re-promote", or an override granted after minting, never lets a minter act through a key
/// with more than it could grant when it minted the key.
pub fn acting_role(own: Role, cap: Option<Role>) -> Role {
    cap.map_or(own, |c| own.min(c))
}

/// Longest grace period a rotation may give the old key.
pub const MAX_GRACE_SECONDS: u32 = 24 * 3600;

/// How a rotation ends the old key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OldKeyEnd {
    /// Revoked at once (grace 0).
    RevokedAt(Timestamp),
    /// Expires at the end of the grace, or earlier if it already expired sooner.
    ExpiresAt(Timestamp),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RotationError {
    #[error("grace_seconds must be from 0 to 86400")]
    GraceTooLong,
    #[error("a revoked or expired key cannot be rotated")]
    Inactive,
}

/// Whether a key with these fields is usable at `now`.
pub fn key_is_active(revoked: bool, expires_at: Option<Timestamp>, now: Timestamp) -> bool {
    !revoked && expires_at.is_none_or(|t| t > now)
}

/// The end a rotation gives the old key: never later than an expiry it already had.
pub fn rotation_end(
    now: Timestamp,
    grace_seconds: u32,
    revoked: bool,
    expires_at: Option<Timestamp>,
) -> Result<OldKeyEnd, RotationError> {
    if grace_seconds > MAX_GRACE_SECONDS {
        return Err(RotationError::GraceTooLong);
    }
    if !key_is_active(revoked, expires_at, now) {
        return Err(RotationError::Inactive);
    }
    if grace_seconds == 0 {
        return Ok(OldKeyEnd::RevokedAt(now));
    }
    let grace_end = now.plus_seconds(i64::from(grace_seconds));
    Ok(OldKeyEnd::ExpiresAt(match expires_at {
        Some(existing) if existing < grace_end => existing,
        _ => grace_end,
    }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_the_owner_cannot_be_removed() {
        assert_eq!(
            may_remove_member(Role::Owner),
            Err(AccessDenied::OwnerRemoval)
        );
        assert_eq!(may_remove_member(Role::Admin), Ok(()));
        assert_eq!(may_remove_member(Role::Member), Ok(()));
    }

    use super::*;
    use proptest::prelude::*;
    use Environment::{Live, Test};
    use Role::{Admin, Member, Owner};

    fn caller(org_role: Role, environment: Environment) -> Caller {
        Caller {
            org_role,
            environment,
        }
    }

    fn role() -> impl Strategy<Value = Role> {
        prop_oneof![Just(Member), Just(Admin), Just(Owner)]
    }

    fn env() -> impl Strategy<Value = Environment> {
        prop_oneof![Just(Live), Just(Test)]
    }

    #[test]
    fn a_demoted_minter_pulls_the_caps_of_its_keys_down_to_what_it_can_grant_now() {
        use Role::{Admin, Member, Owner};
        assert_eq!(recap(Admin, Admin), Some(Member));
        assert_eq!(recap(Admin, Owner), Some(Member));
        assert_eq!(recap(Member, Admin), Some(Member));
        assert_eq!(recap(Admin, Member), None);
        assert_eq!(recap(Owner, Admin), None);
    }

    #[test]
    fn a_test_key_cannot_change_members_even_the_owners() {
        assert_eq!(
            may_change_members(caller(Owner, Test)),
            Err(AccessDenied::LiveKeyRequired)
        );
        assert_eq!(may_change_members(caller(Owner, Live)), Ok(()));
    }

    #[test]
    fn a_test_key_neither_sees_nor_mints_nor_revokes_live_keys() {
        let c = caller(Owner, Test);
        assert!(!may_see_key(c, Live));
        assert!(may_see_key(c, Test));
        assert_eq!(
            may_mint_key(c, Live, Owner, true),
            Err(AccessDenied::LiveKeyRequired)
        );
        assert_eq!(
            may_revoke_key(c, Live, Member),
            Err(AccessDenied::LiveKeyRequired)
        );
        assert_eq!(may_mint_key(c, Test, Owner, true), Ok(()));
    }

    #[test]
    fn an_admin_cannot_mint_a_key_that_acts_for_another_admin() {
        let c = caller(Admin, Live);
        assert_eq!(
            may_mint_key(c, Live, Admin, false),
            Err(AccessDenied::NotAboveTarget)
        );
        assert_eq!(may_mint_key(c, Live, Admin, true), Ok(()));
        assert_eq!(may_mint_key(c, Live, Member, false), Ok(()));
        assert_eq!(
            may_mint_key(caller(Owner, Live), Live, Admin, false),
            Ok(())
        );
    }

    #[test]
    fn nobody_revokes_the_key_of_someone_ranked_above_them() {
        assert_eq!(
            may_revoke_key(caller(Admin, Live), Live, Owner),
            Err(AccessDenied::TargetAboveCaller)
        );
        assert_eq!(may_revoke_key(caller(Admin, Live), Live, Admin), Ok(()));
    }

    #[test]
    fn a_member_with_an_admin_override_cannot_set_overrides() {
        assert_eq!(
            may_set_override(Member, Admin, Admin, Admin, Some(Member)),
            Err(AccessDenied::OrgAdminRequired)
        );
        assert_eq!(
            may_set_override(Member, Admin, Member, Member, Some(Admin)),
            Err(AccessDenied::OrgAdminRequired)
        );
    }

    #[test]
    fn an_org_admin_demoted_in_a_project_cannot_set_overrides_there() {
        assert_eq!(
            may_set_override(Admin, Member, Member, Member, Some(Member)),
            Err(AccessDenied::OrgAdminRequired)
        );
    }

    #[test]
    fn the_owner_is_never_the_target_of_an_override() {
        assert_eq!(
            may_set_override(Owner, Owner, Owner, Owner, Some(Member)),
            Err(AccessDenied::OwnerOverride)
        );
        assert_eq!(
            may_set_override(Owner, Owner, Admin, Admin, Some(Owner)),
            Err(AccessDenied::OwnerOverride)
        );
    }

    #[test]
    fn an_org_admin_sets_overrides_up_to_their_own_role() {
        assert_eq!(
            may_set_override(Admin, Admin, Member, Member, Some(Admin)),
            Ok(())
        );
        assert_eq!(
            may_set_override(Admin, Admin, Admin, Admin, Some(Member)),
            Ok(())
        );
        assert_eq!(may_set_override(Admin, Admin, Member, Admin, None), Ok(()));
    }

    #[test]
    fn a_key_minted_by_someone_else_never_acts_above_what_its_minter_could_grant() {
        // An admin mints for a member who is later promoted: still a member's key.
        assert_eq!(acting_role(Admin, Some(grant_ceiling(Admin))), Member);
        // The owner mints for an admin who becomes owner: an admin's key (it can mint an owner key).
        assert_eq!(acting_role(Owner, Some(grant_ceiling(Owner))), Admin);
        // The owner's key for a member with an admin override acts as admin in that project.
        assert_eq!(acting_role(Admin, Some(grant_ceiling(Owner))), Admin);
        // Demoted below the cap: the lower current role wins.
        assert_eq!(acting_role(Member, Some(Admin)), Member);
        // A member's own keys act with its current role.
        assert_eq!(acting_role(Owner, None), Owner);
    }

    #[test]
    fn a_capped_key_cannot_mint_or_rotate_its_way_out_of_its_cap() {
        let (o, b, m) = ("O", "B", "M");
        // O (owner) mints K for admin B: K is O's, capped at admin.
        let k = key_origin(&o, Owner, None, &b, None);
        assert_eq!(k, Some(("O", Admin)));
        // Whoever holds K mints B a key with it, or rotates K: still O's, still capped.
        assert_eq!(key_origin(&b, Admin, k, &b, None), Some(("O", Admin)));
        assert_eq!(key_origin(&b, Admin, k, &b, Some(k)), Some(("O", Admin)));
        // …and a key K mints for someone else stays on O's account, capped lower.
        assert_eq!(key_origin(&b, Admin, k, &m, None), Some(("O", Member)));
        // Once B is the owner, K (which O may still hold) still mints B nothing above admin.
        assert_eq!(key_origin(&b, Owner, k, &b, None), Some(("O", Admin)));
        assert_eq!(key_origin(&b, Owner, k, &b, Some(k)), Some(("O", Admin)));
        // The owner's own key mints the owner a key of its own.
        assert_eq!(key_origin(&b, Owner, None, &b, None), None);
    }

    #[test]
    fn a_rotation_never_raises_a_keys_cap() {
        // The owner rotates a key an admin minted for member M: O holds the successor, capped
        // no higher than before.
        let old = Some(("A", Member));
        assert_eq!(
            key_origin(&"O", Owner, None, &"M", Some(old)),
            Some(("O", Member))
        );
        // M rotating its own uncapped key keeps it its own.
        assert_eq!(key_origin(&"M", Member, None, &"M", Some(None)), None);
    }

    #[test]
    fn only_the_owner_transfers_ownership_and_steps_down_first() {
        assert_eq!(
            role_change(Owner, Admin, Owner),
            Ok(vec![(Mover::Caller, Admin), (Mover::Target, Owner)])
        );
        assert_eq!(
            role_change(Admin, Member, Owner),
            Err(AccessDenied::OwnerOnly)
        );
        assert_eq!(
            role_change(Admin, Owner, Admin),
            Err(AccessDenied::OwnerOnly)
        );
        assert_eq!(
            role_change(Owner, Owner, Admin),
            Err(AccessDenied::OneOwner)
        );
        assert_eq!(role_change(Owner, Owner, Owner), Ok(vec![]));
        assert_eq!(
            role_change(Admin, Member, Admin),
            Ok(vec![(Mover::Target, Admin)])
        );
        assert_eq!(
            role_change(Member, Member, Admin),
            Err(AccessDenied::AdminOnly)
        );
    }

    #[test]
    fn rotation_ends_the_old_key_at_once_or_after_the_grace_never_later_than_it_would_have() {
        let now = Timestamp::from_millis(1_000_000);
        assert_eq!(
            rotation_end(now, 0, false, None),
            Ok(OldKeyEnd::RevokedAt(now))
        );
        assert_eq!(
            rotation_end(now, 60, false, None),
            Ok(OldKeyEnd::ExpiresAt(now.plus_seconds(60)))
        );
        let soon = now.plus_seconds(10);
        assert_eq!(
            rotation_end(now, 60, false, Some(soon)),
            Ok(OldKeyEnd::ExpiresAt(soon))
        );
        assert_eq!(
            rotation_end(now, 86_401, false, None),
            Err(RotationError::GraceTooLong)
        );
        assert_eq!(
            rotation_end(now, 0, true, None),
            Err(RotationError::Inactive)
        );
        assert_eq!(
            rotation_end(now, 0, false, Some(now)),
            Err(RotationError::Inactive)
        );
    }

    proptest! {
        #[test]
        fn no_override_ever_leaves_anyone_above_the_caller(
            caller_org in role(), caller_in in role(), target_org in role(), target_in in role(),
            grant in proptest::option::of(role()),
        ) {
            if may_set_override(caller_org, caller_in, target_org, target_in, grant).is_ok() {
                let granted = grant.unwrap_or(target_org);
                prop_assert!(granted <= caller_in && granted <= caller_org);
                prop_assert!(target_org != Owner && granted != Owner);
                prop_assert!(caller_org >= Admin && caller_in >= Admin);
                prop_assert!(target_in <= caller_in && target_org <= caller_org);
            }
        }

        #[test]
        fn a_minted_key_never_acts_for_an_equal_or_higher_member_but_oneself(
            org_role in role(), caller_env in env(), key_env in env(), target in role(), is_self in any::<bool>(),
        ) {
            let c = caller(org_role, caller_env);
            if may_mint_key(c, key_env, target, is_self).is_ok() {
                prop_assert!(is_self || target < org_role);
                prop_assert!(caller_env == Live || key_env == Test);
            }
        }

        #[test]
        fn a_role_change_never_leaves_zero_or_two_owners(caller in role(), from in role(), to in role()) {
            if let Ok(moves) = role_change(caller, from, to) {
                let owners_before = i32::from(caller == Owner) + i32::from(from == Owner);
                let target_after = moves.iter().rev().find(|(m, _)| *m == Mover::Target).map_or(from, |(_, r)| *r);
                let caller_after = moves.iter().find(|(m, _)| *m == Mover::Caller).map_or(caller, |(_, r)| *r);
                // (caller and target are different members whenever a role actually changes)
                if !moves.is_empty() {
                    let owners_after = i32::from(caller_after == Owner) + i32::from(target_after == Owner);
                    prop_assert_eq!(owners_before.min(1), owners_after.min(1));
                    prop_assert!(owners_after <= 1);
                }
            }
        }

        #[test]
        fn minting_never_lifts_a_cap(
            caller_role in role(), cap in proptest::option::of(role()),
            to_self in any::<bool>(), prev in proptest::option::of(proptest::option::of(role())),
        ) {
            let calling = cap.map(|c| ("X", c));
            let target = if to_self { "C" } else { "T" };
            let previous = prev.map(|p| p.map(|c| ("Y", c)));
            let out = key_origin(&"C", caller_role, calling, &target, previous);
            // Provenance is never lost: a capped caller's key stays its minter's.
            if cap.is_some() { prop_assert!(out.is_some_and(|(m, _)| m == "X")); }
            if let Some(c) = cap { prop_assert!(out.is_some_and(|(_, o)| o <= c)); }
            if let Some(Some(p)) = prev { prop_assert!(out.is_some_and(|(_, o)| o <= p)); }
            if !to_self { prop_assert!(out.is_some_and(|(_, o)| o <= grant_ceiling(caller_role))); }
        }

        #[test]
        fn a_capped_key_acts_at_most_with_its_cap_and_its_current_role(own in role(), cap in role()) {
            let acting = acting_role(own, Some(cap));
            prop_assert!(acting <= own && acting <= cap);
        }

        #[test]
        fn the_old_key_never_outlives_the_grace_or_its_own_expiry(
            now in 0i64..10_000_000_000, grace in 1u32..=86_400, exp in proptest::option::of(0i64..20_000_000_000),
        ) {
            let now = Timestamp::from_millis(now);
            let exp = exp.map(Timestamp::from_millis);
            if let Ok(OldKeyEnd::ExpiresAt(end)) = rotation_end(now, grace, false, exp) {
                prop_assert!(end > now);
                prop_assert!(end <= now.plus_seconds(i64::from(grace)));
                if let Some(e) = exp { prop_assert!(end <= e); }
            }
        }
    }
}
