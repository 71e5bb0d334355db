//! Every module oxresty builds in, in nginx's order (the order directive lookup walks).

use crate::conf::Module;

pub(crate) static MODULES: &[&Module] = &[
    &crate::core::CORE,
    &crate::core::ERRLOG,
    &crate::core::OPENSSL,
    &crate::core::REGEX,
    &crate::core::THREAD_POOL,
    &crate::event::EVENTS,
    &crate::event::EVENT_CORE,
    &crate::event::EPOLL,
    &crate::http::MODULE,
    &crate::http::core::MODULE,
    &crate::http::log::MODULE,
    &crate::http::upstream::MODULE,
    &crate::http::v2::MODULE,
    &crate::http::gzip_static::MODULE,
    &crate::http::dav::MODULE,
    &crate::http::flv::MODULE,
    &crate::http::mp4::MODULE,
    &crate::http::autoindex::MODULE,
    &crate::http::index::MODULE,
    &crate::http::mirror::MODULE,
    &crate::http::random_index::MODULE,
    &crate::http::auth_request::MODULE,
    &crate::http::auth_basic::MODULE,
    &crate::http::access::MODULE,
    &crate::http::limit_conn::MODULE,
    &crate::http::limit_req::MODULE,
    &crate::http::realip::MODULE,
    &crate::http::geo::MODULE,
    &crate::http::map::MODULE,
    &crate::http::split_clients::MODULE,
    &crate::http::referer::MODULE,
    &crate::http::rewrite::MODULE,
    &crate::http::ssl::MODULE,
    &crate::http::proxy::MODULE,
    &crate::http::fastcgi::MODULE,
    &crate::http::uwsgi::MODULE,
    &crate::http::scgi::MODULE,
    &crate::http::grpc::MODULE,
    &crate::http::memcached::MODULE,
    &crate::http::empty_gif::MODULE,
    &crate::http::browser::MODULE,
    &crate::http::secure_link::MODULE,
    &crate::http::upstream_hash::MODULE,
    &crate::http::upstream_ip_hash::MODULE,
    &crate::http::upstream_least_conn::MODULE,
    &crate::http::upstream_random::MODULE,
    &crate::http::upstream_keepalive::MODULE,
    &crate::http::upstream_zone::MODULE,
    &crate::http::stub_status::MODULE,
    &crate::http::try_files::MODULE,
    &crate::http::slice::MODULE,
    &crate::http::ssi::MODULE,
    &crate::http::charset::MODULE,
    &crate::http::sub::MODULE,
    &crate::http::addition::MODULE,
    &crate::http::gunzip::MODULE,
    &crate::http::userid::MODULE,
    &crate::http::headers::MODULE,
    &crate::http::gzip::MODULE,
    &crate::http::ndk::MODULE,
    &crate::http::echo::MODULE,
    &crate::http::headers_more::MODULE,
    &crate::http::set_misc::MODULE,
    &crate::http::lua::directives::MODULE,
    &crate::stream::MODULE,
    &crate::stream::core::MODULE,
    &crate::stream::log::MODULE,
    &crate::stream::proxy::MODULE,
    &crate::stream::upstream::MODULE,
    &crate::stream::upstream_hash::MODULE,
    &crate::stream::upstream_least_conn::MODULE,
    &crate::stream::upstream_random::MODULE,
    &crate::stream::upstream_zone::MODULE,
    &crate::stream::access::MODULE,
    &crate::stream::geo::MODULE,
    &crate::stream::limit_conn::MODULE,
    &crate::stream::map::MODULE,
    &crate::stream::realip::MODULE,
    &crate::stream::r#return::MODULE,
    &crate::stream::set::MODULE,
    &crate::stream::split_clients::MODULE,
    &crate::stream::ssl::MODULE,
    &crate::stream::ssl_preread::MODULE,
    &crate::stream::lua::MODULE,
];

#[cfg(test)]
mod tests {
    use super::MODULES;
    use crate::conf::Set;

    /// Two rows with one name must not share a context: lookup would be ambiguous.
    #[test]
    fn one_row_per_name_and_context() {
        let rows: Vec<_> = MODULES
            .iter()
            .flat_map(|m| m.commands.iter().map(move |c| (m.name, c)))
            .collect();
        for (i, (ma, a)) in rows.iter().enumerate() {
            for (mb, b) in &rows[i + 1..] {
                assert!(
                    a.name != b.name || !a.ctx.has(b.ctx),
                    "\"{}\" of {ma} and of {mb} share a context",
                    a.name
                );
            }
        }
    }

    /// Prints the table's coverage (`cargo test -p engine coverage -- --nocapture`).
    #[test]
    fn coverage() {
        let mut total = 0;
        for m in MODULES {
            let noop: Vec<_> = m
                .commands
                .iter()
                .filter(|c| matches!(c.set, Set::NoOp))
                .map(|c| c.name)
                .collect();
            total += m.commands.len();
            println!(
                "{:<40} {:>3} rows  no-op: {}",
                m.name,
                m.commands.len(),
                noop.join(" ")
            );
        }
        println!("{total} rows in {} modules", MODULES.len());
        assert!(total > 700, "the directive table lost rows: {total}");
    }
}
