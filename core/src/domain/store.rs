//! Storage ports: the small traits the audit append protocol and the export engine are written
//! against (the audit log, the object store with multipart uploads, sleeping), with in-memory
//! fakes so their state machines are tested natively; the edge implements them over D1 and R2.
//! (The outbox's ports are `domain::outbox`, the re-wrap job's `domain::rewrap`.) Each method's
//! doc says the contract the implementation must keep.

use super::audit::AuditEntry;
use std::cell::RefCell;
use std::collections::HashMap;

/// The newest entry of a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    pub seq: u64,
    pub hash: String,
    pub at: String,
}

impl ChainHead {
    pub fn of(e: &AuditEntry) -> Self {
        ChainHead {
            seq: e.seq,
            hash: e.hash.clone(),
            at: e.at.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// Another append took this place in the chain first; nothing of this commit was applied.
    #[error("another append took this place in the chain first")]
    Contended,
    /// A unique constraint other than the chain's failed (its columns); nothing was applied.
    #[error("a unique constraint failed: {0}")]
    Duplicate(String),
    /// A precondition the commit carried (the caller check, a repair's status) no longer held;
    /// nothing was applied.
    #[error("a precondition of the commit no longer held: {0:?}")]
    Precondition(Guarded),
    /// The store was busy (or overloaded) and did not apply the commit; the same commit may
    /// succeed a moment later.
    #[error("the store was busy")]
    Busy,
    /// The store failed; nothing was applied. The text is for the log only.
    #[error("the store failed: {0}")]
    Failed(String),
    /// What the store holds does not verify (an audit chain altered, cut or rewritten): trying
    /// again cannot help. The text says where, and holds no secret.
    #[error("{0}")]
    NotIntact(String),
}

/// What a failed precondition guarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guarded {
    /// The calling key, its member's role or its project role.
    Caller,
    /// A repair's status.
    Repair,
    /// A project's automatic approval of grants (`auto_approve_grants` still on).
    AutoApproval,
}

/// An append-only, hash-chained audit log, one chain per key (`project:<id>`, `org:<id>`).
#[allow(async_fn_in_trait)]
pub trait AuditLog {
    /// A state change recorded by an append and applied atomically with it (a D1 statement; a
    /// closure over the fake's state).
    type Change;

    /// The newest entry of `chain`, if any.
    async fn head(&self, chain: &str) -> Result<Option<ChainHead>, StoreError>;

    /// Appends `entries` (sealed in order after the head they were built on) and applies
    /// `changes`, all or nothing. Must fail with `Contended`, applying nothing, when the chain
    /// already holds an entry at `entries[0].seq`: that is what keeps a chain from forking.
    async fn commit(
        &self,
        chain: &str,
        entries: &[AuditEntry],
        changes: Vec<Self::Change>,
    ) -> Result<(), StoreError>;

    /// Entries of `chain` with `seq > after_seq`, in order, at most `limit`.
    async fn page(
        &self,
        chain: &str,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError>;
}

/// Waiting between attempts (the platform timer on Workers, nothing in tests).
#[allow(async_fn_in_trait)]
pub trait Sleep {
    async fn sleep(&self, ms: u32);
}

/// A change to the fake's state; an `Err` aborts the whole commit.
pub type MemChange<S> = Box<dyn FnOnce(&mut S) -> Result<(), StoreError>>;

/// In-memory `AuditLog` over a state `S` that changes apply to.
#[derive(Default)]
pub struct MemoryAudit<S> {
    pub chains: RefCell<HashMap<String, Vec<AuditEntry>>>,
    pub state: RefCell<S>,
}

impl<S: Clone> AuditLog for MemoryAudit<S> {
    type Change = MemChange<S>;

    async fn head(&self, chain: &str) -> Result<Option<ChainHead>, StoreError> {
        Ok(self
            .chains
            .borrow()
            .get(chain)
            .and_then(|c| c.last())
            .map(ChainHead::of))
    }

    async fn commit(
        &self,
        chain: &str,
        entries: &[AuditEntry],
        changes: Vec<Self::Change>,
    ) -> Result<(), StoreError> {
        let len = self.chains.borrow().get(chain).map_or(0, Vec::len) as u64;
        if entries.first().is_some_and(|e| e.seq <= len) {
            return Err(StoreError::Contended);
        }
        // All or nothing: apply to a copy, keep it only if every change succeeded.
        let mut next = self.state.borrow().clone();
        for change in changes {
            change(&mut next)?;
        }
        *self.state.borrow_mut() = next;
        self.chains
            .borrow_mut()
            .entry(chain.to_owned())
            .or_default()
            .extend_from_slice(entries);
        Ok(())
    }

    async fn page(
        &self,
        chain: &str,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        Ok(self
            .chains
            .borrow()
            .get(chain)
            .map(|c| {
                c.iter()
                    .filter(|e| e.seq > after_seq)
                    .take(limit as usize)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default())
    }
}

/// A `Sleep` that records the delays it was asked for and returns at once.
#[derive(Default)]
pub struct RecordedSleep(pub RefCell<Vec<u32>>);

impl Sleep for RecordedSleep {
    async fn sleep(&self, ms: u32) {
        self.0.borrow_mut().push(ms);
    }
}

/// An object store (R2 for export bundles and signed checkpoints): whole objects by key, and
/// objects written in parts (multipart uploads: every part but the last the same size).
#[allow(async_fn_in_trait)]
pub trait ObjectStore {
    /// Stores `bytes` under `key`, replacing any object there.
    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<(), StoreError>;
    /// The object under `key`, if any.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Starts an object written in parts; returns its upload id.
    async fn create_multipart(&self, key: &str, content_type: &str) -> Result<String, StoreError>;
    /// Stores part `n` (1, 2, …) of an upload, replacing an earlier part `n`; returns its etag.
    async fn upload_part(
        &self,
        key: &str,
        upload: &str,
        n: u16,
        bytes: Vec<u8>,
    ) -> Result<String, StoreError>;
    /// Makes the object of an upload from the listed parts, in order.
    async fn complete_multipart(
        &self,
        key: &str,
        upload: &str,
        parts: &[PartRef],
    ) -> Result<(), StoreError>;
}

/// One written part of a multipart upload: its number and the etag the store gave it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PartRef {
    pub n: u16,
    pub etag: String,
}

/// An upload of the fake: its key, content type and parts.
pub type Upload = (String, String, HashMap<u16, Vec<u8>>);

/// In-memory `ObjectStore`. Uploads keep R2's rule that every part but the last has the same
/// size, and at least `min_part` bytes.
#[derive(Default)]
pub struct MemoryObjects {
    pub objects: RefCell<HashMap<String, (Vec<u8>, String)>>,
    pub uploads: RefCell<HashMap<String, Upload>>,
    pub min_part: usize,
}

impl ObjectStore for MemoryObjects {
    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<(), StoreError> {
        self.objects
            .borrow_mut()
            .insert(key.to_owned(), (bytes, content_type.to_owned()));
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.objects.borrow().get(key).map(|(b, _)| b.clone()))
    }

    async fn create_multipart(&self, key: &str, content_type: &str) -> Result<String, StoreError> {
        let mut uploads = self.uploads.borrow_mut();
        let id = format!("upload-{}", uploads.len() + 1);
        uploads.insert(
            id.clone(),
            (key.to_owned(), content_type.to_owned(), HashMap::new()),
        );
        Ok(id)
    }

    async fn upload_part(
        &self,
        key: &str,
        upload: &str,
        n: u16,
        bytes: Vec<u8>,
    ) -> Result<String, StoreError> {
        let mut uploads = self.uploads.borrow_mut();
        let Some((_, _, parts)) = uploads.get_mut(upload).filter(|(k, _, _)| k == key) else {
            return Err(StoreError::Failed("no such upload".into()));
        };
        let etag = format!("etag-{n}-{}", bytes.len());
        parts.insert(n, bytes);
        Ok(etag)
    }

    async fn complete_multipart(
        &self,
        key: &str,
        upload: &str,
        parts: &[PartRef],
    ) -> Result<(), StoreError> {
        let Some((k, ctype, stored)) = self.uploads.borrow_mut().remove(upload) else {
            return Err(StoreError::Failed("no such upload".into()));
        };
        if k != key || parts.is_empty() {
            return Err(StoreError::Failed("bad completion".into()));
        }
        let mut out = Vec::new();
        let mut size = None;
        for (i, p) in parts.iter().enumerate() {
            let bytes = stored
                .get(&p.n)
                .ok_or_else(|| StoreError::Failed("a listed part is missing".into()))?;
            if p.etag != format!("etag-{}-{}", p.n, bytes.len()) {
                return Err(StoreError::Failed("a part's etag does not match".into()));
            }
            if i + 1 < parts.len() {
                if bytes.len() < self.min_part || size.is_some_and(|s| s != bytes.len()) {
                    return Err(StoreError::Failed("parts differ in size".into()));
                }
                size = Some(bytes.len());
            }
            out.extend_from_slice(bytes);
        }
        self.objects
            .borrow_mut()
            .insert(key.to_owned(), (out, ctype));
        Ok(())
    }
}
