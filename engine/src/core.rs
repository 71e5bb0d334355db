//! ngx_core_module, ngx_errlog_module, ngx_openssl_module, ngx_regex_module and
//! ngx_thread_pool_module: the main-context directives.

use std::ffi::CString;

use parser::Directive;

use crate::conf::dispatch::{Failed, Frame};
use crate::conf::values::{atoi, parse_size};
use crate::conf::{cmd, Args, Cf, Ctx, Module, Set, SetResult, Slot};
use crate::cycle::{full_name, CycleConf};
use crate::log::{Level, LogMsg};

/// `NGX_MAIN_CONF|NGX_DIRECT_CONF`.
const MAIN: Ctx = Ctx::MAIN;

pub(crate) static CORE: Module = Module {
    name: "ngx_core_module",
    commands: &[
        cmd("daemon", MAIN, Args::FLAG, Set::Slot(Slot::Flag)),
        cmd("master_process", MAIN, Args::FLAG, Set::Slot(Slot::Flag)),
        cmd("timer_resolution", MAIN, Args::TAKE1, Set::Slot(Slot::Msec)),
        cmd("pid", MAIN, Args::TAKE1, Set::Handler(set_pid)),
        cmd("lock_file", MAIN, Args::TAKE1, Set::Slot(Slot::Str)),
        cmd(
            "worker_processes",
            MAIN,
            Args::TAKE1,
            Set::Handler(set_worker_processes),
        ),
        cmd(
            "debug_points",
            MAIN,
            Args::TAKE1,
            Set::Slot(Slot::Enum(&["stop", "abort"])),
        ),
        cmd("user", MAIN, Args::TAKE12, Set::Handler(set_user)),
        cmd(
            "worker_priority",
            MAIN,
            Args::TAKE1,
            Set::Handler(set_priority),
        ),
        cmd(
            "worker_cpu_affinity",
            MAIN,
            Args::ONEMORE,
            Set::Handler(set_cpu_affinity),
        ),
        cmd(
            "worker_rlimit_nofile",
            MAIN,
            Args::TAKE1,
            Set::Slot(Slot::Num),
        ),
        cmd(
            "worker_rlimit_core",
            MAIN,
            Args::TAKE1,
            Set::Slot(Slot::Off),
        ),
        cmd(
            "worker_shutdown_timeout",
            MAIN,
            Args::TAKE1,
            Set::Slot(Slot::Msec),
        ),
        cmd("working_directory", MAIN, Args::TAKE1, Set::Slot(Slot::Str)),
        cmd("env", MAIN, Args::TAKE1, Set::Handler(set_env)),
        cmd("load_module", MAIN, Args::TAKE1, Set::Handler(load_module)),
    ],
};

pub(crate) static ERRLOG: Module = Module {
    name: "ngx_errlog_module",
    commands: &[cmd(
        "error_log",
        MAIN,
        Args::ONEMORE,
        Set::Handler(error_log),
    )],
};

pub(crate) static OPENSSL: Module = Module {
    name: "ngx_openssl_module",
    commands: &[cmd(
        "ssl_engine",
        MAIN,
        Args::TAKE1,
        Set::Handler(ssl_engine),
    )],
};

pub(crate) static REGEX: Module = Module {
    name: "ngx_regex_module",
    // nginx's post handler only warns when PCRE2 lacks JIT; the pcre2 crate has it.
    commands: &[cmd("pcre_jit", MAIN, Args::FLAG, Set::Slot(Slot::Flag))],
};

pub(crate) static THREAD_POOL: Module = Module {
    name: "ngx_thread_pool_module",
    commands: &[cmd(
        "thread_pool",
        MAIN,
        Args::TAKE23,
        Set::Handler(thread_pool),
    )],
};

/// The core module's state in the main level (nginx: ngx_core_conf_t, the parts checked).
#[derive(Default, Debug)]
pub(crate) struct CoreConf {
    pub(crate) worker_processes: Option<i64>,
    pub(crate) user: Option<(String, Option<String>)>,
    pub(crate) priority: Option<i64>,
    /// `worker_cpu_affinity`: number of masks and whether `auto` was given.
    pub(crate) cpu_affinity: Option<(usize, bool)>,
    pub(crate) env: Vec<Vec<u8>>,
    /// Module names `load_module` loaded.
    pub(crate) loaded: Vec<&'static str>,
    /// nginx: `cycle->modules_used`: an `events`, `http`, `stream` or `mail` block was seen.
    pub(crate) modules_used: bool,
    pub(crate) ssl_engine: bool,
}

/// Thread pools (nginx: ngx_thread_pool_conf_t).
#[derive(Default, Debug)]
pub(crate) struct ThreadPools {
    /// name, threads (0: only referenced so far), file, line.
    pub(crate) pools: Vec<(Vec<u8>, i64, String, usize)>,
}

fn lossy(s: &[u8]) -> String {
    String::from_utf8_lossy(s).into_owned()
}

fn arg(d: &Directive, i: usize) -> &[u8] {
    d.args.get(i).map(Vec::as_slice).unwrap_or_default()
}

/// Marks that module indices were counted (nginx: ngx_count_modules): `load_module` after this
/// point is "specified too late". The `events`, `http`, `stream` and `mail` handlers call it.
pub(crate) fn mark_modules_used(cf: &mut Cf<'_>) {
    cf.main().get::<CoreConf>().modules_used = true;
}

/// nginx: ngx_conf_set_str_slot on `pid`, resolved as ngx_core_module_init_conf does.
fn set_pid(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    if cf.seen("pid") {
        return Err(Some("is duplicate".into()));
    }
    let path = full_name(&cf.prefix, arg(d, 0));
    cf.main().get::<CycleConf>().pid = Some(path);
    Ok(())
}

/// nginx: ngx_set_worker_processes
fn set_worker_processes(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    let core = cf.main().get::<CoreConf>();
    if core.worker_processes.is_some() {
        return Err(Some("is duplicate".into()));
    }
    let v = arg(d, 0);
    let n = if v == b"auto" {
        std::thread::available_parallelism().map_or(1, |n| n.get() as i64)
    } else {
        match atoi(v) {
            Some(n) => n,
            None => return Err(Some("invalid value".into())),
        }
    };
    core.worker_processes = Some(n);
    Ok(())
}

fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { geteuid() }
}

extern "C" {
    fn geteuid() -> u32;
    fn getpwnam(name: *const std::ffi::c_char) -> *mut std::ffi::c_void;
    fn getgrnam(name: *const std::ffi::c_char) -> *mut std::ffi::c_void;
}

/// Whether `getpwnam(name)` (or `getgrnam`) finds an entry.
fn name_exists(name: &[u8], group: bool) -> bool {
    let Ok(c) = CString::new(name) else {
        return false;
    };
    // SAFETY: `c` is a valid NUL-terminated string; the result is only compared with NULL.
    let p = unsafe {
        if group {
            getgrnam(c.as_ptr())
        } else {
            getpwnam(c.as_ptr())
        }
    };
    !p.is_null()
}

/// nginx: ngx_set_user
fn set_user(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    if cf.main().get::<CoreConf>().user.is_some() {
        return Err(Some("is duplicate".into()));
    }
    if euid() != 0 {
        cf.conf_log(
            Level::Warn,
            "the \"user\" directive makes sense only if the master process runs with \
             super-user privileges, ignored",
        );
        return Ok(());
    }
    let user = arg(d, 0);
    let group = if d.args.len() == 2 { arg(d, 1) } else { user };
    cf.main().get::<CoreConf>().user =
        Some((lossy(user), (d.args.len() == 2).then(|| lossy(group))));
    if !name_exists(user, false) {
        return Err(cf
            .emerg(format!("getpwnam(\"{}\") failed", lossy(user)))
            .into());
    }
    if !name_exists(group, true) {
        return Err(cf
            .emerg(format!("getgrnam(\"{}\") failed", lossy(group)))
            .into());
    }
    Ok(())
}

/// nginx: ngx_set_priority
fn set_priority(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    let core = cf.main().get::<CoreConf>();
    if core.priority.is_some_and(|p| p != 0) {
        return Err(Some("is duplicate".into()));
    }
    let v = arg(d, 0);
    let (digits, minus) = match v.first() {
        Some(b'-') => (&v[1..], true),
        Some(b'+') => (&v[1..], false),
        _ => (v, false),
    };
    let Some(n) = atoi(digits) else {
        return Err(Some("invalid number".into()));
    };
    core.priority = Some(if minus { -n } else { n });
    Ok(())
}

/// nginx: ngx_set_cpu_affinity (CPU_SETSIZE is 1024 on Linux).
fn set_cpu_affinity(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    if cf.main().get::<CoreConf>().cpu_affinity.is_some() {
        return Err(Some("is duplicate".into()));
    }
    let auto = arg(d, 0) == b"auto";
    cf.main().get::<CoreConf>().cpu_affinity = Some((d.args.len(), auto));
    if auto && d.args.len() > 2 {
        return Err(cf
            .emerg("invalid number of arguments in \"worker_cpu_affinity\" directive")
            .into());
    }
    for mask in d.args.iter().skip(usize::from(auto)) {
        if mask.len() > 1024 {
            return Err(cf
                .emerg("\"worker_cpu_affinity\" supports up to 1024 CPUs only")
                .into());
        }
        for &ch in mask.iter().rev() {
            if ch == b' ' || ch == b'0' || ch == b'1' {
                continue;
            }
            return Err(cf
                .emerg(format!(
                    "invalid character \"{}\" in \"worker_cpu_affinity\"",
                    char::from(ch)
                ))
                .into());
        }
    }
    Ok(())
}

/// nginx: ngx_set_env
fn set_env(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    let v = arg(d, 0).to_vec();
    cf.main().get::<CoreConf>().env.push(v);
    Ok(())
}

/// The dynamic modules oxresty has built in: file name, first module name, and the symbol
/// nginx's dlopen() misses when ndk was not loaded before.
const BUILTIN_MODULES: &[(&str, &str, Option<&str>)] = &[
    ("ndk_http_module.so", "ndk_http_module", None),
    (
        "ngx_http_lua_module.so",
        "ngx_http_lua_module",
        Some("ndk_set_var_value"),
    ),
    ("ngx_http_echo_module.so", "ngx_http_echo_module", None),
    (
        "ngx_http_headers_more_filter_module.so",
        "ngx_http_headers_more_filter_module",
        None,
    ),
    (
        "ngx_http_set_misc_module.so",
        "ngx_http_set_misc_module",
        Some("ndk_http_module"),
    ),
    ("ngx_stream_module.so", "ngx_stream_module", None),
    ("ngx_stream_lua_module.so", "ngx_stream_lua_module", None),
];

/// nginx: ngx_load_module. oxresty's modules are built in: loading one of them is a no-op;
/// anything else fails as dlopen() of a missing file does.
fn load_module(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    if cf.main().get::<CoreConf>().modules_used {
        return Err(Some("is specified too late".into()));
    }
    let file = full_name(&cf.prefix, arg(d, 0));
    let shown = file.display().to_string();
    let base = file.file_name().map(|b| b.to_string_lossy().into_owned());
    let known = BUILTIN_MODULES
        .iter()
        .find(|(f, _, _)| base.as_deref() == Some(*f));
    let Some(&(_, name, needs_ndk)) = known else {
        return Err(cf
            .emerg(format!(
                "dlopen() \"{shown}\" failed ({shown}: cannot open shared object file: \
             No such file or directory)"
            ))
            .into());
    };
    let core = cf.main().get::<CoreConf>();
    if let Some(sym) = needs_ndk {
        if !core.loaded.contains(&"ndk_http_module") {
            return Err(cf
                .emerg(format!(
                    "dlopen() \"{shown}\" failed ({shown}: undefined symbol: {sym})"
                ))
                .into());
        }
    }
    if core.loaded.contains(&name) {
        return Err(cf
            .emerg(format!("module \"{name}\" is already loaded"))
            .into());
    }
    core.loaded.push(name);
    Ok(())
}

/// nginx: ngx_error_log
fn error_log(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    set_log(cf, d)?;
    cf.main().get::<CycleConf>().error_log = true;
    Ok(())
}

const ERR_LEVELS: &[&str] = &[
    "emerg", "alert", "crit", "error", "warn", "notice", "info", "debug",
];
const DEBUG_LEVELS: &[&str] = &[
    "debug_core",
    "debug_alloc",
    "debug_mutex",
    "debug_event",
    "debug_http",
    "debug_mail",
    "debug_stream",
];

/// nginx: ngx_log_set_log (shared by `error_log` in every module that has one).
///
/// Log files are added to the cycle's files to open; `stderr`, `memory:` and `syslog:`
/// targets are validated as nginx does.
pub(crate) fn set_log(cf: &mut Cf<'_>, d: &Directive) -> Result<(), Failed> {
    let target = arg(d, 0);
    if target == b"stderr" {
        // nginx: the stderr log file, nothing to open.
    } else if let Some(size) = target.strip_prefix(b"memory:") {
        let conf_len = cf
            .conf
            .files
            .get(d.file)
            .map_or(0, |f| f.path.as_os_str().len());
        // sizeof("MEMLOG  :" LF) + file name + NGX_SIZE_T_LEN + NGX_INT_T_LEN + NGX_MAX_ERROR_STR
        let needed = 11 + conf_len as u64 + 20 + 20 + 2048;
        match parse_size(size) {
            Some(n) if n >= needed => {}
            _ => return Err(cf.emerg(format!("invalid buffer size \"{}\"", lossy(size)))),
        }
    } else if target.starts_with(b"syslog:") {
        syslog_process_conf(cf, &target[7..])?;
    } else {
        let path = full_name(&cf.prefix, target);
        let files = &mut cf.main().get::<CycleConf>().open_files;
        if !files.contains(&path) {
            files.push(path);
        }
    }
    // nginx: ngx_log_set_levels
    let mut level = 0usize;
    let mut debug_bits = 0usize;
    for a in d.args.iter().skip(1) {
        let mut found = false;
        if let Some(n) = ERR_LEVELS.iter().position(|l| l.as_bytes() == a.as_slice()) {
            if level != 0 || debug_bits != 0 {
                return Err(cf.emerg(format!("duplicate log level \"{}\"", lossy(a))));
            }
            level = n + 1;
            found = true;
        }
        if let Some(n) = DEBUG_LEVELS
            .iter()
            .position(|l| l.as_bytes() == a.as_slice())
        {
            if level != 0 {
                return Err(cf.emerg(format!("invalid log level \"{}\"", lossy(a))));
            }
            debug_bits |= 1 << n;
            found = true;
        }
        if !found {
            return Err(cf.emerg(format!("invalid log level \"{}\"", lossy(a))));
        }
    }
    Ok(())
}

const FACILITIES: &[&str] = &[
    "kern", "user", "mail", "daemon", "auth", "intern", "lpr", "news", "uucp", "clock", "authpriv",
    "ftp", "ntp", "audit", "alert", "cron", "local0", "local1", "local2", "local3", "local4",
    "local5", "local6", "local7",
];
const SEVERITIES: &[&str] = &[
    "emerg", "alert", "crit", "error", "warn", "notice", "info", "debug",
];

/// nginx: ngx_syslog_process_conf / ngx_syslog_parse_args (`rest` follows `syslog:`).
pub(crate) fn syslog_process_conf(cf: &mut Cf<'_>, rest: &[u8]) -> Result<(), Failed> {
    let (mut server, mut facility, mut severity, mut tag) = (false, false, false, false);
    for p in rest.split(|&c| c == b',') {
        if let Some(url) = p.strip_prefix(b"server=") {
            if server {
                return Err(cf.emerg("duplicate syslog \"server\""));
            }
            let opts = crate::http::core::UrlOpts {
                default_port: 514,
                ..Default::default()
            };
            if let Err(e) = crate::http::core::parse_url(url, &opts) {
                return Err(cf.emerg(format!("{e} in syslog server \"{}\"", lossy(url))));
            }
            server = true;
        } else if let Some(v) = p.strip_prefix(b"facility=") {
            if facility {
                return Err(cf.emerg("duplicate syslog \"facility\""));
            }
            if !FACILITIES.iter().any(|f| f.as_bytes() == v) {
                return Err(cf.emerg(format!("unknown syslog facility \"{}\"", lossy(v))));
            }
            facility = true;
        } else if let Some(v) = p.strip_prefix(b"severity=") {
            if severity {
                return Err(cf.emerg("duplicate syslog \"severity\""));
            }
            if !SEVERITIES.iter().any(|f| f.as_bytes() == v) {
                return Err(cf.emerg(format!("unknown syslog severity \"{}\"", lossy(v))));
            }
            severity = true;
        } else if let Some(v) = p.strip_prefix(b"tag=") {
            if tag {
                return Err(cf.emerg("duplicate syslog \"tag\""));
            }
            if v.len() > 32 {
                return Err(cf.emerg("syslog tag length exceeds 32"));
            }
            if !v.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_') {
                return Err(
                    cf.emerg("syslog \"tag\" only allows alphanumeric characters and underscore")
                );
            }
            tag = true;
        } else if p == b"nohostname" {
        } else {
            // nginx prints the rest of the string from this parameter on (commas are
            // NUL-terminated as they are parsed, so only this parameter shows).
            return Err(cf.emerg(format!("unknown syslog parameter \"{}\"", lossy(p))));
        }
    }
    if !server {
        return Err(cf.emerg("no syslog server specified"));
    }
    Ok(())
}

/// nginx: ngx_openssl_engine. OpenSSL 3 has no engines installed: ENGINE_by_id() fails.
fn ssl_engine(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    let core = cf.main().get::<CoreConf>();
    if core.ssl_engine {
        return Err(Some("is duplicate".into()));
    }
    core.ssl_engine = true;
    let id = lossy(arg(d, 0));
    let so = format!("/usr/lib/x86_64-linux-gnu/engines-3/{id}.so");
    // Logged with cf->log: no location.
    cf.log(
        Level::Emerg,
        format!(
            "ENGINE_by_id(\"{id}\") failed (SSL: error:12800067:DSO support routines::could \
             not load the shared library:filename({so}): {so}: cannot open shared object \
             file: No such file or directory error:12800067:DSO support routines::could not \
             load the shared library error:13000084:engine routines::dso not found \
             error:13000074:engine routines::no such engine:id={id})"
        ),
    );
    Err(None)
}

/// nginx: ngx_thread_pool_add (`aio threads[=name]` refers to a pool; `default` needs none).
pub(crate) fn thread_pool_add(cf: &mut Cf<'_>, d: &Directive, name: Option<&[u8]>) -> usize {
    let name = name.unwrap_or(b"default").to_vec();
    let file = cf
        .conf
        .files
        .get(d.file)
        .map(|f| f.path.display().to_string())
        .unwrap_or_default();
    let pools = &mut cf.main().get::<ThreadPools>().pools;
    if let Some(i) = pools.iter().position(|p| p.0 == name) {
        return i;
    }
    pools.push((name, 0, file, d.line));
    pools.len() - 1
}

/// nginx: ngx_thread_pool
fn thread_pool(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    let name = arg(d, 0).to_vec();
    let i = thread_pool_add(cf, d, Some(&name));
    if cf.main().get::<ThreadPools>().pools[i].1 != 0 {
        return Err(cf
            .emerg(format!("duplicate thread pool \"{}\"", lossy(&name)))
            .into());
    }
    let mut threads = 0;
    for a in d.args.iter().skip(1) {
        if let Some(v) = a.strip_prefix(b"threads=") {
            match atoi(v) {
                Some(n) if n > 0 => threads = n,
                _ => {
                    return Err(cf
                        .emerg(format!("invalid threads value \"{}\"", lossy(a)))
                        .into())
                }
            }
        } else if let Some(v) = a.strip_prefix(b"max_queue=") {
            if atoi(v).is_none() {
                return Err(cf
                    .emerg(format!("invalid max_queue value \"{}\"", lossy(a)))
                    .into());
            }
        }
    }
    if threads == 0 {
        return Err(cf
            .emerg("\"thread_pool\" must have \"threads\" parameter")
            .into());
    }
    cf.main().get::<ThreadPools>().pools[i].1 = threads;
    Ok(())
}

/// The core modules' `init_conf` checks nginx runs after "syntax is ok" (nginx:
/// ngx_core_module_init_conf, ngx_thread_pool_init_conf), from the main level once parsing
/// is over. Messages are in nginx's order; an `[emerg]` among them means the test failed.
pub(crate) fn init_conf(main: &mut Frame) -> Vec<LogMsg> {
    let mut out = Vec::new();
    let core = main.get::<CoreConf>();
    let workers = core.worker_processes.unwrap_or(1);
    if let Some((n, auto)) = core.cpu_affinity {
        if !auto && n != 1 && n as i64 != workers {
            out.push(LogMsg {
                level: Level::Warn,
                text: "the number of \"worker_processes\" is not equal to the number of \
                       \"worker_cpu_affinity\" masks, using last mask for remaining worker \
                       processes"
                    .into(),
            });
        }
    }
    for (name, threads, file, line) in &main.get::<ThreadPools>().pools {
        if *threads != 0 || name == b"default" {
            continue;
        }
        out.push(LogMsg {
            level: Level::Emerg,
            text: format!("unknown thread pool \"{}\" in {file}:{line}", lossy(name)),
        });
        break;
    }
    out
}
