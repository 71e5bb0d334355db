//! `parse_file` and `parse_params` never panic: arbitrary bytes, and real configurations with
//! a few bytes changed. No `/` is ever generated, so no `include` can reach outside the scratch
//! or example directories.

mod common;

use proptest::prelude::*;

/// Bytes that matter to the tokenizers.
const INTERESTING: &[u8] = b"{};\"'\\$#\n\r\t ()[]=-ax_*?\0\xff";

fn no_slash(mut v: Vec<u8>) -> Vec<u8> {
    for c in &mut v {
        if *c == b'/' {
            *c = b'x';
        }
    }
    v
}

/// Bytes mostly from the interesting set, sometimes long enough for nginx's buffer.
fn conf_bytes() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![3 => proptest::sample::select(INTERESTING), 1 => any::<u8>()];
    prop_oneof![
        proptest::collection::vec(byte.clone(), 0..200),
        proptest::collection::vec(byte, 3000..9000),
    ]
    .prop_map(no_slash)
}

/// Every example configuration with its conf dir.
fn examples() -> &'static [(Vec<u8>, std::path::PathBuf)] {
    static ALL: std::sync::OnceLock<Vec<(Vec<u8>, std::path::PathBuf)>> =
        std::sync::OnceLock::new();
    ALL.get_or_init(read_examples)
}

fn read_examples() -> Vec<(Vec<u8>, std::path::PathBuf)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../conf-examples");
    let mut out = Vec::new();
    for kind in ["ok", "broken"] {
        let Ok(dirs) = std::fs::read_dir(root.join(kind)) else {
            continue;
        };
        for d in dirs.flatten() {
            let conf = d.path().join("conf");
            if let Ok(bytes) = std::fs::read(conf.join("nginx.conf")) {
                out.push((bytes, conf));
            }
        }
    }
    out.sort();
    // Something to mutate even without the examples.
    out.push((
        b"events {}\nhttp {\n server {\n  location / {\n   content_by_lua_block {\n  local s = \"}\" --[[ { ]]\n  }\n  }\n }\n}\n"
            .to_vec(),
        std::path::PathBuf::from("/nonexistent/conf"),
    ));
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn params_never_panic(text in conf_bytes()) {
        let opts = parser::Options { conf_prefix: "/nonexistent/conf".into() };
        let conf = parser::parse_params(&text, &opts);
        prop_assert!(conf.files[0].command_line);
    }

    #[test]
    fn files_never_panic(text in conf_bytes()) {
        let s = common::Scratch::new("prop");
        s.write("nginx.conf", &text);
        let conf = s.parse();
        prop_assert_eq!(&conf.files[0].bytes, &text);
    }

    #[test]
    fn mutated_examples_never_panic(
        pick in any::<prop::sample::Index>(),
        edits in proptest::collection::vec(
            (any::<prop::sample::Index>(), 0u8..3, proptest::sample::select(INTERESTING)),
            1..6,
        ),
    ) {
        let all = examples();
        let (bytes, conf_dir) = &all[pick.index(all.len())];
        let mut text = bytes.clone();
        for (at, op, b) in edits {
            let i = at.index(text.len() + 1);
            match op {
                0 => text.insert(i, b),
                1 if i < text.len() => { text.remove(i); }
                _ if i < text.len() => text[i] = b,
                _ => text.push(b),
            }
        }
        let s = common::Scratch::new("mut");
        s.write("nginx.conf", &text);
        // Includes resolve against the example's own conf dir.
        let conf = parser::parse_file(&s.conf().join("nginx.conf"), &parser::Options { conf_prefix: conf_dir.clone() });
        prop_assert!(!conf.files.is_empty());
        let _ = parser::parse_params(&text, &parser::Options { conf_prefix: conf_dir.clone() });
    }
}
