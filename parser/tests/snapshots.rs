//! One insta snapshot of the tree per example configuration: `conf-examples/*/NAME/conf/nginx.conf`
//! and the shared configs (`<repo>/../shared/configs`, skipped when absent). Where the reference
//! nginx's recorded `-t` output (`expected/t.stderr`) names a syntax error, ours must be the same.

mod common;

use std::path::{Path, PathBuf};

use parser::{Conf, Options};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// (snapshot name, main file, conf prefix, recorded expectations dir).
fn examples() -> Vec<(String, PathBuf, PathBuf, PathBuf)> {
    let mut out = Vec::new();
    let examples = repo().join("conf-examples");
    for kind in ["ok", "broken"] {
        let Ok(dirs) = std::fs::read_dir(examples.join(kind)) else {
            continue;
        };
        for d in dirs.flatten() {
            let conf = d.path().join("conf");
            if conf.join("nginx.conf").is_file() {
                let name = format!("{kind}__{}", d.file_name().to_string_lossy());
                out.push((
                    name,
                    conf.join("nginx.conf"),
                    conf,
                    d.path().join("expected"),
                ));
            }
        }
    }
    let shared = repo().join("../shared/configs");
    let mut shared_dirs = vec![shared.join("h5bp-server-configs-nginx")];
    if let Ok(dirs) = std::fs::read_dir(shared.join("crossplane-fixtures")) {
        shared_dirs.extend(dirs.flatten().map(|d| d.path()));
    }
    for dir in shared_dirs {
        if !dir.join("nginx.conf").is_file() {
            continue;
        }
        let rel = dir.strip_prefix(&shared).unwrap_or(&dir).to_path_buf();
        let name = format!("shared__{}", rel.display()).replace('/', "__");
        out.push((
            name,
            dir.join("nginx.conf"),
            dir.clone(),
            examples.join("shared").join(&rel).join("expected"),
        ));
    }
    out.sort();
    out
}

/// The `-g` text of an example's `args` file (`-g` on one line, the text on the next).
fn g_args(conf_dir: &Path) -> Option<Vec<u8>> {
    let args = std::fs::read(conf_dir.join("../args")).ok()?;
    let lines: Vec<&[u8]> = args.split(|&c| c == b'\n').collect();
    let at = lines.iter().position(|l| *l == b"-g")?;
    lines.get(at + 1).map(|l| l.to_vec())
}

/// Our first syntax error as nginx prints it, with the conf dir as `$PREFIX/conf`.
fn as_nginx(conf: &Conf, conf_dir: &Path) -> Option<String> {
    let e = conf.error.as_ref()?;
    let dir = conf_dir.display().to_string();
    let msg = e.message.replace(&dir, "$PREFIX/conf");
    Some(match e.file.and_then(|f| conf.files.get(f)) {
        None => msg,
        Some(f) if f.command_line => format!("{msg} in command line"),
        Some(f) => format!(
            "{msg} in {}:{}",
            f.path.display().to_string().replace(&dir, "$PREFIX/conf"),
            e.line
        ),
    })
}

/// The messages only the parser gives.
fn is_syntax_error(msg: &str) -> bool {
    // `unexpected "X"` is one byte; `unexpected "=~" in condition` is `if`'s.
    if msg.starts_with("unexpected \"") && msg.as_bytes().get(13) == Some(&b'"') {
        return true;
    }
    [
        "unexpected end of ",
        "too long ",
        "block directives are not supported",
        "invalid number of arguments in \"include\"",
        "directive \"include\" is not terminated",
        "open() ",
        "Lua code block missing",
    ]
    .iter()
    .any(|p| msg.starts_with(p))
}

#[test]
fn snapshots() {
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    let _guard = settings.bind_to_scope();

    for (name, main, conf_dir, expected) in examples() {
        let opts = Options {
            conf_prefix: conf_dir.clone(),
        };
        let mut conf = parser::parse_file(&main, &opts);
        let mut text = common::render(&conf, &conf_dir);
        if let Some(g) = g_args(&conf_dir) {
            let params = parser::parse_params(&g, &opts);
            text = format!("-g:\n{}main:\n{text}", common::render(&params, &conf_dir));
            if params.error.is_some() {
                conf = params;
            }
        }
        insta::assert_snapshot!(name.as_str(), text);

        // nginx's first error, when it is one of ours, is ours.
        let Ok(stderr) = std::fs::read_to_string(expected.join("t.stderr")) else {
            continue;
        };
        let first = stderr
            .lines()
            .find_map(|l| l.split_once("] ").map(|(_, m)| m.to_string()));
        let ours = as_nginx(&conf, &conf_dir);
        if let Some(nginx) = first.filter(|m| is_syntax_error(m)) {
            assert_eq!(ours.as_deref(), Some(nginx.as_str()), "{name}");
        }
    }
}
