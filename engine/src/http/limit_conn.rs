//! ngx_http_limit_conn_module: `limit_conn_zone`, `limit_conn` and friends.

use parser::Directive;

use crate::conf::values::atoi;
use crate::conf::{cmd, Args, Cf, Ctx, Module, Set, SetResult, Slot};
use crate::http::gzip::num_bounds;
use crate::http::limit_req::{use_zone, zone_directive};
use crate::http::upstream::shared_memory_add;

pub(crate) static MODULE: Module = Module {
    name: "ngx_http_limit_conn_module",
    commands: &[
        cmd(
            "limit_conn_zone",
            Ctx::HTTP_MAIN,
            Args::TAKE2,
            Set::Handler(limit_conn_zone),
        ),
        cmd(
            "limit_conn",
            Ctx::HTTP_MSL,
            Args::TAKE2,
            Set::Handler(limit_conn),
        ),
        cmd(
            "limit_conn_log_level",
            Ctx::HTTP_MSL,
            Args::TAKE1,
            Set::Slot(Slot::Enum(&["info", "notice", "warn", "error"])),
        ),
        cmd(
            "limit_conn_status",
            Ctx::HTTP_MSL,
            Args::TAKE1,
            Set::Handler(limit_conn_status),
        ),
        cmd(
            "limit_conn_dry_run",
            Ctx::HTTP_MSL,
            Args::FLAG,
            Set::Slot(Slot::Flag),
        ),
    ],
};

/// Variables this module defines.
pub(crate) const VARIABLES: &[&str] = &["limit_conn_status"];

/// nginx's `&ngx_http_limit_conn_module` as a shared memory tag.
pub(crate) const TAG: &str = "ngx_http_limit_conn_module";

/// nginx: ngx_http_limit_conn_zone
fn limit_conn_zone(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    zone_directive(cf, d, "limit_conn_zone", TAG, false)
}

/// nginx: ngx_http_limit_conn
fn limit_conn(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    let (Some(name), Some(n)) = (d.args.first(), d.args.get(1)) else {
        return Ok(());
    };
    let i = shared_memory_add(cf, name, 0, TAG)?;
    if !use_zone(cf, TAG, i) {
        return Err(Some("is duplicate".into()));
    }
    match atoi(n) {
        Some(n) if n > 65535 => Err(cf.emerg("connection limit must be less 65536").into()),
        Some(n) if n > 0 => Ok(()),
        _ => Err(cf
            .emerg(format!(
                "invalid number of connections \"{}\"",
                String::from_utf8_lossy(n)
            ))
            .into()),
    }
}

fn limit_conn_status(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    num_bounds(cf, d, "limit_conn_status", 400, Some(599))
}

// ---------------------------------------------------------------------------------------------
// Lowering and run time (nginx: ngx_http_limit_conn_handler and its shared memory zone).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use crate::http::limit_req::{find_zone, log_level, slot_size, zone_capacity, Zone};
use crate::http::lower::LocConf;
use crate::http::request::Request;
use crate::http::response::Reply;
use crate::log::Level;

/// One `limit_conn zone number` (nginx: ngx_http_limit_conn_limit_t).
#[derive(Debug, Clone)]
pub(crate) struct ConnLimit {
    pub(crate) zone: Vec<u8>,
    pub(crate) conn: u64,
}

/// `$limit_conn_status` values (nginx: ngx_http_limit_conn_status).
const STATUS: [&str; 3] = ["PASSED", "REJECTED", "REJECTED_DRY_RUN"];
const PASSED: u8 = 1;
const REJECTED: u8 = 2;
const REJECTED_DRY_RUN: u8 = 3;

/// nginx: ngx_http_limit_conn_status_variable.
pub(crate) fn status_variable(r: &Request) -> Option<Vec<u8>> {
    let i = usize::from(r.limits.conn_status).checked_sub(1)?;
    STATUS.get(i).map(|s| s.as_bytes().to_vec())
}

/// The limit_conn directives of a level (`limit_conn_zone` is folded by limit_req's).
pub(crate) fn apply(c: &mut LocConf, d: &Directive) -> bool {
    let arg = |i: usize| d.args.get(i).map(Vec::as_slice).unwrap_or_default();
    match d.name.as_slice() {
        b"limit_conn" => {
            let limit = ConnLimit {
                zone: arg(0).to_vec(),
                conn: atoi(arg(1))
                    .and_then(|n| u64::try_from(n).ok())
                    .unwrap_or(1),
            };
            Arc::make_mut(c.limit_conns.get_or_insert_with(Default::default)).push(limit);
        }
        b"limit_conn_log_level" => c.limit_conn_log_level = Some(log_level(arg(0))),
        b"limit_conn_status" => c.limit_conn_status = atoi(arg(0)).and_then(|n| n.try_into().ok()),
        b"limit_conn_dry_run" => c.limit_conn_dry_run = Some(arg(0).eq_ignore_ascii_case(b"on")),
        _ => return false,
    }
    true
}

/// A limit_conn zone's state (nginx: ngx_http_limit_conn_shctx_t): counts by key.
#[derive(Default)]
struct ConnShm {
    size: u64,
    key_text: Vec<u8>,
    nodes: HashMap<Vec<u8>, u64>,
    used: u64,
}

/// The zones, process-wide like nginx's shared memory (see limit_req's).
fn conn_zone(z: &Zone) -> Arc<Mutex<ConnShm>> {
    type Registry = Mutex<HashMap<Vec<u8>, Arc<Mutex<ConnShm>>>>;
    static ZONES: OnceLock<Registry> = OnceLock::new();
    let mut zones = ZONES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let shm = zones.entry(z.name.clone()).or_default().clone();
    drop(zones);
    {
        let mut s = lock(&shm);
        if s.size != z.size || s.key_text != z.key_text {
            // Requests still counted in the old zone release into nothing.
            *s = ConnShm {
                size: z.size,
                key_text: z.key_text.clone(),
                ..Default::default()
            };
        }
    }
    shm
}

fn lock(shm: &Mutex<ConnShm>) -> std::sync::MutexGuard<'_, ConnShm> {
    shm.lock().unwrap_or_else(|e| e.into_inner())
}

/// nginx: the node of a key is 36 bytes (rbtree node head, then the limit_conn node) + key.
fn node_slot(key: &[u8]) -> u64 {
    slot_size(36 + key.len() as u64)
}

/// A request counted in a zone, released when dropped (nginx: ngx_http_limit_conn_cleanup,
/// a cleanup of the request's pool).
pub(crate) struct Counted {
    shm: Arc<Mutex<ConnShm>>,
    key: Vec<u8>,
}

impl Drop for Counted {
    fn drop(&mut self) {
        let mut s = lock(&self.shm);
        let Some(n) = s.nodes.get_mut(&self.key) else {
            return;
        };
        *n = n.saturating_sub(1);
        if *n == 0 {
            s.nodes.remove(&self.key);
            s.used = s.used.saturating_sub(node_slot(&self.key));
        }
    }
}

/// nginx: ngx_http_limit_conn_handler.
pub(crate) fn handler(r: &mut Request) -> Option<Reply> {
    if r.limits.conn_status != 0 {
        return None;
    }
    let limits = r.loc.limit_conns.clone()?;
    let dry_run = r.loc.limit_conn_dry_run == Some(true);
    for limit in limits.iter() {
        let Some(z) = find_zone(r, TAG, &limit.zone) else {
            continue;
        };
        let key = r.eval(&z.key);
        if key.is_empty() {
            continue;
        }
        if key.len() > 255 {
            crate::http::errlog::request_error(
                r,
                &format!(
                    "the value of the \"{}\" key is more than 255 bytes: \"{}\"",
                    String::from_utf8_lossy(&z.key_text),
                    String::from_utf8_lossy(&key)
                ),
            );
            continue;
        }
        r.limits.conn_status = PASSED;
        let refused = match take(&z, key, limit.conn) {
            Take::Counted(c) => {
                r.limits.conns.push(c);
                false
            }
            Take::Over => {
                let level = r.loc.limit_conn_log_level.unwrap_or(Level::Error);
                let text = over_text(&z, dry_run);
                crate::http::errlog::log(r, level, &text);
                true
            }
            Take::Full => true,
        };
        if refused {
            // nginx: ngx_http_limit_conn_cleanup_all releases what this request counted.
            r.limits.conns.clear();
            if dry_run {
                r.limits.conn_status = REJECTED_DRY_RUN;
                return None;
            }
            r.limits.conn_status = REJECTED;
            return Some(Reply::status(r.loc.limit_conn_status.unwrap_or(503)));
        }
    }
    None
}

/// What counting one more connection under a key gave.
pub(crate) enum Take {
    Counted(Counted),
    /// The key has its `limit_conn` number of connections.
    Over,
    /// The zone has no room for another key.
    Full,
}

/// Counts a connection under `key` in zone `z` unless it holds `conn` already (nginx: the
/// node lookup and insertion of ngx_http_limit_conn_handler, and of the stream module's).
pub(crate) fn take(z: &Zone, key: Vec<u8>, conn: u64) -> Take {
    let shm = conn_zone(z);
    let mut s = lock(&shm);
    match s.nodes.get(&key).copied() {
        Some(n) if n >= conn => return Take::Over,
        Some(n) => {
            s.nodes.insert(key.clone(), n + 1);
        }
        None => {
            let need = node_slot(&key);
            if s.used + need > zone_capacity(s.size) {
                return Take::Full;
            }
            s.used += need;
            s.nodes.insert(key.clone(), 1);
        }
    }
    drop(s);
    Take::Counted(Counted { shm, key })
}

/// The error-log text of a refused connection.
pub(crate) fn over_text(z: &Zone, dry_run: bool) -> String {
    format!(
        "limiting connections{} by zone \"{}\"",
        if dry_run { ", dry run," } else { "" },
        String::from_utf8_lossy(&z.name)
    )
}
