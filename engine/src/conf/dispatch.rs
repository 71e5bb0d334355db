//! The walk over the parser's tree and nginx's directive dispatch.

use std::any::{Any, TypeId};
use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use parser::{Block, Body, Conf, Directive};

use super::{slot, Command, Ctx, Set};
use crate::log::{Level, LogMsg};

/// Parsing stopped: the error is already logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Failed;

/// One configuration level being parsed (main, `http`, a `server`, a `location`, an `if`...):
/// the context its directives are checked against and the state its modules keep there.
pub(crate) struct Frame {
    ctx: Ctx,
    /// Slot directives already set at this level (`is duplicate`).
    seen: HashSet<&'static str>,
    /// Per-module state of this level, one value per type.
    ext: HashMap<TypeId, Box<dyn Any>>,
}

impl Frame {
    pub(crate) fn new(ctx: Ctx) -> Frame {
        Frame {
            ctx,
            seen: HashSet::new(),
            ext: HashMap::new(),
        }
    }

    /// This level's `T`, created on first use.
    pub(crate) fn get<T: Default + 'static>(&mut self) -> &mut T {
        self.ext
            .entry(TypeId::of::<T>())
            .or_insert_with(|| Box::<T>::default())
            .downcast_mut::<T>()
            .expect("TypeId keys its own type")
    }

    /// Takes this level's `T` out (to hand it to the parent level when the block ends).
    pub(crate) fn take<T: Default + 'static>(&mut self) -> T {
        self.ext
            .remove(&TypeId::of::<T>())
            .and_then(|b| b.downcast::<T>().ok())
            .map(|b| *b)
            .unwrap_or_default()
    }
}

/// The parse state (nginx: `ngx_conf_t`): the tree, the stack of levels, where we are, and the
/// messages logged so far.
pub(crate) struct Cf<'a> {
    pub(crate) conf: &'a Conf,
    frames: Vec<Frame>,
    /// The directive being handled, for ` in FILE:LINE`.
    at: Option<(usize, usize)>,
    pub(crate) messages: Vec<LogMsg>,
    /// nginx's prefix and conf prefix, both ending in `/`.
    pub(crate) prefix: std::path::PathBuf,
    pub(crate) conf_prefix: std::path::PathBuf,
}

impl<'a> Cf<'a> {
    pub(crate) fn new(
        conf: &'a Conf,
        prefix: std::path::PathBuf,
        conf_prefix: std::path::PathBuf,
    ) -> Cf<'a> {
        Cf {
            conf,
            frames: vec![Frame::new(Ctx::MAIN)],
            at: None,
            messages: Vec::new(),
            prefix,
            conf_prefix,
        }
    }

    /// The context directives are checked against now (nginx: `cf->cmd_type`).
    pub(crate) fn ctx(&self) -> Ctx {
        self.frame_ref().ctx
    }

    fn frame_ref(&self) -> &Frame {
        self.frames.last().expect("the main frame is never popped")
    }

    /// The current level.
    pub(crate) fn frame(&mut self) -> &mut Frame {
        self.frames
            .last_mut()
            .expect("the main frame is never popped")
    }

    /// The main level (nginx's core module confs).
    pub(crate) fn main(&mut self) -> &mut Frame {
        &mut self.frames[0]
    }

    /// Every open level, outermost (main) first.
    pub(crate) fn frames_mut(&mut self) -> &mut [Frame] {
        &mut self.frames
    }

    /// The innermost level whose context is one of `ctx` (e.g. the enclosing `http` block).
    pub(crate) fn enclosing(&mut self, ctx: Ctx) -> Option<&mut Frame> {
        self.frames.iter_mut().rev().find(|f| f.ctx.has(ctx))
    }

    /// Walks `block` as a new level of context `ctx`; returns that level for the caller to
    /// finish (nginx: the `ngx_conf_parse` call of a block directive's handler).
    pub(crate) fn block(&mut self, block: &'a Block, ctx: Ctx) -> Result<Frame, Failed> {
        self.block_in(block, Frame::new(ctx))
    }

    /// [`Cf::block`] with a level the caller prepared (state its directives need to see).
    pub(crate) fn block_in(&mut self, block: &'a Block, frame: Frame) -> Result<Frame, Failed> {
        self.frames.push(frame);
        let r = self.directives(&block.directives, block.complete);
        let frame = self.frames.pop().expect("pushed above");
        r.map(|()| frame)
    }

    /// Walks a level's directives, then the syntax error if the parse stopped there.
    pub(crate) fn directives(
        &mut self,
        list: &'a [Directive],
        complete: bool,
    ) -> Result<(), Failed> {
        for d in list {
            self.handle(d)?;
        }
        if complete {
            Ok(())
        } else {
            Err(self.syntax_error())
        }
    }

    /// Walks the body of a block whose lines are data, not directives (`types`, `map`...):
    /// `line` gets each entry; a nested `{` is nginx's `unexpected "{"`.
    pub(crate) fn data_block(
        &mut self,
        block: &'a Block,
        ctx: Ctx,
        mut line: impl FnMut(&mut Cf<'a>, &'a Directive) -> Result<(), Failed>,
    ) -> Result<Frame, Failed> {
        self.frames.push(Frame::new(ctx));
        let mut r = Ok(());
        for d in &block.directives {
            let saved = self.at.replace((d.file, d.line));
            if !matches!(d.body, Body::None) {
                r = Err(self.emerg("unexpected \"{\""));
            } else {
                r = line(self, d);
            }
            self.at = saved;
            if r.is_err() {
                break;
            }
        }
        if r.is_ok() && !block.complete {
            r = Err(self.syntax_error());
        }
        let frame = self.frames.pop().expect("pushed above");
        r.map(|()| frame)
    }

    /// The syntax error that stopped the parser, logged where nginx logs it.
    fn syntax_error(&mut self) -> Failed {
        match &self.conf.error {
            Some(e) => {
                let text = match e.file {
                    Some(f) => format!("{}{}", e.message, self.location(f, e.line)),
                    None => e.message.clone(),
                };
                self.log(Level::Emerg, text);
            }
            None => self.log(
                Level::Emerg,
                "incomplete block without a parse error".into(),
            ),
        }
        Failed
    }

    /// nginx: ngx_conf_handler.
    fn handle(&mut self, d: &'a Directive) -> Result<(), Failed> {
        let saved = self.at.replace((d.file, d.line));
        let r = self.handle_at(d);
        self.at = saved;
        r
    }

    fn handle_at(&mut self, d: &'a Directive) -> Result<(), Failed> {
        let name = String::from_utf8_lossy(&d.name).into_owned();
        let rows = table().get(d.name.as_slice());
        let ctx = self.ctx();
        for row in rows.into_iter().flatten() {
            if !row.ctx.has(ctx) {
                continue;
            }
            let is_block = row.args.has(super::Args::BLOCK);
            let has_body = !matches!(d.body, Body::None);
            if !is_block && has_body {
                return Err(self.emerg(format!("directive \"{name}\" is not terminated by \";\"")));
            }
            if is_block && !has_body {
                return Err(self.emerg(format!("directive \"{name}\" has no opening \"{{\"")));
            }
            if !row.args.accepts(d.args.len()) {
                return Err(self.emerg(format!(
                    "invalid number of arguments in \"{name}\" directive"
                )));
            }
            let r = match row.set {
                Set::Slot(s) => slot::set(self, row, s, d),
                Set::Handler(h) => h(self, d),
                Set::NoOp => Ok(()),
            };
            return match r {
                Ok(()) => Ok(()),
                Err(None) => Err(Failed),
                Err(Some(text)) => Err(self.emerg(format!("\"{name}\" directive {text}"))),
            };
        }
        if rows.is_some() {
            Err(self.emerg(format!("\"{name}\" directive is not allowed here")))
        } else {
            Err(self.emerg(format!("unknown directive \"{name}\"")))
        }
    }

    /// ` in FILE:LINE` or ` in command line` (nginx: ngx_conf_log_error).
    pub(crate) fn location(&self, file: usize, line: usize) -> String {
        match self.conf.files.get(file) {
            Some(f) if f.command_line => " in command line".to_string(),
            Some(f) => format!(" in {}:{}", f.path.display(), line),
            None => String::new(),
        }
    }

    /// Logs `text` with the current directive's location (nginx: ngx_conf_log_error).
    pub(crate) fn conf_log(&mut self, level: Level, text: impl Into<String>) {
        let mut text = text.into();
        if let Some((file, line)) = self.at {
            text.push_str(&self.location(file, line));
        }
        self.log(level, text);
    }

    /// Logs an `[emerg]` at the current directive; returns [`Failed`] for `Err(cf.emerg(..))`.
    pub(crate) fn emerg(&mut self, text: impl Into<String>) -> Failed {
        self.conf_log(Level::Emerg, text);
        Failed
    }

    /// Logs `text` as is, without a location (nginx: ngx_log_error).
    pub(crate) fn log(&mut self, level: Level, text: String) {
        self.messages.push(LogMsg { level, text });
    }

    /// Moves the current location (block-end checks report where nginx does).
    pub(crate) fn set_at(&mut self, file: usize, line: usize) {
        self.at = Some((file, line));
    }

    /// The main level and every message logged, once parsing is over.
    pub(crate) fn finish(mut self) -> (Frame, Vec<LogMsg>) {
        (self.frames.swap_remove(0), self.messages)
    }

    /// The current level's slot bookkeeping: true if `name` was already set at this level.
    pub(crate) fn seen(&mut self, name: &'static str) -> bool {
        !self.frame().seen.insert(name)
    }
}

/// Failed setters return `Err(None)` after logging: `Err(cf.emerg(..))?` reads well with this.
impl From<Failed> for Option<String> {
    fn from(_: Failed) -> Option<String> {
        None
    }
}

/// The line of a block directive's closing `}` (nginx reports block-end checks there).
pub(crate) fn block_end_line(d: &Directive) -> usize {
    match &d.body {
        Body::Block(b) if b.complete => b.end_line,
        _ => d.line,
    }
}

/// Every row of every module, by name, in module order (nginx walks `cycle->modules` in order).
fn table() -> &'static HashMap<&'static [u8], Vec<&'static Command>> {
    static TABLE: OnceLock<HashMap<&'static [u8], Vec<&'static Command>>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t: HashMap<&'static [u8], Vec<&'static Command>> = HashMap::new();
        for m in crate::modules::MODULES {
            for c in m.commands {
                t.entry(c.name.as_bytes()).or_default().push(c);
            }
        }
        t
    })
}
