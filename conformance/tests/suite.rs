//! The conformance suite: every `cases/*.t` block must pass against the reference nginx (when
//! `/usr/sbin/nginx` exists), and against oxresty every block must pass except those listed in
//! `oxresty-known-failures.txt` — which must still fail, so the list only ever shrinks honestly.
//! `UPDATE_KNOWN_FAILURES=1` rewrites the list from the current oxresty run.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use conformance::{parse_file, run_files, BlockResult, CaseFile, Outcome, RunOptions, REFERENCE};

const JOBS: usize = 4;

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn case_files() -> Vec<CaseFile> {
    let dir = crate_dir().join("cases");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("read conformance/cases")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "t"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no case files in {}", dir.display());
    paths
        .iter()
        .map(|p| parse_file(p).unwrap_or_else(|e| panic!("parse {}: {e}", p.display())))
        .collect()
}

fn oxresty_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("OXRESTY_BIN") {
        return Some(PathBuf::from(p));
    }
    let root = crate_dir().join("..");
    ["target/debug/oxresty", "target/release/oxresty"]
        .iter()
        .map(|p| root.join(p))
        .find(|p| p.exists())
}

fn report(label: &str, results: &[BlockResult]) {
    for r in results {
        if r.outcome == Outcome::Failed {
            eprintln!("{label}: FAILED {} - {}", r.key(), r.name);
            for c in r.failures() {
                eprintln!("    {}: {}", c.name, c.detail);
            }
        }
    }
}

#[test]
fn reference_passes_every_case() {
    if !Path::new(REFERENCE).exists() {
        eprintln!("note: {REFERENCE} is missing; the reference half of the suite is skipped");
        return;
    }
    let files = case_files();
    let results = run_files(&files, &RunOptions::new(REFERENCE), JOBS);
    report("reference", &results);
    let count = |o: fn(&Outcome) -> bool| results.iter().filter(|r| o(&r.outcome)).count();
    let passed = count(|o| *o == Outcome::Passed);
    let failed = count(|o| *o == Outcome::Failed);
    let skipped = count(|o| matches!(o, Outcome::Skipped(_)));
    println!("reference: {passed} passed, {failed} failed, {skipped} skipped");
    assert_eq!(failed, 0, "blocks failed against the reference (see above)");
    assert_eq!(
        skipped, 0,
        "case files must only use supported format features"
    );
}

#[test]
fn oxresty_matches_known_failures() {
    let Some(bin) = oxresty_binary() else {
        eprintln!("note: no oxresty binary (set OXRESTY_BIN or build it); skipped");
        return;
    };
    let files = case_files();
    let results = run_files(&files, &RunOptions::new(&bin), JOBS);
    let list_path = crate_dir().join("oxresty-known-failures.txt");
    let failing: BTreeSet<String> = results
        .iter()
        .filter(|r| r.outcome == Outcome::Failed)
        .map(BlockResult::key)
        .collect();
    let passed = results
        .iter()
        .filter(|r| r.outcome == Outcome::Passed)
        .count();
    let skipped = results
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Skipped(_)))
        .count();
    if std::env::var_os("UPDATE_KNOWN_FAILURES").is_some() {
        let mut text = String::from(
            "# Blocks of conformance/cases that oxresty fails today, one `file.t TEST N` a line.\n\
             # Regenerate with: UPDATE_KNOWN_FAILURES=1 cargo test -p conformance --test suite\n",
        );
        for k in &failing {
            text.push_str(k);
            text.push('\n');
        }
        std::fs::write(&list_path, text).expect("write oxresty-known-failures.txt");
        println!(
            "rewrote {} ({} entries)",
            list_path.display(),
            failing.len()
        );
    }
    let known: BTreeSet<String> = std::fs::read_to_string(&list_path)
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect();
    let new_failures: Vec<&BlockResult> = results
        .iter()
        .filter(|r| r.outcome == Outcome::Failed && !known.contains(&r.key()))
        .collect();
    let all_keys: BTreeSet<String> = results.iter().map(BlockResult::key).collect();
    let now_passing: Vec<&String> = known
        .iter()
        .filter(|k| !failing.contains(*k) && all_keys.contains(*k))
        .collect();
    let stale: Vec<&String> = known.iter().filter(|k| !all_keys.contains(*k)).collect();
    report(
        "oxresty (new failure)",
        &new_failures
            .iter()
            .map(|r| (*r).clone())
            .collect::<Vec<_>>(),
    );
    println!(
        "oxresty: {passed} passed, {} failed (known), {skipped} skipped",
        failing.len() - new_failures.len()
    );
    assert!(
        new_failures.is_empty(),
        "{} block(s) fail on oxresty and are not in oxresty-known-failures.txt: {:?}",
        new_failures.len(),
        new_failures.iter().map(|r| r.key()).collect::<Vec<_>>()
    );
    assert!(
        now_passing.is_empty(),
        "these blocks now pass on oxresty: remove them from oxresty-known-failures.txt \
         (or run with UPDATE_KNOWN_FAILURES=1): {now_passing:?}"
    );
    assert!(
        stale.is_empty(),
        "oxresty-known-failures.txt names blocks that do not exist: {stale:?}"
    );
}
