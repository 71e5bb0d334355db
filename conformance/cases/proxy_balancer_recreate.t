# ngx.balancer.recreate_request(): the upstream request is built again on a retry, so
# headers made from variables Lua changed follow the new peer.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: a retry with the Host header of the new peer
--- http_config
    upstream dyn {
        server 0.0.0.1;
        balancer_by_lua_block {
            local b = require "ngx.balancer"
            if not ngx.ctx.tried then
                ngx.ctx.tried = true
                ngx.var.up_host = "first.example"
                assert(b.set_current_peer("127.0.0.1", $TEST_NGINX_RAND_PORT_2))
                assert(b.set_more_tries(1))
            else
                ngx.var.up_host = "second.example"
                ngx.log(ngx.WARN, "recreate: ", tostring(b.recreate_request()))
                assert(b.set_current_peer("127.0.0.1", $TEST_NGINX_RAND_PORT_1))
            end
        }
    }
    server { listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1; location / { return 200 "host=$http_host\n"; } }
--- config
    location /p {
        set $up_host "";
        proxy_set_header Host $up_host;
        proxy_pass http://dyn/;
    }
--- request
GET /p
--- response_body
host=second.example
--- error_log
recreate: true



=== TEST 2: without it the request built before the first try is sent again
--- http_config
    upstream dyn {
        server 0.0.0.1;
        balancer_by_lua_block {
            local b = require "ngx.balancer"
            if not ngx.ctx.tried then
                ngx.ctx.tried = true
                ngx.var.up_host = "first.example"
                assert(b.set_current_peer("127.0.0.1", $TEST_NGINX_RAND_PORT_2))
                assert(b.set_more_tries(1))
            else
                ngx.var.up_host = "second.example"
                assert(b.set_current_peer("127.0.0.1", $TEST_NGINX_RAND_PORT_1))
            end
        }
    }
    server { listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1; location / { return 200 "host=$http_host\n"; } }
--- config
    location /p {
        set $up_host "";
        proxy_set_header Host $up_host;
        proxy_pass http://dyn/;
    }
--- request
GET /p
--- response_body
host=



=== TEST 3: outside the balancer it answers an error
--- http_config
    server { listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1; location / { return 200 "up\n"; } }
--- config
    location /t {
        content_by_lua_block {
            local b = require "ngx.balancer"
            ngx.say(b.recreate_request())
        }
    }
    location /p {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/;
        log_by_lua_block {
            local b = require "ngx.balancer"
            ngx.log(ngx.WARN, "in log: ", select(2, b.recreate_request()))
        }
    }
--- pipelined_requests eval
["GET /t", "GET /p"]
--- response_body eval
["nilno upstream found\n", "up\n"]
--- error_log
in log: API disabled in the current context
