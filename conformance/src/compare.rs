//! Per-file tallies of two runs of the same case files: the reference's passing checks and how
//! many of those also pass on the binary under test. This is the figure the Lua issue asks for
//! ("at least 90% of the checks that pass on the reference").

use std::collections::{BTreeMap, HashMap};

use crate::runner::{BlockResult, Outcome};

/// The counts of one case file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileTally {
    /// Case file name.
    pub file: String,
    /// Blocks that pass on the reference.
    pub ref_blocks: usize,
    /// Of those, blocks that pass on the binary too.
    pub both_blocks: usize,
    /// Checks that hold on the reference.
    pub ref_checks: usize,
    /// Of those, checks that hold on the binary too (same block, same check, same occurrence).
    pub both_checks: usize,
}

/// A check's identity across two runs: block, check name, and its occurrence within the block
/// (a block may make the same named check more than once).
type CheckId = (usize, String, usize);

fn passing_checks(r: &BlockResult) -> Vec<CheckId> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut out = Vec::new();
    for c in &r.checks {
        let n = seen.entry(c.name.as_str()).or_insert(0);
        if c.ok {
            out.push((r.number, c.name.clone(), *n));
        }
        *n += 1;
    }
    out
}

/// Tallies `reference` against `tested`, per file in file-name order. A block skipped on either
/// side counts on neither; a block or check the tested run lacks counts as failing.
pub fn tally(reference: &[BlockResult], tested: &[BlockResult]) -> Vec<FileTally> {
    let by_key: HashMap<(&str, usize), &BlockResult> = tested
        .iter()
        .map(|r| ((r.file.as_str(), r.number), r))
        .collect();
    let mut files: BTreeMap<&str, FileTally> = BTreeMap::new();
    for r in reference {
        let t = files.entry(r.file.as_str()).or_insert_with(|| FileTally {
            file: r.file.clone(),
            ..FileTally::default()
        });
        if matches!(r.outcome, Outcome::Skipped(_)) {
            continue;
        }
        let other = by_key.get(&(r.file.as_str(), r.number)).copied();
        if matches!(other.map(|o| &o.outcome), Some(Outcome::Skipped(_))) {
            continue;
        }
        if r.outcome == Outcome::Passed {
            t.ref_blocks += 1;
            if other.map(|o| &o.outcome) == Some(&Outcome::Passed) {
                t.both_blocks += 1;
            }
        }
        let ours: Vec<CheckId> = other.map(passing_checks).unwrap_or_default();
        for id in passing_checks(r) {
            t.ref_checks += 1;
            if ours.contains(&id) {
                t.both_checks += 1;
            }
        }
    }
    files.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::Check;

    fn block(file: &str, number: usize, checks: &[(&str, bool)]) -> BlockResult {
        let checks: Vec<Check> = checks
            .iter()
            .map(|(n, ok)| Check {
                name: n.to_string(),
                ok: *ok,
                detail: String::new(),
            })
            .collect();
        let outcome = if checks.iter().all(|c| c.ok) {
            Outcome::Passed
        } else {
            Outcome::Failed
        };
        BlockResult {
            file: file.into(),
            number,
            name: String::new(),
            outcome,
            checks,
        }
    }

    #[test]
    fn counts_only_what_holds_on_the_reference() {
        let reference = vec![
            block("a.t", 1, &[("status", true), ("body", true)]),
            block("a.t", 2, &[("status", true), ("body", false)]),
            block("b.t", 1, &[("log", true), ("log", true)]),
        ];
        let tested = vec![
            block("a.t", 1, &[("status", true), ("body", false)]),
            block("a.t", 2, &[("status", true), ("body", true)]),
            // The second "log" check is missing: the block stopped early.
            block("b.t", 1, &[("log", true), ("connect", false)]),
        ];
        let t = tally(&reference, &tested);
        assert_eq!(
            t,
            vec![
                FileTally {
                    file: "a.t".into(),
                    ref_blocks: 1,
                    both_blocks: 0,
                    ref_checks: 3,
                    both_checks: 2,
                },
                FileTally {
                    file: "b.t".into(),
                    ref_blocks: 1,
                    both_blocks: 0,
                    ref_checks: 2,
                    both_checks: 1,
                },
            ]
        );
    }

    #[test]
    fn skipped_blocks_count_on_neither_side() {
        let mut skipped = block("a.t", 1, &[]);
        skipped.outcome = Outcome::Skipped("no".into());
        let reference = vec![block("a.t", 1, &[("status", true)])];
        let t = tally(&reference, &[skipped]);
        assert_eq!((t[0].ref_blocks, t[0].ref_checks), (0, 0));
    }
}
