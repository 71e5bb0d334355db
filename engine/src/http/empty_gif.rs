//! ngx_http_empty_gif_module: `empty_gif`, a location answering a 1x1 transparent GIF.

use hyper::header::HeaderValue;
use hyper::Method;

use crate::conf::{cmd, Args, Ctx, Module, Set};
use crate::http::request::Request;
use crate::http::response::Reply;

pub(crate) static MODULE: Module = Module {
    name: "ngx_http_empty_gif_module",
    // nginx: ngx_http_empty_gif only installs the location's content handler (lowered in
    // lower.rs as `LocConf::empty_gif`).
    commands: &[cmd("empty_gif", Ctx::HTTP_LOC, Args::NOARGS, Set::NoOp)],
};

/// A GIF89a image of one transparent pixel (43 bytes): the header, a 1x1 screen with a
/// two-colour table (black, white), a graphic control extension making colour 0
/// transparent, one image of 1x1 and its LZW data, the trailer.
const GIF: [u8; 43] = [
    b'G', b'I', b'F', b'8', b'9', b'a', // signature and version
    0x01, 0x00, 0x01, 0x00, // screen width and height: 1, 1
    0x80, 0x01, 0x00, // global colour table of 2 entries, background 1, no aspect ratio
    0x00, 0x00, 0x00, 0xff, 0xff, 0xff, // the colours
    0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x01, 0x00, // transparency: colour index 1
    0x2c, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, // image at 0,0 of 1x1
    0x02, 0x02, 0x4c, 0x01, 0x00, // LZW minimum code size 2, one block of 2 bytes
    0x3b, // trailer
];

/// nginx's fixed Last-Modified of the image (ngx_http_empty_gif_handler).
const LAST_MODIFIED: &str = "Mon, 28 Sep 1970 06:00:00 GMT";

/// nginx: ngx_http_empty_gif_handler.
pub(crate) fn handler(r: &Request) -> Reply {
    if !matches!(r.method, Method::GET | Method::HEAD) {
        return Reply::status(405);
    }
    let mut reply = Reply::status(200);
    reply.headers.insert(
        hyper::header::CONTENT_TYPE,
        HeaderValue::from_static("image/gif"),
    );
    reply.headers.insert(
        hyper::header::LAST_MODIFIED,
        HeaderValue::from_static(LAST_MODIFIED),
    );
    reply.length = Some(GIF.len() as u64);
    reply.body = Some(crate::http::response::full(&GIF[..]));
    reply
}
