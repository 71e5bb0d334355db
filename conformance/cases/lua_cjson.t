# require "cjson": oxresty's built-in cjson against the reference's Debian lua-cjson C module.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: encode an array and a one-key object
--- config
    location = /t {
        content_by_lua_block {
            local cjson = require "cjson"
            ngx.say(cjson.encode({1, 2, "three", true}))
            ngx.say(cjson.encode({k = {1.5, "a/b"}}))
        }
    }
--- request
GET /t
--- response_body
[1,2,"three",true]
{"k":[1.5,"a\/b"]}



=== TEST 2: decode with null
--- config
    location = /t {
        content_by_lua_block {
            local cjson = require "cjson"
            local v = cjson.decode('{"a":[1,null,false]}')
            ngx.say(#v.a, " ", tostring(v.a[2] == cjson.null), " ", tostring(v.a[3]))
        }
    }
--- request
GET /t
--- response_body
3 true false



=== TEST 3: an empty table encodes as an object; invalid JSON errors
--- config
    location = /t {
        content_by_lua_block {
            local cjson = require "cjson"
            ngx.say(cjson.encode({}))
            local ok, err = pcall(cjson.decode, "{bad")
            ngx.say(ok, " ", err)
        }
    }
--- request
GET /t
--- response_body
{}
false Expected object key string but found invalid token at character 2



=== TEST 4: cjson.safe returns nil and the error
--- config
    location = /t {
        content_by_lua_block {
            local safe = require "cjson.safe"
            ngx.say(safe.decode("[1,"))
        }
    }
--- request
GET /t
--- response_body
nilExpected value but found T_END at character 4
