# Cosocket details unmodified libraries meet (lua-resty-dns with a dead name server): nginx
# core's own log lines for a UDP peer that refuses, logged whatever lua_socket_log_errors.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__


=== TEST 1: UDP receive and send on a refused peer log nginx core's lines
--- config
    location = /t {
        lua_socket_log_errors off;
        content_by_lua_block {
            local u = ngx.socket.udp()
            u:settimeout(200)
            ngx.say(u:setpeername("127.0.0.1", $TEST_NGINX_RAND_PORT_1))
            ngx.say(u:send("x"))
            ngx.say(u:receive())
            ngx.say(u:send("y"))
            ngx.say(u:send("z"))
            ngx.say(u:receive())
        }
    }
--- request
GET /t
--- response_body
1
1
nilconnection refused
1
nilconnection refused
niltimeout
--- error_log
recv() failed (111: Connection refused)
send() failed (111: Connection refused)
--- no_error_log
lua udp socket read timed out
