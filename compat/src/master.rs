//! The running server's process: daemon, pid file, signals and reload (nginx:
//! ngx_daemon, ngx_master_process_cycle). Workers are threads of this process; the "master"
//! is this thread, which only waits for signals.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicI32, Ordering};

use engine::{Level, Stop, Workers};

use crate::errlog::ErrorLog;

/// nginx: ngx_daemon: the parent exits, the child goes on in a new session.
fn daemonize() -> std::io::Result<()> {
    // SAFETY: no thread has been started yet, so fork() duplicates a single-threaded process.
    match unsafe { libc::fork() } {
        -1 => return Err(std::io::Error::last_os_error()),
        0 => {}
        _ => std::process::exit(0),
    }
    // SAFETY: setsid/umask have no memory preconditions.
    unsafe {
        if libc::setsid() == -1 {
            return Err(std::io::Error::last_os_error());
        }
        libc::umask(0);
    }
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    use std::os::fd::AsRawFd;
    // SAFETY: dup2 onto the standard descriptors of this process.
    unsafe {
        libc::dup2(null.as_raw_fd(), 0);
        libc::dup2(null.as_raw_fd(), 1);
    }
    Ok(())
}

/// nginx: ngx_create_pidfile.
fn write_pid(path: &std::path::Path) -> std::io::Result<()> {
    let mut f = std::fs::File::create(path)?;
    writeln!(f, "{}", std::process::id())
}

/// The write end of the signal pipe (nginx's handler only sets flags; ours forwards the
/// signal number and the sender's pid to the master loop).
static SIGNAL_PIPE: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(sig: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    let pid = if info.is_null() {
        0
    } else {
        // SAFETY: the kernel passes a valid siginfo_t with SA_SIGINFO.
        unsafe { (*info).si_pid() }
    };
    let msg = [sig, pid];
    let fd = SIGNAL_PIPE.load(Ordering::Relaxed);
    // SAFETY: write(2) is async-signal-safe; msg outlives the call.
    unsafe {
        libc::write(fd, msg.as_ptr().cast(), std::mem::size_of_val(&msg));
    }
}

/// The signals the master handles, as nginx names them.
const SIGNALS: &[(libc::c_int, &str)] = &[
    (libc::SIGHUP, "SIGHUP"),
    (libc::SIGQUIT, "SIGQUIT"),
    (libc::SIGTERM, "SIGTERM"),
    (libc::SIGINT, "SIGINT"),
    (libc::SIGUSR1, "SIGUSR1"),
];

/// nginx: ngx_init_signals, with a self-pipe. Returns the read end.
fn init_signals() -> std::io::Result<std::fs::File> {
    let mut fds = [0; 2];
    // SAFETY: fds has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } == -1 {
        return Err(std::io::Error::last_os_error());
    }
    SIGNAL_PIPE.store(fds[1], Ordering::Relaxed);
    for &(sig, _) in SIGNALS {
        // SAFETY: a zeroed sigaction is valid; the handler has the SA_SIGINFO signature.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as usize;
            sa.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            if libc::sigaction(sig, &sa, std::ptr::null_mut()) == -1 {
                return Err(std::io::Error::last_os_error());
            }
        }
    }
    // SAFETY: fds[0] is the pipe's read end, owned from here on.
    Ok(unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fds[0]) })
}

/// nginx's notices at the start of a cycle (ngx_init_cycle's event module, ngx_os_status,
/// ngx_start_worker_processes).
fn start_notices(first: bool, workers: &Workers) {
    let notice = |t: &str| engine::error_log(Level::Notice, t);
    notice("using the \"epoll\" event method");
    if first {
        notice("nginx/1.22.1");
        // SAFETY: uname fills the zeroed struct.
        let mut u: libc::utsname = unsafe { std::mem::zeroed() };
        if unsafe { libc::uname(&mut u) } == 0 {
            let field = |f: &[libc::c_char]| {
                let b: Vec<u8> = f
                    .iter()
                    .take_while(|&&c| c != 0)
                    .map(|&c| c as u8)
                    .collect();
                String::from_utf8_lossy(&b).into_owned()
            };
            notice(&format!("OS: {} {}", field(&u.sysname), field(&u.release)));
        }
        let mut rl = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit fills rl.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) } == 0 {
            notice(&format!(
                "getrlimit(RLIMIT_NOFILE): {}:{}",
                rl.rlim_cur, rl.rlim_max
            ));
        }
    }
    notice("start worker processes");
    for id in workers.ids() {
        notice(&format!("start worker process {id}"));
    }
}

/// Serves `parsed` until QUIT, TERM or INT; HUP reloads, USR1 reopens logs. Returns the
/// exit code.
pub(crate) fn serve(log: &ErrorLog, parsed: engine::Parsed, load: &engine::LoadOptions) -> i32 {
    let main = parsed.main_conf();
    if main.daemon {
        if let Err(e) = daemonize() {
            log.error(
                Level::Emerg,
                format!("fork() failed ({})", errno(&e)).as_bytes(),
            );
            return 1;
        }
    }
    let mut signals = match init_signals() {
        Ok(s) => s,
        Err(e) => {
            log.error(
                Level::Emerg,
                format!("sigaction() failed ({})", errno(&e)).as_bytes(),
            );
            return 1;
        }
    };
    let pid_path = main.pid.clone();
    if let Err(e) = write_pid(&pid_path) {
        log.error(
            Level::Emerg,
            format!("open() \"{}\" failed ({})", pid_path.display(), errno(&e)).as_bytes(),
        );
        return 1;
    }
    let mut listeners = engine::Listeners::default();
    let mut workers = match engine::start(&parsed, &mut listeners) {
        Ok(w) => w,
        Err(text) => {
            log.error(Level::Emerg, text.as_bytes());
            let _ = std::fs::remove_file(&pid_path);
            return 1;
        }
    };
    start_notices(true, &workers);
    let mut draining: Vec<std::thread::JoinHandle<()>> = Vec::new();
    let notice = |t: &str| engine::error_log(Level::Notice, t);
    let stop = loop {
        let mut msg = [0u8; 8];
        if signals.read_exact(&mut msg).is_err() {
            break Stop::Fast;
        }
        let sig = i32::from_ne_bytes([msg[0], msg[1], msg[2], msg[3]]);
        let from = i32::from_ne_bytes([msg[4], msg[5], msg[6], msg[7]]);
        let name = SIGNALS
            .iter()
            .find(|(s, _)| *s == sig)
            .map_or("", |(_, n)| n);
        // nginx: ngx_signal_handler's "signal %d (%s) received from %P, %s".
        let received = |action: &str| {
            let from = if from > 0 {
                format!(" from {from}")
            } else {
                String::new()
            };
            notice(&format!("signal {sig} ({name}) received{from}, {action}"));
        };
        match sig {
            libc::SIGHUP => {
                received("reconfiguring");
                notice("reconfiguring");
                draining.retain(|d| !d.is_finished());
                match reload(load, &mut listeners) {
                    Ok(new) => {
                        start_notices(false, &new);
                        let old = std::mem::replace(&mut workers, new);
                        old.stop(Stop::Graceful);
                        draining.push(std::thread::spawn(move || old.join()));
                    }
                    Err(msgs) => {
                        // nginx: the old cycle keeps serving; the new one's errors are logged.
                        for m in msgs {
                            engine::error_log(m.level, &m.text);
                        }
                    }
                }
            }
            libc::SIGUSR1 => {
                received("reopening logs");
                notice("reopening logs");
                engine::reopen_logs();
            }
            libc::SIGQUIT => {
                received("shutting down");
                break Stop::Graceful;
            }
            _ => {
                received("exiting");
                break Stop::Fast;
            }
        }
    };
    workers.stop(stop);
    workers.join();
    for d in draining {
        let _ = d.join();
    }
    let _ = std::fs::remove_file(&pid_path);
    notice("exit");
    0
}

/// nginx: the HUP path of ngx_master_process_cycle: a new cycle, or the old one keeps serving.
fn reload(
    load: &engine::LoadOptions,
    listeners: &mut engine::Listeners,
) -> Result<Workers, Vec<engine::LogMsg>> {
    let mut msgs = Vec::new();
    let Ok(parsed) = engine::parse(load, &mut msgs) else {
        return Err(msgs);
    };
    if engine::init(&parsed, &mut msgs).is_err() {
        return Err(msgs);
    }
    if let Err(e) = engine::init_lua(&parsed, false) {
        msgs.push(engine::LogMsg {
            level: Level::Error,
            text: e.text,
        });
        return Err(msgs);
    }
    engine::start(&parsed, listeners).map_err(|t| {
        vec![engine::LogMsg {
            level: Level::Emerg,
            text: t,
        }]
    })
}

fn errno(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => {
            let s = e.to_string();
            format!("{code}: {}", s.split(" (os error").next().unwrap_or(&s))
        }
        None => e.to_string(),
    }
}
