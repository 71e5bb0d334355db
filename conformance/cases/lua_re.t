# Lua: ngx.re.match/find/gmatch/sub/gsub/split with options, captures, named captures,
# errors.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__


=== TEST 1: match with captures
--- config
    location = /t {
        content_by_lua_block {
            local m = ngx.re.match("hello 1234", "([a-z]+) (\\d+)")
            ngx.say(m[0], "|", m[1], "|", m[2])
        }
    }
--- request
GET /t
--- response_body
hello 1234|hello|1234


=== TEST 2: match fails
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(ngx.re.match("abc", "\\d"))
        }
    }
--- request
GET /t
--- response_body
nil


=== TEST 3: match an unmatched group is false
--- config
    location = /t {
        content_by_lua_block {
            local m = ngx.re.match("ab", "(a)(x)?(b)")
            ngx.say(m[1], " ", tostring(m[2]), " ", m[3])
        }
    }
--- request
GET /t
--- response_body
a false b


=== TEST 4: named captures
--- config
    location = /t {
        content_by_lua_block {
            local m = ngx.re.match("2024-05", "(?<y>\\d+)-(?<m>\\d+)")
            ngx.say(m.y, " ", m.m, " ", m[1], " ", m[2])
        }
    }
--- request
GET /t
--- response_body
2024 05 2024 05


=== TEST 5: case-insensitive option
--- config
    location = /t {
        content_by_lua_block {
            local m = ngx.re.match("HeLLo", "hello", "i")
            ngx.say(m[0])
        }
    }
--- request
GET /t
--- response_body
HeLLo


=== TEST 6: anchored option
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(ngx.re.match("xab", "ab", "a"))
            ngx.say(ngx.re.match("abx", "ab", "a")[0])
        }
    }
--- request
GET /t
--- response_body
nil
ab


=== TEST 7: jit and compile-once options
--- config
    location = /t {
        content_by_lua_block {
            local m = ngx.re.match("abc", "b", "jo")
            ngx.say(m[0])
        }
    }
--- request
GET /t
--- response_body
b


=== TEST 8: multiline option
--- config
    location = /t {
        content_by_lua_block {
            local m = ngx.re.match("a\nb", "^b", "m")
            ngx.say(m[0])
        }
    }
--- request
GET /t
--- response_body
b


=== TEST 9: dotall option
--- config
    location = /t {
        content_by_lua_block {
            local m = ngx.re.match("a\nb", "a.b", "s")
            ngx.say(m and "yes" or "no")
        }
    }
--- request
GET /t
--- response_body
yes


=== TEST 10: extended option
--- config
    location = /t {
        content_by_lua_block {
            local m = ngx.re.match("abc", "a b c", "x")
            ngx.say(m[0])
        }
    }
--- request
GET /t
--- response_body
abc


=== TEST 11: match with a start position
--- config
    location = /t {
        content_by_lua_block {
            local ctx = {pos = 3}
            local m = ngx.re.match("a1b2c3", "\\d", "", ctx)
            ngx.say(m[0], " ", ctx.pos)
        }
    }
--- request
GET /t
--- response_body
2 5


=== TEST 12: a bad regex
--- config
    location = /t {
        content_by_lua_block {
            local m, err = ngx.re.match("abc", "(")
            ngx.say(m, " ", err)
        }
    }
--- request
GET /t
--- response_body
nil pcre_compile() failed: missing ) in "("


=== TEST 13: find
--- config
    location = /t {
        content_by_lua_block {
            local from, to = ngx.re.find("hello world", "o w")
            ngx.say(from, " ", to)
        }
    }
--- request
GET /t
--- response_body
5 7


=== TEST 14: find a capture
--- config
    location = /t {
        content_by_lua_block {
            local from, to = ngx.re.find("hello world", "(w)(o)", "", nil, 2)
            ngx.say(from, " ", to)
        }
    }
--- request
GET /t
--- response_body
8 8


=== TEST 15: find no match
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(ngx.re.find("abc", "z"))
        }
    }
--- request
GET /t
--- response_body
nil


=== TEST 16: gmatch
--- config
    location = /t {
        content_by_lua_block {
            local out = {}
            for m in ngx.re.gmatch("a1 b2 c3", "([a-z])(\\d)") do out[#out + 1] = m[1] .. m[2] end
            ngx.say(table.concat(out, ","))
        }
    }
--- request
GET /t
--- response_body
a1,b2,c3


=== TEST 17: gmatch iterator end
--- config
    location = /t {
        content_by_lua_block {
            local it = ngx.re.gmatch("ab", "x")
            ngx.say(it())
        }
    }
--- request
GET /t
--- response_body
nil


=== TEST 18: sub
--- config
    location = /t {
        content_by_lua_block {
            local s, n = ngx.re.sub("hello world", "o", "0")
            ngx.say(s, " ", n)
        }
    }
--- request
GET /t
--- response_body
hell0 world 1


=== TEST 19: sub with captures
--- config
    location = /t {
        content_by_lua_block {
            local s = ngx.re.sub("john smith", "(\\w+) (\\w+)", "$2, $1")
            ngx.say(s)
        }
    }
--- request
GET /t
--- response_body
smith, john


=== TEST 20: sub with a function
--- config
    location = /t {
        content_by_lua_block {
            local s = ngx.re.sub("abc", "b", function(m) return m[0]:upper() end)
            ngx.say(s)
        }
    }
--- request
GET /t
--- response_body
aBc


=== TEST 21: gsub
--- config
    location = /t {
        content_by_lua_block {
            local s, n = ngx.re.gsub("a.b.c", "\\.", "-")
            ngx.say(s, " ", n)
        }
    }
--- request
GET /t
--- response_body
a-b-c 2


=== TEST 22: gsub with a function
--- config
    location = /t {
        content_by_lua_block {
            local s, n = ngx.re.gsub("1 2 3", "\\d", function(m) return m[0] * 2 end)
            ngx.say(s, " ", n)
        }
    }
--- request
GET /t
--- response_body
2 4 6 3


=== TEST 23: gsub with ${1} syntax
--- config
    location = /t {
        content_by_lua_block {
            local s = ngx.re.gsub("ab", "(a)(b)", "${2}${1}!")
            ngx.say(s)
        }
    }
--- request
GET /t
--- response_body
ba!


=== TEST 24: gsub with a bad template
--- config
    location = /t {
        content_by_lua_block {
            local s, n, err = ngx.re.gsub("ab", "a", "$x")
            ngx.say(s, " ", n, " ", err)
        }
    }
--- request
GET /t
--- response_body
nil nil failed to compile the replacement template


=== TEST 25: gsub no match
--- config
    location = /t {
        content_by_lua_block {
            local s, n = ngx.re.gsub("abc", "z", "y")
            ngx.say(s, " ", n)
        }
    }
--- request
GET /t
--- response_body
abc 0


=== TEST 26: gsub empty matches
--- config
    location = /t {
        content_by_lua_block {
            local s, n = ngx.re.gsub("abc", "", "-")
            ngx.say(s, " ", n)
        }
    }
--- request
GET /t
--- response_body
-a-b-c- 4


=== TEST 27: utf-8 option
--- config
    location = /t {
        content_by_lua_block {
            local m = ngx.re.match("héllo", "h.l", "u")
            ngx.say(m[0])
        }
    }
--- request
GET /t
--- response_body
hél


=== TEST 28: match with a table for captures reuse
--- config
    location = /t {
        content_by_lua_block {
            local res = {}
            local m = ngx.re.match("ab", "(a)(b)", "", nil, res)
            ngx.say(m == res, " ", res[2])
        }
    }
--- request
GET /t
--- response_body
true b


=== TEST 29: duplicate names option
--- config
    location = /t {
        content_by_lua_block {
            local m = ngx.re.match("ab", "(?<x>a)|(?<x>b)", "D")
            ngx.say(type(m.x))
        }
    }
--- request
GET /t
--- response_body
table


=== TEST 30: ngx.re.split via require
--- config
    location = /t {
        content_by_lua_block {
            local ok, re = pcall(require, "ngx.re")
            ngx.say(ok)
        }
    }
--- request
GET /t
--- response_body
true
