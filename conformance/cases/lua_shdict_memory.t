# Lua: ngx.shared.DICT room as nginx's slab allocator gives it: free_space() per zone size,
# the exact entry at which `set` starts evicting (forcible) and `safe_set`/`lpush` say
# "no memory", what flush_all frees at once, LRU order of get_keys and eviction, and entries
# that expired but are not freed yet (ttl, expire).
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__


=== TEST 1: free_space right after start-up, per zone size
--- http_config
    lua_shared_dict a 12k;
    lua_shared_dict b 17000;
    lua_shared_dict c 33k;
    lua_shared_dict d 100k;
    lua_shared_dict e 1m;
    lua_shared_dict f 10m;
--- config
    location = /t {
        content_by_lua_block {
            for _, n in ipairs{"a", "b", "c", "d", "e", "f"} do
                local d = ngx.shared[n]
                ngx.say(n, " ", d:capacity(), " ", d:free_space())
            end
        }
    }
--- request
GET /t
--- response_body
a 12288 0
b 17000 4096
c 33792 20480
d 102400 90112
e 1048576 1032192
f 10485760 10412032
--- no_error_log
[error]


=== TEST 2: set starts evicting at the entry nginx's slab runs out
--- http_config
    lua_shared_dict dogs 100k;
--- config
    location = /t {
        content_by_lua_block {
            local dogs = ngx.shared.dogs
            local i = 0
            while i < 1000 do
                i = i + 1
                local ok, err, forcible = dogs:set("key_" .. i, string.rep("hello", i))
                if not ok or forcible then
                    ngx.say(ok, " ", err, " ", forcible)
                    break
                end
            end
            ngx.say("abort at ", i, ", free ", dogs:free_space())
            ngx.say("oldest gone: ", dogs:get("key_1") == nil, ", newest kept: ",
                    dogs:get("key_" .. i) ~= nil)
        }
    }
--- request
GET /t
--- response_body
true nil true
abort at 140, free 0
oldest gone: true, newest kept: true
--- no_error_log
[error]


=== TEST 3: safe_set says no memory where set would evict
--- http_config
    lua_shared_dict dogs 33k;
--- config
    location = /t {
        content_by_lua_block {
            local dogs = ngx.shared.dogs
            local n = 0
            for i = 1, 10000 do
                local ok, err = dogs:safe_set("k" .. i, string.rep("x", 100))
                if not ok then
                    ngx.say("safe_set ", i, ": ", ok, " ", err)
                    break
                end
                n = i
            end
            ngx.say("stored ", n, ", free ", dogs:free_space())
            local ok, err, forcible = dogs:set("more", string.rep("x", 100))
            ngx.say("set: ", ok, " ", err, " ", forcible)
            local ok, err, forcible = dogs:safe_add("more2", string.rep("x", 100))
            ngx.say("safe_add: ", ok, " ", err, " ", forcible)
        }
    }
--- request
GET /t
--- response_body
safe_set 81: false no memory
stored 80, free 0
set: true nil true
safe_add: false no memory false
--- no_error_log
[error]


=== TEST 4: big values take whole pages; a same-sized value reuses its node
--- http_config
    lua_shared_dict dogs 100k;
--- config
    location = /t {
        content_by_lua_block {
            local dogs = ngx.shared.dogs
            local f0 = dogs:free_space()
            dogs:set("big", string.rep("x", 5000))
            ngx.say("5000 bytes: ", (f0 - dogs:free_space()) / 4096, " pages")
            dogs:set("big", string.rep("y", 5000))
            ngx.say("same size: ", (f0 - dogs:free_space()) / 4096, " pages")
            dogs:set("big", string.rep("z", 9000))
            ngx.say("9000 bytes: ", (f0 - dogs:free_space()) / 4096, " pages")
            dogs:delete("big")
            ngx.say("deleted: ", (f0 - dogs:free_space()) / 4096, " pages")
            dogs:set("small", 1)
            ngx.say("a number: ", (f0 - dogs:free_space()) / 4096, " pages")
        }
    }
--- request
GET /t
--- response_body
5000 bytes: 2 pages
same size: 2 pages
9000 bytes: 3 pages
deleted: 0 pages
a number: 0 pages
--- no_error_log
[error]


=== TEST 5: flush_all frees three entries at once, the rest when met
--- http_config
    lua_shared_dict dogs 100k;
--- config
    location = /t {
        content_by_lua_block {
            local dogs = ngx.shared.dogs
            local f0 = dogs:free_space()
            for i = 1, 6 do
                dogs:set("k" .. i, string.rep("x", 3000))
            end
            ngx.say("used ", (f0 - dogs:free_space()) / 4096)
            dogs:flush_all()
            ngx.say("after flush_all ", (f0 - dogs:free_space()) / 4096)
            ngx.say("keys ", #dogs:get_keys(0))
            ngx.say("flush_expired ", dogs:flush_expired())
            ngx.say("after flush_expired ", (f0 - dogs:free_space()) / 4096)
        }
    }
--- request
GET /t
--- response_body
used 6
after flush_all 3
keys 0
flush_expired 3
after flush_expired 0
--- no_error_log
[error]


=== TEST 6: get_keys lists the least recently used first
--- http_config
    lua_shared_dict dogs 1m;
--- config
    location = /t {
        content_by_lua_block {
            local dogs = ngx.shared.dogs
            dogs:set("a", 1)
            dogs:set("b", 2)
            dogs:set("c", 3)
            dogs:get("a")
            dogs:incr("b", 1)
            ngx.say(table.concat(dogs:get_keys(), " "))
            ngx.say(table.concat(dogs:get_keys(2), " "))
        }
    }
--- request
GET /t
--- response_body
c a b
c a
--- no_error_log
[error]


=== TEST 7: eviction takes the least recently used entry, not the oldest
--- http_config
    lua_shared_dict dogs 17000;
--- config
    location = /t {
        content_by_lua_block {
            local dogs = ngx.shared.dogs
            local n = 0
            for i = 1, 100 do
                local ok, err, forcible = dogs:set("k" .. i, string.rep("x", 900))
                if forcible then
                    break
                end
                n = i
            end
            ngx.say("fit ", n)
            dogs:flush_all()
            dogs:flush_expired()
            for i = 1, n do
                dogs:set("k" .. i, string.rep("x", 900))
            end
            dogs:get("k1")
            local ok, err, forcible = dogs:set("new", string.rep("x", 900))
            ngx.say("set new: ", ok, " ", forcible)
            ngx.say("k1 ", dogs:get("k1") ~= nil, ", k2 ", dogs:get("k2") ~= nil,
                    ", k3 ", dogs:get("k3") ~= nil)
        }
    }
--- request
GET /t
--- response_body
fit 4
set new: true true
k1 true, k2 false, k3 true
--- no_error_log
[error]


=== TEST 8: lists: false for no room for a new list, nil for no room for an item
--- http_config
    lua_shared_dict dogs 17000;
--- config
    location = /t {
        content_by_lua_block {
            local dogs = ngx.shared.dogs
            local n = 0
            for i = 1, 1000 do
                local len, err = dogs:rpush("list", string.rep("x", 100))
                if not len then
                    ngx.say("item ", i, ": ", len, " ", err)
                    break
                end
                n = len
            end
            ngx.say("items ", n, ", free ", dogs:free_space())
            local len, err = dogs:lpush("other", string.rep("x", 100))
            ngx.say("new list: ", len, " ", err)
            local ok, err = dogs:set("str", "v")
            ngx.say("set: ", ok, " ", err)
            ngx.say("list evicted by set: ", dogs:llen("list") == 0)
            ngx.say("other: ", dogs:rpush("other", "y"))
        }
    }
--- request
GET /t
--- response_body
item 63: nil no memory
items 62, free 0
new list: false no memory
set: true nil
list evicted by set: true
other: 1
--- no_error_log
[error]


=== TEST 9: an expired entry not yet freed: ttl is negative, expire() revives it; get frees it
--- http_config
    lua_shared_dict dogs 1m;
--- config
    location = /t {
        content_by_lua_block {
            local dogs = ngx.shared.dogs
            dogs:set("a", 1, 0.001)
            dogs:set("b", 2)
            ngx.sleep(0.01)
            local ttl = dogs:ttl("a")
            ngx.say("ttl negative: ", ttl < 0)
            ngx.say("expire: ", dogs:expire("a", 10))
            ngx.say("get: ", dogs:get("a"), ", ttl > 9: ", dogs:ttl("a") > 9)
            dogs:set("c", 3, 0.001)
            ngx.sleep(0.01)
            ngx.say("get_stale: ", dogs:get_stale("c"))
            ngx.say("get: ", dogs:get("c"))
            ngx.say("ttl negative: ", dogs:ttl("c") < 0)
        }
    }
--- request
GET /t
--- response_body
ttl negative: true
expire: true
get: 1, ttl > 9: true
get_stale: 3niltrue
get: nil
ttl negative: true
--- no_error_log
[error]
