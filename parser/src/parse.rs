//! The directive loop: tokens into the tree, blocks, Lua blocks and `include`.
//!
//! nginx recurses (a block or an included file is a nested `ngx_conf_parse`); this keeps explicit
//! stacks instead, so no input can exhaust the call stack.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::include::{self, ReadError};
use crate::lexer::{LexError, Reader, Token};
use crate::{lua, Block, Body, Conf, Directive, FileId, LuaBlock, Options, ParseError, SourceFile};

/// How deep `include`s may nest: nginx keeps every including file open, so a file that includes
/// itself ends when `open()` runs out of descriptors (1024 by default, a few taken already).
const MAX_INCLUDE_DEPTH: usize = 1000;

/// Something being read.
enum Frame {
    /// A file or the `-g` text (nginx: an `ngx_conf_parse` with a file name, or the param one);
    /// `depth` is the number of blocks open when it started (more means nginx's `parse_block`).
    File {
        id: FileId,
        reader: Reader,
        depth: usize,
    },
    /// The files an `include` still has to read, and where the `include` was.
    Include {
        from: FileId,
        line: usize,
        pending: std::vec::IntoIter<PathBuf>,
    },
}

/// A block whose `}` hasn't been read yet.
struct Open {
    directive: Directive,
    children: Vec<Directive>,
}

/// The tree being built.
#[derive(Default)]
struct Tree {
    root: Vec<Directive>,
    open: Vec<Open>,
}

impl Tree {
    fn push(&mut self, d: Directive) {
        match self.open.last_mut() {
            Some(o) => o.children.push(d),
            None => self.root.push(d),
        }
    }

    fn close(&mut self, complete: bool, end_line: usize) {
        if let Some(Open {
            mut directive,
            children,
        }) = self.open.pop()
        {
            directive.body = Body::Block(Block {
                directives: children,
                complete,
                end_line,
            });
            self.push(directive);
        }
    }

    /// Every open block, innermost first, marked incomplete.
    fn into_root(mut self) -> Vec<Directive> {
        while !self.open.is_empty() {
            self.close(false, 0);
        }
        self.root
    }
}

pub(crate) struct Parser<'o> {
    opts: &'o Options,
    files: Vec<SourceFile>,
    ids: HashMap<PathBuf, FileId>,
    frames: Vec<Frame>,
    tree: Tree,
}

impl<'o> Parser<'o> {
    pub(crate) fn new(opts: &'o Options) -> Self {
        Parser {
            opts,
            files: Vec::new(),
            ids: HashMap::new(),
            frames: Vec::new(),
            tree: Tree::default(),
        }
    }

    /// Parses the main file (nginx: `ngx_conf_parse(cf, filename)` from `ngx_init_cycle`).
    pub(crate) fn main_file(mut self, path: &std::path::Path) -> Conf {
        let error = match self.open(path.to_path_buf()) {
            Ok(()) => self.run(),
            // The main file has no location to report.
            Err(ReadError::Open(m) | ReadError::Read(m)) => Some(error(m, None, 0)),
        };
        self.finish(error)
    }

    /// Parses `-g` text. nginx: ngx_conf_param
    pub(crate) fn params(mut self, text: &[u8]) -> Conf {
        self.files.push(SourceFile {
            path: PathBuf::from("command line"),
            bytes: text.to_vec(),
            command_line: true,
        });
        self.frames.push(Frame::File {
            id: 0,
            reader: Reader::param(text.len()),
            depth: 0,
        });
        let error = self.run();
        self.finish(error)
    }

    fn finish(self, error: Option<ParseError>) -> Conf {
        Conf {
            files: self.files,
            directives: self.tree.into_root(),
            error,
        }
    }

    /// Reads a file and starts on it; a file read before is not read again (nginx dumps a file
    /// once for `-T`).
    fn open(&mut self, path: PathBuf) -> Result<(), ReadError> {
        let id = match self.ids.get(&path) {
            Some(&id) => id,
            None => {
                let bytes = include::read_conf_file(&path)?;
                self.files.push(SourceFile {
                    path: path.clone(),
                    bytes,
                    command_line: false,
                });
                let id = self.files.len() - 1;
                self.ids.insert(path, id);
                id
            }
        };
        let size = self.files[id].bytes.len();
        self.frames.push(Frame::File {
            id,
            reader: Reader::file(size),
            depth: self.tree.open.len(),
        });
        Ok(())
    }

    fn file_depth(&self) -> usize {
        self.frames
            .iter()
            .filter(|f| matches!(f, Frame::File { .. }))
            .count()
    }

    /// Reads until the end or the first error.
    ///
    /// nginx: ngx_conf_parse
    fn run(&mut self) -> Option<ParseError> {
        let mut args = Vec::new();
        loop {
            let (id, mut reader, depth) = match self.frames.last_mut()? {
                Frame::Include {
                    from,
                    line,
                    pending,
                } => {
                    let (from, line) = (*from, *line);
                    match pending.next() {
                        None => {
                            self.frames.pop();
                        }
                        Some(path) => {
                            if self.file_depth() >= MAX_INCLUDE_DEPTH {
                                let e = std::io::Error::from_raw_os_error(24);
                                let m = include::failed(
                                    "open()",
                                    path.as_os_str().as_encoded_bytes(),
                                    &e,
                                );
                                return Some(error(m, Some(from), line));
                            }
                            match self.open(path) {
                                Ok(()) => {}
                                Err(ReadError::Open(m)) => return Some(error(m, Some(from), line)),
                                Err(ReadError::Read(m)) => return Some(error(m, None, 0)),
                            }
                        }
                    }
                    continue;
                }
                Frame::File { id, reader, depth } => (*id, reader.clone(), *depth),
            };

            let step = self.step(id, &mut reader, depth, &mut args);
            if let Some(Frame::File { reader: r, .. }) = self.frames.last_mut() {
                *r = reader;
            }
            match step {
                Ok(Step::Continue) => {}
                Ok(Step::FileDone) => {
                    self.frames.pop();
                }
                Ok(Step::Include(from, line, pending)) => self.frames.push(Frame::Include {
                    from,
                    line,
                    pending: pending.into_iter(),
                }),
                Err(e) => return Some(error(e.message, Some(id), e.line)),
            }
        }
    }

    /// One token of the file on top and what it does.
    fn step(
        &mut self,
        id: FileId,
        reader: &mut Reader,
        depth: usize,
        args: &mut Vec<Vec<u8>>,
    ) -> Result<Step, LexError> {
        let bytes = &self.files[id].bytes;
        let tok = reader.read_token(bytes, args)?;

        let (name, rest) = match (tok, args.split_first()) {
            (Token::FileDone, _) => {
                if self.tree.open.len() > depth {
                    return Err(at(b"unexpected end of file, expecting \"}\"", reader.line));
                }
                return Ok(Step::FileDone);
            }
            (Token::BlockDone, _) => {
                if self.tree.open.len() <= depth {
                    return Err(at(b"unexpected \"}\"", reader.line));
                }
                self.tree.close(true, reader.line);
                return Ok(Step::Continue);
            }
            (_, Some((name, rest))) => (name.clone(), rest.to_vec()),
            // read_token returns no empty directive.
            (_, None) => return Ok(Step::Continue),
        };

        let mut d = Directive {
            name,
            args: rest,
            file: id,
            line: reader.line,
            body: Body::None,
        };

        if tok == Token::BlockStart {
            if reader.param {
                return Err(at(
                    b"block directives are not supported in -g option",
                    reader.line,
                ));
            }
            if d.name == b"include" {
                return Err(at(
                    b"directive \"include\" is not terminated by \";\"",
                    reader.line,
                ));
            }
            if d.name.ends_with(b"_by_lua_block") {
                let (code, result) = match lua::read_block(reader, bytes) {
                    Ok(code) => (code, Ok(Step::Continue)),
                    Err(e) => (e.code, Err(e.error)),
                };
                d.body = Body::Lua(LuaBlock {
                    code,
                    start_line: d.line,
                    end_line: reader.line,
                    complete: result.is_ok(),
                });
                self.tree.push(d);
                return result;
            }
            self.tree.open.push(Open {
                directive: d,
                children: Vec::new(),
            });
            return Ok(Step::Continue);
        }

        if d.name == b"include" {
            let [file] = d.args.as_slice() else {
                return Err(at(
                    b"invalid number of arguments in \"include\" directive",
                    reader.line,
                ));
            };
            let full = include::full_name(&self.opts.conf_prefix, file);
            let files = if include::is_glob(&full) {
                include::glob_files(&full)
            } else {
                vec![full]
            };
            return Ok(Step::Include(id, reader.line, files));
        }

        self.tree.push(d);
        Ok(Step::Continue)
    }
}

enum Step {
    Continue,
    FileDone,
    /// Read these files next, reporting a failed `open()` at this file and line.
    Include(FileId, usize, Vec<PathBuf>),
}

fn at(message: &[u8], line: usize) -> LexError {
    LexError {
        message: message.to_vec(),
        line,
    }
}

fn error(message: Vec<u8>, file: Option<FileId>, line: usize) -> ParseError {
    ParseError {
        message: String::from_utf8_lossy(&message).into_owned(),
        file,
        line,
    }
}
