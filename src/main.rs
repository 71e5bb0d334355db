//! The `oxresty` binary: everything it does is nginx's command line, which lives in compat.

/// mimalloc instead of the system allocator: allocation is a large share of the CPU a
/// request costs (bench/bench.py), and mimalloc's thread-local free lists make it cheap.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(compat::main());
}
