# Lua: lua_regex_match_limit for every ngx.re function (the error value and the shape of
# what each returns), the default limit, the cases where ngx_lua sets no limit (the `d`
# option; patterns PCRE1's pcre_study finds nothing for), and the directive's -t errors.
# Limits are far from the border: PCRE2 counts backtracking differently from the
# reference's PCRE1 (`^(a|aa)+$` on 25 a's and a b needs ~1.27M with PCRE1, ~0.95M with
# PCRE2, 0.32M with either JIT; `(\d+)` on "abc123" needs 3).
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: ngx.re.match hits the limit: nil and PCRE1's PCRE_ERROR_MATCHLIMIT, no log
--- http_config
    lua_regex_match_limit 1000;
--- config
    location = /t {
        content_by_lua_block {
            local s = string.rep("a", 25) .. "b"
            for _, o in ipairs({"", "o", "jo", "i"}) do
                ngx.say(o, ": ", select("#", ngx.re.match(s, "^(a|aa)+$", o)), " ",
                        tostring((ngx.re.match(s, "^(a|aa)+$", o))), " ",
                        select(2, ngx.re.match(s, "^(a|aa)+$", o)))
            end
        }
    }
--- request
GET /t
--- response_body
: 2 nil pcre_exec() failed: -8
o: 2 nil pcre_exec() failed: -8
jo: 2 nil pcre_exec() failed: -8
i: 2 nil pcre_exec() failed: -8
--- no_error_log
[error]



=== TEST 2: under the limit, matches and misses are as usual
--- http_config
    lua_regex_match_limit 1000;
--- config
    location = /t {
        content_by_lua_block {
            local m = ngx.re.match("abc123", "(\\d+)")
            ngx.say(m[0], " ", m[1])
            ngx.say(ngx.re.match("aaab", "^(a|aa)+$"))
            ngx.say(ngx.re.match("aaab", "^(a|aa)+$", "jo"))
            ngx.say(ngx.re.find("abc123", "\\d+", "jo"))
            ngx.say(ngx.re.gsub("a1b22c333", "\\d+", "#"))
        }
    }
--- request
GET /t
--- response_body
123 123
nil
nil
46
a#b#c#3



=== TEST 3: ngx.re.find hits the limit: nil, nil, err
--- http_config
    lua_regex_match_limit 1000;
--- config
    location = /t {
        content_by_lua_block {
            local s = string.rep("a", 25) .. "b"
            local n = select("#", ngx.re.find(s, "^(a|aa)+$"))
            local from, to, err = ngx.re.find(s, "^(a|aa)+$", "jo")
            ngx.say(n, " ", tostring(from), " ", tostring(to), " ", err)
            from, to, err = ngx.re.find(s, "^(a|aa)+$", "o", nil, 1)
            ngx.say(tostring(from), " ", tostring(to), " ", err)
        }
    }
--- request
GET /t
--- response_body
3 nil nil pcre_exec() failed: -8
nil nil pcre_exec() failed: -8
--- no_error_log
[error]



=== TEST 4: ngx.re.gmatch: the iterator gives nil, err, then nothing
--- http_config
    lua_regex_match_limit 1000;
--- config
    location = /t {
        content_by_lua_block {
            local s = string.rep("a", 25) .. "b"
            local it, err = ngx.re.gmatch(s, "^(a|aa)+$", "o")
            ngx.say(type(it), " ", tostring(err))
            ngx.say(select("#", it()), " ", tostring((it())))
            local it2 = ngx.re.gmatch(s, "^(a|aa)+$", "jo")
            local m, err2 = it2()
            ngx.say(tostring(m), " ", err2)
            m, err2 = it2()
            ngx.say(tostring(m), " ", tostring(err2))
        }
    }
--- request
GET /t
--- response_body
table nil
2 nil
nil pcre_exec() failed: -8
nil nil
--- no_error_log
[error]



=== TEST 5: gmatch: earlier matches come, then the one that hits the limit errs
--- http_config
    lua_regex_match_limit 1000;
--- config
    location = /t {
        content_by_lua_block {
            local s = "x1 x22 " .. string.rep("a", 25) .. "b"
            local it = ngx.re.gmatch(s, "x\\d+|(a|aa)+$")
            for i = 1, 4 do
                local m, err = it()
                ngx.say(i, ": ", m and m[0] or "nil", " ", tostring(err))
            end
        }
    }
--- request
GET /t
--- response_body
1: x1 nil
2: x22 nil
3: nil pcre_exec() failed: -8
4: nil nil
--- no_error_log
[error]



=== TEST 6: ngx.re.sub and ngx.re.gsub: nil, nil, err (string and function replacements)
--- http_config
    lua_regex_match_limit 1000;
--- config
    location = /t {
        content_by_lua_block {
            local s = string.rep("a", 25) .. "b"
            local f = function(m) return "<" .. m[0] .. ">" end
            for _, fn in ipairs({"sub", "gsub"}) do
                local re = ngx.re[fn]
                ngx.say(fn, " ", select("#", re(s, "^(a|aa)+$", "x")), " ",
                        select(3, re(s, "^(a|aa)+$", "x")))
                local r, n, err = re(s, "^(a|aa)+$", f, "jo")
                ngx.say(fn, " ", tostring(r), " ", tostring(n), " ", err)
            end
            -- gsub: the first matches are done, then the limit is hit
            local r, n, err = ngx.re.gsub("x1 x22 " .. s, "x\\d+|(a|aa)+$", "y")
            ngx.say(tostring(r), " ", tostring(n), " ", err)
        }
    }
--- request
GET /t
--- response_body
sub 3 pcre_exec() failed: -8
sub nil nil pcre_exec() failed: -8
gsub 3 pcre_exec() failed: -8
gsub nil nil pcre_exec() failed: -8
nil nil pcre_exec() failed: -8
--- no_error_log
[error]



=== TEST 7: ngx.re.split (resty.core's ngx.re) hits the limit: nil, err
--- http_config
    lua_regex_match_limit 1000;
--- config
    location = /t {
        content_by_lua_block {
            local split = require("ngx.re").split
            local s = string.rep("a", 25) .. "b"
            local res, err = split(s, "^(a|aa)+$")
            ngx.say(tostring(res), " ", err)
            res = split("a,b,,c", ",")
            ngx.say(#res, " ", table.concat(res, "|"))
        }
    }
--- request
GET /t
--- response_body
nil pcre_exec() failed: -8
4 a|b||c
--- no_error_log
[error]



=== TEST 8: no directive: PCRE's default limit (10000000) lets 1.3M steps pass, not 100M+
--- config
    location = /t {
        content_by_lua_block {
            local s = string.rep("a", 25) .. "b"
            ngx.say(ngx.re.match(s, "^(a|aa)+$"))
            ngx.say(ngx.re.find(s, "^(a|aa)+$", "jo"))
            s = string.rep("a", 40) .. "b"
            ngx.say(ngx.re.match(s, "^(a|aa)+$", "jo"))
            ngx.say(ngx.re.sub(s, "^(a|aa)+$", "x"))
        }
    }
--- request
GET /t
--- response_body
nil
nil
nilpcre_exec() failed: -8
nilnilpcre_exec() failed: -8
--- timeout: 20



=== TEST 9: lua_regex_match_limit 0 is the default
--- http_config
    lua_regex_match_limit 0;
--- config
    location = /t {
        content_by_lua_block {
            local s = string.rep("a", 25) .. "b"
            ngx.say(ngx.re.match(s, "^(a|aa)+$", "jo"))
            ngx.say(ngx.re.match(string.rep("a", 40) .. "b", "^(a|aa)+$", "jo"))
        }
    }
--- request
GET /t
--- response_body
nil
nilpcre_exec() failed: -8



=== TEST 10: the DFA mode (d) takes no limit
--- http_config
    lua_regex_match_limit 1;
--- config
    location = /t {
        content_by_lua_block {
            local s = "This is <something> <something else> <something further> no more"
            local from, to, err = ngx.re.find(s, "<.*>", "d")
            ngx.say(from, " ", to, " ", tostring(err))
            from, to, err = ngx.re.find(s, "<.*>")
            ngx.say(tostring(from), " ", tostring(to), " ", err)
        }
    }
--- request
GET /t
--- response_body
9 56 nil
nil nil pcre_exec() failed: -8



=== TEST 11: the limit only applies where PCRE1's study found something (length > 0)
--- http_config
    lua_regex_match_limit 1;
--- config
    location = /t {
        content_by_lua_block {
            -- can match the empty string, anchored: pcre_study returns NULL, no limit
            local m, err = ngx.re.match("aaaa", "^(a|a)*$")
            ngx.say(m and m[0] or "nil", " ", tostring(err))
            m, err = ngx.re.match("aaaa", "(a|a)*$", "o")
            ngx.say(m and m[0] or "nil", " ", tostring(err))
            -- at least one character: limited
            m, err = ngx.re.match("aaab", "b+")
            ngx.say(tostring(m), " ", err)
            -- the JIT (j) always takes the limit; one step is enough here
            m, err = ngx.re.match("abc123", "(\\d+)", "j")
            ngx.say(m and m[0] or "nil", " ", tostring(err))
        }
    }
--- request
GET /t
--- response_body
aaaa nil
aaaa nil
nil pcre_exec() failed: -8
123 nil



=== TEST 12: lua_regex_match_limit without an argument
--- http_config
    lua_regex_match_limit;
--- config
    location = /t {
        return 200;
    }
--- must_die
--- error_log
invalid number of arguments in "lua_regex_match_limit" directive



=== TEST 13: lua_regex_match_limit with two arguments
--- http_config
    lua_regex_match_limit 1 2;
--- config
    location = /t {
        return 200;
    }
--- must_die
--- error_log
invalid number of arguments in "lua_regex_match_limit" directive



=== TEST 14: lua_regex_match_limit with a word
--- http_config
    lua_regex_match_limit abc;
--- config
    location = /t {
        return 200;
    }
--- must_die
--- error_log
"lua_regex_match_limit" directive invalid number in



=== TEST 15: lua_regex_match_limit negative
--- http_config
    lua_regex_match_limit -5;
--- config
    location = /t {
        return 200;
    }
--- must_die
--- error_log
"lua_regex_match_limit" directive invalid number in



=== TEST 16: lua_regex_match_limit twice
--- http_config
    lua_regex_match_limit 5;
    lua_regex_match_limit 5;
--- config
    location = /t {
        return 200;
    }
--- must_die
--- error_log
"lua_regex_match_limit" directive is duplicate in



=== TEST 17: lua_regex_match_limit in a server
--- config
    lua_regex_match_limit 5;
    location = /t {
        return 200;
    }
--- must_die
--- error_log
"lua_regex_match_limit" directive is not allowed here in



=== TEST 18: lua_regex_match_limit in a location
--- config
    location = /t {
        lua_regex_match_limit 5;
        return 200;
    }
--- must_die
--- error_log
"lua_regex_match_limit" directive is not allowed here in



=== TEST 19: a limit beyond 32 bits is accepted (as good as none)
--- http_config
    lua_regex_match_limit 9223372036854775807;
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(ngx.re.match(string.rep("a", 25) .. "b", "^(a|aa)+$", "jo"))
        }
    }
--- request
GET /t
--- response_body
nil



=== TEST 20: patterns are bytes outside UTF-8 mode; compile errors point into the pattern
--- config
    location = /t {
        content_by_lua_block {
            local m = ngx.re.match("x\255y", "\255(y)")
            ngx.say(m and #m[0] or "nil", " ", m and m[1] or "")
            ngx.say(select(2, ngx.re.match("abc", "a(b", "a")))
            ngx.say(select(2, ngx.re.match("abc", "(?<n>a)(?<n>b)+)", "D")))
        }
    }
--- request
GET /t
--- response_body
2 y
pcre_compile() failed: missing ) in "a(b"
pcre_compile() failed: unmatched parentheses in "(?<n>a)(?<n>b)+)" at ")"



=== TEST 21: other pcre_exec errors carry PCRE1's numbers: bad UTF-8 (-10), offset inside a character (-11)
--- config
    location = /t {
        content_by_lua_block {
            local bad = "a\255b"
            ngx.say(select(2, ngx.re.match(bad, "b", "u")))
            ngx.say(select(3, ngx.re.find(bad, "b", "ju")))
            ngx.say(select(3, ngx.re.gsub(bad, "b", "c", "u")))
            local it = ngx.re.gmatch(bad, "b", "uo")
            ngx.say(select(2, it()))
            local ctx = { pos = 2 }
            ngx.say(select(2, ngx.re.match("\228\189\160\229\165\189", "\229\165\189", "u", ctx)))
            ctx = { pos = 4 }
            local m = ngx.re.match("\228\189\160\229\165\189", "\229\165\189", "u", ctx)
            ngx.say(m and #m[0] or "nil", " ", ctx.pos)
        }
    }
--- request
GET /t
--- response_body
pcre_exec() failed: -10
pcre_exec() failed: -10
pcre_exec() failed: -10
pcre_exec() failed: -10
pcre_exec() failed: -11
3 7
--- no_error_log
[error]



=== TEST 22: the j option's debug line: once per compilation (each call without o, the first with o)
--- config
    location = /t {
        content_by_lua_block {
            for m in ngx.re.gmatch("a1b2c3", "\\d", "j") do end
            ngx.re.gsub("a1b2c3", "\\d", "x", "j")
            ngx.re.gsub("a1b2c3", "\\d", function() return "y" end, "j")
            ngx.re.sub("a1b2c3", "\\d", "x", "j")
            ngx.re.match("a1", "\\d", "j")
            ngx.re.match("a1", "\\d", "j")
            ngx.re.find("a1", "\\d", "jo")
            ngx.re.find("a1", "\\d", "jo")
            ngx.re.match("a1", "\\d")
            ngx.say("done")
        }
    }
--- request
GET /t
--- response_body
done
--- grep_error_log eval
qr/pcre JIT compiling result: \d+/
--- grep_error_log_out
pcre JIT compiling result: 1
pcre JIT compiling result: 1
pcre JIT compiling result: 1
pcre JIT compiling result: 1
pcre JIT compiling result: 1
pcre JIT compiling result: 1
pcre JIT compiling result: 1



=== TEST 23: compile errors in PCRE1's words, with the offset both report, cut at 127 bytes
--- config
    location = /t {
        content_by_lua_block {
            local pats = { [[a**]], [[(?#abc]], [[\x{100}]], [[(?<a]], [[a(?C300)]],
                           [[(?<1a>x)]], [[a(?C1]], [[(?R]],
                           [[(?<aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa>x)]] }
            for _, p in ipairs(pats) do
                local m, err = ngx.re.match("x", p)
                ngx.say(err)
            end
            local from, to, err = ngx.re.find("x", [[\x{110000}]], "u")
            ngx.say(err)
        }
    }
--- request
GET /t
--- response_body
pcre_compile() failed: nothing to repeat in "a**" at "*"
pcre_compile() failed: missing ) after comment in "(?#abc"
pcre_compile() failed: character value in \x{} or \o{} is too large in "\x{100}" at "}"
pcre_compile() failed: syntax error in subpattern name (missing terminator) in "(?<a"
pcre_compile() failed: number after (?C is > 255 in "a(?C300)" at ")"
pcre_compile() failed: group name must start with a non-digit in "(?<1a>x)" at "1a>x)"
pcre_compile() failed: closing ) for (?C expected in "a(?C1"
pcre_compile() failed: (?R or (?[+-]digits must be followed by ) in "(?R"
pcre_compile() failed: subpattern name is too long (maximum 32 characters) in "(?<aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa>x)" at "
pcre_compile() failed: character value in \x{} or \o{} is too large in "\x{110000}" at "}"



=== TEST 24: the d option (DFA): the longest match at the leftmost position, no groups
--- config
    location = /t {
        content_by_lua_block {
            local m = ngx.re.match("hello", "(he|hell)", "d")
            ngx.say(m[0], " ", tostring(m[1]))
            m = ngx.re.match("hello", "(?<x>he|hell)", "do")
            ngx.say(m[0], " ", tostring(m.x), " ", tostring(m[1]))
            ngx.say(ngx.re.find("<a> <b> c", "<.*?>", "d"))
            ngx.say(ngx.re.find("<a> <b> c", "<.*?>"))
            ngx.say(select(3, ngx.re.find("hello", "(h)(e)", "d", nil, 1)))
            local out = {}
            for m in ngx.re.gmatch("hello hell he", "he|hel+", "d") do
                out[#out + 1] = m[0]
            end
            ngx.say(table.concat(out, ","))
            ngx.say(ngx.re.sub("hello", "he|hell", "[$0]", "d"))
            ngx.say(ngx.re.gsub("hello hel", "he|hel+", "[$0]", "d"))
            ngx.say(ngx.re.gsub("hello", "(he|hell)", "[$1]", "d"))
        }
    }
--- request
GET /t
--- response_body
hell nil
hell nil nil
17
13
nth out of bound
hell,hell,he
[hell]o1
[hell]o [hel]2
[]o1
