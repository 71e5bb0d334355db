//! `oxresty -t`, `-t -q` and `-T` against the reference's recorded output, byte for byte.
//!
//! Every example under conf-examples/{ok,broken}/NAME (and conf-examples/shared/REL for the
//! configs in ../shared/configs, when present) runs exactly as conf-examples/record.sh ran the
//! reference: a fresh copy as PREFIX, `-p PREFIX/ -c conf/nginx.conf -e logs/error.log [args]
//! MODE`, the prefix path replaced by `$PREFIX` in the output.

use std::path::{Path, PathBuf};
use std::process::Command;

const MODES: &[(&str, &[&str])] = &[("t", &["-t"]), ("tq", &["-t", "-q"]), ("T", &["-T"])];

/// One example: where its files come from and where its expected output is.
struct Example {
    label: String,
    /// Copied as the prefix (it holds conf/), or, for shared configs, copied into conf/.
    source: PathBuf,
    shared: bool,
    dir: PathBuf,
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn examples() -> Vec<Example> {
    let root = repo().join("conf-examples");
    let mut out = Vec::new();
    for kind in ["ok", "broken"] {
        let Ok(entries) = std::fs::read_dir(root.join(kind)) else {
            continue;
        };
        let mut dirs: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        dirs.sort();
        for dir in dirs {
            if dir.join("expected").is_dir() {
                out.push(Example {
                    label: format!(
                        "{kind}/{}",
                        dir.file_name().unwrap_or_default().to_string_lossy()
                    ),
                    source: dir.clone(),
                    shared: false,
                    dir,
                });
            }
        }
    }
    let shared = repo().join("../shared/configs");
    if shared.is_dir() {
        let mut stack = vec![root.join("shared")];
        let mut found = Vec::new();
        while let Some(d) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in entries.flatten() {
                let p = e.path();
                if p.file_name().is_some_and(|n| n == "expected") {
                    found.push(d.clone());
                } else if p.is_dir() {
                    stack.push(p);
                }
            }
        }
        found.sort();
        for dir in found {
            let Ok(rel) = dir.strip_prefix(root.join("shared")) else {
                continue;
            };
            out.push(Example {
                label: format!("shared/{}", rel.display()),
                source: shared.join(rel),
                shared: true,
                dir,
            });
        }
    }
    out
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let target = to.join(e.file_name());
        let ft = e.file_type()?;
        if ft.is_dir() {
            copy_dir(&e.path(), &target)?;
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(e.path())?, &target)?;
        } else {
            std::fs::copy(e.path(), &target)?;
        }
    }
    Ok(())
}

fn args_of(ex: &Example) -> Vec<String> {
    std::fs::read_to_string(ex.dir.join("args"))
        .map(|s| {
            s.lines()
                .filter(|l| !l.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

/// Runs one mode of one example; returns the differences from the recording.
fn check(ex: &Example, tag: &str, mode: &[&str]) -> Vec<String> {
    let tmp = tempfile::Builder::new()
        .prefix("oxresty-conf.")
        .tempdir()
        .expect("temp dir");
    let prefix = tmp.path().to_path_buf();
    let copied = if ex.shared {
        copy_dir(&ex.source, &prefix.join("conf"))
    } else {
        copy_dir(&ex.source, &prefix)
    };
    if let Err(e) = copied {
        return vec![format!("copying {}: {e}", ex.source.display())];
    }
    let _ = std::fs::create_dir_all(prefix.join("logs"));
    let out = Command::new(env!("CARGO_BIN_EXE_oxresty"))
        .current_dir("/")
        .arg("-p")
        .arg(format!("{}/", prefix.display()))
        .args(["-c", "conf/nginx.conf", "-e", "logs/error.log"])
        .args(args_of(ex))
        .args(mode)
        .output()
        .expect("run oxresty");
    let scrub =
        |b: &[u8]| String::from_utf8_lossy(b).replace(&prefix.display().to_string(), "$PREFIX");
    // Where oxresty intentionally differs (the reason is in `differs`), its own recorded
    // output is the expectation.
    let dir = if ex.dir.join("differs").is_file() {
        ex.dir.join("expected-oxresty")
    } else {
        ex.dir.join("expected")
    };
    let expected = |name: &str| {
        std::fs::read(dir.join(name))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    };
    let mut diffs = Vec::new();
    let status = format!("{}\n", out.status.code().unwrap_or(-1));
    let mut cmp = |what: &str, got: String, want: String| {
        if got != want {
            diffs.push(format!(
                "{} {tag} {what}:\n--- reference\n{want}--- oxresty\n{got}",
                ex.label
            ));
        }
    };
    cmp("status", status, expected(&format!("{tag}.status")));
    cmp(
        "stderr",
        scrub(&out.stderr),
        expected(&format!("{tag}.stderr")),
    );
    if tag == "T" {
        cmp("stdout", scrub(&out.stdout), expected("T.stdout"));
    }
    diffs
}

#[test]
fn config_test_matches_reference() {
    let all = examples();
    assert!(!all.is_empty(), "no conf-examples found");
    let filter = std::env::var("EXAMPLE").ok();
    let mut failed = Vec::new();
    let mut passed = 0;
    for ex in all
        .iter()
        .filter(|e| filter.as_ref().is_none_or(|f| e.label.contains(f.as_str())))
    {
        let mut diffs = Vec::new();
        for (tag, mode) in MODES {
            diffs.extend(check(ex, tag, mode));
        }
        if diffs.is_empty() {
            passed += 1;
        } else {
            failed.push((ex.label.clone(), diffs));
        }
    }
    for (_, diffs) in &failed {
        for d in diffs {
            eprintln!("{d}");
        }
    }
    eprintln!(
        "conf-examples: {passed} passed, {} failed: {}",
        failed.len(),
        failed
            .iter()
            .map(|(l, _)| l.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    );
    assert!(
        failed.is_empty(),
        "{} examples differ from the reference",
        failed.len()
    );
}
