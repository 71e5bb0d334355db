# coroutine.resume refuses a coroutine that is not suspended with ngx_lua's message
# ("cannot resume <status> coroutine").
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: resuming the coroutine that resumed us (normal) and a dead one
--- config
    location = /t {
        content_by_lua_block {
            local c1, c2
            c1 = coroutine.create(function()
                ngx.say("f 1")
                ngx.say(coroutine.resume(c2))
                ngx.say("f 2")
            end)
            c2 = coroutine.create(function()
                ngx.say("g 1")
                ngx.say(coroutine.resume(c1))
                ngx.say("g 2")
            end)
            coroutine.resume(c1)
            ngx.say(coroutine.resume(c1))
        }
    }
--- request
GET /t
--- response_body
f 1
g 1
falsecannot resume normal coroutine
g 2
true
f 2
falsecannot resume dead coroutine


=== TEST 2: a bad send argument: luaL_argerror counts a method call's arguments without self
--- config
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            assert(sock:connect("127.0.0.1", ngx.var.server_port))
            ngx.say(pcall(function() local r = sock:send({ "a", nil, "b" }) return r end))
            ngx.say(pcall(sock.send, sock, { true }))
            local u = ngx.socket.udp()
            assert(u:setpeername("127.0.0.1", ngx.var.server_port))
            ngx.say(pcall(function() local r = u:send({ {}, ngx.null }) return r end))
        }
    }
--- request
GET /t
--- response_body_like
^false[^\n]*bad argument #1 to 'send' \(bad data type nil found\)
falsebad argument #2 to '\?' \(bad data type boolean found\)
false[^\n]*bad argument #1 to 'send' \(bad data type userdata found\)
