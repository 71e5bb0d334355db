# ngx.worker.pids(), tcpsock:bind(ip), tcpsock:setclientcert's argument checks.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: ngx.worker.pids has worker.count entries and holds worker.pid
--- config
    location = /t {
        content_by_lua_block {
            local pids = ngx.worker.pids()
            ngx.say("count matches: ", #pids == ngx.worker.count())
            local found = false
            for _, p in ipairs(pids) do
                if p == ngx.worker.pid() then found = true end
            end
            ngx.say("pid listed: ", found)
        }
    }
--- request
GET /t
--- response_body
count matches: true
pid listed: true


=== TEST 2: ngx.worker.pids is refused in init_worker
--- http_config
    init_worker_by_lua_block {
        local pids, err = ngx.worker.pids()
        ngx.log(ngx.WARN, "init_worker pids: ", tostring(pids), " ", err)
    }
--- config
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- response_body
ok
--- error_log
init_worker pids: nil API disabled in the current context


=== TEST 3: bind to 127.0.0.1, then connect: the peer sees that address
--- config
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            ngx.say("bind: ", sock:bind("127.0.0.1"))
            local ok, err = sock:connect("127.0.0.1", ngx.var.server_port)
            ngx.say("connected: ", ok, " ", err)
            sock:send("GET /addr HTTP/1.0\r\nHost: x\r\n\r\n")
            local body = sock:receive("*a")
            ngx.say(body:match("addr=[%d.]+"))
        }
    }
    location = /addr { return 200 "addr=$remote_addr\n"; }
--- request
GET /t
--- response_body
bind: true
connected: 1 nil
addr=127.0.0.1


=== TEST 4: bind to an address not on this host: connect fails
--- config
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            ngx.say("bind: ", sock:bind("192.0.2.77"))
            local ok, err = sock:connect("127.0.0.1", ngx.var.server_port)
            ngx.say("connect: ", ok, " ", err)
        }
    }
--- request
GET /t
--- response_body
bind: true
connect: nil cannot assign requested address
--- error_log
bind(192.0.2.77) failed (99: Cannot assign requested address)


=== TEST 5: bind with a bad address or a wrong argument count
--- config
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            ngx.say(sock:bind("not-an-ip"))
            ngx.say(pcall(sock.bind, sock))
        }
    }
--- request
GET /t
--- response_body
nilbad address
falseexpecting 2 arguments, but got 1


=== TEST 6: setclientcert's argument checks
--- config
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            ngx.say(sock:setclientcert())
            ngx.say(sock:setclientcert(nil, "key"))
            ngx.say(sock:setclientcert("cert", "key"))
        }
    }
--- request
GET /t
--- response_body
true
nilclient certificate must be supplied with corresponding private key
nilbad cert arg: cdata expected, got string
