//! The step engine: writes a range of a chain to an object store in fixed-size parts,
//! verifying it against the last signed checkpoint as it goes, without holding the range in
//! memory.

use super::format::*;
use super::sha256mid::*;
use crate::domain::audit::AuditEntry;
use crate::domain::signing::SignedCheckpoint;
use crate::domain::store::{ObjectStore, PartRef, StoreError};
use serde::{Deserialize, Serialize};

/// R2's smallest part (all but the last); parts are all this size.
pub const PART_BYTES: usize = 5 * 1024 * 1024;
/// Entries read from the chain per page.
pub const PAGE: u32 = 500;

/// An entry named by its place and hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Link {
    pub seq: u64,
    pub hash: String,
}

/// A written file of a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileDone {
    pub name: String,
    pub bytes: u64,
    pub sha256: String,
}

/// What an export covers, fixed when it is created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportSpec {
    pub id: String,
    pub org: String,
    pub project: String,
    /// The project's environment (`live` or `test`), named in the signed manifest.
    pub environment: Option<String>,
    pub chain: String,
    pub from_seq: u64,
    pub to_seq: u64,
    pub actions: Option<Vec<String>>,
    pub format: Format,
    pub created_at: String,
    /// Where its objects go (`exports/<org>/<project>/<id>/`).
    pub prefix: String,
    /// The chain's newest checkpoint, its signature verified by the caller. The first step pins
    /// it in the progress: the chain between it and the range is verified before anything is
    /// written, and the manifest quotes exactly it.
    pub checkpoint: Option<SignedCheckpoint>,
}

impl ExportSpec {
    pub fn object_key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    pub(crate) fn selects(&self, e: &AuditEntry) -> bool {
        self.actions
            .as_ref()
            .is_none_or(|list| list.binary_search(&e.action).is_ok())
    }
}

/// The engine's saved state between steps.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// Index of the file being written in `format.files()`.
    pub file: usize,
    pub upload: Option<String>,
    pub parts: Vec<PartRef>,
    pub unit: u64,
    pub skip: u64,
    pub hash: Sha256Mid,
    pub count: u64,
    pub first: Option<Link>,
    pub last: Option<Link>,
    pub done: Vec<FileDone>,
    /// Entries, first and last of the first file written (every file holds the same entries).
    pub totals: Option<(u64, Option<Link>, Option<Link>)>,
    /// The part size this export was started with (it never changes mid-export: R2 wants every
    /// part but the last the same size).
    #[serde(default)]
    pub part_size: u64,
    /// The hash of the entry before the range (64 zeros before entry 1), once read.
    #[serde(default)]
    pub from_prev_hash: Option<String>,
    /// The hash of the entry at the range's end, once read.
    #[serde(default)]
    pub to_hash: Option<String>,
    /// The checkpoint pinned at the first step (`pinned`), which the chain is held to.
    #[serde(default)]
    pub checkpoint: Option<SignedCheckpoint>,
    #[serde(default)]
    pub pinned: bool,
    /// How far the chain is verified against the pinned checkpoint, and whether it is done.
    #[serde(default)]
    pub verified: Option<Link>,
    #[serde(default)]
    pub verify_done: bool,
}

/// Pages the checkpoint verification reads per step.
pub const VERIFY_PAGES_PER_STEP: u32 = 40;

/// Verifies the chain between the pinned checkpoint and the range, so the range is tied to a
/// signed head whichever side of it the checkpoint is: from the checkpoint (or the entry before
/// the range, when the checkpoint is past it) to the range's end (or the checkpoint, when it is
/// past the range): hashes, places, links, and the checkpoint's hash at its size. Resumable;
/// `Ok(false)` while there is more to read.
async fn verify_against_checkpoint(
    spec: &ExportSpec,
    progress: &mut Progress,
    source: &impl EntrySource,
) -> Result<bool, StoreError> {
    let Some(cp) = progress.checkpoint.as_ref().map(|c| c.checkpoint.clone()) else {
        return Ok(true);
    };
    if spec.from_seq > spec.to_seq {
        return Ok(true);
    }
    let before = spec.from_seq - 1;
    let hi = spec.to_seq.max(cp.size);
    let not_intact = |seq: u64, why: &str| {
        Err(StoreError::NotIntact(format!(
            "the chain does not verify at entry {seq}: {why}; nothing was signed"
        )))
    };
    let mut v = match progress.verified.clone() {
        Some(l) => l,
        None if cp.size <= before => Link {
            seq: cp.size,
            hash: if cp.size == 0 {
                crate::domain::audit::GENESIS_HASH.to_owned()
            } else {
                cp.head_hash.clone()
            },
        },
        None if before == 0 => Link {
            seq: 0,
            hash: crate::domain::audit::GENESIS_HASH.to_owned(),
        },
        None => match source.page(before - 1, 1).await?.into_iter().next() {
            Some(e) if e.seq == before && e.computed_hash() == e.hash => Link {
                seq: e.seq,
                hash: e.hash,
            },
            _ => return not_intact(before, "the entry before the range is missing or altered"),
        },
    };
    for _ in 0..VERIFY_PAGES_PER_STEP {
        if v.seq >= hi {
            break;
        }
        let page = source.page(v.seq, PAGE).await?;
        if page.is_empty() {
            return not_intact(
                v.seq + 1,
                "the chain ends before the checkpoint or the range",
            );
        }
        for e in page.iter().take_while(|e| e.seq <= hi) {
            if e.seq != v.seq + 1 {
                return not_intact(v.seq + 1, "it is missing");
            }
            if e.computed_hash() != e.hash {
                return not_intact(e.seq, "its hash does not match its content");
            }
            if e.prev_hash != v.hash {
                return not_intact(e.seq, "it does not link to the entry before it");
            }
            if e.seq == cp.size && e.hash != cp.head_hash {
                return not_intact(e.seq, "it differs from the signed checkpoint");
            }
            v = Link {
                seq: e.seq,
                hash: e.hash.clone(),
            };
        }
    }
    let done = v.seq >= hi;
    progress.verified = Some(v);
    Ok(done)
}

/// Reads a chain in order (the one chain an export covers).
#[allow(async_fn_in_trait)]
pub trait EntrySource {
    /// Entries with `seq > after_seq`, in order, at most `limit`.
    async fn page(&self, after_seq: u64, limit: u32) -> Result<Vec<AuditEntry>, StoreError>;
}

#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// More to write: save the progress and step again.
    More,
    /// Every file is written: sign the manifest (`finish`).
    Written,
}

struct Unit {
    seq: u64,
    start: usize,
    len: usize,
    skipped: u64,
    link: Option<Link>,
}

/// Writes up to `budget` full parts of the current file (or finishes it); `progress` is updated
/// in place and is what the caller saves.
pub async fn step(
    spec: &ExportSpec,
    progress: &mut Progress,
    source: &impl EntrySource,
    store: &impl ObjectStore,
    part_size: usize,
    budget: u32,
) -> Result<Step, StoreError> {
    if progress.part_size == 0 {
        progress.part_size = part_size as u64;
    }
    let part_size = progress.part_size as usize;
    if !progress.pinned {
        progress.checkpoint = spec.checkpoint.clone();
        progress.pinned = true;
    }
    if !progress.verify_done {
        progress.verify_done = verify_against_checkpoint(spec, progress, source).await?;
        if !progress.verify_done {
            return Ok(Step::More);
        }
    }
    if part_size == 0 || part_size % 64 != 0 {
        return Err(StoreError::Failed(
            "the part size must be a multiple of 64".into(),
        ));
    }
    let files = spec.format.files();
    let Some(&kind) = files.get(progress.file) else {
        return Ok(Step::Written);
    };
    let key = spec.object_key(kind.name());
    let mut buf: Vec<u8> = Vec::new();
    let mut units: Vec<Unit> = Vec::new();
    // The first entry this step renders; the one before it is read too, as the anchor its link
    // is checked against (64 zeros before entry 1).
    let first = if progress.unit == 0 {
        let header = kind.header();
        let skip = (progress.skip as usize).min(header.len());
        if skip < header.len() {
            units.push(Unit {
                seq: 0,
                start: 0,
                len: header.len() - skip,
                skipped: skip as u64,
                link: None,
            });
            buf.extend_from_slice(&header[skip..]);
        }
        spec.from_seq
    } else {
        progress.unit
    };
    let mut prev: Option<Link> = (first <= 1).then(|| Link {
        seq: 0,
        hash: crate::domain::audit::GENESIS_HASH.to_owned(),
    });
    if first == spec.from_seq {
        if let Some(p) = &prev {
            progress.from_prev_hash = Some(p.hash.clone());
        }
    }
    let mut after = first.saturating_sub(2);
    let pinned = progress
        .checkpoint
        .as_ref()
        .map(|c| (c.checkpoint.size, c.checkpoint.head_hash.clone()));
    let mut ended = spec.from_seq > spec.to_seq;
    let mut budget = budget;
    loop {
        while buf.len() < part_size && !ended {
            let page = source.page(after, PAGE).await?;
            ended = page.len() < PAGE as usize;
            for e in &page {
                if e.seq <= after {
                    return Err(StoreError::NotIntact("the chain went backwards".into()));
                }
                if e.seq > spec.to_seq {
                    ended = true;
                    break;
                }
                check_entry(pinned.as_ref(), prev.as_ref(), first, e)?;
                after = e.seq;
                prev = Some(Link {
                    seq: e.seq,
                    hash: e.hash.clone(),
                });
                if e.seq < first {
                    if e.seq.saturating_add(1) == spec.from_seq {
                        progress.from_prev_hash = Some(e.hash.clone());
                    }
                    continue;
                }
                if e.seq == spec.to_seq {
                    progress.to_hash = Some(e.hash.clone());
                }
                if !spec.selects(e) {
                    continue;
                }
                let line = kind.line(e);
                let skip = if e.seq == progress.unit {
                    (progress.skip as usize).min(line.len())
                } else {
                    0
                };
                units.push(Unit {
                    seq: e.seq,
                    start: buf.len(),
                    len: line.len() - skip,
                    skipped: skip as u64,
                    link: Some(Link {
                        seq: e.seq,
                        hash: e.hash.clone(),
                    }),
                });
                buf.extend_from_slice(&line[skip..]);
            }
        }
        while buf.len() >= part_size && budget > 0 {
            let upload = match &progress.upload {
                Some(u) => u.clone(),
                None => {
                    let u = store.create_multipart(&key, kind.content_type()).await?;
                    progress.upload = Some(u.clone());
                    u
                }
            };
            let part: Vec<u8> = buf.drain(..part_size).collect();
            let n = u16::try_from(progress.parts.len() + 1).map_err(|_| {
                StoreError::Failed("an export file may have at most 65535 parts".into())
            })?;
            let etag = store.upload_part(&key, &upload, n, part.clone()).await?;
            progress.hash.absorb(&part)?;
            progress.parts.push(PartRef { n, etag });
            cut(progress, &mut units, part_size, after);
            budget -= 1;
        }
        if ended && buf.len() < part_size {
            break;
        }
        if budget == 0 {
            return Ok(Step::More);
        }
    }
    if spec.from_seq <= spec.to_seq && prev.as_ref().map(|p| p.seq) != Some(spec.to_seq) {
        return Err(StoreError::NotIntact(format!(
            "the chain ends before entry {}, the end of the range",
            spec.to_seq
        )));
    }
    // The file's last bytes.
    let bytes = progress.hash.bytes() + buf.len() as u64;
    match &progress.upload {
        None => store.put(&key, buf.clone(), kind.content_type()).await?,
        Some(upload) => {
            let mut parts = progress.parts.clone();
            if !buf.is_empty() {
                let n = u16::try_from(parts.len() + 1)
                    .map_err(|_| StoreError::Failed("too many parts".into()))?;
                let etag = store.upload_part(&key, upload, n, buf.clone()).await?;
                parts.push(PartRef { n, etag });
            }
            store.complete_multipart(&key, upload, &parts).await?;
        }
    }
    let len = buf.len();
    cut(progress, &mut units, len, after);
    let sha256 = std::mem::take(&mut progress.hash).finish(&buf);
    progress.done.push(FileDone {
        name: kind.name().to_owned(),
        bytes,
        sha256,
    });
    let totals = (progress.count, progress.first.take(), progress.last.take());
    match &progress.totals {
        None => progress.totals = Some(totals),
        Some(t) if *t == totals => {}
        Some(_) => {
            return Err(StoreError::NotIntact(
                "the files of an export disagree".into(),
            ))
        }
    }
    *progress = Progress {
        file: progress.file + 1,
        done: std::mem::take(&mut progress.done),
        totals: progress.totals.take(),
        part_size: progress.part_size,
        from_prev_hash: progress.from_prev_hash.take(),
        to_hash: progress.to_hash.take(),
        checkpoint: progress.checkpoint.take(),
        pinned: true,
        verified: progress.verified.take(),
        verify_done: true,
        ..Progress::default()
    };
    Ok(if progress.file >= files.len() {
        Step::Written
    } else {
        Step::More
    })
}

/// An entry read for an export must be intact: its own hash, the next place after `prev`, linked
/// to it, and the signed checkpoint's hash at its size. An export never signs a chain that does
/// not verify.
fn check_entry(
    pinned: Option<&(u64, String)>,
    prev: Option<&Link>,
    first: u64,
    e: &AuditEntry,
) -> Result<(), StoreError> {
    let bad = |why: &str| {
        Err(StoreError::NotIntact(format!(
            "the chain does not verify at entry {}: {why}; nothing was signed",
            e.seq
        )))
    };
    if e.computed_hash() != e.hash {
        return bad("its hash does not match its content");
    }
    match prev {
        Some(p) if e.seq != p.seq.saturating_add(1) => return bad("entries before it are missing"),
        Some(p) if e.prev_hash != p.hash => return bad("it does not link to the entry before it"),
        None if e.seq.saturating_add(1) != first => {
            return bad("the entry before the range is missing")
        }
        _ => {}
    }
    if let Some((size, hash)) = pinned {
        if e.seq == *size && e.hash != *hash {
            return bad("it differs from the signed checkpoint");
        }
    }
    Ok(())
}

/// Accounts for the first `at` bytes of the rendered units having been uploaded: units that
/// ended are counted, the position moves to the first unit not wholly written.
fn cut(progress: &mut Progress, units: &mut Vec<Unit>, at: usize, after: u64) {
    let ended = units.iter().take_while(|u| u.start + u.len <= at).count();
    for u in units.drain(..ended) {
        if let Some(link) = u.link {
            progress.count += 1;
            if progress.first.is_none() {
                progress.first = Some(link.clone());
            }
            progress.last = Some(link);
        }
    }
    match units.first() {
        Some(u) => {
            progress.unit = u.seq;
            progress.skip = u.skipped + (at - u.start) as u64;
        }
        None => {
            progress.unit = after + 1;
            progress.skip = 0;
        }
    }
    for u in units.iter_mut() {
        u.skipped += at.saturating_sub(u.start).min(u.len) as u64;
        u.len -= at.saturating_sub(u.start).min(u.len);
        u.start = u.start.saturating_sub(at);
    }
}
