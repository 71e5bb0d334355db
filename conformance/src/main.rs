//! `conformance [--binary PATH | --reference] [-j N] [-v] FILES...`: runs Test::Nginx-format
//! case files against a server binary and prints one line per block, the failed checks, and a
//! final `N passed, M failed, K skipped` line. Exits 1 when a block failed.
//!
//! `conformance --compare PATH [-j N] FILES...`: runs the files against the reference and then
//! against PATH, and prints the blocks that pass on the reference and fail on PATH, then per
//! file how many of the reference's passing blocks and checks also pass on PATH, with totals.
//! Exits 0.

use std::path::PathBuf;
use std::process::ExitCode;

use conformance::{parse_file, run_files, tally, Outcome, RunOptions, REFERENCE};

fn usage() -> ExitCode {
    eprintln!(
        "usage: conformance [--binary PATH | --reference | --compare PATH] [-j JOBS] [-v] FILES..."
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut binary: Option<PathBuf> = None;
    let mut jobs = 4usize;
    let mut verbose = false;
    let mut compare: Option<PathBuf> = None;
    let mut files = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--binary" => match args.next() {
                Some(b) => binary = Some(PathBuf::from(b)),
                None => return usage(),
            },
            "--reference" => binary = Some(PathBuf::from(REFERENCE)),
            "--compare" => match args.next() {
                Some(b) => compare = Some(PathBuf::from(b)),
                None => return usage(),
            },
            "-j" => match args.next().and_then(|n| n.parse().ok()) {
                Some(n) => jobs = n,
                None => return usage(),
            },
            "-v" => verbose = true,
            "-h" | "--help" => return usage(),
            _ => files.push(PathBuf::from(a)),
        }
    }
    if files.is_empty() {
        return usage();
    }
    let binary = binary.unwrap_or_else(|| PathBuf::from(REFERENCE));
    let mut parsed = Vec::new();
    for f in &files {
        match parse_file(f) {
            Ok(cf) => parsed.push(cf),
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(2);
            }
        }
    }
    // Files of the same name in different directories (023-rewrite/sanity.t,
    // 024-access/sanity.t) are told apart by their directory.
    let names: Vec<String> = parsed.iter().map(|c| c.name.clone()).collect();
    for i in 0..parsed.len() {
        if names.iter().filter(|n| **n == names[i]).count() > 1 {
            let name = &names[i];
            if let Some(dir) = files[i]
                .parent()
                .and_then(|d| d.file_name())
                .map(|d| d.to_string_lossy().into_owned())
            {
                parsed[i].name = format!("{dir}/{name}");
            }
        }
    }
    if let Some(tested) = compare {
        return compare_runs(&parsed, tested, jobs);
    }
    let opts = RunOptions::new(binary);
    let results = run_files(&parsed, &opts, jobs);
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for r in &results {
        match &r.outcome {
            Outcome::Passed => {
                passed += 1;
                println!("ok      {} - {}", r.key(), r.name);
                if verbose {
                    for c in &r.checks {
                        println!("          ok {}", c.name);
                    }
                }
            }
            Outcome::Skipped(why) => {
                skipped += 1;
                println!("skipped {} - {} ({why})", r.key(), r.name);
            }
            Outcome::Failed => {
                failed += 1;
                println!("FAILED  {} - {}", r.key(), r.name);
                for c in r.failures() {
                    println!("          {}: {}", c.name, c.detail);
                }
            }
        }
    }
    println!("{passed} passed, {failed} failed, {skipped} skipped");
    if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Runs `files` on the reference and on `tested` and prints the per-file tallies.
fn compare_runs(files: &[conformance::CaseFile], tested: PathBuf, jobs: usize) -> ExitCode {
    let reference = run_files(files, &RunOptions::new(REFERENCE), jobs);
    let ours = run_files(files, &RunOptions::new(tested), jobs);
    let tallies = tally(&reference, &ours);
    // The blocks that pass on the reference and not here, with their failed checks.
    for r in &reference {
        let Some(o) = ours
            .iter()
            .find(|o| o.file == r.file && o.number == r.number)
        else {
            continue;
        };
        if r.outcome == Outcome::Passed && o.outcome == Outcome::Failed {
            println!("FAILED  {} - {}", o.key(), o.name);
            for c in o.failures() {
                println!("          {}: {}", c.name, c.detail);
            }
        }
    }
    let pct = |a: usize, b: usize| {
        if b == 0 {
            100.0
        } else {
            a as f64 * 100.0 / b as f64
        }
    };
    println!(
        "{:<40} {:>15} {:>15}",
        "file", "blocks both/ref", "checks both/ref"
    );
    let (mut rb, mut bb, mut rc, mut bc) = (0, 0, 0, 0);
    for t in &tallies {
        println!(
            "{:<40} {:>7}/{:<7} {:>7}/{:<7} {:>5.1}%",
            t.file,
            t.both_blocks,
            t.ref_blocks,
            t.both_checks,
            t.ref_checks,
            pct(t.both_checks, t.ref_checks)
        );
        rb += t.ref_blocks;
        bb += t.both_blocks;
        rc += t.ref_checks;
        bc += t.both_checks;
    }
    println!(
        "total: blocks {bb}/{rb} ({:.1}%), checks {bc}/{rc} ({:.1}%)",
        pct(bb, rb),
        pct(bc, rc)
    );
    ExitCode::SUCCESS
}
