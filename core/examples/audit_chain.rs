//! Audit-chain benchmark helper (not a test): builds an N-entry chain in memory and prints how
//! fast `ChainVerifier` checks it natively. With `--sql FILE` it also writes the chain as SQL
//! inserts continuing an existing D1 chain, so `scripts/bench.sh` can time the worker's
//! `/audit/verify` over the same number of entries.
//!
//! cargo run --release -p parityrail-core --example audit_chain -- --entries 100000
//!     [--sql out.sql --org ORG --chain CHAIN --project PID --after-seq S --after-hash H]

use parityrail_core::domain::audit::{
    Action, Actor, AuditEntry, ChainVerifier, Draft, Verification,
};
use parityrail_core::domain::canonical::to_canonical;
use parityrail_core::domain::time::Timestamp;
use serde_json::json;
use std::io::Write;
use std::time::Instant;

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn sql_str(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let n: u64 = arg(&args, "--entries").map_or(Ok(100_000), |s| s.parse())?;
    let after_seq: u64 = arg(&args, "--after-seq").map_or(Ok(0), |s| s.parse())?;
    let after_hash = arg(&args, "--after-hash");
    let project = arg(&args, "--project").unwrap_or_else(|| "prj_0000000000000000000000".into());

    let t0 = Instant::now();
    let mut entries: Vec<AuditEntry> = Vec::with_capacity(n as usize);
    let mut prev: Option<(u64, String)> = after_hash.map(|h| (after_seq, h));
    for i in 0..n {
        let draft = Draft {
            actor: Actor::System("bench"),
            action: Action::ProjectUpdated,
            target: format!("project:{project}"),
            before: json!({"name": format!("name {i}"), "reconcile_every_minutes": 60}),
            after: json!({"name": format!("name {}", i + 1), "reconcile_every_minutes": 60}),
        };
        let e = draft.seal(
            prev.as_ref().map(|(s, h)| (*s, h.as_str())),
            Timestamp::from_millis(1_795_000_000_000 + i as i64),
        );
        prev = Some((e.seq, e.hash.clone()));
        entries.push(e);
    }
    let built = t0.elapsed();

    // The in-memory chain starts at `after_seq + 1`; verify a genesis-based copy for the figure.
    let t1 = Instant::now();
    let mut v = ChainVerifier::default();
    if after_seq == 0 {
        for e in &entries {
            v.push(e);
        }
    }
    let verified = t1.elapsed();
    if after_seq == 0 {
        match v.finish() {
            Verification::Ok { entries: k, .. } => assert_eq!(k, n),
            bad => return Err(format!("chain did not verify: {bad:?}").into()),
        }
        println!(
            "native: built {n} entries in {:.0} ms; verified in {:.0} ms = {:.0} entries/s",
            built.as_secs_f64() * 1e3,
            verified.as_secs_f64() * 1e3,
            n as f64 / verified.as_secs_f64()
        );
    }

    if let Some(path) = arg(&args, "--sql") {
        let org = arg(&args, "--org").ok_or("--org is required with --sql")?;
        let chain = arg(&args, "--chain").ok_or("--chain is required with --sql")?;
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path)?);
        for batch in entries.chunks(200) {
            writeln!(
                f,
                "INSERT INTO audit_log (org_id, chain, seq, project_id, at, actor, action, target, before, after, prev_hash, hash) VALUES"
            )?;
            let rows: Vec<String> = batch
                .iter()
                .map(|e| {
                    format!(
                        "({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {})",
                        sql_str(&org),
                        sql_str(&chain),
                        e.seq,
                        sql_str(&project),
                        sql_str(&e.at),
                        sql_str(&e.actor),
                        sql_str(&e.action),
                        sql_str(&e.target),
                        sql_str(&to_canonical(&e.before)),
                        sql_str(&to_canonical(&e.after)),
                        sql_str(&e.prev_hash),
                        sql_str(&e.hash)
                    )
                })
                .collect();
            writeln!(f, "{};", rows.join(",\n"))?;
        }
        f.flush()?;
        println!("wrote {n} entries as SQL to {path}");
    }
    Ok(())
}
