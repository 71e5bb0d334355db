//! Data-driven tables: each tokenizer rule, each error text with nginx's line.
//!
//! Every error case was checked against the reference nginx 1.22.1 (+ lua-nginx-module
//! 0.10.23); `cargo test -p parser --test table -- --ignored` checks them again when
//! `/usr/sbin/nginx` is there.

mod common;

use common::{compact, Scratch};

/// (input file, the tree as `compact` writes it). No error expected.
const TOKENS: &[(&[u8], &str)] = &[
    // Words end at whitespace, `;`, `{`.
    (b"a b c;", r#"1:a "b" "c";"#),
    (b"a\tb\r\nc ;", r#"2:a "b" "c";"#),
    (b"a{b;}", r#"1:a { 1:b; }"#),
    (b"a b{}", r#"1:a "b" { }"#),
    // The line is the one of the terminating `;` or `{`.
    (b"a\nb\n\n;", r#"4:a "b";"#),
    (b"a\n{\nb\n;\n}", r#"2:a { 4:b; }"#),
    // Quotes, only at a word's start.
    (br#"a "b c" 'd e';"#, r#"1:a "b c" "d e";"#),
    (br#"a "" '';"#, r#"1:a "" "";"#),
    (br#"a b"c d";"#, r#"1:a "b\"c" "d\"";"#),
    (br#"a "b";"#, r#"1:a "b";"#),
    (br#"a "b"{}"#, r#"1:a "b" { }"#),
    (b"a \"b\nc\";", r#"2:a "b\nc";"#),
    (b"a \"{;}#\";", r#"1:a "{;}#";"#),
    // A `)` after a closing quote starts a new word.
    (br#"if ($a = "b") {}"#, r#"1:if "($a" "=" "b" ")" { }"#),
    (br#"a "b")c;"#, r#"1:a "b" ")c";"#),
    // Escapes: \" \' \\ drop the backslash, \t \r \n are control characters, others stay.
    (br#"a \"b\" \'c\' d\\e;"#, r#"1:a "\"b\"" "'c'" "d\\e";"#),
    (br#"a "\t\r\n" '\t';"#, r#"1:a "\t\r\n" "\t";"#),
    (
        br#"a \d \$x "\y" '\z';"#,
        r#"1:a "\\d" "\\$x" "\\y" "\\z";"#,
    ),
    (br#"a "b\"c" 'd\'e' "f\'g";"#, r#"1:a "b\"c" "d'e" "f'g";"#),
    (b"a b\\ c;", r#"1:a "b\\ c";"#),
    (b"a b\\;c;", r#"1:a "b\\;c";"#),
    (b"a b\\\nc;", r#"2:a "b\\\nc";"#),
    (b"a \\{;", r#"1:a "\\{";"#),
    // `#` starts a comment only where a word could start.
    (b"a b#c;", r#"1:a "b#c";"#),
    (b"a #c;\n;", r#"2:a;"#),
    (b"# x { ; }\na;", r#"2:a;"#),
    (b"a \"b\"\n#c\n;", r#"3:a "b";"#),
    // `${` keeps its brace; `}` never ends a word.
    (b"set $a ${b}c;", r#"1:set "$a" "${b}c";"#),
    (b"a ${{x};", r#"1:a "${{x}";"#),
    (b"a $b{}", r#"1:a "$b" { }"#),
    (b"a \"${b\" $c;", r#"1:a "${b" "$c";"#),
    (b"a b}c};", r#"1:a "b}c}";"#),
    (b"a b} {}", r#"1:a "b}" { }"#),
    // Bytes are bytes.
    (b"a \xff\xfe \"\xc3\xa9\";", r#"1:a "\xff\xfe" "\xc3\xa9";"#),
    (b"a b\0c;", r#"1:a "b\x00c";"#),
    // Lua blocks: braces in strings, long brackets and comments don't count.
    (
        b"content_by_lua_block { a = \"}\" }",
        r#"1:content_by_lua_block lua(1..1) " a = \"}\" ""#,
    ),
    (
        b"x_by_lua_block {\n  f({ '}' }) -- }\n}",
        r#"1:x_by_lua_block lua(1..3) "\n  f({ '}' }) -- }\n""#,
    ),
    (
        b"x_by_lua_block {[==[ } ]] ]==] --[[\n}]] }",
        r#"1:x_by_lua_block lua(1..2) "[==[ } ]] ]==] --[[\n}]] ""#,
    ),
    (b"x_by_lua_block {}", r#"1:x_by_lua_block lua(1..1) """#),
    (
        b"x_by_lua_block {} y;",
        r#"1:x_by_lua_block lua(1..1) "" 1:y;"#,
    ),
    (
        b"x_by_lua_block {}y;",
        r#"1:x_by_lua_block lua(1..1) "" 1:y;"#,
    ),
    // A string can't span lines: its quote is just a byte.
    (
        b"x_by_lua_block { \"a\n}",
        r#"1:x_by_lua_block lua(1..2) " \"a\n""#,
    ),
    (
        b"x_by_lua_block { s = 'a\\'}' }",
        r#"1:x_by_lua_block lua(1..1) " s = 'a\\'}' ""#,
    ),
    // Only `*_by_lua_block` followed by `{`.
    (b"x_by_lua_block;", r#"1:x_by_lua_block;"#),
    (b"x_by_lua \"}\";", r#"1:x_by_lua "}";"#),
    (b"by_lua_block { a; }", r#"1:by_lua_block { 1:a; }"#),
];

#[test]
fn tokens() {
    for (input, want) in TOKENS {
        let s = Scratch::new("tok");
        s.write("nginx.conf", input);
        let conf = s.parse();
        assert_eq!(
            conf.error,
            None,
            "input {:?}",
            String::from_utf8_lossy(input)
        );
        assert_eq!(
            compact(&conf),
            *want,
            "input {:?}",
            String::from_utf8_lossy(input)
        );
    }
}

const LUA: &str = "load_module /usr/lib/nginx/modules/ndk_http_module.so;\n\
                   load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;\n";
const EV: &str = "events {}\n";

/// A syntax error case: the main file, other files under conf/ (a name ending in `/` is a
/// directory), the message with `<conf>` for the conf dir, where (`""`: no location), the line.
struct ErrorCase {
    conf: String,
    files: Vec<(&'static str, Vec<u8>)>,
    message: &'static str,
    file: &'static str,
    line: usize,
}

fn case(
    conf: impl Into<Vec<u8>>,
    message: &'static str,
    file: &'static str,
    line: usize,
) -> ErrorCase {
    ErrorCase {
        conf: String::from_utf8_lossy(&conf.into()).into_owned(),
        files: vec![],
        message,
        file,
        line,
    }
}

fn lua_loc(body: &str) -> String {
    format!("{LUA}{EV}http {{\n server {{\n  location / {{\n   content_by_lua_block {{{body}}}\n  }}\n }}\n}}\n")
}

fn error_cases() -> Vec<ErrorCase> {
    const F: &str = "nginx.conf";
    let long = "a".repeat(5000);
    let mut v = vec![
        case(format!("{EV};"), r#"unexpected ";""#, F, 2),
        case(format!("{EV}\n\n{{"), r#"unexpected "{""#, F, 4),
        case(format!("{EV}env \"a\"b;"), r#"unexpected "b""#, F, 2),
        case(format!("{EV}env 'a'b;"), r#"unexpected "b""#, F, 2),
        case(format!("{EV}env \"a\"#c\n;"), r##"unexpected "#""##, F, 2),
        case(format!("{EV}env \"a\"}}"), r#"unexpected "}""#, F, 2),
        case(format!("{EV}env \"a\"\n\"b\"\\c;"), r#"unexpected "\""#, F, 3),
        case(format!("{EV}env \"a\"'b';"), r#"unexpected "'""#, F, 2),
        case(format!("{EV}env a }}"), r#"unexpected "}""#, F, 2),
        case("}", r#"unexpected "}""#, F, 1),
        case(format!("{EV}env \"abc"), r#"unexpected end of file, expecting ";" or "}""#, F, 2),
        case(format!("{EV}env abc"), r#"unexpected end of file, expecting ";" or "}""#, F, 2),
        case(format!("{EV}env abc  \n\n"), r#"unexpected end of file, expecting ";" or "}""#, F, 4),
        case(format!("{EV}http {{\n server {{\n"), r#"unexpected end of file, expecting "}""#, F, 4),
        case(format!("{EV}env {long};"), r#"too long parameter "aaaaaaaaaa..." started"#, F, 2),
        case(format!("{EV}env \"{long}"), r#"too long parameter, probably missing terminating """ character"#, F, 2),
        case(format!("{EV}\n\nenv '{long}"), r#"too long parameter, probably missing terminating "'" character"#, F, 4),
        // A comment is read as one token too.
        case(format!("# {long}\n{EV}"), r##"too long parameter "# aaaaaaaa..." started"##, F, 1),
        // The limit is nginx's 4096-byte buffer, so it depends on where the word starts.
        case(format!("env {};{EV}", "a".repeat(4097)), r#"too long parameter "aaaaaaaaaa..." started"#, F, 1),
        case(format!("{}env {};{EV}", " ".repeat(3000), "a".repeat(4096)), r#"too long parameter "aaaaaaaaaa..." started"#, F, 1),
        // include: nginx's own directive.
        case(format!("{EV}\ninclude missing.conf;"), r#"open() "<conf>/missing.conf" failed (2: No such file or directory)"#, F, 3),
        case(format!("{EV}include a b;"), r#"invalid number of arguments in "include" directive"#, F, 2),
        case(format!("{EV}include;"), r#"invalid number of arguments in "include" directive"#, F, 2),
        case(format!("{EV}include a {{"), r#"directive "include" is not terminated by ";""#, F, 2),
        case(format!("{EV}include {{"), r#"directive "include" is not terminated by ";""#, F, 2),
        // A directory opens but can't be read, reported without a location.
        case(format!("{EV}include \"\";"), r#"pread() "<conf>/" failed (21: Is a directory)"#, "", 0),
        // Lua blocks.
        case(
            format!("{LUA}{EV}http {{\n server {{\n  location / {{\n content_by_lua_block {{\n local a = {{\n\n b = 1 }}\n"),
            "unexpected end of file, expecting terminating characters for lua code block",
            F,
            8,
        ),
        case(
            format!("{LUA}{EV}http {{\n server {{\n  location / {{\n content_by_lua_block {{\n local a = \"{{\"\n\n"),
            "unexpected end of file, expecting terminating characters for lua code block",
            F,
            7,
        ),
        case(
            lua_loc("\n\n local s = [==[ abc ]=]\n\n"),
            r#"Lua code block missing the closing long bracket "]==]", the inlined Lua code may be too long"#,
            F,
            9,
        ),
        case(
            lua_loc("\n\n --[[ abc ] ]\n\n"),
            r#"Lua code block missing the closing long bracket "]]", the inlined Lua code may be too long"#,
            F,
            9,
        ),
        // The closing bracket must be in nginx's buffer.
        case(
            lua_loc(&format!("\n local s = [[{}]]\n", "x".repeat(5000))),
            r#"Lua code block missing the closing long bracket "]]", the inlined Lua code may be too long"#,
            F,
            8,
        ),
        case(
            lua_loc(&format!("\n local s = \"{}\"\n", "x".repeat(5000))),
            "too long lua code block, probably missing terminating characters",
            F,
            7,
        ),
        case(
            lua_loc(&format!("\nlocal t = {{{}}}\n", " ".repeat(4100))),
            "too long lua code block, probably missing terminating characters",
            F,
            8,
        ),
        // A string doesn't span lines, so this `}` ends the block and `"` is nginx's again.
        case(lua_loc("\n local s = \"abc\n } \"\n"), r#"unexpected end of file, expecting ";" or "}""#, F, 14),
    ];

    // lua-nginx-module doesn't count the newlines of a token-less stretch it reads past near
    // the end of the file, so nginx reports this error at line 47, not 413.
    let head = format!("{LUA}{EV}http {{\n server {{\n  location / {{\n   content_by_lua_block {{");
    let drift = format!(
        "{}{head}\n{}}}\n  }}\n }}\n}}\n\nenv \"a\"b;\n",
        " ".repeat(1900 - head.len()),
        "x = 1\n".repeat(400)
    );
    v.push(case(drift, r#"unexpected "b""#, F, 47));

    let mut inc = |files: Vec<(&'static str, &[u8])>, mut c: ErrorCase| {
        c.files = files.into_iter().map(|(n, b)| (n, b.to_vec())).collect();
        v.push(c);
    };
    inc(
        vec![("a.conf", b"\n\nenv \"x\"y;")],
        case(
            format!("{EV}include a.conf;"),
            r#"unexpected "y""#,
            "a.conf",
            3,
        ),
    );
    // An included file is parsed on its own: a block can't close or stay open across files.
    inc(
        vec![("a.conf", b"types {}\n}\n")],
        case(
            format!("{EV}http {{\ninclude a.conf;\n}}"),
            r#"unexpected "}""#,
            "a.conf",
            2,
        ),
    );
    inc(
        vec![("a.conf", b"types {\n")],
        case(
            format!("{EV}http {{\ninclude a.conf;\n}}"),
            r#"unexpected end of file, expecting "}""#,
            "a.conf",
            2,
        ),
    );
    inc(
        vec![("d/", b"")],
        case(
            format!("{EV}include d;"),
            r#"pread() "<conf>/d" failed (21: Is a directory)"#,
            "",
            0,
        ),
    );
    // Glob matches are read in order; hidden files don't match `*`.
    inc(
        vec![("c/b.conf", b"env B;"), ("c/a.conf", b"env A;\n\n}")],
        case(
            format!("{EV}include c/*.conf;"),
            r#"unexpected "}""#,
            "c/a.conf",
            3,
        ),
    );
    inc(
        vec![
            ("c/.h", b"}"),
            ("c/b.conf", b"env B;\n}"),
            ("c/a.conf", b"env A;"),
        ],
        case(
            format!("{EV}include c/*;"),
            r#"unexpected "}""#,
            "c/b.conf",
            2,
        ),
    );
    v
}

#[test]
fn errors() {
    for c in error_cases() {
        let s = Scratch::new("err");
        s.write("nginx.conf", c.conf.as_bytes());
        for (name, bytes) in &c.files {
            s.write(name, bytes);
        }
        let conf = s.parse();
        let e = conf
            .error
            .as_ref()
            .unwrap_or_else(|| panic!("no error for {:?}", c.conf));
        let conf_dir = s.conf().display().to_string();
        assert_eq!(
            e.message.replace(&conf_dir, "<conf>"),
            c.message,
            "conf {:?}",
            c.conf
        );
        let file = e
            .file
            .map(|f| common::file_name(&conf, f, &s.conf()))
            .unwrap_or_default();
        assert_eq!(
            (file.as_str(), e.line),
            (c.file, c.line),
            "conf {:?}",
            c.conf
        );
    }
}

/// `-g` text: (text, error message or "" for none, the directives).
const PARAMS: &[(&[u8], &str, &str)] = &[
    (b"daemon off;", "", r#"0:daemon "off";"#),
    (b"", "", ""),
    (b"a;\nb;", "", "0:a; 1:b;"),
    (b"daemon off", r#"unexpected end of parameter, expecting ";""#, ""),
    (b"daemon \"off", r#"unexpected end of parameter, expecting ";""#, ""),
    (b"events {}", "block directives are not supported in -g option", ""),
    (b"}", r#"unexpected "}""#, ""),
    (b"daemon\n\n\"off\"x;", r#"unexpected "x""#, ""),
    (b"x_by_lua_block { }", "block directives are not supported in -g option", ""),
    (b"include a b;", r#"invalid number of arguments in "include" directive"#, ""),
    // No buffer refills, so no length limit.
    (b"env aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa;", "", "0:env \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\";"),
];

#[test]
fn params() {
    let opts = parser::Options {
        conf_prefix: "/nonexistent/conf".into(),
    };
    for (text, message, tree) in PARAMS {
        let conf = parser::parse_params(text, &opts);
        assert!(conf.files[0].command_line);
        assert_eq!(conf.files[0].bytes, *text);
        let got = conf
            .error
            .as_ref()
            .map(|e| e.message.as_str())
            .unwrap_or("");
        assert_eq!(got, *message, "text {:?}", String::from_utf8_lossy(text));
        if let Some(e) = &conf.error {
            assert_eq!(e.file, Some(0));
        }
        assert_eq!(
            compact(&conf),
            *tree,
            "text {:?}",
            String::from_utf8_lossy(text)
        );
    }
    let long = format!("env {};", "a".repeat(10000));
    assert_eq!(parser::parse_params(long.as_bytes(), &opts).error, None);
}

#[test]
fn params_include() {
    let s = Scratch::new("g");
    s.write("a.conf", b"env A;\n}");
    let conf = parser::parse_params(b"include a.conf;", &s.options());
    assert_eq!(compact(&conf), "1:env \"A\";");
    let e = conf.error.expect("error");
    assert_eq!(
        (e.message.as_str(), e.file, e.line),
        (r#"unexpected "}""#, Some(1), 2)
    );
    let conf = parser::parse_params(b"include missing.conf;", &s.options());
    let e = conf.error.expect("error");
    assert_eq!(e.file, Some(0));
    assert!(
        e.message
            .ends_with("missing.conf\" failed (2: No such file or directory)"),
        "{}",
        e.message
    );
}

#[test]
fn main_file_missing() {
    let s = Scratch::new("missing");
    let conf = s.parse();
    let e = conf.error.expect("error");
    let path = s.conf().join("nginx.conf");
    assert_eq!(
        e.message,
        format!(
            "open() \"{}\" failed (2: No such file or directory)",
            path.display()
        )
    );
    assert_eq!(e.file, None);
    assert!(conf.files.is_empty() && conf.directives.is_empty());
}

#[test]
fn includes_spliced_in_order() {
    let s = Scratch::new("inc");
    s.write(
        "nginx.conf",
        b"a;\nhttp {\n  include c/*.conf;\n  include none/*.conf;\n  include b.conf;\n}\nz;",
    );
    s.write("c/2.conf", b"two;");
    s.write("c/1.conf", b"\none;");
    s.write("b.conf", b"b { inner; }\ninclude c/1.conf;");
    let conf = s.parse();
    assert_eq!(conf.error, None);
    assert_eq!(
        compact(&conf),
        r#"1:a; 2:http { 2:one; 1:two; 1:b { 1:inner; } 2:one; } 7:z;"#
    );
    let names: Vec<_> = (0..conf.files.len())
        .map(|i| common::file_name(&conf, i, &s.conf()))
        .collect();
    // A file read twice is listed once (nginx dumps it once for -T).
    assert_eq!(names, ["nginx.conf", "c/1.conf", "c/2.conf", "b.conf"]);
    let http = &conf.directives[1];
    let parser::Body::Block(b) = &http.body else {
        panic!("block")
    };
    let files: Vec<_> = b.directives.iter().map(|d| d.file).collect();
    assert_eq!(files, [1, 2, 3, 1]);
}

#[test]
fn incomplete_blocks_hold_the_error() {
    let s = Scratch::new("inc");
    s.write("nginx.conf", b"a {\n b {\n  c;\n  d \"x\"y;\n }\n}\n");
    let conf = s.parse();
    assert_eq!(compact(&conf), r#"1:a { 2:b { 3:c; }? }?"#);
    let e = conf.error.expect("error");
    assert_eq!((e.message.as_str(), e.line), (r#"unexpected "y""#, 4));
    let s = Scratch::new("inc");
    s.write("nginx.conf", b"a {\n x_by_lua_block {\n  f()\n");
    let conf = s.parse();
    assert_eq!(
        compact(&conf),
        r#"1:a { 2:x_by_lua_block lua(2..2) "\n  f()\n"? }?"#
    );
}

#[test]
fn self_include_stops() {
    let s = Scratch::new("self");
    s.write("nginx.conf", b"a;\ninclude nginx.conf;");
    let e = s.parse().error.expect("error");
    assert!(
        e.message.ends_with("failed (24: Too many open files)"),
        "{}",
        e.message
    );
}

/// Each error case against the reference nginx (`nginx -t`), when it is installed.
#[test]
#[ignore = "needs /usr/sbin/nginx (Debian 1.22.1 with the lua module)"]
fn errors_match_reference_nginx() {
    let nginx = std::path::Path::new("/usr/sbin/nginx");
    if !nginx.exists() {
        return;
    }
    for c in error_cases() {
        let s = Scratch::new("ref");
        s.write("nginx.conf", c.conf.as_bytes());
        for (name, bytes) in &c.files {
            s.write(name, bytes);
        }
        std::fs::create_dir_all(s.root.join("logs")).expect("logs");
        let out = std::process::Command::new(nginx)
            .arg("-p")
            .arg(format!("{}/", s.root.display()))
            .args(["-c", "conf/nginx.conf", "-e", "logs/error.log", "-t"])
            .output()
            .expect("run nginx");
        let stderr =
            String::from_utf8_lossy(&out.stderr).replace(&s.conf().display().to_string(), "<conf>");
        let first = stderr.lines().next().unwrap_or_default();
        let want = match c.file {
            "" => c.message.to_string(),
            f => format!("{} in <conf>/{f}:{}", c.message, c.line),
        };
        assert!(
            first.ends_with(&format!("] {want}")),
            "nginx said {first:?}, we expect {want:?}"
        );
    }
}
