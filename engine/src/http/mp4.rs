//! ngx_http_mp4_module.

use crate::conf::{cmd, Args, Ctx, Module, Set, Slot};
use crate::http::response::Reply;

pub(crate) static MODULE: Module = Module {
    name: "ngx_http_mp4_module",
    commands: &[
        // nginx: ngx_http_mp4 only installs the location's content handler.
        cmd("mp4", Ctx::HTTP_LOC, Args::NOARGS, Set::NoOp),
        cmd(
            "mp4_buffer_size",
            Ctx::HTTP_MSL,
            Args::TAKE1,
            Set::Slot(Slot::Size),
        ),
        cmd(
            "mp4_max_buffer_size",
            Ctx::HTTP_MSL,
            Args::TAKE1,
            Set::Slot(Slot::Size),
        ),
        cmd(
            "mp4_start_key_frame",
            Ctx::HTTP_MSL,
            Args::FLAG,
            Set::Slot(Slot::Flag),
        ),
    ],
};

// ---- runtime ----

/// `mp4_buffer_size`, `mp4_max_buffer_size`, `mp4_start_key_frame` (merged per field).
#[derive(Debug, Clone, Default)]
pub(crate) struct Mp4Conf {
    pub(crate) buffer_size: Option<u64>,
    pub(crate) max_buffer_size: Option<u64>,
    pub(crate) start_key_frame: Option<bool>,
}

/// nginx: ngx_http_mp4_merge_conf.
pub(crate) fn merge(c: &mut Mp4Conf, p: &Mp4Conf) {
    if c.buffer_size.is_none() {
        c.buffer_size = p.buffer_size;
    }
    if c.max_buffer_size.is_none() {
        c.max_buffer_size = p.max_buffer_size;
    }
    if c.start_key_frame.is_none() {
        c.start_key_frame = p.start_key_frame;
    }
}

/// Folds the mp4 directives into a level.
pub(crate) fn lower(c: &mut crate::http::lower::LocConf, d: &parser::Directive) -> bool {
    let a = d.args.first().map(Vec::as_slice).unwrap_or_default();
    match d.name.as_slice() {
        b"mp4" => c.mp4 = true,
        b"mp4_buffer_size" => c.mp4_conf.buffer_size = crate::conf::values::parse_size(a),
        b"mp4_max_buffer_size" => c.mp4_conf.max_buffer_size = crate::conf::values::parse_size(a),
        b"mp4_start_key_frame" => c.mp4_conf.start_key_frame = Some(a.eq_ignore_ascii_case(b"on")),
        _ => return false,
    }
    true
}

/// nginx: ngx_http_mp4_handler (`None`: declined, the content phase goes on). Without a
/// `start` / `end` seek the file is answered whole, ranges allowed. Seeking (nginx:
/// ngx_http_mp4_process, the moov atom rewritten) is not implemented yet: such a request is
/// answered 500 with an error line saying so, never with the unseeked file.
pub(crate) fn handler(r: &mut crate::http::request::Request) -> Option<Reply> {
    use crate::http::static_file::{file_reply, fstat, map_uri_to_path, open_failed, path_of};
    if !matches!(r.method, hyper::Method::GET | hyper::Method::HEAD) {
        return Some(Reply::status(405));
    }
    if r.uri.ends_with(b"/") {
        return None;
    }
    let path = map_uri_to_path(r, &r.uri);
    let file = match std::fs::File::open(path_of(&path)) {
        Ok(f) => f,
        Err(e) => return Some(open_failed(r, &path, &e)),
    };
    let meta = match fstat(&file) {
        Ok(m) => m,
        Err(e) => return Some(open_failed(r, &path, &e)),
    };
    if !meta.is_file() {
        return None;
    }
    let mut start = -1;
    if !r.args.is_empty() {
        if let Some(v) = crate::http::vars_runtime::arg(&r.args, b"start") {
            start = atofp(&v, 3).unwrap_or(-1);
        }
        if let Some(v) = crate::http::vars_runtime::arg(&r.args, b"end") {
            if atofp(&v, 3).unwrap_or(-1) > 0 && start < 0 {
                start = 0;
            }
        }
    }
    if start >= 0 {
        crate::http::errlog::request_error(
            r,
            &format!(
                "mp4 start/end seeking is not implemented in oxresty (\"{}\")",
                crate::http::static_file::lossy(&path)
            ),
        );
        return Some(Reply::status(500));
    }
    Some(file_reply(r, &path, file, &meta))
}

/// nginx: ngx_http_mp4_atofp: a decimal with up to `point` digits after the dot kept (more
/// are allowed and dropped), as an integer scaled by 10^point; `None` is NGX_ERROR.
fn atofp(line: &[u8], mut point: u32) -> Option<i64> {
    if line.is_empty() {
        return None;
    }
    let cutoff = i64::MAX / 10;
    let cutlim = i64::MAX % 10;
    let mut dot = false;
    let mut value: i64 = 0;
    for &c in line {
        if c == b'.' {
            if dot {
                return None;
            }
            dot = true;
            continue;
        }
        if !c.is_ascii_digit() {
            return None;
        }
        if point == 0 {
            continue;
        }
        let d = i64::from(c - b'0');
        if value >= cutoff && (value > cutoff || d > cutlim) {
            return None;
        }
        value = value * 10 + d;
        point -= u32::from(dot);
    }
    while point > 0 {
        if value > cutoff {
            return None;
        }
        value *= 10;
        point -= 1;
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::atofp;

    #[test]
    fn seek_values_as_nginx() {
        assert_eq!(atofp(b"10", 3), Some(10_000));
        assert_eq!(atofp(b"1.5", 3), Some(1_500));
        assert_eq!(atofp(b"1.23456", 3), Some(1_234));
        assert_eq!(atofp(b".5", 3), Some(500));
        assert_eq!(atofp(b"1.2.3", 3), None);
        assert_eq!(atofp(b"", 3), None);
        assert_eq!(atofp(b"-1", 3), None);
    }
}
