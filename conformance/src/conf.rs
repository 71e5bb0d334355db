//! Writing `nginx.conf` around a block the way Test::Nginx (`Test/Nginx/Util.pm`,
//! `write_config_file`) does, so that line numbers in error messages match the real harness.
//! Differences: `daemon off` (we run the server in the foreground instead of daemonizing) and
//! `load_module` lines for the dynamic modules of the reference, prepended to `main_config`
//! as `TEST_NGINX_LOAD_MODULES` would do (oxresty accepts them as no-ops).

use std::path::Path;

/// The dynamic modules of Debian's build that lua-nginx-module tests need, in load order.
pub const MODULES: [&str; 5] = [
    "/usr/lib/nginx/modules/ndk_http_module.so",
    "/usr/lib/nginx/modules/ngx_http_lua_module.so",
    "/usr/lib/nginx/modules/ngx_http_echo_module.so",
    "/usr/lib/nginx/modules/ngx_http_headers_more_filter_module.so",
    "/usr/lib/nginx/modules/ngx_http_set_misc_module.so",
];

/// Everything that varies between generated configs.
#[derive(Debug, Clone)]
pub struct ConfParams<'a> {
    /// The server root (prefix), absolute, without a trailing slash.
    pub root: &'a Path,
    /// The port of the test server.
    pub port: u16,
    /// `error_log` level.
    pub log_level: &'a str,
    /// `master_process on`?
    pub master: bool,
    /// `worker_processes`.
    pub workers: u32,
    /// `worker_connections`.
    pub worker_connections: u32,
    /// Add the `location / { root html; ... }` block?
    pub root_location: bool,
    /// Emit `load_module` lines?
    pub load_modules: bool,
    /// `server_name` of the test server.
    pub server_name: &'a str,
    /// Block sections (already `$TEST_NGINX_*`-expanded).
    pub main_config: &'a str,
    pub http_config: &'a str,
    pub config: &'a str,
    pub post_main_config: &'a str,
}

/// Builds the config text.
pub fn render(p: &ConfParams<'_>) -> String {
    let root = p.root.display();
    let mut main_config = p.main_config.to_string();
    if p.load_modules {
        let mods: Vec<String> = MODULES
            .iter()
            .map(|m| format!("load_module {m};"))
            .collect();
        main_config = format!("{} {}", mods.join(" "), main_config);
    }
    let has = |text: &str, word: &str| {
        text.match_indices(word).any(|(i, _)| {
            let before = text[..i].chars().last();
            let after = text[i + word.len()..].chars().next();
            let wordc = |c: char| c.is_alphanumeric() || c == '_';
            !before.is_some_and(wordc) && !after.is_some_and(wordc)
        })
    };
    let proxy_temp = if has(p.http_config, "proxy_temp_path") {
        String::new()
    } else {
        format!("proxy_temp_path {root}/proxy_temp;")
    };
    let body_temp = if has(p.http_config, "client_body_temp_path") {
        String::new()
    } else {
        format!("client_body_temp_path {root}/client_body_temp;")
    };
    let quoted_name = p.server_name.replace('\\', "\\\\").replace('\'', "\\'");
    let mut out = String::new();
    out.push_str(&format!(
        "worker_processes  {workers};\ndaemon off;\nmaster_process {master};\nerror_log {root}/logs/error.log {level};\npid       {root}/logs/nginx.pid;\n",
        workers = p.workers,
        master = if p.master { "on" } else { "off" },
        level = p.log_level,
    ));
    for e in [
        "MOCKEAGAIN_VERBOSE",
        "MOCKEAGAIN",
        "MOCKEAGAIN_WRITE_TIMEOUT_PATTERN",
        "LD_PRELOAD",
        "LD_LIBRARY_PATH",
        "DYLD_INSERT_LIBRARIES",
        "DYLD_FORCE_FLAT_NAMESPACE",
    ] {
        out.push_str(&format!("env {e};\n"));
    }
    out.push_str(&format!(
        "#env LUA_PATH;\n#env LUA_CPATH;\n\n{main_config}\n\nhttp {{\n    access_log {root}/logs/access.log; {body_temp} {proxy_temp} fastcgi_temp_path {root}/fastcgi_temp; scgi_temp_path {root}/scgi_temp; uwsgi_temp_path {root}/uwsgi_temp;\n    #access_log off;\n\n    default_type text/plain;\n    keepalive_timeout  68000ms;\n\n{http_config}\n    server {{\n        listen          {port};\n        #placeholder\n        server_name     '{quoted_name}';\n        \n        client_max_body_size 30M;\n        #client_body_buffer_size 4k;\n\n        # Begin preamble config...\n\n        # End preamble config...\n\n        # Begin test case config...\n{config}\n        # End test case config.\n\n",
        http_config = p.http_config,
        port = p.port,
        config = p.config,
    ));
    if p.root_location {
        out.push_str(&format!(
            "        location / {{\n            root {root}/html;\n            index index.html index.htm;\n        }}\n"
        ));
    }
    out.push_str("    }\n");
    out.push_str(&format!(
        "}}\n\n{post}\n\n#timer_resolution 100ms;\n\nevents {{\n    accept_mutex off;\n\n    worker_connections  {wc};\n}}\n",
        post = p.post_main_config,
        wc = p.worker_connections,
    ));
    out.push_str("env ASAN_OPTIONS;\nenv MOCKNOEAGAIN_VERBOSE;\nenv MOCKNOEAGAIN;\n");
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        out.push_str("user root;\n");
    }
    out
}
