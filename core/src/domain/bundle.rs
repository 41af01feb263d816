//! Offline verification of an export bundle (SPEC §10), complete: the manifest's signature
//! under the org's public key, each file's size and SHA-256, every entry's hash, its place in
//! the range and its link to the entry before it, the counts and ends the manifest states, and
//! the quoted checkpoint (its signature, and the exported entry at its size matching its head).
//! Files are read as streams, one line at a time. The signature check itself is the caller's
//! (`verify(public, message, signature)`), so this stays free of a signature library.

use super::audit::{AuditEntry, GENESIS_HASH};
use super::exports::{FileKind, Link, Manifest, CSV_HEADER};
use super::signing::fingerprint;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::io::BufRead;

/// The most problems a report lists (the count goes on).
const MAX_LISTED: usize = 100;
/// The longest line (one entry) a file may hold.
const MAX_LINE: usize = 4 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub what: &'static str,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileReport {
    pub name: String,
    pub bytes: u64,
    pub sha256: String,
    pub entries: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub ok: bool,
    /// What the bundle says it is (org, project, chain, range, time), from its manifest.
    pub bundle: Option<serde_json::Value>,
    pub signature_ok: bool,
    pub entries_checked: u64,
    pub files: Vec<FileReport>,
    pub checkpoint_size: Option<u64>,
    /// Whether the bundle holds the entry at the checkpoint's size (then it was compared).
    pub checkpoint_covered: bool,
    pub problems: Vec<Problem>,
    pub problem_count: u64,
}

impl Report {
    fn problem(&mut self, what: &'static str, detail: impl Into<String>) {
        self.problem_count += 1;
        if self.problems.len() < MAX_LISTED {
            self.problems.push(Problem {
                what,
                detail: detail.into(),
            });
        }
    }
}

/// Verifies a bundle. `open(name)` gives a file of the bundle (only names the format defines
/// are ever asked for).
pub fn verify_bundle<R: BufRead>(
    manifest_bytes: &[u8],
    signature: &[u8],
    public: &[u8; 32],
    verify: impl Fn(&[u8; 32], &[u8], &[u8]) -> bool,
    mut open: impl FnMut(&str) -> Option<R>,
) -> Report {
    let mut r = Report {
        ok: false,
        bundle: None,
        signature_ok: false,
        entries_checked: 0,
        files: Vec::new(),
        checkpoint_size: None,
        checkpoint_covered: false,
        problems: Vec::new(),
        problem_count: 0,
    };
    r.signature_ok = signature.len() == 64 && verify(public, manifest_bytes, signature);
    if !r.signature_ok {
        r.problem(
            "signature",
            "manifest.sig does not verify manifest.json under this key",
        );
    }
    let manifest: Manifest = match serde_json::from_slice(manifest_bytes) {
        Ok(m) => m,
        Err(e) => {
            r.problem("manifest", format!("manifest.json does not parse: {e}"));
            return r;
        }
    };
    r.bundle = Some(serde_json::json!({
        "export": manifest.export,
        "org": manifest.org,
        "project": manifest.project,
        "environment": manifest.environment,
        "chain": manifest.chain,
        "range": {"from_seq": manifest.range.from_seq, "to_seq": manifest.range.to_seq, "actions": manifest.range.actions},
        "created_at": manifest.created_at,
    }));
    if manifest.version != 1 {
        r.problem(
            "manifest",
            format!(
                "manifest version {} is not one this verifier knows",
                manifest.version
            ),
        );
    }
    if manifest.signing_key.sha256 != fingerprint(public) {
        r.problem("signing_key", "the manifest names a different signing key");
    }
    let checkpoint = manifest.checkpoint.clone();
    if let Some(cp) = &checkpoint {
        r.checkpoint_size = Some(cp.checkpoint.size);
        if cp.key.sha256 != fingerprint(public) || !cp.verifies(public, &verify) {
            r.problem(
                "checkpoint_signature",
                "the checkpoint's signature does not verify",
            );
        }
        if cp.checkpoint.chain != manifest.chain {
            r.problem("checkpoint_chain", "the checkpoint is of another chain");
        }
    }
    if manifest.files.is_empty() {
        r.problem("files", "the manifest lists no file");
    }
    for f in &manifest.files {
        let Some(kind) = FileKind::of_name(&f.name) else {
            r.problem(
                "files",
                "the manifest lists a file the format does not define",
            );
            continue;
        };
        if manifest.files.iter().filter(|g| g.name == f.name).count() > 1 {
            r.problem("files", format!("{} is listed twice", f.name));
            continue;
        }
        let Some(reader) = open(&f.name) else {
            r.problem("missing_file", format!("{} is missing", f.name));
            continue;
        };
        let mut check = EntryCheck::new(&manifest, f.name.clone());
        // Never read past what the manifest states (one byte more shows a longer file).
        let reader =
            std::io::BufReader::new(std::io::Read::take(reader, f.bytes.saturating_add(1)));
        let (bytes, sha256) = read_file(kind, reader, &mut check, &mut r);
        if bytes != f.bytes || sha256 != f.sha256 {
            r.problem(
                "file_hash",
                format!(
                    "{}: {bytes} bytes with SHA-256 {sha256}, the manifest says {} and {}",
                    f.name, f.bytes, f.sha256
                ),
            );
        }
        check.finish(&mut r);
        if let (Some(cp), Some(hash)) = (&checkpoint, &check.at_checkpoint) {
            r.checkpoint_covered = true;
            if *hash != cp.checkpoint.head_hash {
                r.problem(
                    "checkpoint_mismatch",
                    format!(
                        "entry {} differs from the signed checkpoint",
                        cp.checkpoint.size
                    ),
                );
            }
        }
        r.entries_checked = r.entries_checked.max(check.count);
        r.files.push(FileReport {
            name: f.name.clone(),
            bytes,
            sha256,
            entries: check.count,
        });
    }
    r.ok = r.problem_count == 0;
    r
}

/// Streams one file: hashes every byte, checks each line.
fn read_file<R: BufRead>(
    kind: FileKind,
    mut reader: R,
    check: &mut EntryCheck,
    r: &mut Report,
) -> (u64, String) {
    let mut hasher = Sha256::new();
    let mut bytes = 0u64;
    let mut line = Vec::new();
    let mut record = Vec::new();
    let mut first = true;
    let mut open_quote = false;
    loop {
        line.clear();
        match read_line(&mut reader, &mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                r.problem("read", format!("{}: {e}", check.file));
                break;
            }
        }
        hasher.update(&line);
        bytes += line.len() as u64;
        match kind {
            FileKind::Jsonl => check.line(kind, &line, r),
            FileKind::Csv => {
                record.extend_from_slice(&line);
                // A record ends at a line break outside quotes (an even count of quotes so far),
                // counted line by line.
                open_quote ^= line.iter().filter(|&&b| b == b'"').count() % 2 == 1;
                if open_quote && record.len() < MAX_LINE {
                    continue;
                }
                open_quote = false;
                if std::mem::take(&mut first) {
                    if record != CSV_HEADER.as_bytes() {
                        r.problem("csv_header", "entries.csv does not start with its header");
                    }
                } else {
                    check.line(kind, &record, r);
                }
                record.clear();
            }
        }
    }
    if !record.is_empty() {
        r.problem("csv_record", "entries.csv ends inside a quoted field");
    }
    (bytes, super::apikey::hex(&hasher.finalize()))
}

/// One line, `\n` included, at most `MAX_LINE` bytes (a longer one is returned in pieces).
fn read_line<R: BufRead>(reader: &mut R, out: &mut Vec<u8>) -> std::io::Result<usize> {
    let mut limited = std::io::Read::take(reader, MAX_LINE as u64);
    limited.read_until(b'\n', out)
}

/// Splits an RFC 4180 record (its line break included) into fields.
pub fn csv_fields(record: &[u8]) -> Option<Vec<String>> {
    let text = std::str::from_utf8(record).ok()?;
    let text = text.strip_suffix("\r\n")?;
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    let mut at_start = true;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (false, '"') if at_start => {
                quoted = true;
                at_start = false;
            }
            (true, '"') => {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    cur.push('"');
                } else {
                    quoted = false;
                    if !matches!(chars.peek(), None | Some(',')) {
                        return None;
                    }
                }
            }
            (false, ',') => {
                fields.push(std::mem::take(&mut cur));
                at_start = true;
            }
            (false, '"') => return None,
            (_, c) => {
                cur.push(c);
                at_start = false;
            }
        }
    }
    if quoted {
        return None;
    }
    fields.push(cur);
    Some(fields)
}

fn entry_from_csv(record: &[u8]) -> Option<AuditEntry> {
    let f = csv_fields(record)?;
    let [seq, at, actor, action, target, before, after, prev_hash, hash]: [String; 9] =
        f.try_into().ok()?;
    Some(AuditEntry {
        seq: seq.parse().ok()?,
        at,
        actor,
        action,
        target,
        before: serde_json::from_str::<Value>(&before).ok()?,
        after: serde_json::from_str::<Value>(&after).ok()?,
        prev_hash,
        hash,
    })
}

/// The checks on the entries of one file, in order.
struct EntryCheck {
    file: String,
    from: u64,
    to: u64,
    actions: Option<Vec<String>>,
    contiguous: bool,
    expect_count: u64,
    expect_first: Option<Link>,
    expect_last: Option<Link>,
    checkpoint_size: Option<u64>,
    from_prev_hash: Option<String>,
    to_hash: Option<String>,
    prev: Option<Link>,
    first: Option<Link>,
    count: u64,
    at_checkpoint: Option<String>,
}

impl EntryCheck {
    fn new(m: &Manifest, file: String) -> Self {
        EntryCheck {
            file,
            from: m.range.from_seq,
            to: m.range.to_seq,
            actions: m.range.actions.clone(),
            contiguous: m.range.actions.is_none(),
            expect_count: m.count,
            expect_first: m.first.clone(),
            expect_last: m.last.clone(),
            checkpoint_size: m.checkpoint.as_ref().map(|c| c.checkpoint.size),
            from_prev_hash: m.range.from_prev_hash.clone(),
            to_hash: m.range.to_hash.clone(),
            prev: None,
            first: None,
            count: 0,
            at_checkpoint: None,
        }
    }

    fn line(&mut self, kind: FileKind, line: &[u8], r: &mut Report) {
        let at = self.count + 1;
        let parsed = match kind {
            FileKind::Jsonl => serde_json::from_slice::<AuditEntry>(line).ok(),
            FileKind::Csv => entry_from_csv(line),
        };
        let Some(e) = parsed else {
            r.problem(
                "entry_format",
                format!("{}: entry {at} does not parse", self.file),
            );
            self.count += 1;
            return;
        };
        if kind.line(&e) != line {
            r.problem(
                "entry_format",
                format!("{}: entry {} is not in canonical form", self.file, e.seq),
            );
        }
        if e.computed_hash() != e.hash {
            r.problem(
                "entry_hash",
                format!("{}: entry {} does not hash to its hash", self.file, e.seq),
            );
        }
        if e.seq < self.from || e.seq > self.to {
            r.problem(
                "out_of_range",
                format!("{}: entry {} is outside the range", self.file, e.seq),
            );
        }
        if let Some(list) = &self.actions {
            if !list.contains(&e.action) {
                r.problem(
                    "action",
                    format!("{}: entry {} has an action not selected", self.file, e.seq),
                );
            }
        }
        match &self.prev {
            Some(p) if e.seq <= p.seq => {
                r.problem(
                    "order",
                    format!("{}: entry {} follows entry {}", self.file, e.seq, p.seq),
                );
            }
            Some(p) if e.seq == p.seq.saturating_add(1) && e.prev_hash != p.hash => {
                r.problem(
                    "broken_link",
                    format!(
                        "{}: entry {} does not link to entry {}",
                        self.file, e.seq, p.seq
                    ),
                );
            }
            Some(p) if self.contiguous && e.seq != p.seq.saturating_add(1) => {
                r.problem(
                    "gap",
                    format!(
                        "{}: entries {} to {} are missing",
                        self.file,
                        p.seq.saturating_add(1),
                        e.seq.saturating_sub(1)
                    ),
                );
            }
            None if self.contiguous && e.seq != self.from => {
                r.problem(
                    "gap",
                    format!(
                        "{}: the first entry is {}, the range starts at {}",
                        self.file, e.seq, self.from
                    ),
                );
            }
            _ => {}
        }
        if e.seq == self.from && Some(&e.prev_hash) != self.from_prev_hash.as_ref() {
            r.problem(
                "broken_link",
                format!(
                    "{}: entry {} does not attach to the chain where the manifest says",
                    self.file, e.seq
                ),
            );
        }
        if e.seq == self.to && Some(&e.hash) != self.to_hash.as_ref() {
            r.problem(
                "ends",
                format!(
                    "{}: entry {} differs from the manifest's end of range",
                    self.file, e.seq
                ),
            );
        }
        if e.seq == 1 && e.prev_hash != GENESIS_HASH {
            r.problem(
                "broken_link",
                format!("{}: entry 1 does not start the chain", self.file),
            );
        }
        if Some(e.seq) == self.checkpoint_size {
            self.at_checkpoint = Some(e.hash.clone());
        }
        let link = Link {
            seq: e.seq,
            hash: e.hash,
        };
        if self.first.is_none() {
            self.first = Some(link.clone());
        }
        self.prev = Some(link);
        self.count += 1;
    }

    fn finish(&self, r: &mut Report) {
        if self.count != self.expect_count {
            r.problem(
                "count",
                format!(
                    "{}: {} entries, the manifest says {}",
                    self.file, self.count, self.expect_count
                ),
            );
        }
        if self.first != self.expect_first || self.prev != self.expect_last {
            r.problem(
                "ends",
                format!(
                    "{}: the first or last entry differs from the manifest",
                    self.file
                ),
            );
        }
        let span = self.to.saturating_add(1).saturating_sub(self.from);
        if self.contiguous && self.count != span {
            r.problem(
                "gap",
                format!(
                    "{}: the range {}..={} is not wholly there",
                    self.file, self.from, self.to
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests;
