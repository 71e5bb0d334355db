//! ngx_events_module (the `events` block), ngx_event_core_module and ngx_epoll_module.

use parser::{Body, Directive};

use crate::conf::values::atoi;
use crate::conf::{cmd, Args, Cf, Ctx, Module, Set, SetResult, Slot};
use crate::cycle::CycleConf;
use crate::log::Level;

pub(crate) static EVENTS: Module = Module {
    name: "ngx_events_module",
    commands: &[cmd(
        "events",
        Ctx::MAIN,
        Args::BLOCK.or(Args::NOARGS),
        Set::Handler(events_block),
    )],
};

pub(crate) static EVENT_CORE: Module = Module {
    name: "ngx_event_core_module",
    commands: &[
        cmd(
            "worker_connections",
            Ctx::EVENT,
            Args::TAKE1,
            Set::Handler(connections),
        ),
        cmd("use", Ctx::EVENT, Args::TAKE1, Set::Handler(event_use)),
        cmd(
            "multi_accept",
            Ctx::EVENT,
            Args::FLAG,
            Set::Slot(Slot::Flag),
        ),
        cmd(
            "accept_mutex",
            Ctx::EVENT,
            Args::FLAG,
            Set::Slot(Slot::Flag),
        ),
        cmd(
            "accept_mutex_delay",
            Ctx::EVENT,
            Args::TAKE1,
            Set::Slot(Slot::Msec),
        ),
        cmd(
            "debug_connection",
            Ctx::EVENT,
            Args::TAKE1,
            Set::Handler(debug_connection),
        ),
    ],
};

/// ngx_epoll_module (listed after ngx_event_core_module).
pub(crate) static EPOLL: Module = Module {
    name: "ngx_epoll_module",
    commands: &[
        cmd(
            "epoll_events",
            Ctx::EVENT,
            Args::TAKE1,
            Set::Slot(Slot::Num),
        ),
        cmd(
            "worker_aio_requests",
            Ctx::EVENT,
            Args::TAKE1,
            Set::Slot(Slot::Num),
        ),
    ],
};

/// The event core module's state in the `events` level (nginx: ngx_event_conf_t).
#[derive(Default, Debug)]
pub(crate) struct EventConf {
    pub(crate) connections: Option<i64>,
    pub(crate) use_: Option<String>,
}

fn lossy(s: &[u8]) -> String {
    String::from_utf8_lossy(s).into_owned()
}

fn arg(d: &Directive, i: usize) -> &[u8] {
    d.args.get(i).map(Vec::as_slice).unwrap_or_default()
}

/// nginx: ngx_events_block
fn events_block<'a>(cf: &mut Cf<'a>, d: &'a Directive) -> SetResult {
    if cf.main().get::<CycleConf>().events {
        return Err(Some("is duplicate".into()));
    }
    crate::core::mark_modules_used(cf);
    cf.main().get::<CycleConf>().events = true;
    let Body::Block(block) = &d.body else {
        return Err(None);
    };
    let mut frame = cf.block(block, Ctx::EVENT)?;
    let ecf = frame.take::<EventConf>();
    cf.main().get::<EventConf>().connections = ecf.connections;
    cf.main().get::<EventConf>().use_ = ecf.use_;
    Ok(())
}

/// nginx: ngx_event_connections
fn connections(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    let ecf = cf.frame().get::<EventConf>();
    if ecf.connections.is_some() {
        return Err(Some("is duplicate".into()));
    }
    let v = arg(d, 0);
    match atoi(v) {
        Some(n) => {
            ecf.connections = Some(n);
            Ok(())
        }
        None => Err(cf.emerg(format!("invalid number \"{}\"", lossy(v))).into()),
    }
}

/// nginx: ngx_event_use. The event modules built on Linux are `event_core` and `epoll`.
fn event_use(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    let ecf = cf.frame().get::<EventConf>();
    if ecf.use_.is_some() {
        return Err(Some("is duplicate".into()));
    }
    let v = arg(d, 0);
    if v == b"epoll" || v == b"event_core" {
        ecf.use_ = Some(lossy(v));
        return Ok(());
    }
    Err(cf
        .emerg(format!("invalid event type \"{}\"", lossy(v)))
        .into())
}

/// nginx: ngx_event_debug_connection (the reference is built `--with-debug`).
fn debug_connection(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    let v = arg(d, 0);
    if v == b"unix:" {
        return Ok(());
    }
    match crate::http::core::ptocidr(v) {
        Some(true) => return Ok(()),
        Some(false) => {
            cf.conf_log(
                Level::Warn,
                format!("low address bits of {} are meaningless", lossy(v)),
            );
            return Ok(());
        }
        None => {}
    }
    if crate::http::core::resolve_host(v).is_none() {
        return Err(cf
            .emerg(format!(
                "host not found in debug_connection \"{}\"",
                lossy(v)
            ))
            .into());
    }
    Ok(())
}
