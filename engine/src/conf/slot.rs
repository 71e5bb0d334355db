//! nginx's generic setters (`ngx_conf_set_*_slot`): validation and `is duplicate`, as nginx does.

use parser::Directive;

use super::values::{atoi, parse_offset, parse_size, parse_time};
use super::{Cf, Command, SetResult, Slot};
use crate::log::Level;

/// Runs the generic setter `slot` for `d`.
pub(crate) fn set(cf: &mut Cf<'_>, row: &Command, slot: Slot, d: &Directive) -> SetResult {
    let v = |i: usize| d.args.get(i).map(Vec::as_slice).unwrap_or_default();
    let arg = v(0);
    // Slots that keep one value per level refuse a second one.
    let single = !matches!(slot, Slot::StrArray | Slot::KeyVal | Slot::Bitmask(_));
    if single && cf.seen(row.name) {
        return Err(Some("is duplicate".into()));
    }
    let invalid = || Err(Some("invalid value".to_string()));
    match slot {
        // nginx: ngx_conf_set_flag_slot
        Slot::Flag => {
            if !(arg.eq_ignore_ascii_case(b"on") || arg.eq_ignore_ascii_case(b"off")) {
                cf.conf_log(
                    Level::Emerg,
                    format!(
                        "invalid value \"{}\" in \"{}\" directive, it must be \"on\" or \"off\"",
                        String::from_utf8_lossy(arg),
                        row.name
                    ),
                );
                return Err(None);
            }
        }
        Slot::Str | Slot::StrArray | Slot::KeyVal => {}
        Slot::Num => {
            if atoi(arg).is_none() {
                return Err(Some("invalid number".into()));
            }
        }
        Slot::Size => {
            if parse_size(arg).is_none() {
                return invalid();
            }
        }
        Slot::Off => {
            if parse_offset(arg).is_none() {
                return invalid();
            }
        }
        Slot::Msec | Slot::Sec => {
            if parse_time(arg, matches!(slot, Slot::Sec)).is_none() {
                return invalid();
            }
        }
        // nginx: ngx_conf_set_bufs_slot
        Slot::Bufs => {
            let num_ok = matches!(atoi(arg), Some(n) if n > 0);
            if !num_ok || !matches!(parse_size(v(1)), Some(n) if n > 0) {
                return invalid();
            }
        }
        // nginx: ngx_conf_set_enum_slot
        Slot::Enum(words) => {
            if !words.iter().any(|w| w.as_bytes().eq_ignore_ascii_case(arg)) {
                cf.conf_log(
                    Level::Emerg,
                    format!("invalid value \"{}\"", String::from_utf8_lossy(arg)),
                );
                return Err(None);
            }
        }
        // nginx: ngx_conf_set_bitmask_slot
        Slot::Bitmask(words) => {
            let mut set = 0u64;
            for a in &d.args {
                let Some(i) = words
                    .iter()
                    .position(|w| w.as_bytes().eq_ignore_ascii_case(a))
                else {
                    cf.conf_log(
                        Level::Emerg,
                        format!("invalid value \"{}\"", String::from_utf8_lossy(a)),
                    );
                    return Err(None);
                };
                if set & (1 << i) != 0 {
                    cf.conf_log(
                        Level::Warn,
                        format!("duplicate value \"{}\"", String::from_utf8_lossy(a)),
                    );
                }
                set |= 1 << i;
            }
        }
        // nginx: ngx_conf_set_path_slot
        Slot::Path => {
            let mut len = 0;
            for level in d.args.iter().skip(1) {
                match atoi(level) {
                    Some(n) if n > 0 => len += n + 1,
                    _ => return invalid(),
                }
            }
            if len > 10 + d.args.len().saturating_sub(1) as i64 {
                return invalid();
            }
        }
        // nginx: ngx_conf_set_access_slot
        Slot::Access => {
            for a in &d.args {
                let rest = if let Some(r) = a.strip_prefix(b"user:") {
                    r
                } else if let Some(r) = a.strip_prefix(b"group:") {
                    r
                } else if let Some(r) = a.strip_prefix(b"all:") {
                    r
                } else {
                    cf.conf_log(
                        Level::Emerg,
                        format!("invalid value \"{}\"", String::from_utf8_lossy(a)),
                    );
                    return Err(None);
                };
                if rest != b"r" && rest != b"rw" {
                    cf.conf_log(
                        Level::Emerg,
                        format!("invalid value \"{}\"", String::from_utf8_lossy(a)),
                    );
                    return Err(None);
                }
            }
        }
    }
    Ok(())
}
