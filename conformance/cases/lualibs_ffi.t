# What unmodified Lua libraries rely on beyond the ngx API: ffi.C finds what the nginx
# binary has (its own ngx_hex_dump / ngx_atoi, and OpenSSL's libcrypto and zlib it is linked
# with: lua-resty-string), ngx.now() stands still while Lua code runs without yielding
# (lua-resty-limit-traffic's exact delays), LuaJIT's cdata type name in argument errors.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__


=== TEST 1: ffi.C finds ngx_hex_dump and ngx_atoi
--- config
    location = /t {
        content_by_lua_block {
            local ffi = require "ffi"
            ffi.cdef[[
                unsigned char *ngx_hex_dump(unsigned char *dst, const unsigned char *src, size_t len);
                intptr_t ngx_atoi(const unsigned char *line, size_t n);
            ]]
            local buf = ffi.new("unsigned char[10]")
            local e = ffi.C.ngx_hex_dump(buf, "\0\18\171\205\255", 5)
            ngx.say(ffi.string(buf, 10), " ", tonumber(e - buf))
            for _, s in ipairs({"0", "12345", "9223372036854775807", "9223372036854775808", "", "1a", "-1", " 1"}) do
                ngx.say("[", s, "] ", tonumber(ffi.C.ngx_atoi(s, #s)))
            end
        }
    }
--- request
GET /t
--- response_body
0012abcdff 10
[0] 0
[12345] 12345
[9223372036854775807] 9.2233720368548e+18
[9223372036854775808] -1
[] -1
[1a] -1
[-1] -1
[ 1] -1


=== TEST 2: ffi.C finds libcrypto's functions
--- config
    location = /t {
        content_by_lua_block {
            local ffi = require "ffi"
            ffi.cdef[[
                unsigned char *SHA1(const unsigned char *d, size_t n, unsigned char *md);
                int RAND_bytes(unsigned char *buf, int num);
                const void *EVP_sha256(void);
                int EVP_MD_get_size(const void *md);
                unsigned char *ngx_hex_dump(unsigned char *dst, const unsigned char *src, size_t len);
            ]]
            local md = ffi.new("unsigned char[20]")
            ffi.C.SHA1("abc", 3, md)
            local hex = ffi.new("unsigned char[40]")
            ffi.C.ngx_hex_dump(hex, md, 20)
            ngx.say(ffi.string(hex, 40))
            local r = ffi.new("unsigned char[16]")
            ngx.say(ffi.C.RAND_bytes(r, 16))
            ngx.say(ffi.C.EVP_MD_get_size(ffi.C.EVP_sha256()))
        }
    }
--- request
GET /t
--- response_body
a9993e364706816aba3e25717850c26c9cd0d89d
1
32


=== TEST 3: ffi.C finds zlib's functions
--- config
    location = /t {
        content_by_lua_block {
            local ffi = require "ffi"
            ffi.cdef[[ const char *zlibVersion(void); ]]
            ngx.say(ffi.string(ffi.C.zlibVersion()):match("^1%.") ~= nil)
        }
    }
--- request
GET /t
--- response_body
true


=== TEST 4: an unknown ffi.C symbol
--- config
    location = /t {
        content_by_lua_block {
            local ffi = require "ffi"
            ffi.cdef[[ int oxresty_no_such_function(void); ]]
            local ok, err = pcall(function() return ffi.C.oxresty_no_such_function end)
            ngx.say(ok, " ", err:match("undefined symbol: oxresty_no_such_function") ~= nil)
        }
    }
--- request
GET /t
--- response_body
false true


=== TEST 5: ngx.now() stands still until the handler yields
--- config
    location = /t {
        content_by_lua_block {
            local t0 = ngx.now()
            local x = 0
            for i = 1, 20000000 do x = x + i end
            ngx.say("busy loop: ", ngx.now() == t0, " time: ", ngx.time() == math.floor(t0))
            ngx.sleep(0.01)
            local t1 = ngx.now()
            ngx.say("after sleep: ", t1 > t0)
            for i = 1, 20000000 do x = x + i end
            ngx.update_time()
            ngx.say("update_time: ", ngx.now() > t1)
        }
    }
--- request
GET /t
--- response_body
busy loop: true time: true
after sleep: true
update_time: true


=== TEST 6: cdata in an argument error
--- config
    location = /t {
        content_by_lua_block {
            local ffi = require "ffi"
            ngx.say(pcall(ngx.say, ffi.new("int", 1)))
            ngx.say(pcall(ngx.print, "a", ffi.new("char[2]")))
        }
    }
--- request
GET /t
--- response_body
falsebad argument #1 to '?' (string, number, boolean, nil, ngx.null, or array table expected, but got cdata)
falsebad argument #2 to '?' (string, number, boolean, nil, ngx.null, or array table expected, but got cdata)
