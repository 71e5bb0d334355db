//! The oxresty binary exports its symbols so that Lua C modules (Debian's lua-cjson, an
//! OpenResty `lualib` tree's .so files) find LuaJIT's `lua_*` API in it, as they do in the
//! nginx binary that OpenResty links LuaJIT into.

fn main() {
    println!("cargo:rustc-link-arg-bins=-Wl,--export-dynamic");
}
