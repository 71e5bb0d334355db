# ngx.ssl.session and ngx.ssl.verify_client outside the TLS hooks (the hooks themselves
# need a TLS client: tests/lua_ssl_session.rs, tests/lua_ssl_verify.rs): the errors on a
# plain request, the argument check of set_serialized_session.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__


=== TEST 1: session functions on a plain request
--- config
    location = /t {
        content_by_lua_block {
            local s = require "ngx.ssl.session"
            ngx.say(s.get_session_id())
            ngx.say(s.get_serialized_session())
            ngx.say(s.set_serialized_session("garbage"))
            ngx.say(s.set_serialized_session(""))
        }
    }
--- request
GET /t
--- response_body
nilbad request
nilbad request
nilbad request
nilbad request


=== TEST 2: set_serialized_session without a string
--- config
    location = /t {
        content_by_lua_block {
            local s = require "ngx.ssl.session"
            local ok, err = pcall(s.set_serialized_session)
            ngx.say(ok, " ", tostring(err):match("attempt to get length of local 'sess' %(a nil value%)"))
        }
    }
--- request
GET /t
--- response_body
false attempt to get length of local 'sess' (a nil value)


=== TEST 3: verify_client outside ssl_certificate_by_lua
--- config
    location = /t {
        content_by_lua_block {
            local ssl = require "ngx.ssl"
            ngx.say(ssl.verify_client())
            ngx.say(ssl.verify_client(nil, 2))
        }
    }
--- request
GET /t
--- response_body
nilAPI disabled in the current context
nilAPI disabled in the current context
