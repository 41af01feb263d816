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

mod engine;
mod format;
mod manifest;
mod request;
mod sha256mid;

pub use engine::*;
pub use format::*;
pub use manifest::*;
pub use request::*;
pub use sha256mid::*;

#[cfg(test)]
pub(crate) mod tests;
