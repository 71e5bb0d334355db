# Streamed output of content_by_lua*: ngx.flush, ngx.eof, the head going out before the
# handler ends, body_filter_by_lua* per chunk, HTTP/1.0 buffering, errors and exits after
# the head. (Timing and chunk boundaries on the wire: tests/lua_stream.rs.)
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: flush(true), sleep, more output: one chunked body
--- config
    location = /t {
        content_by_lua_block {
            ngx.say("one")
            local ok, err = ngx.flush(true)
            ngx.sleep(0.1)
            ngx.say("two: ", tostring(ok), " ", tostring(err))
        }
    }
--- request
GET /t
--- response_headers
Transfer-Encoding: chunked
Content-Length:
--- response_body
one
two: 1 nil



=== TEST 2: what ngx.flush returns before the head, without data, after data
--- config
    location = /t {
        content_by_lua_block {
            local ok, err = ngx.flush()
            ngx.say("1: ", tostring(ok), " ", tostring(err))
            ok, err = ngx.flush()
            ngx.say("2: ", tostring(ok), " ", tostring(err))
            ok, err = ngx.flush(true)
            ngx.say("3: ", tostring(ok), " ", tostring(err))
            ngx.eof()
            ok, err = ngx.flush(true)
            ngx.log(ngx.WARN, "4: ", tostring(ok), " ", tostring(err))
        }
    }
--- request
GET /t
--- response_body
1: nil nothing to flush
2: 1 nil
3: 1 nil
--- error_log
4: nil seen eof



=== TEST 3: ngx.flush's argument must be a boolean
--- config
    location = /t {
        content_by_lua_block {
            ngx.say("a")
            local ok, err = pcall(ngx.flush, 1)
            ngx.say(tostring(ok), " ", tostring(err))
            ok, err = pcall(ngx.flush, true, false)
            ngx.say(tostring(ok), " ", tostring(err))
        }
    }
--- request
GET /t
--- response_body_like
bad argument #1 to '\?' \(boolean expected, got number\)
false attempt to pass 2 arguments, but accepted 0 or 1



=== TEST 4: HTTP/1.0: the answer is held whole (flush says "buffering") and gets a length
--- config
    location = /t {
        content_by_lua_block {
            ngx.say("one")
            local ok, err = ngx.flush(true)
            ngx.sleep(0.05)
            ngx.say("two: ", tostring(ok), " ", tostring(err))
        }
    }
--- raw_request eval
"GET /t HTTP/1.0\r\nHost: localhost\r\n\r\n"
--- response_headers
Content-Length: 23
Transfer-Encoding:
--- response_body
one
two: nil buffering



=== TEST 5: HTTP/1.0 with a Content-Length from Lua: no buffering, streamed
--- config
    location = /t {
        content_by_lua_block {
            ngx.header["Content-Length"] = 8
            ngx.say("one")
            local ok, err = ngx.flush(true)
            ngx.sleep(0.05)
            ngx.say("two")
            ngx.log(ngx.WARN, "flush: ", tostring(ok), " ", tostring(err))
        }
    }
--- raw_request eval
"GET /t HTTP/1.0\r\nHost: localhost\r\n\r\n"
--- response_headers
Content-Length: 8
--- response_body
one
two
--- error_log
flush: 1 nil



=== TEST 6: a Content-Length set by Lua on a streamed HTTP/1.1 answer
--- config
    location = /t {
        content_by_lua_block {
            ngx.header["Content-Length"] = 12
            ngx.print("hello ")
            ngx.flush(true)
            ngx.sleep(0.05)
            ngx.print("world!")
        }
    }
--- request
GET /t
--- response_headers
Content-Length: 12
Transfer-Encoding:
--- response_body chop
hello world!



=== TEST 7: ngx.eof ends the answer; the handler goes on; the log phase runs after it
--- config
    location = /t {
        content_by_lua_block {
            ngx.say("done")
            ngx.eof()
            ngx.sleep(0.2)
            ngx.log(ngx.WARN, "handler: after eof")
        }
        log_by_lua_block {
            ngx.log(ngx.WARN, "handler: log phase")
        }
    }
--- request
GET /t
--- response_body
done
--- wait: 0.4
--- grep_error_log eval
qr/handler: (?:after eof|log phase)/
--- grep_error_log_out
handler: after eof
handler: log phase



=== TEST 8: body_filter_by_lua sees each chunk as it is made, the flush, then the end
--- config
    location = /t {
        content_by_lua_block {
            ngx.say("one")
            ngx.flush(true)
            ngx.sleep(0.05)
            ngx.say("two")
        }
        body_filter_by_lua_block {
            local s = string.gsub(ngx.arg[1], "\n", "|")
            ngx.log(ngx.WARN, "chunk [", s, "] ", tostring(ngx.arg[2]))
            ngx.arg[1] = string.upper(ngx.arg[1])
        }
    }
--- request
GET /t
--- response_body
ONE
TWO
--- grep_error_log eval
qr/chunk \[[^\]]*\] \w+/
--- grep_error_log_out
chunk [one|] false
chunk [] false
chunk [two|] false
chunk [] true



=== TEST 9: ngx.exit(200) after the head: the body ends cleanly
--- config
    location = /t {
        content_by_lua_block {
            ngx.say("one")
            ngx.flush(true)
            ngx.sleep(0.05)
            ngx.exit(200)
        }
    }
--- request
GET /t
--- response_body
one
--- no_error_log
[error]



=== TEST 10: ngx.exit(500) after the head: logged, the body ends cleanly
--- config
    location = /t {
        content_by_lua_block {
            ngx.say("one")
            ngx.flush(true)
            ngx.sleep(0.05)
            ngx.exit(500)
        }
    }
--- request
GET /t
--- response_body
one
--- error_log
attempt to set status 500 via ngx.exit after sending out the response status 200



=== TEST 11: ngx.status before the first output streams with that status
--- config
    location = /t {
        content_by_lua_block {
            ngx.status = 404
            ngx.say("not here")
            ngx.flush(true)
            ngx.sleep(0.05)
            ngx.say("really")
        }
    }
--- request
GET /t
--- error_code: 404
--- response_body
not here
really



=== TEST 12: header_filter_by_lua runs once, when the head goes out
--- config
    location = /t {
        content_by_lua_block {
            ngx.say("a")
            ngx.flush(true)
            ngx.sleep(0.05)
            ngx.say("b")
        }
        header_filter_by_lua_block {
            ngx.header["X-Filtered"] = "yes"
            ngx.log(ngx.WARN, "header filter ran")
        }
    }
--- request
GET /t
--- response_headers
X-Filtered: yes
--- response_body
a
b
--- grep_error_log: header filter ran
--- grep_error_log_out
header filter ran



=== TEST 13: a user thread flushes while the entry thread ends first
--- config
    location = /t {
        content_by_lua_block {
            ngx.thread.spawn(function()
                ngx.say("t1")
                ngx.flush(true)
                ngx.sleep(0.1)
                ngx.say("t2")
            end)
            ngx.say("main")
        }
    }
--- request
GET /t
--- response_body
t1
main
t2



=== TEST 14: a subrequest's flush does not stream: the capture gets all of it
--- config
    location = /t {
        content_by_lua_block {
            local res = ngx.location.capture("/sub")
            ngx.say("sub: ", res.status, " [", res.body, "]")
        }
    }
    location = /sub {
        content_by_lua_block {
            ngx.say("x")
            local ok, err = ngx.flush(true)
            ngx.sleep(0.05)
            ngx.say("y ", tostring(ok), " ", tostring(err))
        }
    }
--- request
GET /t
--- response_body
sub: 200 [x
y 1 nil
]



=== TEST 15: the $body_bytes_sent of a streamed answer counts its chunks
--- config
    location = /t {
        content_by_lua_block {
            ngx.say("one")
            ngx.flush(true)
            ngx.sleep(0.05)
            ngx.say("two")
        }
        log_by_lua_block { ngx.log(ngx.WARN, "sent: ", ngx.var.body_bytes_sent) }
    }
--- request
GET /t
--- response_body
one
two
--- error_log
sent: 23



=== TEST 16: the client goes away while the answer streams: the next flush fails
--- config
    location = /t {
        content_by_lua_block {
            for i = 1, 30 do
                local ok, err = ngx.say(i)
                if not ok then
                    ngx.log(ngx.WARN, "say failed: ", err)
                    return
                end
                ok, err = ngx.flush(true)
                if not ok then
                    ngx.log(ngx.WARN, "flush failed: ", err)
                    return
                end
                ngx.sleep(0.05)
            end
        }
    }
--- request
GET /t
--- timeout: 0.2
--- abort
--- ignore_response
--- wait: 0.5
--- error_log
flush failed: nginx output filter error



=== TEST 17: a Lua error after the head went out: logged, the log phase still runs
--- config
    location = /t {
        content_by_lua_block {
            ngx.say("one")
            ngx.flush(true)
            ngx.sleep(0.05)
            error("boom")
        }
        log_by_lua_block { ngx.log(ngx.WARN, "logged: ", ngx.status) }
    }
--- request
GET /t
--- ignore_response
--- error_log
content_by_lua(nginx.conf:
: boom
logged: 200



=== TEST 18: print, print, flush, print: all of it, in order
--- config
    location = /t {
        content_by_lua_block {
            ngx.print("a")
            ngx.print("b")
            ngx.flush(true)
            ngx.print("c")
            ngx.sleep(0.05)
            ngx.print("d")
        }
    }
--- request
GET /t
--- response_body chop
abcd



=== TEST 19: lua_http10_buffering off: HTTP/1.0 streams, close-delimited, no length
--- config
    lua_http10_buffering off;
    location = /t {
        content_by_lua_block {
            ngx.say("one")
            local ok, err = ngx.flush(true)
            ngx.sleep(0.05)
            ngx.say("two: ", tostring(ok), " ", tostring(err))
        }
    }
--- raw_request eval
"GET /t HTTP/1.0\r\nHost: localhost\r\n\r\n"
--- response_headers
Content-Length:
Transfer-Encoding:
--- response_body
one
two: 1 nil



=== TEST 20: lua_http10_buffering off without a flush: no length either
--- config
    location = /t {
        lua_http10_buffering off;
        content_by_lua_block {
            ngx.say("one")
            ngx.flush()
            ngx.say("two")
        }
    }
--- raw_request eval
"GET /t HTTP/1.0\r\nHost: localhost\r\n\r\n"
--- response_headers
Content-Length:
--- response_body
one
two



=== TEST 21: HTTP/1.0 and ngx.eof: the whole answer goes out with its length, the handler goes on
--- config
    location = /t {
        content_by_lua_block {
            ngx.say("early")
            ngx.eof()
            ngx.sleep(0.1)
            ngx.log(ngx.WARN, "still running")
        }
    }
--- raw_request eval
"GET /t HTTP/1.0\r\nHost: localhost\r\n\r\n"
--- response_headers
Content-Length: 6
--- response_body
early
--- error_log
still running



=== TEST 22: HTTP/1.0 and ngx.send_headers alone: the head went out unheld, no length
--- config
    location = /t {
        content_by_lua_block {
            ngx.status = 201
            ngx.send_headers()
        }
    }
--- raw_request eval
"GET /t HTTP/1.0\r\nHost: localhost\r\n\r\n"
--- error_code: 201
--- response_headers
Content-Length:
--- response_body chop



=== TEST 23: ngx.on_abort without lua_check_client_abort
--- config
    location = /t {
        content_by_lua_block {
            local ok, err = ngx.on_abort(function() end)
            ngx.say(tostring(ok), " ", tostring(err))
        }
    }
--- request
GET /t
--- response_body
nil lua_check_client_abort is off



=== TEST 24: ngx.on_abort registers once; the client stays: the handler ends normally
--- config
    lua_check_client_abort on;
    location = /t {
        content_by_lua_block {
            local ok, err = ngx.on_abort(function() ngx.log(ngx.ERR, "aborted") end)
            ngx.say("1: ", tostring(ok), " ", tostring(err))
            ok, err = ngx.on_abort(function() end)
            ngx.say("2: ", tostring(ok), " ", tostring(err))
            ngx.flush(true)
            ngx.sleep(0.05)
            ngx.say("done")
        }
    }
--- request
GET /t
--- response_body
1: 1 nil
2: nil duplicate call
done
--- no_error_log
aborted
[error]
