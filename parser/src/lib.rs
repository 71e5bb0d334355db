//! nginx.conf bytes -> a generic [`Directive`] tree.
//!
//! The tokenizer follows nginx's (`ngx_conf_read_token`), `*_by_lua_block` bodies are lexed as
//! Lua (lua-nginx-module's rules and error texts), and `include` is expanded in place with glob.
//! The parser knows no directive by meaning: names, arguments, blocks, files and nginx's lines.
//!
//! Parsing stops at the first syntax error, as nginx does. Everything read before it is kept, and
//! the error is returned beside the tree: in document order it comes after every directive of the
//! tree, at the end of the innermost block left incomplete (`Block::complete == false`), so a
//! consumer that walks the tree in order reports errors in nginx's order.

use std::path::{Path, PathBuf};

mod include;
mod lexer;
mod lua;
mod parse;

/// Index into [`Conf::files`].
pub type FileId = usize;

/// A parsed configuration: the main file with every included file expanded in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conf {
    /// Every file read, in the order nginx reads them (main file first); `-T` dumps them.
    pub files: Vec<SourceFile>,
    pub directives: Vec<Directive>,
    /// The syntax error that stopped the parse, if any.
    pub error: Option<ParseError>,
}

/// One file of the configuration, or the `-g` command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// Full path, as nginx prints it in `in FILE:LINE` and `# configuration file FILE:`.
    pub path: PathBuf,
    pub bytes: Vec<u8>,
    /// `-g` directives: nginx says `in command line` instead of `in FILE:LINE`.
    pub command_line: bool,
}

/// One directive: `name args... ;`, `name args... { ... }` or `name args... { lua code }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    pub name: Vec<u8>,
    /// Arguments after unquoting and escape processing, as nginx hands them to a handler.
    pub args: Vec<Vec<u8>>,
    pub file: FileId,
    /// nginx's line: the line of the terminating `;` or `{`, not of the name.
    pub line: usize,
    pub body: Body,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// Terminated by `;`.
    None,
    /// `{ ... }` holding directives (for `types`, `map` and the like: data lines).
    Block(Block),
    /// `*_by_lua_block { ... }`: the Lua code between the braces, verbatim.
    Lua(LuaBlock),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub directives: Vec<Directive>,
    /// false when the parse stopped inside this block ([`Conf::error`] belongs at its end).
    pub complete: bool,
    /// Line of the closing `}` (nginx reports block-end checks there); 0 when incomplete.
    pub end_line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LuaBlock {
    /// The bytes between `{` and the matching `}`, as written (exactly what lua-nginx-module
    /// keeps: its buffer handling can drop bytes in a rare case, which is mirrored).
    /// When incomplete: up to where reading stopped.
    pub code: Vec<u8>,
    /// Line of the opening `{` (the directive's line).
    pub start_line: usize,
    /// Line of the closing `}` as nginx counts it (lua-nginx-module skips the newlines of a
    /// stretch with no Lua token it had to read past, so later lines can lag).
    pub end_line: usize,
    /// false when the parse stopped inside this block.
    pub complete: bool,
}

/// A syntax error, worded as nginx words it (without the ` in FILE:LINE` suffix); bytes quoted
/// from the input that aren't UTF-8 become U+FFFD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// e.g. `unexpected end of file, expecting ";" or "}"`, or
    /// `open() "/etc/x.conf" failed (2: No such file or directory)`.
    pub message: String,
    /// Where nginx reports it; `None` when the main file itself can't be read (no location).
    pub file: Option<FileId>,
    pub line: usize,
}

/// How relative `include` paths resolve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// nginx's conf prefix: the directory of the main configuration file.
    pub conf_prefix: PathBuf,
}

/// Parses the main configuration file at `path` (already made absolute), expanding includes.
pub fn parse_file(path: &Path, opts: &Options) -> Conf {
    parse::Parser::new(opts).main_file(path)
}

/// Parses `-g` directives (nginx: `ngx_conf_param`); [`Conf::files`]`[0]` is the command line.
pub fn parse_params(text: &[u8], opts: &Options) -> Conf {
    parse::Parser::new(opts).params(text)
}
