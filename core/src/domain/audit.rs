//! The audit hash chain (SPEC §9). Each entry's `hash` is the SHA-256 (lowercase hex) of the
//! canonical JSON of the object `{seq, at, actor, action, target, before, after, prev_hash}`;
//! `prev_hash` is the previous entry's `hash`, or 64 zeros for `seq` 1. Anyone holding the
//! entries can re-run `ChainVerifier` (or the README's recipe) and find the first entry whose
//! content, link or position was altered.

pub mod action;

pub use action::Action;

use super::canonical::to_canonical;
use super::ids::{KeyId, MemberId};
use super::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Who did it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    Member { member: MemberId, key: KeyId },
    Operator,
    System(&'static str),
}

impl Actor {
    /// `member:mem_…/key:key_…`, `operator`, or `system:cron` / `system:webhook`.
    pub fn render(&self) -> String {
        match self {
            Actor::Member { member, key } => format!("member:{member}/key:{key}"),
            Actor::Operator => "operator".to_owned(),
            Actor::System(what) => format!("system:{what}"),
        }
    }
}

/// An entry before it has a place in a chain.
#[derive(Debug, Clone)]
pub struct Draft {
    pub actor: Actor,
    pub action: Action,
    pub target: String,
    pub before: Value,
    pub after: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub seq: u64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub before: Value,
    pub after: Value,
    pub prev_hash: String,
    pub hash: String,
}

impl Draft {
    pub fn new(
        actor: Actor,
        action: Action,
        target: impl Into<String>,
        before: Value,
        after: Value,
    ) -> Self {
        Draft {
            actor,
            action,
            target: target.into(),
            before,
            after,
        }
    }

    /// Places the draft after `prev` (None for an empty chain) at time `at`.
    pub fn seal(self, prev: Option<(u64, &str)>, at: Timestamp) -> AuditEntry {
        let (seq, prev_hash) = match prev {
            Some((seq, hash)) => (seq + 1, hash.to_owned()),
            None => (1, GENESIS_HASH.to_owned()),
        };
        let mut e = AuditEntry {
            seq,
            at: at.to_rfc3339(),
            actor: self.actor.render(),
            action: self.action.as_str().to_owned(),
            target: self.target,
            before: self.before,
            after: self.after,
            prev_hash,
            hash: String::new(),
        };
        e.hash = e.computed_hash();
        e
    }
}

/// The time an appended entry records: `now`, but never earlier than the entry before it (an
/// append retried after a later writer got there first must not go back in time). A stored
/// `prev_at` that does not parse is ignored.
pub fn entry_time(now: Timestamp, prev_at: Option<&str>) -> Timestamp {
    prev_at
        .and_then(|a| Timestamp::parse(a).ok())
        .map_or(now, |prev| prev.max(now))
}

impl AuditEntry {
    /// The hash this entry's content implies (whatever its stored `hash` says).
    pub fn computed_hash(&self) -> String {
        let body = json!({
            "seq": self.seq,
            "at": self.at,
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "before": self.before,
            "after": self.after,
            "prev_hash": self.prev_hash,
        });
        super::apikey::hex(&Sha256::digest(to_canonical(&body).as_bytes()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Verification {
    Ok {
        ok: bool,
        entries: u64,
        head_seq: u64,
        head_hash: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        checkpoint: Option<CheckpointSeen>,
    },
    Bad {
        ok: bool,
        first_bad_seq: u64,
        reason: &'static str,
        entries_checked: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        checkpoint: Option<CheckpointSeen>,
    },
}

/// The signed checkpoint a verification compared the chain with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckpointSeen {
    pub size: u64,
    pub head_hash: String,
    pub time: String,
}

/// Streaming verifier: feed entries in `seq` order, page by page; memory stays constant.
#[derive(Debug)]
pub struct ChainVerifier {
    next_seq: u64,
    prev_hash: String,
    bad: Option<(u64, &'static str)>,
    checkpoint: Option<CheckpointSeen>,
    /// The hash of the entry at the checkpoint's size, once seen.
    at_checkpoint: Option<String>,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        ChainVerifier {
            next_seq: 1,
            prev_hash: GENESIS_HASH.to_owned(),
            bad: None,
            checkpoint: None,
            at_checkpoint: None,
        }
    }
}

impl ChainVerifier {
    /// A verifier that also holds the chain to a signed checkpoint (already verified by the
    /// caller): a chain shorter than the checkpoint's size was truncated (`truncated`, at the
    /// first missing place), one whose entry at that size has another hash was rewritten
    /// (`checkpoint_mismatch`).
    /// A verifier for the entries after `seq`, whose hash is `hash` (an extension of a chain
    /// already verified up to there).
    pub fn after(seq: u64, hash: &str) -> Self {
        ChainVerifier {
            next_seq: seq.saturating_add(1),
            prev_hash: hash.to_owned(),
            ..Self::default()
        }
    }

    pub fn against(checkpoint: CheckpointSeen) -> Self {
        ChainVerifier {
            checkpoint: Some(checkpoint),
            ..Self::default()
        }
    }

    /// Returns false once the chain is known bad (callers may stop reading).
    pub fn push(&mut self, e: &AuditEntry) -> bool {
        if self.bad.is_some() {
            return false;
        }
        let reason = if e.seq != self.next_seq {
            Some("sequence_gap")
        } else if e.prev_hash != self.prev_hash {
            Some("broken_link")
        } else if e.computed_hash() != e.hash {
            Some("hash_mismatch")
        } else {
            None
        };
        if let Some(reason) = reason {
            self.bad = Some((self.next_seq.min(e.seq), reason));
            return false;
        }
        if self.checkpoint.as_ref().is_some_and(|c| c.size == e.seq) {
            self.at_checkpoint = Some(e.hash.clone());
        }
        self.next_seq += 1;
        self.prev_hash.clone_from(&e.hash);
        true
    }

    pub fn finish(self) -> Verification {
        let entries = self.next_seq - 1;
        let checkpoint = self.checkpoint;
        let bad = self.bad.or_else(|| {
            let c = checkpoint.as_ref()?;
            if entries < c.size {
                Some((entries + 1, "truncated"))
            } else if c.size > 0 && self.at_checkpoint.as_deref() != Some(c.head_hash.as_str()) {
                Some((c.size, "checkpoint_mismatch"))
            } else {
                None
            }
        });
        match bad {
            Some((seq, reason)) => Verification::Bad {
                ok: false,
                first_bad_seq: seq,
                reason,
                entries_checked: entries,
                checkpoint,
            },
            None => Verification::Ok {
                ok: true,
                entries,
                head_seq: entries,
                head_hash: self.prev_hash,
                checkpoint,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn chain(n: usize) -> Vec<AuditEntry> {
        let mut out: Vec<AuditEntry> = Vec::new();
        for i in 0..n {
            let draft = Draft {
                actor: Actor::System("cron"),
                action: Action::ProjectUpdated,
                target: format!("project:prj_{i}"),
                before: json!({"name": format!("n{i}")}),
                after: json!({"name": format!("n{}", i + 1)}),
            };
            let prev = out.last().map(|e| (e.seq, e.hash.as_str()));
            let e = draft.seal(prev, Timestamp::from_millis(1_700_000_000_000 + i as i64));
            out.push(e);
        }
        out
    }

    fn verify(entries: &[AuditEntry]) -> Verification {
        let mut v = ChainVerifier::default();
        for e in entries {
            if !v.push(e) {
                break;
            }
        }
        v.finish()
    }

    #[test]
    fn an_entry_never_records_a_time_before_the_previous_one() {
        let now = Timestamp::from_millis(1_000);
        let later = Timestamp::from_millis(5_000).to_rfc3339();
        let earlier = Timestamp::from_millis(10).to_rfc3339();
        assert_eq!(entry_time(now, Some(&later)), Timestamp::from_millis(5_000));
        assert_eq!(entry_time(now, Some(&earlier)), now);
        assert_eq!(entry_time(now, None), now);
        assert_eq!(entry_time(now, Some("garbage")), now);
    }

    #[test]
    fn the_first_entry_links_to_the_genesis_hash_known_answer() {
        let e = Draft {
            actor: Actor::Operator,
            action: Action::OrgCreated,
            target: "org:org_x".into(),
            before: Value::Null,
            after: json!({"name": "Acme"}),
        }
        .seal(None, Timestamp::from_millis(0));
        assert_eq!(e.seq, 1);
        assert_eq!(e.prev_hash, GENESIS_HASH);
        // sha256 of the canonical text below, computed independently with `sha256sum`.
        let text = r#"{"action":"org.created","actor":"operator","after":{"name":"Acme"},"at":"1970-01-01T00:00:00.000Z","before":null,"prev_hash":"0000000000000000000000000000000000000000000000000000000000000000","seq":1,"target":"org:org_x"}"#;
        assert_eq!(
            e.hash,
            super::super::apikey::hex(&Sha256::digest(text.as_bytes()))
        );
        assert_eq!(
            e.hash,
            "b20c0c27db05b85d0b1f43aaadf935b81741efd6f7b6b3fdea483a87ba7120c2"
        );
    }

    #[test]
    fn an_entry_sealed_with_an_action_hashes_its_documented_name() {
        // The entry as it was sealed when actions were string literals: the same bytes hashed.
        for a in Action::ALL {
            let e = Draft::new(
                Actor::System("cron"),
                a,
                "project:prj_x",
                Value::Null,
                json!({"n": 1}),
            )
            .seal(Some((4, GENESIS_HASH)), Timestamp::from_millis(0));
            assert_eq!(e.action, a.as_str());
            let text = format!(
                r#"{{"action":"{}","actor":"system:cron","after":{{"n":1}},"at":"1970-01-01T00:00:00.000Z","before":null,"prev_hash":"{GENESIS_HASH}","seq":5,"target":"project:prj_x"}}"#,
                a.as_str()
            );
            assert_eq!(
                e.hash,
                super::super::apikey::hex(&Sha256::digest(text.as_bytes()))
            );
        }
        let e = Draft::new(
            Actor::Operator,
            Action::RepairExecuted,
            "repair:rep_1",
            Value::Null,
            Value::Null,
        )
        .seal(None, Timestamp::from_millis(0));
        let text = r#"{"action":"repair.executed","actor":"operator","after":null,"at":"1970-01-01T00:00:00.000Z","before":null,"prev_hash":"0000000000000000000000000000000000000000000000000000000000000000","seq":1,"target":"repair:rep_1"}"#;
        assert_eq!(
            e.hash,
            super::super::apikey::hex(&Sha256::digest(text.as_bytes()))
        );
    }

    #[test]
    fn an_intact_chain_verifies_with_its_head() {
        let c = chain(50);
        assert_eq!(
            verify(&c),
            Verification::Ok {
                ok: true,
                entries: 50,
                head_seq: 50,
                head_hash: c[49].hash.clone(),
                checkpoint: None,
            }
        );
        assert_eq!(
            verify(&[]),
            Verification::Ok {
                ok: true,
                entries: 0,
                head_seq: 0,
                head_hash: GENESIS_HASH.into(),
                checkpoint: None,
            }
        );
    }

    #[test]
    fn a_removed_entry_is_a_sequence_gap_at_its_place() {
        let mut c = chain(10);
        c.remove(4);
        assert!(matches!(
            verify(&c),
            Verification::Bad {
                first_bad_seq: 5,
                reason: "sequence_gap",
                ..
            }
        ));
    }

    #[test]
    fn a_chain_is_held_to_its_signed_checkpoint() {
        let c = chain(10);
        let seen = |size: u64, hash: &str| CheckpointSeen {
            size,
            head_hash: hash.to_owned(),
            time: "t".into(),
        };
        let run = |v: &mut ChainVerifier, entries: &[AuditEntry]| {
            for e in entries {
                v.push(e);
            }
        };
        // Intact, and longer than the checkpoint: fine.
        let mut v = ChainVerifier::against(seen(8, &c[7].hash));
        run(&mut v, &c);
        assert!(matches!(
            v.finish(),
            Verification::Ok {
                entries: 10,
                checkpoint: Some(_),
                ..
            }
        ));
        // The tail deleted: every remaining entry is intact, the chain is short.
        let mut v = ChainVerifier::against(seen(8, &c[7].hash));
        run(&mut v, &c[..6]);
        assert!(matches!(
            v.finish(),
            Verification::Bad {
                first_bad_seq: 7,
                reason: "truncated",
                entries_checked: 6,
                ..
            }
        ));
        // Rewritten from the checkpoint's entry on (a consistent new tail).
        let mut v = ChainVerifier::against(seen(8, &"f".repeat(64)));
        run(&mut v, &c);
        assert!(matches!(
            v.finish(),
            Verification::Bad {
                first_bad_seq: 8,
                reason: "checkpoint_mismatch",
                ..
            }
        ));
    }

    proptest! {
        #[test]
        fn any_altered_field_is_found_at_its_sequence_number(n in 1usize..30, pick in 0usize..30, field in 0u8..6) {
            let mut c = chain(n);
            let i = pick % n;
            match field {
                0 => c[i].actor.push('x'),
                1 => c[i].action.push('x'),
                2 => c[i].target.push('x'),
                3 => c[i].after = json!({"name": "tampered"}),
                4 => c[i].at.replace_range(0..1, "3"),
                _ => {
                    let first = if c[i].hash.starts_with('0') { "1" } else { "0" };
                    c[i].hash.replace_range(0..1, first)
                }
            }
            match verify(&c) {
                Verification::Bad { first_bad_seq, .. } => prop_assert_eq!(first_bad_seq, (i + 1) as u64),
                ok => prop_assert!(false, "tampering went unnoticed: {:?}", ok),
            }
        }
    }
}
