//! ngx_stream_log_module: stream `log_format`, `access_log`, `open_log_file_cache`.

use parser::Directive;

#[allow(unused_imports)]
use crate::conf::{cmd, Args, Cf, Command, Ctx, Module, Set, SetResult, Slot};

pub(crate) static MODULE: Module = Module {
    name: "ngx_stream_log_module",
    commands: COMMANDS,
};

static COMMANDS: &[Command] = &[
    cmd(
        "log_format",
        Ctx::STREAM_MAIN,
        Args::TWOMORE,
        Set::Handler(set_format),
    ),
    cmd(
        "access_log",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::ONEMORE,
        Set::Handler(set_log),
    ),
    cmd(
        "open_log_file_cache",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::TAKE1234,
        Set::Handler(open_file_cache),
    ),
];

fn invalid(cf: &mut Cf<'_>, what: &str, v: &[u8]) -> SetResult {
    let text = format!("{what} \"{}\"", String::from_utf8_lossy(v));
    Err(cf.emerg(text).into())
}

/// The stream `log_format` names (nginx: `lmcf->formats`).
#[derive(Default)]
struct Formats(Vec<Vec<u8>>);

/// nginx: ngx_stream_log_set_format.
fn set_format(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    let name = d.args[0].clone();
    let dup = cf
        .enclosing(Ctx::STREAM_MAIN)
        .is_some_and(|f| f.get::<Formats>().0.contains(&name));
    if dup {
        return invalid(cf, "duplicate \"log_format\" name", &name);
    }
    if let Some(f) = cf.enclosing(Ctx::STREAM_MAIN) {
        f.get::<Formats>().0.push(name);
    }
    let mut rest = &d.args[1..];
    if let Some(e) = rest.first().and_then(|a| a.strip_prefix(b"escape=")) {
        if e != b"default" && e != b"json" && e != b"none" {
            let text = format!(
                "unknown log format escaping \"{}\"",
                String::from_utf8_lossy(e)
            );
            return Err(cf.emerg(text).into());
        }
        rest = &rest[1..];
    }
    for a in rest {
        super::compile_complex_value(cf, a)?;
    }
    Ok(())
}

/// nginx: ngx_stream_log_set_log.
fn set_log(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    let path = &d.args[0];
    if path.as_slice() == b"off" {
        if d.args.len() == 2 {
            return Ok(());
        }
        return invalid(cf, "invalid parameter", &d.args[2]);
    }
    let Some(fmt) = d.args.get(1) else {
        return Err(cf.emerg("log format is not specified").into());
    };
    let known = cf
        .enclosing(Ctx::STREAM_MAIN)
        .is_some_and(|f| f.get::<Formats>().0.contains(fmt));
    if !known {
        return invalid(cf, "unknown log format", fmt);
    }
    if crate::http::variables::script_variables_count(path) > 0 {
        super::compile_complex_value(cf, path)?;
    } else if !path.starts_with(b"syslog:") {
        let full = crate::cycle::full_name(&cf.prefix, path);
        cf.main()
            .get::<crate::cycle::CycleConf>()
            .open_files
            .push(full);
    }
    Ok(())
}

/// nginx: ngx_stream_log_open_file_cache.
fn open_file_cache(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    if crate::http::upstream::seen(cf, d) {
        return Err(Some("is duplicate".into()));
    }
    let mut max = false;
    for a in &d.args {
        let ok = if let Some(v) = a.strip_prefix(b"max=") {
            max = true;
            crate::conf::values::atoi(v).is_some_and(|n| n > 0)
        } else if let Some(v) = a.strip_prefix(b"inactive=") {
            crate::conf::values::parse_time(v, true).is_some()
        } else if let Some(v) = a.strip_prefix(b"min_uses=") {
            crate::conf::values::atoi(v).is_some()
        } else if let Some(v) = a.strip_prefix(b"valid=") {
            crate::conf::values::parse_time(v, true).is_some()
        } else {
            a.as_slice() == b"off"
        };
        if !ok {
            return invalid(cf, "invalid \"open_log_file_cache\" parameter", a);
        }
    }
    if !max && d.args.first().map(Vec::as_slice) != Some(b"off") {
        return Err(cf
            .emerg("\"open_log_file_cache\" must have \"max\" parameter")
            .into());
    }
    Ok(())
}
