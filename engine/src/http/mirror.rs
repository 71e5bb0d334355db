//! ngx_http_mirror_module: `mirror`, `mirror_request_body`.

use parser::Directive;

use crate::conf::{cmd, Args, Cf, Ctx, Module, Set, SetResult, Slot};

pub(crate) static MODULE: Module = Module {
    name: "ngx_http_mirror_module",
    commands: &[
        cmd("mirror", Ctx::HTTP_MSL, Args::TAKE1, Set::Handler(mirror)),
        cmd(
            "mirror_request_body",
            Ctx::HTTP_MSL,
            Args::FLAG,
            Set::Slot(Slot::Flag),
        ),
    ],
};

/// One level's `mirror` state (nginx: `mlcf->mirror`: unset, off, or a list).
#[derive(Default, PartialEq)]
enum Mirror {
    #[default]
    Unset,
    Off,
    Uris,
}

/// nginx: ngx_http_mirror
fn mirror(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    let state = cf.frame().get::<Mirror>();
    if d.args.first().is_some_and(|v| v == b"off") {
        if *state != Mirror::Unset {
            return Err(Some("is duplicate".into()));
        }
        *state = Mirror::Off;
        return Ok(());
    }
    if *state == Mirror::Off {
        return Err(Some("is duplicate".into()));
    }
    *state = Mirror::Uris;
    Ok(())
}
