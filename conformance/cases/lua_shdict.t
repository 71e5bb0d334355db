# Lua: ngx.shared.DICT: set/get/add/replace/delete, incr, flags, expiry, lists, keys,
# capacity, errors.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__


=== TEST 1: set and get
--- http_config
    lua_shared_dict dogs 1m;
    lua_shared_dict cats 100k;
--- config
    location = /t {
        content_by_lua_block {
            local d = ngx.shared.dogs
            d:flush_all()
            d:set("a", 1)
            d:set("b", "str")
            d:set("c", true)
            ngx.say(d:get("a"), " ", d:get("b"), " ", d:get("c"))
        }
    }
--- request
GET /t
--- response_body
1 str true


=== TEST 2: get a missing key
--- http_config
    lua_shared_dict dogs 1m;
    lua_shared_dict cats 100k;
--- config
    location = /t {
        content_by_lua_block {
            local d = ngx.shared.dogs
            d:flush_all()
            ngx.say(d:get("nope"))
        }
    }
--- request
GET /t
--- response_body
nil


=== TEST 3: set returns ok
--- http_config
    lua_shared_dict dogs 1m;
    lua_shared_dict cats 100k;
--- config
    location = /t {
        content_by_lua_block {
            local d = ngx.shared.dogs
            d:flush_all()
            ngx.say(d:set("k", "v"))
        }
    }
--- request
GET /t
--- response_body
truenilfalse


=== TEST 4: add an existing key
--- http_config
    lua_shared_dict dogs 1m;
    lua_shared_dict cats 100k;
--- config
    location = /t {
        content_by_lua_block {
            local d = ngx.shared.dogs
            d:flush_all()
            d:set("k", 1)
            ngx.say(d:add("k", 2))
            ngx.say(d:get("k"))
        }
    }
--- request
GET /t
--- response_body
falseexistsfalse
1


=== TEST 5: add a new key
--- http_config
    lua_shared_dict dogs 1m;
    lua_shared_dict cats 100k;
--- config
    location = /t {
        content_by_lua_block {
            local d = ngx.shared.dogs
            d:flush_all()
            ngx.say(d:add("k", 2))
            ngx.say(d:get("k"))
        }
    }
--- request
GET /t
--- response_body
truenilfalse
2


=== TEST 6: replace a missing key
--- http_config
    lua_shared_dict dogs 1m;
    lua_shared_dict cats 100k;
--- config
    location = /t {
        content_by_lua_block {
            local d = ngx.shared.dogs
            d:flush_all()
            ngx.say(d:replace("k", 2))
        }
    }
--- request
GET /t
--- response_body
falsenot foundfalse


=== TEST 7: replace an existing key
--- http_config
    lua_shared_dict dogs 1m;
    lua_shared_dict cats 100k;
--- config
    location = /t {
        content_by_lua_block {
            local d = ngx.shared.dogs
            d:flush_all()
            d:set("k", 1)
            ngx.say(d:replace("k", 3))
            ngx.say(d:get("k"))
        }
    }
--- request
GET /t
--- response_body
truenilfalse
3


=== TEST 8: delete
--- http_config
    lua_shared_dict dogs 1m;
    lua_shared_dict cats 100k;
--- config
    location = /t {
        content_by_lua_block {
            local d = ngx.shared.dogs
            d:flush_all()
            d:set("k", 1)
            d:delete("k")
            ngx.say(d:get("k"))
        }
    }
--- request
GET /t
--- response_body
nil


=== TEST 9: set nil deletes
--- http_config
    lua_shared_dict dogs 1m;
    lua_shared_dict cats 100k;
--- config
    location = /t {
        content_by_lua_block {
            local d = ngx.shared.dogs
            d:flush_all()
            d:set("k", 1)
            d:set("k", nil)
            ngx.say(d:get("k"))
        }
    }
--- request
GET /t
--- response_body
nil


=== TEST 10: flags
--- http_config
    lua_shared_dict dogs 1m;
    lua_shared_dict cats 100k;
--- config
    location = /t {
        content_by_lua_block {
            local d = ngx.shared.dogs
            d:flush_all()
            d:set("k", "v", 0, 42)
            local v, f = d:get("k")
            ngx.say(v, " ", f)
        }
    }
--- request
GET /t
--- response_body
v 42


=== TEST 11: no flags returns one value
--- http_config
    lua_shared_dict dogs 1m;
    lua_shared_dict cats 100k;
--- config
    location = /t {
        content_by_lua_block {
            local d = ngx.shared.dogs
            d:flush_all()
            d:set("k", "v")
            ngx.say(select("#", d:get("k")))
        }
    }
--- request
GET /t
--- response_body
1


=== TEST 12: incr an existing number
--- http_config
    lua_shared_dict dogs 1m;
    lua_shared_dict cats 100k;
--- config
    location = /t {
        content_by_lua_block {
            local d = ngx.shared.dogs
            d:flush_all()
            d:set("n", 10)
            ngx.say(d:incr("n", 5))
            ngx.say(d:incr("n", -20))
        }
    }
--- request
GET /t
--- response_body
15
-5


=== TEST 13: incr a missing key
--- http_config
    lua_shared_dict dogs 1m;
    lua_shared_dict cats 100k;
--- config
    location = /t {
        content_by_lua_block {
            local d = ngx.shared.dogs
            d:flush_all()
            ngx.say(d:incr("n", 1))
        }
    }
--- request
GET /t
--- response_body
nilnot found


=== TEST 14: incr with init
--- http_config
    lua_shared_dict dogs 1m;
    lua_shared_dict cats 100k;
--- config
    location = /t {
        content_by_lua_block {
            local d = ngx.shared.dogs
            d:flush_all()
            ngx.say(d:incr("n", 1, 100))
            ngx.say(d:incr("n", 1, 100))
        }
    }
--- request
GET /t
--- response_body
101nilfalse
102nilfalse


=== TEST 15: incr a string value
--- http_config
    lua_shared_dict dogs 1m;
    lua_shared_dict cats 100k;
--- config
    location = /t {
        content_by_lua_block {
            local d = ngx.shared.dogs
            d:flush_all()
            d:set("n", "x")
            ngx.say(d:incr("n", 1))
        }
    }
--- request
GET /t
--- response_body
nilnot a number


=== TEST 16: incr by a float
--- http_config
    lua_shared_dict dogs 1m;
    lua_shared_dict cats 100k;
--- config
    location = /t {
        content_by_lua_block {
            local d = ngx.shared.dogs
            d:flush_all()
            d:set("n", 1)
            ngx.say(d:incr("n", 0.5))
        }
    }
--- request
GET /t
--- response_body
1.5


=== TEST 17: expiry
--- http_config
    lua_shared_dict dogs 1m;
    lua_shared_dict cats 100k;
--- config
    location = /t {
        content_by_lua_block {
            local d = ngx.shared.dogs
            d:flush_all()
            d:set("k", "v", 0.1)
            ngx.sleep(0.2)
            ngx.say(d:get("k"))
        }
    }
--- request
GET /t
--- response_body
nil


=== TEST 18: get_stale of an expired key
--- http_config
    lua_shared_dict dogs 1m;
    lua_shared_dict cats 100k;
--- config
    location = /t {
        content_by_lua_block {
            local d = ngx.shared.dogs
            d:flush_all()
            d:set("k", "v", 0.1, 7)
            ngx.sleep(0.2)
            ngx.say(d:get_stale("k"))
        }
    }
--- request
GET /t
--- response_body
v7true


=== TEST 19: ttl
--- http_config
    lua_shared_dict dogs 1m;
    lua_shared_dict cats 100k;
--- config
    location = /t {
        content_by_lua_block {
            local d = ngx.shared.dogs
            d:flush_all()
            d:set("k", "v", 10)
            local t = d:ttl("k")
            ngx.say(t > 9 and t <= 10)
            d:set("p", "v")
            ngx.say(d:ttl("p"))
            ngx.say(d:ttl("none"))
        }
    }
--- request
GET /t
--- response_body
true
0
nilnot found


=== TEST 20: expire
--- http_config
    lua_shared_dict dogs 1m;
    lua_shared_dict cats 100k;
--- config
    location = /t {
        content_by_lua_block {
            local d = ngx.shared.dogs
            d:flush_all()
            d:set("k", "v")
            ngx.say(d:expire("k", 0.1))
            ngx.sleep(0.2)
            ngx.say(d:get("k"))
            ngx.say(d:expire("none", 1))
        }
    }
--- request
GET /t
--- response_body
true
nil
nilnot found


=== TEST 21: get_keys
--- http_config
    lua_shared_dict dogs 1m;
    lua_shared_dict cats 100k;
--- config
    location = /t {
        content_by_lua_block {
            local d = ngx.shared.dogs
            d:flush_all()
            d:set("b", 1)
            d:set("a", 2)
            local ks = d:get_keys()
            table.sort(ks)
            ngx.say(table.concat(ks, ","))
        }
    }
--- request
GET /t
--- response_body
a,b


=== TEST 22: get_keys with a limit
--- http_config
    lua_shared_dict dogs 1m;
    lua_shared_dict cats 100k;
--- config
    location = /t {
        content_by_lua_block {
            local d = ngx.shared.dogs
            d:flush_all()
            for i = 1, 5 do d:set("k" .. i, i) end
            ngx.say(#d:get_keys(2), " ", #d:get_keys(0))
        }
    }
--- request
GET /t
--- response_body
2 5


=== TEST 23: flush_all and flush_expired
--- http_config
    lua_shared_dict dogs 1m;
    lua_shared_dict cats 100k;
--- config
    location = /t {
        content_by_lua_block {
            local d = ngx.shared.dogs
            d:flush_all()
            d:set("a", 1)
            d:set("b", 2, 0.01)
            ngx.sleep(0.05)
            ngx.say(d:flush_expired())
            d:flush_all()
            ngx.say(d:get("a"))
        }
    }
--- request
GET /t
--- response_body
1
nil


=== TEST 24: lists
--- http_config
    lua_shared_dict dogs 1m;
    lua_shared_dict cats 100k;
--- config
    location = /t {
        content_by_lua_block {
            local d = ngx.shared.dogs
            d:flush_all()
            ngx.say(d:lpush("l", "a"))
            ngx.say(d:rpush("l", "b"))
            ngx.say(d:lpush("l", "c"))
            ngx.say(d:llen("l"))
            ngx.say(d:lpop("l"), d:rpop("l"), d:lpop("l"), d:lpop("l"))
        }
    }
--- request
GET /t
--- response_body
1
2
3
3
cbanil


=== TEST 25: list on a non-list
--- http_config
    lua_shared_dict dogs 1m;
    lua_shared_dict cats 100k;
--- config
    location = /t {
        content_by_lua_block {
            local d = ngx.shared.dogs
            d:flush_all()
            d:set("k", 1)
            ngx.say(d:lpush("k", "x"))
        }
    }
--- request
GET /t
--- response_body
nilvalue not a list


=== TEST 26: non-list get of a list
--- http_config
    lua_shared_dict dogs 1m;
    lua_shared_dict cats 100k;
--- config
    location = /t {
        content_by_lua_block {
            local d = ngx.shared.dogs
            d:flush_all()
            d:lpush("l", 1)
            ngx.say(d:get("l"))
        }
    }
--- request
GET /t
--- response_body
nilvalue is a list


=== TEST 27: capacity and free_space
--- http_config
    lua_shared_dict dogs 1m;
    lua_shared_dict cats 100k;
--- config
    location = /t {
        content_by_lua_block {
            local d = ngx.shared.dogs
            d:flush_all()
            ngx.say(d:capacity())
            ngx.say(type(d:free_space()))
        }
    }
--- request
GET /t
--- response_body
1048576
number


=== TEST 28: empty key
--- http_config
    lua_shared_dict dogs 1m;
    lua_shared_dict cats 100k;
--- config
    location = /t {
        content_by_lua_block {
            local d = ngx.shared.dogs
            d:flush_all()
            ngx.say(d:set("", 1))
            ngx.say(d:get(""))
        }
    }
--- request
GET /t
--- response_body
nilempty key
nilempty key


=== TEST 29: nil key
--- http_config
    lua_shared_dict dogs 1m;
    lua_shared_dict cats 100k;
--- config
    location = /t {
        content_by_lua_block {
            local d = ngx.shared.dogs
            d:flush_all()
            ngx.say(d:get(nil))
        }
    }
--- request
GET /t
--- response_body
nilnil key


=== TEST 30: a table value
--- http_config
    lua_shared_dict dogs 1m;
    lua_shared_dict cats 100k;
--- config
    location = /t {
        content_by_lua_block {
            local d = ngx.shared.dogs
            d:flush_all()
            local ok, err = d:set("k", {})
            ngx.say(ok, " ", err)
        }
    }
--- request
GET /t
--- response_body
nil bad value type


=== TEST 31: safe_set and safe_add
--- http_config
    lua_shared_dict dogs 1m;
    lua_shared_dict cats 100k;
--- config
    location = /t {
        content_by_lua_block {
            local d = ngx.shared.dogs
            d:flush_all()
            ngx.say(d:safe_set("k", 1))
            ngx.say(d:safe_add("k", 1))
        }
    }
--- request
GET /t
--- response_body
truenilfalse
falseexistsfalse


=== TEST 32: two dicts are separate
--- http_config
    lua_shared_dict dogs 1m;
    lua_shared_dict cats 100k;
--- config
    location = /t {
        content_by_lua_block {
            local d = ngx.shared.dogs
            d:flush_all()
            ngx.shared.cats:set("k", "cat")
            d:set("k", "dog")
            ngx.say(ngx.shared.cats:get("k"), " ", d:get("k"))
        }
    }
--- request
GET /t
--- response_body
cat dog


=== TEST 33: unknown dict
--- http_config
    lua_shared_dict dogs 1m;
    lua_shared_dict cats 100k;
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(ngx.shared.nope)
        }
    }
--- request
GET /t
--- response_body
nil


=== TEST 34: numbers keep their type
--- http_config
    lua_shared_dict dogs 1m;
    lua_shared_dict cats 100k;
--- config
    location = /t {
        content_by_lua_block {
            local d = ngx.shared.dogs
            d:flush_all()
            d:set("i", 3)
            d:set("f", 3.5)
            ngx.say(math.type and "" or "", d:get("i") + 1, " ", d:get("f") * 2)
        }
    }
--- request
GET /t
--- response_body
4 7


=== TEST 35: shared between requests
--- http_config
    lua_shared_dict dogs 1m;
    lua_shared_dict cats 100k;
--- config
    location = /t {
        content_by_lua_block {
            local d = ngx.shared.cats
            ngx.say(d:incr("hits", 1, 0))
        }
    }
--- request
GET /t
--- response_body
1nilfalse
