//! The directive table and its dispatcher: nginx's `ngx_conf_file.c` over the parser's tree.
//!
//! Every module file declares its directives as rows of [`Command`]: name, contexts, arity and a
//! setter. [`dispatch`] walks the tree in document order and gives every structural error in
//! nginx's words; setters give the semantic ones.

pub(crate) mod dispatch;
pub(crate) mod slot;
pub(crate) mod values;

pub(crate) use dispatch::Cf;

use parser::Directive;

/// Contexts a directive is allowed in (nginx: the `NGX_*_CONF` bits of `ngx_command_t.type`).
///
/// Each module type has its own bits here, so a row's contexts also say which module type
/// (core, event, http, stream, mail) it belongs to.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Ctx(pub(crate) u32);

impl Ctx {
    /// The main context (`NGX_MAIN_CONF`).
    pub(crate) const MAIN: Ctx = Ctx(1 << 0);
    /// `events {}` (`NGX_EVENT_CONF`).
    pub(crate) const EVENT: Ctx = Ctx(1 << 1);
    pub(crate) const HTTP_MAIN: Ctx = Ctx(1 << 2);
    pub(crate) const HTTP_SRV: Ctx = Ctx(1 << 3);
    pub(crate) const HTTP_LOC: Ctx = Ctx(1 << 4);
    pub(crate) const HTTP_UPS: Ctx = Ctx(1 << 5);
    /// `if` in server.
    pub(crate) const HTTP_SIF: Ctx = Ctx(1 << 6);
    /// `if` in location.
    pub(crate) const HTTP_LIF: Ctx = Ctx(1 << 7);
    /// `limit_except`.
    pub(crate) const HTTP_LMT: Ctx = Ctx(1 << 8);
    pub(crate) const STREAM_MAIN: Ctx = Ctx(1 << 9);
    pub(crate) const STREAM_SRV: Ctx = Ctx(1 << 10);
    pub(crate) const STREAM_UPS: Ctx = Ctx(1 << 11);
    /// Every context (`NGX_ANY_CONF`).
    pub(crate) const ANY: Ctx = Ctx(u32::MAX);

    /// http main, server and location: the usual `NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF`.
    pub(crate) const HTTP_MSL: Ctx = Ctx(Self::HTTP_MAIN.0 | Self::HTTP_SRV.0 | Self::HTTP_LOC.0);

    pub(crate) const fn or(self, other: Ctx) -> Ctx {
        Ctx(self.0 | other.0)
    }

    pub(crate) const fn has(self, other: Ctx) -> bool {
        self.0 & other.0 != 0
    }
}

/// Arity of a directive (nginx: the `NGX_CONF_*` argument bits of `ngx_command_t.type`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Args(pub(crate) u32);

impl Args {
    pub(crate) const NOARGS: Args = Args(1 << 0);
    pub(crate) const TAKE1: Args = Args(1 << 1);
    pub(crate) const TAKE2: Args = Args(1 << 2);
    pub(crate) const TAKE3: Args = Args(1 << 3);
    pub(crate) const TAKE4: Args = Args(1 << 4);
    pub(crate) const TAKE12: Args = Args(Self::TAKE1.0 | Self::TAKE2.0);
    pub(crate) const TAKE23: Args = Args(Self::TAKE2.0 | Self::TAKE3.0);
    pub(crate) const TAKE123: Args = Args(Self::TAKE12.0 | Self::TAKE3.0);
    pub(crate) const TAKE1234: Args = Args(Self::TAKE123.0 | Self::TAKE4.0);
    /// A block: `name ... { }`.
    pub(crate) const BLOCK: Args = Args(1 << 8);
    /// `on` or `off`.
    pub(crate) const FLAG: Args = Args(1 << 9);
    /// Any number of arguments, none included.
    pub(crate) const ANY: Args = Args(1 << 10);
    pub(crate) const ONEMORE: Args = Args(1 << 11);
    pub(crate) const TWOMORE: Args = Args(1 << 12);

    pub(crate) const fn or(self, other: Args) -> Args {
        Args(self.0 | other.0)
    }

    pub(crate) const fn has(self, other: Args) -> bool {
        self.0 & other.0 != 0
    }

    /// nginx: the argument-count check of ngx_conf_handler (`n` excludes the name).
    pub(crate) fn accepts(self, n: usize) -> bool {
        if self.has(Args::ANY) {
            true
        } else if self.has(Args::FLAG) {
            n == 1
        } else if self.has(Args::ONEMORE) {
            n >= 1
        } else if self.has(Args::TWOMORE) {
            n >= 2
        } else if n > 7 {
            false
        } else {
            self.0 & (1 << n) != 0
        }
    }
}

/// What a setter returns: `Err(Some(text))` is logged as `"name" directive text`;
/// `Err(None)` means the setter already logged its error (nginx: `NGX_CONF_ERROR`).
pub(crate) type SetResult = Result<(), Option<String>>;

/// A setter that needs more than a [`Slot`]. The directive borrows from the tree for as long as
/// the [`Cf`] does, so a block handler can walk its body: `fn h<'a>(cf: &mut Cf<'a>, d: &'a Directive)`.
pub(crate) type Handler = for<'a> fn(&mut Cf<'a>, &'a Directive) -> SetResult;

/// What a directive does with its arguments.
#[derive(Clone, Copy)]
pub(crate) enum Set {
    /// One of nginx's generic slots: validated as nginx validates it, `is duplicate` per level.
    Slot(Slot),
    /// A module-specific setter (blocks, `listen`, `location`, ...).
    Handler(Handler),
    /// Accepted and ignored: a tuning knob with no meaning in oxresty's design
    /// (listed in the module's table so that the list of no-ops is greppable: `Set::NoOp`).
    NoOp,
}

/// nginx's generic setters (`ngx_conf_set_*_slot`).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Slot {
    /// `on`|`off`.
    Flag,
    /// One string, duplicate is an error.
    Str,
    /// One string each time, repeatable.
    StrArray,
    /// Key and value, repeatable.
    KeyVal,
    /// Non-negative number.
    Num,
    /// Size with `k`/`m`.
    Size,
    /// Offset with `k`/`m`/`g`.
    Off,
    /// Time in milliseconds.
    Msec,
    /// Time in seconds.
    Sec,
    /// `number size`.
    Bufs,
    /// One of the listed words (case-insensitive).
    Enum(&'static [&'static str]),
    /// Any of the listed words, each at most once (case-insensitive).
    Bitmask(&'static [&'static str]),
    /// A temp path: `path [level1 [level2 [level3]]]`.
    Path,
    /// `user:rw group:rw all:r` permissions.
    Access,
}

/// One row of the directive table (nginx: `ngx_command_t`).
#[derive(Clone, Copy)]
pub(crate) struct Command {
    pub(crate) name: &'static str,
    pub(crate) ctx: Ctx,
    pub(crate) args: Args,
    pub(crate) set: Set,
}

/// A module: its name as nginx knows it and its directive rows (nginx: `ngx_module_t`).
pub(crate) struct Module {
    pub(crate) name: &'static str,
    pub(crate) commands: &'static [Command],
}

/// Shorthand for a row.
pub(crate) const fn cmd(name: &'static str, ctx: Ctx, args: Args, set: Set) -> Command {
    Command {
        name,
        ctx,
        args,
        set,
    }
}
