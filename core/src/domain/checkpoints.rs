//! Signed checkpoints (SPEC §9) as an engine over one port, `CheckpointStore`: the chain's
//! entries and the note D1 keeps of its newest checkpoint (size and head hash), and the
//! checkpoint object in R2 with its version (ETag). Tested natively with an in-memory fake,
//! overlapping signers included.
//!
//! Invariants:
//! - a checkpoint is signed only over entries verified to extend the one before it (hashes and
//!   links), so it never blesses a rewritten history;
//! - the note moves first, compare-and-swap on the size read before, and the object is put only
//!   after it, on the version read before: of two overlapping signers exactly one goes on, and
//!   the object never goes backwards under them;
//! - so the object is never ahead of its note: a note that cannot be written stops the put. The
//!   note stays `pending` until its put succeeded. An object behind (or missing under) a settled
//!   note is a rollback: reported, never signed over. Behind a pending note it is a put that did
//!   not finish: readers keep to the checkpoint the object is, and the next signer finishes it,
//!   only when the chain still holds the noted hash at the noted size (which a put that failed
//!   leaves and a rewritten history does not).

use super::audit::{AuditEntry, ChainVerifier, Verification, GENESIS_HASH};
use super::signing::{Checkpoint, SignedCheckpoint, Signer};
use super::store::StoreError;

/// What D1 notes of a chain's newest checkpoint: its size (0: none), head hash (`None` for
/// notes written before the hash was kept), and whether its put has not been seen to succeed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Note {
    pub size: u64,
    pub hash: Option<String>,
    pub pending: bool,
}

/// The storage a checkpoint is signed against, for one org.
#[allow(async_fn_in_trait)]
pub trait CheckpointStore {
    /// The note of `chain`'s newest checkpoint.
    async fn note(&self, chain: &str) -> Result<Note, StoreError>;
    /// Moves the note of `chain` to `to` (noted at `at`, pending) only while its size is still
    /// `from`; `false`, changing nothing, when it is not.
    async fn move_note(
        &self,
        chain: &str,
        from: u64,
        to: &Note,
        at: &str,
    ) -> Result<bool, StoreError>;
    /// Marks the note of `chain` settled (its put succeeded), if its size is still `size`.
    async fn settle(&self, chain: &str, size: u64) -> Result<(), StoreError>;
    /// The stored checkpoint object of `chain` and its version, if any.
    async fn object(&self, chain: &str) -> Result<Option<(Vec<u8>, String)>, StoreError>;
    /// Stores `bytes` as `chain`'s checkpoint only while the object is still at `version`
    /// (`None`: only while there is no object); `false`, changing nothing, when it is not.
    async fn put_if(
        &self,
        chain: &str,
        bytes: Vec<u8>,
        version: Option<&str>,
    ) -> Result<bool, StoreError>;
    /// Entries of `chain` after `after`, in order, at most `limit`.
    async fn entries(
        &self,
        chain: &str,
        after: u64,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError>;
    /// Whether `cp` is signed by the org's key (the signature verifies and names that key).
    async fn signed_by_org(&self, cp: &SignedCheckpoint) -> Result<bool, StoreError>;
}

/// What is known of a chain's newest checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trusted {
    /// No checkpoint was ever signed for the chain.
    None,
    /// It verifies and is not behind its note; with its version.
    Valid(SignedCheckpoint, String),
    /// Why the stored checkpoint cannot be trusted, and the size it is about.
    Invalid(&'static str, u64),
}

/// The stored checkpoint of `chain`, checked: its signature under the org's key, its chain, and
/// its size against the note (a checkpoint deleted or put back older is not taken for the
/// newest). Under a pending note (a signer's put under way, or one that failed) the object is
/// what was last signed and put: trusted as it is.
pub async fn trusted(store: &impl CheckpointStore, chain: &str) -> Result<Trusted, StoreError> {
    let note = store.note(chain).await?;
    Ok(match read(store, chain, &note).await? {
        Seen::None | Seen::Missing => Trusted::None,
        Seen::Valid(cp, v) | Seen::Behind(cp, v) => Trusted::Valid(cp, v),
        Seen::Invalid(why, size) => Trusted::Invalid(why, size),
    })
}

/// The object as read against a note.
enum Seen {
    None,
    Valid(SignedCheckpoint, String),
    /// No object under a pending note.
    Missing,
    /// It verifies but is smaller than the pending note.
    Behind(SignedCheckpoint, String),
    Invalid(&'static str, u64),
}

async fn read(store: &impl CheckpointStore, chain: &str, note: &Note) -> Result<Seen, StoreError> {
    let Some((bytes, version)) = store.object(chain).await? else {
        return Ok(match note.size {
            0 => Seen::None,
            _ if note.pending => Seen::Missing,
            size => Seen::Invalid("checkpoint_missing", size),
        });
    };
    let Ok(cp) = serde_json::from_slice::<SignedCheckpoint>(&bytes) else {
        return Ok(Seen::Invalid("checkpoint_signature", note.size));
    };
    let size = cp.checkpoint.size;
    if cp.checkpoint.chain != chain || !store.signed_by_org(&cp).await? {
        return Ok(Seen::Invalid("checkpoint_signature", size));
    }
    Ok(if size >= note.size {
        Seen::Valid(cp, version)
    } else if note.pending {
        Seen::Behind(cp, version)
    } else {
        Seen::Invalid("checkpoint_rollback", note.size)
    })
}

/// Why no checkpoint was signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The stored checkpoint cannot be trusted: nothing is signed over it.
    #[error("{0} (size {1}); no checkpoint is signed over it")]
    NotTrusted(&'static str, u64),
    /// The entries after the checkpoint do not extend it.
    #[error("does not extend its checkpoint: {0}; not signed")]
    DoesNotExtend(String),
    /// The object changed under a signer that had moved the note (something not following
    /// this protocol wrote it): the next signer finds it behind its note.
    #[error("the checkpoint object changed while it was signed; not put")]
    ObjectMoved,
}

/// What one signing did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signed {
    /// A checkpoint of this size was put.
    Put(u64),
    /// A checkpoint of this size was put over an unfinished put (a pending note the object was
    /// behind, or missing under).
    Finished(u64),
    /// Nothing new since the checkpoint.
    Nothing,
    /// Another signer moved the note first; this one stopped before putting anything.
    Overtaken,
}

/// Entries read per page while verifying.
const PAGE: u32 = 1000;

/// What a checkpoint being signed says besides the chain's head.
pub struct SignAs<'a> {
    pub chain: &'a str,
    /// The project's environment, for a project chain (`None` for an org chain, or a project
    /// deleted since: the checkpoint before names it then).
    pub environment: Option<&'a str>,
    pub now: &'a str,
}

/// Verifies the entries of `chain` after its newest checkpoint and signs the new head, reading
/// at most `entries_left` entries (decreased by what it read; a longer extension is signed in
/// steps).
pub async fn sign(
    store: &impl CheckpointStore,
    signer: &impl Signer,
    how: &SignAs<'_>,
    entries_left: &mut u32,
) -> Result<Signed, CheckpointError> {
    let chain = how.chain;
    let note = store.note(chain).await?;
    // Behind (or missing under) a pending note: a put that did not finish, finished now only
    // if the chain still holds the noted hash at the noted size.
    let unfinished = || match &note.hash {
        Some(h) => Ok(Some((note.size, h.clone()))),
        None => Err(CheckpointError::NotTrusted(
            "checkpoint_rollback",
            note.size,
        )),
    };
    let (before, version, must_hold) = match read(store, chain, &note).await? {
        Seen::None => (None, None, None),
        Seen::Valid(cp, v) => (Some(cp.checkpoint), Some(v), None),
        Seen::Missing => (None, None, unfinished()?),
        Seen::Behind(cp, v) => (Some(cp.checkpoint), Some(v), unfinished()?),
        Seen::Invalid(why, size) => return Err(CheckpointError::NotTrusted(why, size)),
    };
    let (start, start_hash) = before.as_ref().map_or((0, GENESIS_HASH.to_owned()), |c| {
        (c.size, c.head_hash.clone())
    });
    // A project deleted since keeps the environment its chain's checkpoints named.
    let environment = how
        .environment
        .map(str::to_owned)
        .or_else(|| before.and_then(|c| c.environment));
    let mut v = ChainVerifier::after(start, &start_hash);
    let mut after = start;
    let mut held = None;
    'pages: loop {
        let page = store.entries(chain, after, PAGE).await?;
        for e in &page {
            if !v.push(e) {
                break 'pages;
            }
            if must_hold.as_ref().is_some_and(|(size, _)| *size == e.seq) {
                held = Some(e.hash.clone());
            }
            after = e.seq;
        }
        *entries_left = entries_left.saturating_sub(page.len() as u32);
        if page.len() < PAGE as usize || *entries_left == 0 {
            break;
        }
    }
    let (size, head_hash) = match v.finish() {
        Verification::Ok {
            head_seq,
            head_hash,
            ..
        } => (head_seq, head_hash),
        Verification::Bad {
            first_bad_seq,
            reason,
            ..
        } => {
            return Err(CheckpointError::DoesNotExtend(format!(
                "{reason} at {first_bad_seq} after size {start}"
            )))
        }
    };
    if let Some((noted, hash)) = &must_hold {
        if held.is_none() && size < *noted && *entries_left == 0 {
            // The tick's reading budget ran out before the noted size: the next tick goes on.
            return Ok(Signed::Nothing);
        }
        if held.as_ref() != Some(hash) {
            return Err(CheckpointError::DoesNotExtend(format!(
                "the checkpoint is behind its pending note (size {start} < {noted}) and the \
                 chain does not hold the noted hash at {noted}"
            )));
        }
    }
    if size <= start {
        // Nothing new. A note behind the object (written before notes came first) catches up;
        // a pending one whose put did succeed is settled.
        if note.size < start {
            let to = Note {
                size: start,
                hash: Some(start_hash),
                pending: true,
            };
            if store.move_note(chain, note.size, &to, how.now).await? {
                store.settle(chain, start).await?;
            }
        } else if note.pending {
            store.settle(chain, start).await?;
        }
        return Ok(Signed::Nothing);
    }
    let to = Note {
        size,
        hash: Some(head_hash.clone()),
        pending: true,
    };
    if !store.move_note(chain, note.size, &to, how.now).await? {
        return Ok(Signed::Overtaken);
    }
    let cp = Checkpoint {
        chain: chain.to_owned(),
        size,
        head_hash,
        time: how.now.to_owned(),
        environment,
    };
    let signed = SignedCheckpoint::sign(cp, signer).await?;
    let bytes = serde_json::to_vec(&signed).map_err(|e| StoreError::Failed(e.to_string()))?;
    if !store.put_if(chain, bytes, version.as_deref()).await? {
        return Err(CheckpointError::ObjectMoved);
    }
    // Unsettled (this failing), the note stays pending: the next signer settles it.
    store.settle(chain, size).await?;
    Ok(match must_hold {
        Some(_) => Signed::Finished(size),
        None => Signed::Put(size),
    })
}

#[cfg(test)]
mod tests;
