# ngx.thread.kill refuses a thread waiting for a subrequest; body_filter_by_lua's
# ngx.arg[2] in subrequests (any true value ends the body; false on the last piece truncates
# a capture); `set $args` reaches a proxied request.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: a thread waiting for ngx.location.capture cannot be killed
--- config
    location = /sub {
        echo_sleep 0.2;
        echo ok;
    }
    location = /t {
        content_by_lua_block {
            local t = ngx.thread.spawn(function() ngx.location.capture("/sub") end)
            local g = ngx.thread.spawn(function() ngx.sleep(0.2) end)
            ngx.say(ngx.thread.kill(t))
            ngx.say(ngx.thread.kill(g))
        }
    }
--- request
GET /t
--- response_body
nilpending subrequests
1


=== TEST 2: ngx.arg[2] = 1 ends a subrequest's body
--- config
    location /t {
        echo_location /read;
        echo_location /read;
    }
    location /read {
        echo -n hello;
        echo -n world;
        body_filter_by_lua_block { ngx.arg[2] = 1 }
    }
--- request
GET /t
--- response_body chop
hellohello


=== TEST 3: ngx.arg[2] = false on the last piece: the capture is truncated
--- config
    location /read {
        return 200 "hello world";
        body_filter_by_lua_block {
            if ngx.arg[2] then ngx.arg[2] = false end
        }
    }
    location /plain {
        return 200 "hello world";
    }
    location = /t {
        content_by_lua_block {
            local res = ngx.location.capture("/read")
            ngx.say("truncated: ", res.truncated, " ", res.body)
            res = ngx.location.capture("/plain")
            ngx.say("truncated: ", res.truncated, " ", res.body)
        }
    }
--- request
GET /t
--- response_body
truncated: true hello world
truncated: false hello world


=== TEST 4: set $args is sent to a proxied server
--- http_config
    server {
        listen $TEST_NGINX_RAND_PORT_1;
        location = /t { return 200 "args: $args\n"; }
    }
--- config
    location = /t {
        set $args "foo=1&bar=2";
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
    }
--- request
GET /t?x=y
--- response_body
args: foo=1&bar=2


=== TEST 5: a header set by header_filter_by_lua keeps its spelling through a proxy
--- config
    location ~ ^/lua/(.+)$ {
        return 200;
        header_filter_by_lua_block { ngx.header.match = ngx.var[1] ngx.header["X-Mixed_case"] = "m" }
    }
    location ~ ^/proxy/(.+)$ {
        proxy_pass http://127.0.0.1:$server_port/lua/$1;
    }
    location = /t {
        content_by_lua_block {
            local a, b = ngx.location.capture_multi{ { "/proxy/a" }, { "/proxy/b" } }
            ngx.say(a.header.match, " ", b.header.match, " ", a.header["X-Mixed-case"])
        }
    }
--- request
GET /t
--- response_body
a b m
