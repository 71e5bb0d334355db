//! The `oxresty` binary: everything it does is nginx's command line, which lives in compat.

fn main() {
    std::process::exit(compat::main());
}
