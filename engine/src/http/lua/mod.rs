//! lua-nginx-module: OpenResty's Lua programming model.

pub(crate) mod directives;
