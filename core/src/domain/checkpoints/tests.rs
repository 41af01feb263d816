use super::*;
use crate::domain::exports::tests::{chain, ed25519_verify, rewritten, TestSigner};
use crate::domain::signing::fingerprint;
use crate::domain::test_support::block_on as run;
use std::cell::{Cell, RefCell};

const CHAIN: &str = "project:prj_1";

/// An in-memory D1 note and R2 object. Every call yields to the runtime first, so two signers
/// joined on one thread interleave at every storage call; puts can be told to fail.
struct Fake {
    entries: RefCell<Vec<AuditEntry>>,
    note: RefCell<Note>,
    /// The object and its version (a counter, as an ETag changes on every put).
    object: RefCell<Option<(Vec<u8>, String)>>,
    versions: Cell<u32>,
    public: [u8; 32],
    /// Sizes of every checkpoint put, in order.
    puts: RefCell<Vec<u64>>,
    fail_puts: Cell<bool>,
    fail_settles: Cell<bool>,
}

impl Fake {
    fn new(entries: Vec<AuditEntry>, signer: &TestSigner) -> Self {
        Fake {
            entries: RefCell::new(entries),
            note: RefCell::default(),
            object: RefCell::new(None),
            versions: Cell::new(0),
            public: signer.public(),
            puts: RefCell::default(),
            fail_puts: Cell::new(false),
            fail_settles: Cell::new(false),
        }
    }

    fn stored(&self) -> Option<SignedCheckpoint> {
        let o = self.object.borrow();
        o.as_ref().map(|(b, _)| serde_json::from_slice(b).unwrap())
    }

    fn stored_size(&self) -> u64 {
        self.stored().map_or(0, |cp| cp.checkpoint.size)
    }

    fn grow(&self, n: usize) {
        *self.entries.borrow_mut() = chain(n);
    }
}

impl CheckpointStore for Fake {
    async fn note(&self, _chain: &str) -> Result<Note, StoreError> {
        tokio::task::yield_now().await;
        Ok(self.note.borrow().clone())
    }

    async fn move_note(
        &self,
        _chain: &str,
        from: u64,
        to: &Note,
        _at: &str,
    ) -> Result<bool, StoreError> {
        tokio::task::yield_now().await;
        let mut n = self.note.borrow_mut();
        if n.size != from {
            return Ok(false);
        }
        *n = Note {
            pending: true,
            ..to.clone()
        };
        Ok(true)
    }

    async fn settle(&self, _chain: &str, size: u64) -> Result<(), StoreError> {
        tokio::task::yield_now().await;
        if self.fail_settles.get() {
            return Err(StoreError::Failed("D1: injected".into()));
        }
        let mut n = self.note.borrow_mut();
        if n.size == size {
            n.pending = false;
        }
        Ok(())
    }

    async fn object(&self, _chain: &str) -> Result<Option<(Vec<u8>, String)>, StoreError> {
        tokio::task::yield_now().await;
        Ok(self.object.borrow().clone())
    }

    async fn put_if(
        &self,
        _chain: &str,
        bytes: Vec<u8>,
        version: Option<&str>,
    ) -> Result<bool, StoreError> {
        tokio::task::yield_now().await;
        if self.fail_puts.get() {
            return Err(StoreError::Failed("R2 put: injected".into()));
        }
        let mut o = self.object.borrow_mut();
        if o.as_ref().map(|(_, ov)| ov.as_str()) != version {
            return Ok(false);
        }
        let cp: SignedCheckpoint = serde_json::from_slice(&bytes).unwrap();
        self.puts.borrow_mut().push(cp.checkpoint.size);
        self.versions.set(self.versions.get() + 1);
        *o = Some((bytes, format!("v{}", self.versions.get())));
        Ok(true)
    }

    async fn entries(
        &self,
        _chain: &str,
        after: u64,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        tokio::task::yield_now().await;
        Ok(self
            .entries
            .borrow()
            .iter()
            .filter(|e| e.seq > after)
            .take(limit as usize)
            .cloned()
            .collect())
    }

    async fn signed_by_org(&self, cp: &SignedCheckpoint) -> Result<bool, StoreError> {
        tokio::task::yield_now().await;
        Ok(cp.key.sha256 == fingerprint(&self.public) && cp.verifies(&self.public, ed25519_verify))
    }
}

fn how(now: &str) -> SignAs<'_> {
    SignAs {
        chain: CHAIN,
        environment: Some("live"),
        now,
    }
}

async fn sign_once(store: &Fake, signer: &TestSigner) -> Result<Signed, CheckpointError> {
    sign(
        store,
        signer,
        &how("2026-12-07T00:00:00.000Z"),
        &mut 100_000,
    )
    .await
}

/// Waits `n` turns of the runtime, then signs.
async fn sign_after(
    store: &Fake,
    signer: &TestSigner,
    n: usize,
) -> Result<Signed, CheckpointError> {
    for _ in 0..n {
        tokio::task::yield_now().await;
    }
    sign_once(store, signer).await
}

#[test]
fn a_checkpoint_names_the_chain_head_and_the_environment_and_its_note_matches() {
    let signer = TestSigner::new(3);
    let store = Fake::new(chain(7), &signer);
    assert_eq!(run(sign_once(&store, &signer)).unwrap(), Signed::Put(7));
    let cp = store.stored().unwrap();
    assert_eq!(cp.checkpoint.size, 7);
    assert_eq!(cp.checkpoint.head_hash, chain(7)[6].hash);
    assert_eq!(cp.checkpoint.environment.as_deref(), Some("live"));
    assert_eq!(
        *store.note.borrow(),
        Note {
            size: 7,
            hash: Some(chain(7)[6].hash.clone()),
            pending: false,
        }
    );
    // Nothing new: nothing is put.
    assert_eq!(run(sign_once(&store, &signer)).unwrap(), Signed::Nothing);
    assert_eq!(*store.puts.borrow(), vec![7]);
    assert!(
        matches!(run(trusted(&store, CHAIN)).unwrap(), Trusted::Valid(cp, _) if cp.checkpoint.size == 7)
    );
}

#[test]
fn two_interleaved_signers_never_move_a_checkpoint_backwards() {
    let signer = TestSigner::new(3);
    // Every start offset of the second signer against the first, from a chain with and without
    // an earlier checkpoint, the chain growing between the two starts.
    for earlier in [false, true] {
        for offset in 0..24 {
            let store = Fake::new(chain(10), &signer);
            if earlier {
                run(sign_once(&store, &signer)).unwrap();
            }
            store.grow(20);
            let (a, b) = run(async {
                let a = sign_once(&store, &signer);
                let b = async {
                    let r = sign_after(&store, &signer, offset).await;
                    r
                };
                tokio::join!(a, b)
            });
            let ends = [a.clone(), b.clone()];
            // One puts the head. The other is overtaken, finds nothing new, or (reading between
            // the first's note and its put) finishes that put itself, or finds the object moved
            // under its own put: a log line, never a smaller checkpoint.
            assert!(
                ends.iter()
                    .any(|r| matches!(r, Ok(Signed::Put(20) | Signed::Finished(20)))),
                "offset {offset}: {ends:?}"
            );
            assert!(
                ends.iter().all(|r| matches!(
                    r,
                    Ok(Signed::Put(20)
                        | Signed::Finished(20)
                        | Signed::Overtaken
                        | Signed::Nothing)
                        | Err(CheckpointError::ObjectMoved)
                )),
                "offset {offset}: {ends:?}"
            );
            let puts = store.puts.borrow().clone();
            assert!(
                puts.windows(2).all(|w| w[0] <= w[1]),
                "offset {offset}: {puts:?}"
            );
            assert_eq!(store.stored_size(), 20, "offset {offset}");
            assert_eq!(store.note.borrow().size, 20, "offset {offset}");
            assert!(matches!(
                run(trusted(&store, CHAIN)).unwrap(),
                Trusted::Valid(..)
            ));
            // The next tick finds nothing to do.
            assert_eq!(run(sign_once(&store, &signer)).unwrap(), Signed::Nothing);
        }
    }
}

/// The same store, seen by a signer whose every call takes `1 + self.1` turns of the runtime.
struct Slow<'a>(&'a Fake, usize);

impl Slow<'_> {
    async fn wait(&self) {
        for _ in 0..self.1 {
            tokio::task::yield_now().await;
        }
    }
}

impl CheckpointStore for Slow<'_> {
    async fn note(&self, chain: &str) -> Result<Note, StoreError> {
        self.wait().await;
        self.0.note(chain).await
    }
    async fn move_note(&self, c: &str, from: u64, to: &Note, at: &str) -> Result<bool, StoreError> {
        self.wait().await;
        self.0.move_note(c, from, to, at).await
    }
    async fn settle(&self, chain: &str, size: u64) -> Result<(), StoreError> {
        self.wait().await;
        self.0.settle(chain, size).await
    }
    async fn object(&self, chain: &str) -> Result<Option<(Vec<u8>, String)>, StoreError> {
        self.wait().await;
        self.0.object(chain).await
    }
    async fn put_if(&self, c: &str, b: Vec<u8>, v: Option<&str>) -> Result<bool, StoreError> {
        self.wait().await;
        self.0.put_if(c, b, v).await
    }
    async fn entries(
        &self,
        c: &str,
        after: u64,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        self.wait().await;
        self.0.entries(c, after, limit).await
    }
    async fn signed_by_org(&self, cp: &SignedCheckpoint) -> Result<bool, StoreError> {
        self.wait().await;
        self.0.signed_by_org(cp).await
    }
}

#[test]
fn a_slow_signer_overtaken_by_a_longer_checkpoint_never_puts_a_shorter_one_over_it() {
    let signer = TestSigner::new(3);
    // A slow signer reads a chain of 15; the chain grows to 30 and a fast one signs it, starting
    // at every offset against the slow one.
    for earlier in [false, true] {
        for offset in 0..40 {
            let store = Fake::new(chain(10), &signer);
            if earlier {
                run(sign_once(&store, &signer)).unwrap();
            }
            store.grow(15);
            let slow = Slow(&store, 4);
            let (a, b) = run(async {
                let (h, mut left) = (how("2026-12-07T00:00:00.000Z"), 100_000);
                let a = sign(&slow, &signer, &h, &mut left);
                let b = async {
                    for _ in 0..offset {
                        tokio::task::yield_now().await;
                    }
                    store.grow(30);
                    sign_once(&store, &signer).await
                };
                tokio::join!(a, b)
            });
            let puts = store.puts.borrow().clone();
            assert!(
                puts.windows(2).all(|w| w[0] <= w[1]),
                "offset {offset}: checkpoints put {puts:?} ({a:?}, {b:?})"
            );
            assert!(
                store.note.borrow().size >= store.stored_size(),
                "offset {offset}"
            );
            // Whatever the interleaving, the next tick ends where the chain is.
            let _ = run(sign_once(&store, &signer));
            assert_eq!(
                store.stored_size(),
                30,
                "offset {offset}: {puts:?} ({a:?}, {b:?})"
            );
            assert_eq!(store.note.borrow().size, 30, "offset {offset}");
            assert!(matches!(
                run(trusted(&store, CHAIN)).unwrap(),
                Trusted::Valid(..)
            ));
        }
    }
}

#[test]
fn a_put_that_failed_leaves_its_note_pending_and_the_next_signer_finishes_it() {
    let signer = TestSigner::new(3);
    let store = Fake::new(chain(10), &signer);
    run(sign_once(&store, &signer)).unwrap();
    store.grow(20);
    store.fail_puts.set(true);
    assert!(matches!(
        run(sign_once(&store, &signer)),
        Err(CheckpointError::Store(_))
    ));
    // The note moved first and stays pending: readers keep to the checkpoint R2 has.
    assert_eq!(
        (store.note.borrow().size, store.note.borrow().pending),
        (20, true)
    );
    assert_eq!(store.stored_size(), 10);
    assert!(
        matches!(run(trusted(&store, CHAIN)).unwrap(), Trusted::Valid(cp, _) if cp.checkpoint.size == 10)
    );
    // The chain did not grow, and still holds the noted hash at 20: the next signer finishes it.
    store.fail_puts.set(false);
    assert_eq!(
        run(sign_once(&store, &signer)).unwrap(),
        Signed::Finished(20)
    );
    assert!(!store.note.borrow().pending);
    assert!(
        matches!(run(trusted(&store, CHAIN)).unwrap(), Trusted::Valid(cp, _) if cp.checkpoint.size == 20)
    );
}

#[test]
fn a_first_put_that_failed_is_finished_too_and_only_where_no_object_appeared() {
    let signer = TestSigner::new(3);
    let store = Fake::new(chain(10), &signer);
    store.fail_puts.set(true);
    assert!(run(sign_once(&store, &signer)).is_err());
    assert_eq!((store.note.borrow().size, store.stored_size()), (10, 0));
    assert_eq!(run(trusted(&store, CHAIN)).unwrap(), Trusted::None);
    store.fail_puts.set(false);
    assert_eq!(
        run(sign_once(&store, &signer)).unwrap(),
        Signed::Finished(10)
    );
    assert_eq!(store.stored_size(), 10);
    assert!(!store.note.borrow().pending);
}

#[test]
fn a_settle_that_failed_is_done_by_the_next_signer() {
    let signer = TestSigner::new(3);
    let store = Fake::new(chain(10), &signer);
    store.fail_settles.set(true);
    assert!(matches!(
        run(sign_once(&store, &signer)),
        Err(CheckpointError::Store(_))
    ));
    assert_eq!(
        (store.stored_size(), store.note.borrow().pending),
        (10, true)
    );
    store.fail_settles.set(false);
    assert_eq!(run(sign_once(&store, &signer)).unwrap(), Signed::Nothing);
    assert!(!store.note.borrow().pending);
}

#[test]
fn a_rollback_under_a_settled_note_is_reported_and_never_signed_over() {
    let signer = TestSigner::new(3);
    let store = Fake::new(chain(10), &signer);
    run(sign_once(&store, &signer)).unwrap();
    let at_10 = store.object.borrow().clone();
    store.grow(20);
    run(sign_once(&store, &signer)).unwrap();
    // Someone puts the older (genuine) checkpoint back.
    *store.object.borrow_mut() = at_10.clone();
    assert_eq!(
        run(trusted(&store, CHAIN)).unwrap(),
        Trusted::Invalid("checkpoint_rollback", 20)
    );
    store.grow(25);
    assert_eq!(
        run(sign_once(&store, &signer)).unwrap_err(),
        CheckpointError::NotTrusted("checkpoint_rollback", 20)
    );
    assert_eq!(store.stored_size(), 10);
    // Deleted outright under a settled note: missing, and not signed over either.
    *store.object.borrow_mut() = None;
    assert_eq!(
        run(trusted(&store, CHAIN)).unwrap(),
        Trusted::Invalid("checkpoint_missing", 20)
    );
    assert!(run(sign_once(&store, &signer)).is_err());
    assert_eq!(store.stored_size(), 0);
}

#[test]
fn an_unfinished_put_over_a_rewritten_history_is_never_finished() {
    let signer = TestSigner::new(3);
    let store = Fake::new(chain(10), &signer);
    run(sign_once(&store, &signer)).unwrap();
    store.grow(20);
    store.fail_puts.set(true);
    let _ = run(sign_once(&store, &signer));
    store.fail_puts.set(false);
    // Entries 11..20 are rewritten consistently while the put is unfinished.
    *store.entries.borrow_mut() = rewritten(&chain(20), 10);
    let e = run(sign_once(&store, &signer)).unwrap_err();
    assert!(
        matches!(e, CheckpointError::DoesNotExtend(ref why) if why.contains("noted hash")),
        "{e:?}"
    );
    assert_eq!(store.stored_size(), 10);
    // A note written before hashes were kept cannot tell: nothing is signed over it either.
    store.note.borrow_mut().hash = None;
    assert_eq!(
        run(sign_once(&store, &signer)).unwrap_err(),
        CheckpointError::NotTrusted("checkpoint_rollback", 20)
    );
}

#[test]
fn a_missing_forged_or_foreign_checkpoint_is_not_trusted_and_not_signed_over() {
    let signer = TestSigner::new(3);
    let store = Fake::new(chain(10), &signer);
    run(sign_once(&store, &signer)).unwrap();
    let good = store.object.borrow().clone().unwrap();

    // Deleted.
    *store.object.borrow_mut() = None;
    assert_eq!(
        run(trusted(&store, CHAIN)).unwrap(),
        Trusted::Invalid("checkpoint_missing", 10)
    );
    assert!(matches!(
        run(sign_once(&store, &signer)),
        Err(CheckpointError::NotTrusted("checkpoint_missing", 10))
    ));

    // Signed by another key.
    let other = TestSigner::new(4);
    let theirs = Fake::new(chain(10), &other);
    run(sign_once(&theirs, &other)).unwrap();
    *store.object.borrow_mut() = theirs.object.borrow().clone();
    assert_eq!(
        run(trusted(&store, CHAIN)).unwrap(),
        Trusted::Invalid("checkpoint_signature", 10)
    );

    // Not a checkpoint at all.
    *store.object.borrow_mut() = Some((b"{".to_vec(), "vx".into()));
    assert_eq!(
        run(trusted(&store, CHAIN)).unwrap(),
        Trusted::Invalid("checkpoint_signature", 10)
    );

    *store.object.borrow_mut() = Some(good);
    assert!(matches!(
        run(trusted(&store, CHAIN)).unwrap(),
        Trusted::Valid(..)
    ));
}

#[test]
fn an_unfinished_put_beyond_the_tick_budget_waits_for_the_next_tick_without_an_alarm() {
    let signer = TestSigner::new(3);
    let store = Fake::new(chain(1500), &signer);
    store.fail_puts.set(true);
    let _ = run(sign_once(&store, &signer));
    store.fail_puts.set(false);
    // Finishing reads from the start, a page (1,000 entries) at a time; a budget of one page
    // stops short of the noted 1,500.
    let mut left = 1;
    let ends = run(sign(
        &store,
        &signer,
        &how("2026-12-07T00:00:00.000Z"),
        &mut left,
    ));
    assert_eq!(ends, Ok(Signed::Nothing));
    assert_eq!(
        (store.stored_size(), store.note.borrow().pending),
        (0, true)
    );
    assert_eq!(
        run(sign_once(&store, &signer)).unwrap(),
        Signed::Finished(1500)
    );
}
