# proxy_pass after Lua phases: access checks, header and body changes, variables.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: access_by_lua rejects before the upstream is contacted
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 200 "reached\n"; } }
--- config
    location /p {
        access_by_lua_block {
            if ngx.var.http_authorization ~= "Bearer good" then
                return ngx.exit(401)
            end
        }
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
--- request eval
["GET /p", "GET /p"]
--- more_headers eval
["Authorization: Bearer bad", "Authorization: Bearer good"]
--- error_code eval
[401, 200]
--- response_body_like eval
["401 Authorization Required", "reached"]



=== TEST 2: ngx.req.set_header reaches the upstream
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 200 "user=$http_x_user\n"; } }
--- config
    location /p {
        rewrite_by_lua_block { ngx.req.set_header("X-User", "alice") }
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
--- request
GET /p
--- response_body
user=alice



=== TEST 3: ngx.req.clear_header removes a client header
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 200 "[$http_x_secret]\n"; } }
--- config
    location /p {
        rewrite_by_lua_block { ngx.req.clear_header("X-Secret") }
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
--- request
GET /p
--- more_headers
X-Secret: s
--- response_body
[]



=== TEST 4: a body read by Lua is still passed upstream
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { echo_read_request_body; echo "got $echo_request_body"; } }
--- config
    location /p {
        access_by_lua_block {
            ngx.req.read_body()
            local b = ngx.req.get_body_data()
            if b ~= "payload" then return ngx.exit(400) end
        }
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
--- request
POST /p
payload
--- response_body
got payload



=== TEST 5: ngx.var.proxy_host style variables set by Lua drive proxy_pass
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 200 "routed $uri\n"; } }
--- config
    location /p {
        set $target "";
        rewrite_by_lua_block { ngx.var.target = "unix:$TEST_NGINX_SERVER_ROOT/b.sock" }
        proxy_pass http://$target;
    }
--- request
GET /p/x
--- response_body
routed /p/x



=== TEST 6: header_filter_by_lua sees the upstream's headers
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { add_header X-Up u1; return 200 "ok\n"; } }
--- config
    location /p {
        header_filter_by_lua_block { ngx.header["X-Seen"] = ngx.header["X-Up"] }
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
--- request
GET /p
--- response_headers
X-Seen: u1



=== TEST 7: a shared-dict token check before proxying
--- http_config
    lua_shared_dict tokens 1m;
    init_by_lua_block { ngx.shared.tokens:set("t1", "alice") }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 200 "hello $http_x_user\n"; } }
--- config
    location /p {
        access_by_lua_block {
            local tok = (ngx.var.http_authorization or ""):match("^Bearer (.+)$")
            local user = tok and ngx.shared.tokens:get(tok)
            if not user then return ngx.exit(401) end
            ngx.req.set_header("X-User", user)
        }
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
--- request eval
["GET /p", "GET /p"]
--- more_headers eval
["Authorization: Bearer t1", "Authorization: Bearer nope"]
--- error_code eval
[200, 401]
--- response_body_like eval
["hello alice", "401"]



=== TEST 8: content_by_lua upstream backend
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { content_by_lua_block { ngx.say("lua backend ", ngx.var.request_method, " ", ngx.var.request_uri) } } }
--- config
    location /p/ { proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock:/api/; }
--- request
PUT /p/x?y=1
--- response_body
lua backend PUT /api/x?y=1


=== TEST 9: proxy_buffering off: what came before the upstream closed early still reaches the client
--- config
    location = /short {
        content_by_lua_block {
            ngx.header['Content-Length'] = 100
            ngx.say('hi')
        }
    }
    location = /t {
        proxy_pass http://127.0.0.1:$server_port/short;
        proxy_buffering off;
        header_filter_by_lua_block {
            ngx.log(ngx.WARN, "upstream length: ", ngx.header['Content-Length'])
            ngx.header['Content-Length'] = 3
        }
    }
--- request
GET /t
--- response_body
hi
--- error_log
upstream length: 100
upstream prematurely closed connection while sending to client
