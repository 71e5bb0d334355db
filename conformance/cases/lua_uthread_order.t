# Light threads go on in lua-nginx-module's order: spawn posts its caller before the new
# thread runs, coroutine.yield in a thread posts it behind the others, subrequests run after
# the handler yielded; coroutine.status reports the request's view of threads and coroutines.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__


=== TEST 1: nested spawn: the entry thread goes on before the middle thread
--- config
    location = /t {
        content_by_lua_block {
            local g
            local function f()
                ngx.say("before g")
                ngx.thread.spawn(g)
                ngx.say("after g")
            end
            function g()
                ngx.say("hello in g")
            end
            ngx.say("before f")
            ngx.thread.spawn(f)
            ngx.say("after f")
        }
    }
--- request
GET /t
--- response_body
before f
before g
hello in g
after f
after g


=== TEST 2: coroutine.yield slices time between light threads
--- config
    location = /t {
        content_by_lua_block {
            local function worker(name)
                return function()
                    for i = 1, 3 do
                        ngx.say(name, " ", i)
                        coroutine.yield()
                    end
                end
            end
            ngx.thread.spawn(worker("f"))
            ngx.thread.spawn(worker("g"))
            ngx.say("done")
        }
    }
--- request
GET /t
--- response_body
f 1
g 1
f 2
done
g 2
f 3
g 3


=== TEST 3: coroutine.yield in the entry thread alone goes on at once, values dropped
--- config
    location = /t {
        content_by_lua_block {
            ngx.say("a")
            ngx.say(select("#", coroutine.yield(1, 2)))
            ngx.say("b")
        }
    }
--- request
GET /t
--- response_body
a
0
b


=== TEST 4: subrequests of light threads run after the entry thread yields
--- config
    location = /t {
        content_by_lua_block {
            local function f(i)
                local res = ngx.location.capture("/sub/" .. i)
                ngx.say("status ", i, ": ", res.status)
            end
            for i = 1, 2 do
                ngx.thread.spawn(f, i)
            end
            ngx.say("ok")
        }
    }
    location ~ ^/sub/(\d+) {
        return 404;
    }
--- request
GET /t
--- response_body
ok
status 1: 404
status 2: 404


=== TEST 5: coroutine.status of light threads: running, zombie, dead, normal
--- config
    location = /t {
        content_by_lua_block {
            local sleeper, quick, waiter
            local t1 = ngx.thread.spawn(function()
                sleeper = coroutine.running()
                ngx.sleep(0.05)
            end)
            local t2 = ngx.thread.spawn(function()
                quick = coroutine.running()
            end)
            local t3 = ngx.thread.spawn(function()
                waiter = coroutine.running()
                local co = coroutine.create(function() ngx.sleep(0.05) end)
                coroutine.resume(co)
            end)
            ngx.say("sleeping: ", coroutine.status(sleeper))
            ngx.say("ended: ", coroutine.status(quick))
            ngx.say("resuming a sleeper: ", coroutine.status(waiter))
            ngx.thread.wait(t2)
            ngx.say("waited: ", coroutine.status(quick))
            local co = coroutine.create(function() coroutine.yield() end)
            ngx.say("new coroutine: ", coroutine.status(co))
            coroutine.resume(co)
            ngx.say("yielded coroutine: ", coroutine.status(co))
            coroutine.resume(co)
            ngx.say("ended coroutine: ", coroutine.status(co))
            ngx.say("self: ", coroutine.status(coroutine.running()))
        }
    }
--- request
GET /t
--- response_body
sleeping: running
ended: zombie
resuming a sleeper: normal
waited: dead
new coroutine: suspended
yielded coroutine: suspended
ended coroutine: dead
self: running


=== TEST 6: a coroutine waiting on I/O is running for the others
--- config
    location = /t {
        content_by_lua_block {
            local co = coroutine.create(function() ngx.sleep(0.05) end)
            local t = ngx.thread.spawn(function() coroutine.resume(co) end)
            ngx.say(coroutine.status(co))
            ngx.thread.wait(t)
            ngx.say(coroutine.status(co))
        }
    }
--- request
GET /t
--- response_body
running
dead


=== TEST 7: ngx.exit in a timer ends the timer's threads
--- config
    location = /t {
        content_by_lua_block {
            local function f()
                local function g()
                    ngx.log(ngx.WARN, "before exit")
                    ngx.exit(0)
                end
                g()
                ngx.log(ngx.WARN, "cannot reach here")
            end
            local ok, err = ngx.timer.at(0.05, f)
            ngx.say("registered: ", ok)
        }
    }
--- request
GET /t
--- response_body
registered: 1
--- wait: 0.2
--- error_log
before exit
--- no_error_log
cannot reach here
API disabled
