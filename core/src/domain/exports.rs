//! Export bundles (SPEC §10) as pure rules: the request, the two file formats, a SHA-256 whose
//! state survives between steps, and the step engine that writes a range of a chain to an
//! object store in fixed-size parts without holding the range in memory.
//!
//! A file is the concatenation of *units*: unit 0 is the file's header (CSV's column line;
//! JSONL has none), unit `s` is the line of the entry with sequence number `s`. Rendering is
//! deterministic, so the engine's saved position is just `(unit, skip)`: the first unit not yet
//! wholly uploaded and how many of its bytes were. A step re-renders from there, cuts full parts
//! of `part_size` bytes (a multiple of 64, so the hash state at a cut has no partial block),
//! uploads them, and saves the position, the part list and the hash state. Whatever a step had
//! rendered past its last cut is dropped and rendered again by the next one.

use super::audit::AuditEntry;
use super::canonical::to_canonical;
use super::input::InputError;
use super::signing::{KeyRef, SignedCheckpoint, Signer};
use super::store::{ObjectStore, PartRef, StoreError};
use super::time::Timestamp;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::digest::generic_array::GenericArray;

/// R2's smallest part (all but the last); parts are all this size.
pub const PART_BYTES: usize = 5 * 1024 * 1024;
/// Entries read from the chain per page.
pub const PAGE: u32 = 500;
/// The largest sequence number a request may name (2^53 − 1: exact in a JavaScript number and
/// in D1's integers).
pub const MAX_SEQ: u64 = (1 << 53) - 1;
/// The most action names one export may select.
pub const MAX_ACTIONS: usize = 50;

pub const MANIFEST: &str = "manifest.json";
pub const SIGNATURE: &str = "manifest.sig";

/// One end of a requested range: a sequence number, or a time (entries' `at` never goes
/// backwards along a chain, so a time range is a sequence range).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bound {
    Seq(u64),
    Time(Timestamp),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Jsonl,
    Csv,
    Both,
}

impl Format {
    pub fn files(self) -> Vec<FileKind> {
        match self {
            Format::Jsonl => vec![FileKind::Jsonl],
            Format::Csv => vec![FileKind::Csv],
            Format::Both => vec![FileKind::Jsonl, FileKind::Csv],
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Jsonl => "jsonl",
            Format::Csv => "csv",
            Format::Both => "both",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "jsonl" => Some(Format::Jsonl),
            "csv" => Some(Format::Csv),
            "both" => Some(Format::Both),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Jsonl,
    Csv,
}

pub const CSV_HEADER: &str = "seq,at,actor,action,target,before,after,prev_hash,hash\r\n";

impl FileKind {
    pub fn name(self) -> &'static str {
        match self {
            FileKind::Jsonl => "entries.jsonl",
            FileKind::Csv => "entries.csv",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            FileKind::Jsonl => "application/x-ndjson",
            FileKind::Csv => "text/csv; charset=utf-8",
        }
    }

    fn header(self) -> &'static [u8] {
        match self {
            FileKind::Jsonl => b"",
            FileKind::Csv => CSV_HEADER.as_bytes(),
        }
    }

    /// An entry's line: canonical JSON and `\n`, or an RFC 4180 record ending `\r\n` whose
    /// `before` and `after` are canonical JSON.
    pub fn line(self, e: &AuditEntry) -> Vec<u8> {
        match self {
            FileKind::Jsonl => {
                let mut s = to_canonical(&entry_value(e));
                s.push('\n');
                s.into_bytes()
            }
            FileKind::Csv => {
                let fields = [
                    e.seq.to_string(),
                    e.at.clone(),
                    e.actor.clone(),
                    e.action.clone(),
                    e.target.clone(),
                    to_canonical(&e.before),
                    to_canonical(&e.after),
                    e.prev_hash.clone(),
                    e.hash.clone(),
                ];
                let mut s = String::new();
                for (i, f) in fields.iter().enumerate() {
                    if i > 0 {
                        s.push(',');
                    }
                    csv_field(f, &mut s);
                }
                s.push_str("\r\n");
                s.into_bytes()
            }
        }
    }

    /// Which file a bundle file name is, if any.
    pub fn of_name(name: &str) -> Option<Self> {
        [FileKind::Jsonl, FileKind::Csv]
            .into_iter()
            .find(|k| k.name() == name)
    }
}

/// The entry as the JSON object the API returns (its nine fields).
pub fn entry_value(e: &AuditEntry) -> Value {
    serde_json::to_value(e).unwrap_or(Value::Null)
}

fn csv_field(f: &str, out: &mut String) {
    if f.contains([',', '"', '\r', '\n']) {
        out.push('"');
        out.push_str(&f.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(f);
    }
}

/// `POST …/exports`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportRequest {
    pub from: Option<Bound>,
    pub to: Option<Bound>,
    pub actions: Option<Vec<String>>,
    pub format: Format,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    #[serde(default)]
    from: Value,
    #[serde(default)]
    to: Value,
    #[serde(default)]
    actions: Option<Vec<String>>,
    #[serde(default)]
    format: Option<String>,
}

fn bound(field: &str, v: &Value) -> Result<Option<Bound>, InputError> {
    const WHAT: &str = "must be a sequence number (1 or more) or an RFC 3339 time";
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => match n.as_u64() {
            Some(s) if (1..=MAX_SEQ).contains(&s) => Ok(Some(Bound::Seq(s))),
            _ => Err(InputError::field(field, WHAT)),
        },
        Value::String(s)
            if !s.is_empty() && s.len() <= 40 && s.bytes().all(|b| b.is_ascii_digit()) =>
        {
            match s.parse::<u64>() {
                Ok(n) if (1..=MAX_SEQ).contains(&n) => Ok(Some(Bound::Seq(n))),
                _ => Err(InputError::field(field, WHAT)),
            }
        }
        Value::String(s) if s.len() <= 64 => Timestamp::parse(s)
            .map(|t| Some(Bound::Time(t)))
            .map_err(|_| InputError::field(field, WHAT)),
        _ => Err(InputError::field(field, WHAT)),
    }
}

/// An audit action name: dotted lowercase words (`repair.executed`).
pub fn is_action(s: &str) -> bool {
    s.len() <= 64
        && s.split('.').count() >= 2
        && s.split('.').all(|w| {
            w.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
                && w.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        })
}

impl ExportRequest {
    pub fn parse(body: &[u8]) -> Result<Self, InputError> {
        let b: Body = super::input::parse_json(body)?;
        let from = bound("from", &b.from)?;
        let to = bound("to", &b.to)?;
        match (&from, &to) {
            (Some(Bound::Seq(a)), Some(Bound::Seq(z))) if a > z => {
                return Err(InputError::field("to", "must not be before from"))
            }
            (Some(Bound::Time(a)), Some(Bound::Time(z))) if a > z => {
                return Err(InputError::field("to", "must not be before from"))
            }
            _ => {}
        }
        let actions = match b.actions {
            None => None,
            Some(list) => {
                if list.is_empty() || list.len() > MAX_ACTIONS {
                    return Err(InputError::field(
                        "actions",
                        format!("must list 1 to {MAX_ACTIONS} action names"),
                    ));
                }
                if !list.iter().all(|a| is_action(a)) {
                    return Err(InputError::field(
                        "actions",
                        "each must be an action name such as repair.executed",
                    ));
                }
                let mut list = list;
                list.sort();
                list.dedup();
                Some(list)
            }
        };
        let format = match b.format.as_deref() {
            None => Format::Jsonl,
            Some(s) => Format::parse(s)
                .ok_or_else(|| InputError::field("format", "must be jsonl, csv or both"))?,
        };
        Ok(ExportRequest {
            from,
            to,
            actions,
            format,
        })
    }
}

/// SHA-256 whose state can be saved between parts: whole 64-byte blocks are absorbed as they
/// are uploaded; `finish` pads the tail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sha256Mid {
    state: [u32; 8],
    bytes: u64,
}

const H0: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

impl Default for Sha256Mid {
    fn default() -> Self {
        Sha256Mid {
            state: H0,
            bytes: 0,
        }
    }
}

impl Sha256Mid {
    /// Absorbs whole blocks; `data.len()` must be a multiple of 64 (anything after the last whole
    /// block is refused, not dropped).
    pub fn absorb(&mut self, data: &[u8]) -> Result<(), StoreError> {
        if data.len() % 64 != 0 {
            return Err(StoreError::Failed(
                "a part is not a whole number of blocks".into(),
            ));
        }
        for block in data.chunks_exact(64) {
            sha2::compress256(
                &mut self.state,
                std::slice::from_ref(GenericArray::from_slice(block)),
            );
        }
        self.bytes += data.len() as u64;
        Ok(())
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The hex digest of everything absorbed followed by `tail`.
    pub fn finish(mut self, tail: &[u8]) -> String {
        let total_bits = (self.bytes + tail.len() as u64).wrapping_mul(8);
        let whole = tail.len() - tail.len() % 64;
        let _ = self.absorb(&tail[..whole]);
        let mut last = tail[whole..].to_vec();
        last.push(0x80);
        while last.len() % 64 != 56 {
            last.push(0);
        }
        last.extend_from_slice(&total_bits.to_be_bytes());
        for block in last.chunks_exact(64) {
            sha2::compress256(
                &mut self.state,
                std::slice::from_ref(GenericArray::from_slice(block)),
            );
        }
        self.state.iter().map(|w| format!("{w:08x}")).collect()
    }
}

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

    fn selects(&self, e: &AuditEntry) -> bool {
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
                super::audit::GENESIS_HASH.to_owned()
            } else {
                cp.head_hash.clone()
            },
        },
        None if before == 0 => Link {
            seq: 0,
            hash: super::audit::GENESIS_HASH.to_owned(),
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
        hash: super::audit::GENESIS_HASH.to_owned(),
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

/// The signed description of a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub version: u32,
    pub export: String,
    pub org: String,
    pub project: String,
    /// The project's environment (`live` or `test`): a test project's bundle is never taken
    /// for a live one. Absent only in bundles written before it was named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    pub chain: String,
    pub range: ManifestRange,
    pub count: u64,
    pub first: Option<Link>,
    pub last: Option<Link>,
    pub files: Vec<FileDone>,
    /// The newest signed checkpoint of the chain when the bundle was written.
    pub checkpoint: Option<SignedCheckpoint>,
    pub signing_key: KeyRef,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestRange {
    pub from_seq: u64,
    pub to_seq: u64,
    pub actions: Option<Vec<String>>,
    /// The hash of the entry before `from_seq` (64 zeros when it is 1): where the range attaches
    /// to the chain, also for a bundle filtered by action. Null for an empty range.
    pub from_prev_hash: Option<String>,
    /// The hash of the entry at `to_seq`. Null for an empty range.
    pub to_hash: Option<String>,
}

impl Manifest {
    /// The file's bytes (and what the signature covers): canonical JSON.
    pub fn to_bytes(&self) -> Vec<u8> {
        to_canonical(&serde_json::to_value(self).unwrap_or(Value::Null)).into_bytes()
    }
}

/// Writes `manifest.json` and `manifest.sig` once every file is written.
pub async fn finish(
    spec: &ExportSpec,
    progress: &Progress,
    signer: &impl Signer,
    store: &impl ObjectStore,
) -> Result<(Manifest, Vec<u8>), StoreError> {
    let (count, first, last) = progress.totals.clone().unwrap_or((0, None, None));
    let manifest = Manifest {
        version: 1,
        export: spec.id.clone(),
        org: spec.org.clone(),
        project: spec.project.clone(),
        environment: spec.environment.clone(),
        chain: spec.chain.clone(),
        range: ManifestRange {
            from_seq: spec.from_seq,
            to_seq: spec.to_seq,
            actions: spec.actions.clone(),
            from_prev_hash: progress.from_prev_hash.clone(),
            to_hash: progress.to_hash.clone(),
        },
        count,
        first,
        last,
        files: progress.done.clone(),
        checkpoint: progress.checkpoint.clone(),
        signing_key: signer.key(),
        created_at: spec.created_at.clone(),
    };
    let bytes = manifest.to_bytes();
    let sig = signer.sign(&bytes).await?;
    store
        .put(&spec.object_key(MANIFEST), bytes, "application/json")
        .await?;
    store
        .put(
            &spec.object_key(SIGNATURE),
            sig.clone(),
            "application/octet-stream",
        )
        .await?;
    Ok((manifest, sig))
}

/// The signature as the API shows it next to the file (base64).
pub fn signature_b64(sig: &[u8]) -> String {
    B64.encode(sig)
}

#[cfg(test)]
pub(crate) mod tests;
