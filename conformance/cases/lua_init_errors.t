# init_by_lua* errors stop start-up with lua-nginx-module's text; init_worker_by_lua* and
# timers run on numbered fake connections, whose `*N` their log lines carry.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: a runtime error in init_by_lua_block stops start-up
--- http_config
    init_by_lua_block {
        error("failed to init")
    }
--- config
    location /t {
        return 200;
    }
--- must_die
--- error_log
init_by_lua error: init_by_lua(nginx.conf:
failed to init
[C]: in function 'error'
--- no_error_log
[C]: in ?
lua entry thread aborted



=== TEST 2: a syntax error in init_by_lua_block stops start-up
--- http_config
    init_by_lua_block {
        local x = (
    }
--- config
    location /t {
        return 200;
    }
--- must_die
--- error_log eval
qr/init_by_lua error: init_by_lua\(nginx\.conf:\d+\):\d+: unexpected symbol near/



=== TEST 3: an error in init_by_lua_file stops start-up
--- http_config
    init_by_lua_file html/init.lua;
--- config
    location /t {
        return 200;
    }
--- user_files
>>> init.lua
local a = 1
error("bad init file")
--- must_die
--- error_log eval
qr|init_by_lua_file error: \S+/html/init\.lua:2: bad init file|



=== TEST 4: with a shared dict, the error still stops start-up
--- http_config
    lua_shared_dict d 1m;
    init_by_lua_block {
        ngx.shared.d:set("k", 1)
        error("failed with shm")
    }
--- config
    location /t {
        return 200;
    }
--- must_die
--- error_log
init_by_lua error: init_by_lua(nginx.conf:
failed with shm



=== TEST 5: init_by_lua runs once: its log line is written once, a counter counts one
--- http_config
    init_by_lua_block {
        ngx.log(ngx.NOTICE, "init ran here")
        runs = ngx.shared.d:incr("runs", 1, 0)
    }
    lua_shared_dict d 1m;
--- config
    location /t {
        content_by_lua_block {
            ngx.say(ngx.shared.d:get("runs"), " ", runs)
        }
    }
--- request
GET /t
--- response_body
1 1
--- grep_error_log: init ran here
--- grep_error_log_out
init ran here



=== TEST 6: an error in init_worker_by_lua_block: its own text, no entry-thread words
--- http_config
    init_worker_by_lua_block {
        error("iw failed")
    }
--- config
    location /t {
        return 200 "up\n";
    }
--- request
GET /t
--- response_body
up
--- error_log
init_worker_by_lua error: init_worker_by_lua(nginx.conf:
iw failed
--- no_error_log
lua entry thread aborted
[C]: in ?



=== TEST 7: init_worker_by_lua's log lines carry its fake connection's number
--- http_config
    init_worker_by_lua_block {
        ngx.log(ngx.WARN, "from init_worker")
    }
--- config
    location /t {
        return 200 "up\n";
    }
--- request
GET /t
--- response_body
up
--- error_log eval
qr/\*\d+ \[lua\] init_worker_by_lua\(nginx\.conf:\d+\):2: from init_worker, context: init_worker_by_lua\*/



=== TEST 8: a timer's log lines carry its number and the creating request's client and server
--- config
    location /t {
        content_by_lua_block {
            ngx.timer.at(0, function()
                ngx.log(ngx.WARN, "in the timer")
            end)
            ngx.say("ok")
        }
    }
--- request
GET /t
--- response_body
ok
--- wait: 0.2
--- error_log eval
qr/\*\d+ \[lua\] content_by_lua\(nginx\.conf:\d+\):3: in the timer, context: ngx\.timer, client: 127\.0\.0\.1, server: [\d.]+:\d+/



=== TEST 9: a timer's error carries its number
--- config
    location /t {
        content_by_lua_block {
            ngx.timer.at(0, function()
                error("timer failed")
            end)
            ngx.say("ok")
        }
    }
--- request
GET /t
--- response_body
ok
--- wait: 0.2
--- error_log eval
qr/\*\d+ lua entry thread aborted: runtime error: content_by_lua\(nginx\.conf:\d+\):3: timer failed/
