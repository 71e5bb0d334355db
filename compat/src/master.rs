//! The running server's process: daemon, pid file, signals and reload (nginx:
//! ngx_daemon, ngx_master_process_cycle). Workers are threads of this process; the "master"
//! is this thread, which only waits for signals.

use std::io::Write;

use engine::{Level, Stop, Workers};
use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1};

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
    let pid_path = main.pid.clone();
    if let Err(e) = write_pid(&pid_path) {
        log.error(
            Level::Emerg,
            format!("open() \"{}\" failed ({})", pid_path.display(), errno(&e)).as_bytes(),
        );
        return 1;
    }
    let mut signals =
        match signal_hook::iterator::Signals::new([SIGHUP, SIGQUIT, SIGTERM, SIGINT, SIGUSR1]) {
            Ok(s) => s,
            Err(e) => {
                log.error(
                    Level::Emerg,
                    format!("sigaction() failed ({})", errno(&e)).as_bytes(),
                );
                return 1;
            }
        };
    let mut listeners = engine::Listeners::default();
    let mut workers = match engine::start(&parsed, &mut listeners) {
        Ok(w) => w,
        Err(text) => {
            log.error(Level::Emerg, text.as_bytes());
            let _ = std::fs::remove_file(&pid_path);
            return 1;
        }
    };
    let mut draining: Vec<std::thread::JoinHandle<()>> = Vec::new();
    let mut stop = Stop::Graceful;
    for sig in signals.forever() {
        match sig {
            SIGHUP => {
                engine::error_log(Level::Notice, "signal 1 (SIGHUP) received, reconfiguring");
                match reload(load, &mut listeners) {
                    Ok(new) => {
                        let old = std::mem::replace(&mut workers, new);
                        old.stop(Stop::Graceful);
                        draining.push(std::thread::spawn(move || old.join()));
                    }
                    Err(texts) => {
                        for t in texts {
                            engine::error_log(Level::Emerg, &t);
                        }
                    }
                }
            }
            SIGUSR1 => {
                engine::error_log(
                    Level::Notice,
                    "signal 10 (SIGUSR1) received, reopening logs",
                );
                engine::reopen_logs();
            }
            SIGQUIT => {
                engine::error_log(Level::Notice, "signal 3 (SIGQUIT) received, shutting down");
                stop = Stop::Graceful;
                break;
            }
            _ => {
                engine::error_log(Level::Notice, "signal 15 (SIGTERM) received, exiting");
                stop = Stop::Fast;
                break;
            }
        }
    }
    workers.stop(stop);
    workers.join();
    for d in draining {
        let _ = d.join();
    }
    let _ = std::fs::remove_file(&pid_path);
    engine::error_log(Level::Notice, "exit");
    0
}

/// nginx: the HUP path of ngx_master_process_cycle: a new cycle, or the old one keeps serving.
fn reload(
    load: &engine::LoadOptions,
    listeners: &mut engine::Listeners,
) -> Result<Workers, Vec<String>> {
    let mut msgs = Vec::new();
    let texts = |msgs: &[engine::LogMsg]| msgs.iter().map(|m| m.text.clone()).collect::<Vec<_>>();
    let Ok(parsed) = engine::parse(load, &mut msgs) else {
        return Err(texts(&msgs));
    };
    if engine::init(&parsed, &mut msgs).is_err() {
        return Err(texts(&msgs));
    }
    engine::start(&parsed, listeners).map_err(|t| vec![t])
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
