# lua_transform_underscores_in_response_headers: ngx.header keys with underscores.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: off: the name is kept as written, for writes and reads
--- config
    lua_transform_underscores_in_response_headers off;
    location = /t {
        content_by_lua_block {
            ngx.header.my_name = "v1"
            ngx.say(ngx.header.my_name, " ", tostring(ngx.header["my-name"]))
        }
    }
--- request
GET /t
--- raw_response_headers_like eval
"\r\nmy_name: v1\r\n"
--- response_body
v1 nil



=== TEST 2: on (the default): underscores become dashes
--- config
    location = /t {
        content_by_lua_block {
            ngx.header.my_name = "v2"
            ngx.say(ngx.header.my_name, " ", ngx.header["my-name"])
        }
    }
--- request
GET /t
--- raw_response_headers_like eval
"\r\nmy-name: v2\r\n"
--- response_body
v2 v2
