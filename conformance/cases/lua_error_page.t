# The status a Lua handler answers an error page with: the error's (nginx: r->err_status),
# none for `error_page ... =` (then what an earlier Lua handler set, r->headers_out.status,
# else 200).
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: `=` after a static 404: the page's handler answers 200
--- config
    location /t {
        error_page 404 = /page;
    }
    location = /page {
        internal;
        content_by_lua_block { ngx.say("page: ", ngx.status) }
    }
--- request
GET /t/missing
--- error_code: 200
--- response_body
page: 0



=== TEST 2: no `=`: the error's status, which ngx.status reads
--- config
    location /t {
        error_page 404 /page;
    }
    location = /page {
        internal;
        content_by_lua_block { ngx.say("page: ", ngx.status) }
    }
--- request
GET /t/missing
--- error_code: 404
--- response_body
page: 404



=== TEST 3: `=` after an intercepted upstream 500
--- config
    location = /t {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/bad;
        proxy_intercept_errors on;
        error_page 500 = /page;
    }
    location = /bad {
        return 500;
    }
    location = /page {
        internal;
        content_by_lua_block { ngx.say("page: ", ngx.status) }
    }
--- request
GET /t
--- error_code: 200
--- response_body
page: 0



=== TEST 4: `=` after ngx.exit(404): the status Lua set stays
--- config
    location = /t {
        error_page 404 = /page;
        content_by_lua_block { ngx.exit(404) }
    }
    location = /page {
        internal;
        content_by_lua_block { ngx.say("page: ", ngx.status) }
    }
--- request
GET /t
--- error_code: 404
--- response_body
page: 404



=== TEST 5: `=` page whose handler sets ngx.status
--- config
    location /t {
        error_page 404 = /page;
    }
    location = /page {
        internal;
        content_by_lua_block { ngx.status = 202 ngx.say("page: ", ngx.status) }
    }
--- request
GET /t/missing
--- error_code: 202
--- response_body
page: 202



=== TEST 6: ngx.status set before ngx.exec is kept by the target
--- config
    location = /t {
        rewrite_by_lua_block { ngx.status = 201 ngx.exec("/target") }
    }
    location = /target {
        content_by_lua_block { ngx.say("target: ", ngx.status) }
    }
--- request
GET /t
--- error_code: 201
--- response_body
target: 201
