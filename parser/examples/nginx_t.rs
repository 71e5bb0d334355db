//! Parses a configuration and prints its first syntax error as `nginx -t` words it, or `ok`.
//!
//! `cargo run -p parser --example nginx_t -- /abs/conf/nginx.conf [-g "directives"]`

use std::path::Path;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.first() else {
        eprintln!("usage: nginx_t /abs/path/nginx.conf [-g TEXT]");
        std::process::exit(2);
    };
    let path = Path::new(path);
    let opts = parser::Options {
        conf_prefix: path.parent().unwrap_or(Path::new("/")).to_path_buf(),
    };
    let conf = match args.get(1).map(String::as_str) {
        Some("-g") => parser::parse_params(args.get(2).map_or(&b""[..], |s| s.as_bytes()), &opts),
        _ => parser::parse_file(path, &opts),
    };
    match &conf.error {
        None => println!("ok"),
        Some(e) => match e.file.and_then(|f| conf.files.get(f)) {
            None => println!("{}", e.message),
            Some(f) if f.command_line => println!("{} in command line", e.message),
            Some(f) => println!("{} in {}:{}", e.message, f.path.display(), e.line),
        },
    }
}
