# lua-nginx-module's timers (ngx.timer.at/every/running_count/pending_count), with sleeps and
# cosockets in the callbacks, premature runs at shutdown; and ngx.semaphore.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: a timer runs after its delay with premature false and its arguments
--- config
    location = /t {
        content_by_lua_block {
            local ok, err = ngx.timer.at(0.05, function(premature, a, b)
                ngx.log(ngx.WARN, "timer fired: ", premature, " ", a, " ", b)
            end, "x", 42)
            ngx.say(ok, " ", err)
            ngx.sleep(0.1)
            ngx.say("done")
        }
    }
--- request
GET /t
--- response_body
1 nil
done
--- error_log
timer fired: false x 42



=== TEST 2: pending and running counts
--- config
    location = /t {
        content_by_lua_block {
            ngx.say("pending: ", ngx.timer.pending_count(), " running: ", ngx.timer.running_count())
            ngx.timer.at(0.1, function() end)
            ngx.timer.at(0, function() ngx.sleep(0.1) end)
            ngx.say("pending: ", ngx.timer.pending_count(), " running: ", ngx.timer.running_count())
            ngx.sleep(0.03)
            ngx.say("pending: ", ngx.timer.pending_count(), " running: ", ngx.timer.running_count())
            ngx.sleep(0.2)
            ngx.say("pending: ", ngx.timer.pending_count(), " running: ", ngx.timer.running_count())
        }
    }
--- request
GET /t
--- response_body
pending: 0 running: 0
pending: 2 running: 0
pending: 1 running: 1
pending: 0 running: 0



=== TEST 3: ngx.timer.every repeats
--- config
    location = /t {
        content_by_lua_block {
            local n = 0
            ngx.timer.every(0.03, function(premature)
                n = n + 1
            end)
            ngx.sleep(0.2)
            ngx.say(n >= 2, " ", ngx.timer.pending_count())
        }
    }
--- request
GET /t
--- response_body
true 1



=== TEST 4: timer argument errors
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(pcall(ngx.timer.at, 1))
            ngx.say(pcall(ngx.timer.at, "x", function() end))
            ngx.say(pcall(ngx.timer.at, 1, "f"))
            ngx.say(pcall(ngx.timer.at, 1, print))
            ngx.say(pcall(ngx.timer.every, 0, function() end))
            ngx.say(pcall(ngx.timer.every, 1))
        }
    }
--- request
GET /t
--- response_body
falseexpecting at least 2 arguments but got 1
falsebad argument #1 to '?' (number expected, got string)
falsebad argument #2 to '?' (Lua function expected)
falsebad argument #2 to '?' (Lua function expected)
falsedelay cannot be zero
falseexpecting at least 2 arguments but got 1



=== TEST 5: an error in a timer is logged with the ngx.timer context
--- config
    location = /t {
        content_by_lua_block {
            ngx.timer.at(0, function() error("timer boom") end)
            ngx.sleep(0.05)
            ngx.say("ok")
        }
    }
--- request
GET /t
--- response_body
ok
--- error_log eval
[qr/\[error\] .*? lua entry thread aborted: runtime error: content_by_lua\(nginx\.conf:\d+\):2: timer boom$/,
"stack traceback:",
"coroutine 0:",
qr/^\t\[C\]: in function 'error'$/,
qr/^\tcontent_by_lua\(nginx\.conf:\d+\):2: in function <content_by_lua\(nginx\.conf:\d+\):2>, context: ngx\.timer, client: 127\.0\.0\.1, server: [\d.]+:\d+$/]



=== TEST 6: the phase in a timer
--- config
    location = /t {
        content_by_lua_block {
            ngx.timer.at(0, function()
                ngx.log(ngx.WARN, "phase: ", ngx.get_phase(), ", exiting: ", ngx.worker.exiting())
            end)
            ngx.sleep(0.05)
            ngx.say("ok")
        }
    }
--- request
GET /t
--- response_body
ok
--- error_log
phase: timer, exiting: false



=== TEST 7: a cosocket in a timer
--- config
    location = /t {
        content_by_lua_block {
            ngx.timer.at(0, function()
                local sock = ngx.socket.tcp()
                local ok, err = sock:connect("127.0.0.1", $TEST_NGINX_RAND_PORT_1)
                local line = sock:receive()
                ngx.log(ngx.WARN, "timer got: ", line)
            end)
            ngx.sleep(0.1)
            ngx.say("ok")
        }
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_reply eval
"from backend\n"
--- request
GET /t
--- response_body
ok
--- error_log
timer got: from backend



=== TEST 8: timers created in init_worker_by_lua
--- http_config
    init_worker_by_lua_block {
        ngx.timer.at(0, function(premature)
            ngx.log(ngx.WARN, "init_worker timer ran, premature: ", premature)
        end)
    }
--- config
    location = /t {
        content_by_lua_block {
            ngx.sleep(0.05)
            ngx.say("ok")
        }
    }
--- request
GET /t
--- response_body
ok
--- error_log
init_worker timer ran, premature: false



=== TEST 9: lua_max_pending_timers
--- http_config
    lua_max_pending_timers 2;
--- config
    location = /t {
        content_by_lua_block {
            for i = 1, 3 do
                ngx.say(ngx.timer.at(1, function() end))
            end
        }
    }
--- request
GET /t
--- response_body
1
1
niltoo many pending timers



=== TEST 10: light threads in a timer
--- config
    location = /t {
        content_by_lua_block {
            ngx.timer.at(0, function()
                local t = ngx.thread.spawn(function() ngx.sleep(0.01) return "from thread" end)
                local ok, v = ngx.thread.wait(t)
                ngx.log(ngx.WARN, "timer thread: ", v)
            end)
            ngx.sleep(0.1)
            ngx.say("ok")
        }
    }
--- request
GET /t
--- response_body
ok
--- error_log
timer thread: from thread



=== TEST 11: semaphore: wait and post between a timer and the request
--- config
    location = /t {
        content_by_lua_block {
            local semaphore = require "ngx.semaphore"
            local sema = semaphore.new()
            ngx.say("count: ", sema:count())
            ngx.timer.at(0.02, function()
                sema:post(1)
            end)
            local ok, err = sema:wait(1)
            ngx.say("wait: ", ok, " ", err)
            ngx.say("count: ", sema:count())
        }
    }
--- request
GET /t
--- response_body
count: 0
wait: true nil
count: 0



=== TEST 12: semaphore timeouts and resources
--- config
    location = /t {
        content_by_lua_block {
            local semaphore = require "ngx.semaphore"
            local sema = semaphore.new(2)
            ngx.say(sema:count())
            ngx.say(sema:wait(0))
            ngx.say(sema:wait(0))
            ngx.say(sema:wait(0))
            ngx.say(sema:wait(0.05))
            ngx.say(sema:post(3))
            ngx.say(sema:count())
        }
    }
--- request
GET /t
--- response_body
2
true
true
niltimeout
falsetimeout
true
3



=== TEST 13: semaphore errors
--- config
    location = /t {
        content_by_lua_block {
            local semaphore = require "ngx.semaphore"
            ngx.say(pcall(semaphore.new, -1))
            local sema = semaphore.new(0)
            ngx.say(pcall(sema.post, sema, 0))
            ngx.say(pcall(sema.wait, sema, -1))
            ngx.say(pcall(sema.count, {}))
            ngx.say(pcall(sema.wait, nil, 1))
        }
    }
--- request
GET /t
--- response_body
falseno negative number
falsepositive number required
falseno negative number
falsenot a semaphore instance
falsenot a semaphore instance



=== TEST 14: semaphore between light threads, in order
--- config
    location = /t {
        content_by_lua_block {
            local semaphore = require "ngx.semaphore"
            local sema = semaphore.new(0)
            local function worker(id)
                local ok, err = sema:wait(1)
                ngx.say("worker ", id, ": ", ok, " ", err)
            end
            local a = ngx.thread.spawn(worker, 1)
            local b = ngx.thread.spawn(worker, 2)
            ngx.say("count: ", sema:count())
            sema:post(2)
            ngx.thread.wait(a)
            ngx.thread.wait(b)
            ngx.say("count: ", sema:count())
        }
    }
--- request
GET /t
--- response_body
count: -2
worker 1: true nil
worker 2: true nil
count: 0



=== TEST 15: semaphore wait is disabled in header_filter_by_lua
--- config
    location = /t {
        content_by_lua_block { ngx.say("ok") }
        header_filter_by_lua_block {
            local semaphore = require "ngx.semaphore"
            local sema = semaphore.new(0)
            local ok, err = sema:wait(0.1)
            ngx.header["X-Err"] = err
        }
    }
--- request
GET /t
--- response_body
ok
--- response_headers
X-Err: API disabled in the context of header_filter_by_lua*



=== TEST 16: cosocket errors in a timer carry the timer's log context
--- config
    location = /t {
        content_by_lua_block {
            ngx.timer.at(0, function()
                local sock = ngx.socket.tcp()
                local ok, err = sock:connect("127.0.0.1", $TEST_NGINX_RAND_PORT_1)
                ngx.log(ngx.WARN, "timer connect: ", err)
            end)
            ngx.sleep(0.1)
            ngx.say("ok")
        }
    }
--- request
GET /t
--- response_body
ok
--- error_log eval
qr/\[error\] .*? connect\(\) failed \(111: Connection refused\), context: ngx\.timer, client: 127\.0\.0\.1, server: [\d.]+:\d+$/



=== TEST 17: timers of init_worker_by_lua use the http level's lua_socket_* values
--- http_config
    lua_socket_read_timeout 100ms;
    init_worker_by_lua_block {
        ngx.timer.at(0, function()
            local sock = ngx.socket.tcp()
            assert(sock:connect("127.0.0.1", $TEST_NGINX_RAND_PORT_1))
            local t0 = ngx.now()
            local data, err = sock:receive()
            ngx.log(ngx.WARN, "init_worker timer read: ", err)
        end)
    }
--- config
    location = /t {
        content_by_lua_block {
            ngx.sleep(0.3)
            ngx.say("ok")
        }
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_no_close
--- request
GET /t
--- response_body
ok
--- error_log
init_worker timer read: timeout
lua tcp socket read timed out, context: ngx.timer
