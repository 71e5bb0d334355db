# Lua utilities: escaping, args encoding, base64, hashes, crc32, quote_sql_str, time
# formatting, constants, ngx.config, ngx.worker.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__


=== TEST 1: escape_uri
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(ngx.escape_uri("a b/c?d=e&f~!*'()"))
        }
    }
--- request
GET /t
--- response_body
a%20b%2Fc%3Fd%3De%26f~!*'()


=== TEST 2: escape_uri types
--- config
    location = /t {
        content_by_lua_block {
            for t = 0, 6 do ngx.say(t, " ", ngx.escape_uri("/a b?c=d#e%+", t)) end
        }
    }
--- request
GET /t
--- response_body
0 /a%20b%3Fc=d%23e%25+
1 /a%20b%3Fc=d%23e%25%2B
2 %2Fa%20b%3Fc%3Dd%23e%25%2B
3 /a%20b?c=d%23e%25+
4 /a%20b?c=d#e%+
5 /a%20b?c=d#e%25+
6 /a%20b?c=d#e%25+


=== TEST 3: escape_uri of nil
--- config
    location = /t {
        content_by_lua_block {
            ngx.say("[", ngx.escape_uri(nil), "]")
        }
    }
--- request
GET /t
--- response_body
[]


=== TEST 4: escape_uri with a bad type
--- config
    location = /t {
        content_by_lua_block {
            local ok, err = pcall(ngx.escape_uri, "x", 9)
            ngx.say(ok, " ", err)
        }
    }
--- request
GET /t
--- response_body_like chomp
^\Qfalse content_by_lua(\Enginx\.conf:\d+\Q):2: "type" 9 out of range\E


=== TEST 5: unescape_uri
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(ngx.unescape_uri("a%20b+c%2Fd%zz"))
        }
    }
--- request
GET /t
--- response_body
a b c/d%zz


=== TEST 6: encode_args
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(ngx.encode_args({a = "1 2"}))
            ngx.say(ngx.encode_args({b = true}))
            ngx.say(ngx.encode_args({c = {"x", "y"}}))
        }
    }
--- request
GET /t
--- response_body
a=1%202
b
c=x&c=y


=== TEST 7: encode_args ignores false
--- config
    location = /t {
        content_by_lua_block {
            ngx.say("[", ngx.encode_args({a = false}), "]")
        }
    }
--- request
GET /t
--- response_body
[]


=== TEST 8: decode_args
--- config
    location = /t {
        content_by_lua_block {
            local a = ngx.decode_args("x=1&y=2&y=3&z")
            ngx.say(a.x, " ", table.concat(a.y, ","), " ", tostring(a.z))
        }
    }
--- request
GET /t
--- response_body
1 2,3 true


=== TEST 9: encode_base64
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(ngx.encode_base64("hello"))
            ngx.say("[", ngx.encode_base64(""), "]")
            ngx.say(ngx.encode_base64("hello", true))
        }
    }
--- request
GET /t
--- response_body
aGVsbG8=
[]
aGVsbG8


=== TEST 10: decode_base64
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(ngx.decode_base64("aGVsbG8="))
            ngx.say(ngx.decode_base64("!!"))
        }
    }
--- request
GET /t
--- response_body
hello
nil


=== TEST 11: md5
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(ngx.md5("hello"))
            ngx.say(ngx.md5(""))
        }
    }
--- request
GET /t
--- response_body
5d41402abc4b2a76b9719d911017c592
d41d8cd98f00b204e9800998ecf8427e


=== TEST 12: md5_bin length
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(#ngx.md5_bin("hello"))
        }
    }
--- request
GET /t
--- response_body
16


=== TEST 13: sha1_bin
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(ngx.encode_base64(ngx.sha1_bin("hello")))
        }
    }
--- request
GET /t
--- response_body
qvTGHdzF6KLavt4PO0gs2a6pQ00=


=== TEST 14: hmac_sha1
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(ngx.encode_base64(ngx.hmac_sha1("key", "data")))
        }
    }
--- request
GET /t
--- response_body
EEFSxb/coHvGM+69RhmfAlXJ9J0=


=== TEST 15: crc32
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(ngx.crc32_short("hello"), " ", ngx.crc32_long("hello"))
        }
    }
--- request
GET /t
--- response_body
907060870 907060870


=== TEST 16: quote_sql_str
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(ngx.quote_sql_str("it's \"q\" \\ \n"))
        }
    }
--- request
GET /t
--- response_body
'it\'s \"q\" \\ \n'


=== TEST 17: http_time
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(ngx.http_time(0))
            ngx.say(ngx.http_time(1290079655))
        }
    }
--- request
GET /t
--- response_body
Thu, 01 Jan 1970 00:00:00 GMT
Thu, 18 Nov 2010 11:27:35 GMT


=== TEST 18: cookie_time
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(ngx.cookie_time(1290079655))
        }
    }
--- request
GET /t
--- response_body
Thu, 18-Nov-10 11:27:35 GMT


=== TEST 19: parse_http_time
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(ngx.parse_http_time("Thu, 18 Nov 2010 11:27:35 GMT"))
            ngx.say(ngx.parse_http_time("bad"))
        }
    }
--- request
GET /t
--- response_body
1290079655
nil


=== TEST 20: time and now
--- config
    location = /t {
        content_by_lua_block {
            local t, n = ngx.time(), ngx.now()
            ngx.say(type(t), " ", type(n), " ", math.abs(t - n) < 2)
        }
    }
--- request
GET /t
--- response_body
number number true


=== TEST 21: today and localtime formats
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(ngx.today():match("^%d%d%d%d%-%d%d%-%d%d$") ~= nil)
            ngx.say(ngx.localtime():match("^%d+%-%d+%-%d+ %d+:%d+:%d+$") ~= nil)
            ngx.say(ngx.utctime():match("^%d+%-%d+%-%d+ %d+:%d+:%d+$") ~= nil)
        }
    }
--- request
GET /t
--- response_body
true
true
true


=== TEST 22: update_time
--- config
    location = /t {
        content_by_lua_block {
            ngx.update_time()
            ngx.say("ok")
        }
    }
--- request
GET /t
--- response_body
ok


=== TEST 23: HTTP constants
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(ngx.HTTP_GET, " ", ngx.HTTP_POST, " ", ngx.HTTP_OK, " ", ngx.HTTP_NOT_FOUND, " ", ngx.HTTP_INTERNAL_SERVER_ERROR, " ", ngx.HTTP_MOVED_TEMPORARILY)
        }
    }
--- request
GET /t
--- response_body
2 8 200 404 500 302


=== TEST 24: core constants
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(ngx.OK, " ", ngx.ERROR, " ", ngx.AGAIN, " ", ngx.DONE, " ", ngx.DECLINED)
        }
    }
--- request
GET /t
--- response_body
0 -1 -2 -4 -5


=== TEST 25: ngx.null
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(type(ngx.null), " ", tostring(ngx.null == ngx.null))
        }
    }
--- request
GET /t
--- response_body
userdata true


=== TEST 26: ngx.config
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(ngx.config.subsystem, " ", ngx.config.nginx_version, " ", ngx.config.ngx_lua_version, " ", tostring(ngx.config.debug))
        }
    }
--- request
GET /t
--- response_body
http 1022001 10023 true


=== TEST 27: ngx.config.prefix
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(ngx.config.prefix():sub(-1))
        }
    }
--- request
GET /t
--- response_body
/


=== TEST 28: ngx.worker
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(ngx.worker.id(), " ", ngx.worker.count(), " ", type(ngx.worker.pid()), " ", tostring(ngx.worker.exiting()))
        }
    }
--- request
GET /t
--- response_body
0 1 number false


=== TEST 29: cjson is not required here but string functions work
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(string.format("%05.1f", 3.14159))
        }
    }
--- request
GET /t
--- response_body
003.1


=== TEST 30: table.new and table.clear
--- config
    location = /t {
        content_by_lua_block {
            local new = require "table.new"
            local clear = require "table.clear"
            local t = new(4, 0)
            t[1] = 1
            clear(t)
            ngx.say(#t)
        }
    }
--- request
GET /t
--- response_body
0


=== TEST 31: resty.core loads
--- config
    location = /t {
        content_by_lua_block {
            local ok = pcall(require, "resty.core")
            ngx.say(ok)
        }
    }
--- request
GET /t
--- response_body
true
