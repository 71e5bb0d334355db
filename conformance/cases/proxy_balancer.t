# balancer_by_lua* with ngx.balancer: the `server 0.0.0.1` pattern (Kong, APISIX, ingress-nginx).
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: set_current_peer chooses the backend
--- http_config
    upstream dyn {
        server 0.0.0.1;
        balancer_by_lua_block {
            local b = require "ngx.balancer"
            local ok, err = b.set_current_peer("127.0.0.1", tonumber(ngx.var.server_port))
            if not ok then ngx.log(ngx.ERR, "set_current_peer: ", err) end
        }
    }
--- config
    location /p { proxy_pass http://dyn/back; }
    location /back { return 200 "backend $uri\n"; }
--- request
GET /p
--- response_body
backend /back



=== TEST 2: the peer from a variable set in access
--- http_config
    upstream dyn {
        server 0.0.0.1;
        balancer_by_lua_block {
            local b = require "ngx.balancer"
            assert(b.set_current_peer(ngx.ctx.host, ngx.ctx.port))
        }
    }
--- config
    location /p {
        access_by_lua_block {
            ngx.ctx.host = "127.0.0.1"
            ngx.ctx.port = tonumber(ngx.var.server_port)
        }
        proxy_pass http://dyn/b2;
    }
    location /b2 { return 200 "b2\n"; }
--- request
GET /p
--- response_body
b2



=== TEST 3: set_more_tries and get_last_failure across a failed peer
--- http_config
    upstream dyn {
        server 0.0.0.1;
        balancer_by_lua_block {
            local b = require "ngx.balancer"
            local state, status = b.get_last_failure()
            if not state then
                assert(b.set_more_tries(1))
                assert(b.set_current_peer("127.0.0.1", 1))
            else
                ngx.ctx.seen = state .. " " .. tostring(status)
                assert(b.set_current_peer("127.0.0.1", tonumber(ngx.var.server_port)))
            end
        }
    }
--- config
    location /p {
        proxy_pass http://dyn/ok;
        header_filter_by_lua_block { ngx.header["X-Last"] = ngx.ctx.seen }
    }
    location /ok { return 200 "second try\n"; }
--- request
GET /p
--- response_headers
X-Last: failed 502
--- response_body
second try
--- error_log
connect() failed (111: Connection refused) while connecting to upstream



=== TEST 4: without more tries the failure is final
--- http_config
    upstream dyn {
        server 0.0.0.1;
        balancer_by_lua_block {
            local b = require "ngx.balancer"
            assert(b.set_current_peer("127.0.0.1", 1))
        }
    }
--- config
    location /p { proxy_pass http://dyn; }
--- request
GET /p
--- error_code: 502



=== TEST 5: set_timeouts shortens the read timeout
--- http_config
    upstream dyn {
        server 0.0.0.1;
        balancer_by_lua_block {
            local b = require "ngx.balancer"
            assert(b.set_timeouts(1, 1, 0.1))
            assert(b.set_current_peer("127.0.0.1", tonumber(ngx.var.server_port)))
        }
    }
--- config
    location /p { proxy_pass http://dyn/slow; }
    location /slow { echo_sleep 1; echo late; }
--- request
GET /p
--- error_code: 504
--- error_log
upstream timed out (110: Connection timed out) while reading response header from upstream



=== TEST 6: $upstream_addr is the peer Lua chose
--- http_config
    upstream dyn {
        server 0.0.0.1;
        balancer_by_lua_block {
            local b = require "ngx.balancer"
            assert(b.set_current_peer("127.0.0.1", tonumber(ngx.var.server_port)))
        }
    }
--- config
    location /p {
        add_header X-Addr $upstream_addr;
        proxy_pass http://dyn/ok;
    }
    location /ok { return 200 "ok\n"; }
--- request
GET /p
--- response_headers eval
"X-Addr: 127.0.0.1:$::ServerPort"



=== TEST 7: a round robin in Lua over two backends
--- http_config
    lua_shared_dict rr 1m;
    upstream dyn {
        server 0.0.0.1;
        balancer_by_lua_block {
            local b = require "ngx.balancer"
            local n = ngx.shared.rr:incr("n", 1, 0)
            local sock = (n % 2 == 1) and "a" or "b"
            assert(b.set_current_peer("unix:" .. ngx.var.sock_dir .. "/" .. sock .. ".sock"))
        }
    }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/a.sock; location / { return 200 "a\n"; } }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 200 "b\n"; } }
--- config
    location /p {
        set $sock_dir $TEST_NGINX_SERVER_ROOT;
        proxy_pass http://dyn;
    }
--- request eval
["GET /p", "GET /p", "GET /p"]
--- response_body eval
["a\n", "b\n", "a\n"]
