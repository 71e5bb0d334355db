//! `-s stop|quit|reopen|reload`: read the master's pid from the pid file and signal it.
//!
//! nginx: ngx_signal_process (ngx_cycle.c), ngx_os_signal_process (ngx_process.c)

use std::os::unix::fs::FileExt;

use engine::Level;

use crate::errlog::{errno_text, ErrorLog};
use crate::options::Signal;

/// nginx: NGX_INT64_LEN + 2, the most of the pid file nginx reads.
const PID_READ_MAX: usize = 20 + 2;

/// Signals the process whose pid is in `pid_file`; returns the exit code.
pub fn signal_process(log: &ErrorLog, pid_file: &[u8], sig: Signal) -> i32 {
    log.error(Level::Notice, b"signal process started");

    let failed = |level: Level, func: &str, e: &std::io::Error| {
        let mut m = format!("{func} \"").into_bytes();
        m.extend_from_slice(pid_file);
        m.extend_from_slice(b"\" failed");
        m.extend_from_slice(errno_text(e).as_bytes());
        log.error(level, &m);
    };

    let file = match std::fs::File::open(crate::os_path(pid_file)) {
        Ok(f) => f,
        Err(e) => {
            failed(Level::Error, "open()", &e);
            return 1;
        }
    };
    let mut buf = [0u8; PID_READ_MAX];
    let n = match file.read_at(&mut buf, 0) {
        Ok(n) => n,
        Err(e) => {
            failed(Level::Crit, "pread()", &e);
            return 1;
        }
    };
    drop(file);

    let mut content = &buf[..n.min(buf.len())];
    while let [rest @ .., b'\r' | b'\n'] = content {
        content = rest;
    }
    // nginx assigns ngx_atoi's ngx_int_t to a pid_t: the value is truncated to 32 bits.
    let pid = atoi(content).map(|v| v as libc::pid_t).unwrap_or(-1);
    if pid == -1 {
        let mut m = b"invalid PID number \"".to_vec();
        m.extend_from_slice(content);
        m.extend_from_slice(b"\" in \"");
        m.extend_from_slice(pid_file);
        m.push(b'"');
        log.error(Level::Error, &m);
        return 1;
    }

    let signo = sig.signo();
    // SAFETY: kill() has no memory effects. Like nginx, a pid of 0 signals the process group.
    if unsafe { libc::kill(pid, signo) } != -1 {
        return 0;
    }
    let e = std::io::Error::last_os_error();
    let m = format!("kill({pid}, {signo}) failed{}", errno_text(&e));
    log.error(Level::Alert, m.as_bytes());
    1
}

/// nginx: ngx_atoi (digits only, no sign, overflow and the empty string are errors).
fn atoi(s: &[u8]) -> Option<i64> {
    if s.is_empty() {
        return None;
    }
    let mut v: i64 = 0;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(i64::from(c - b'0'))?;
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::atoi;

    #[test]
    fn ngx_atoi() {
        assert_eq!(atoi(b"123"), Some(123));
        assert_eq!(atoi(b""), None);
        assert_eq!(atoi(b"-1"), None);
        assert_eq!(atoi(b"12 "), None);
        assert_eq!(atoi(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(atoi(b"9223372036854775808"), None);
    }
}
