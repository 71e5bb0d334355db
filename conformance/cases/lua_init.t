# Lua VM set-up: init_by_lua globals, init_worker_by_lua, lua_package_path with $prefix
# and ;;, require of a module file, the code cache, lua_shared_dict from init.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__


=== TEST 1: a global from init_by_lua
--- http_config
    lua_package_path "$prefix/html/?.lua;;";
    lua_shared_dict boot 64k;
    init_by_lua_block {
        greeting = "hello from init"
        counter = 0
        local d = ngx.shared.boot
        d:set("init", "set in init")
        init_phase = ngx.get_phase()
    }
    init_worker_by_lua_block {
        worker_started = true
        worker_phase = ngx.get_phase()
    }
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(greeting)
        }
    }
--- user_files
>>> mymod.lua
local _M = {}
function _M.hi(n) return "hi " .. n end
_M.loads = (_M.loads or 0) + 1
return _M
>>> bad_mod.lua
local x = 
return x
--- request
GET /t
--- response_body
hello from init


=== TEST 2: the phase of init_by_lua
--- http_config
    lua_package_path "$prefix/html/?.lua;;";
    lua_shared_dict boot 64k;
    init_by_lua_block {
        greeting = "hello from init"
        counter = 0
        local d = ngx.shared.boot
        d:set("init", "set in init")
        init_phase = ngx.get_phase()
    }
    init_worker_by_lua_block {
        worker_started = true
        worker_phase = ngx.get_phase()
    }
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(init_phase)
        }
    }
--- user_files
>>> mymod.lua
local _M = {}
function _M.hi(n) return "hi " .. n end
_M.loads = (_M.loads or 0) + 1
return _M
>>> bad_mod.lua
local x = 
return x
--- request
GET /t
--- response_body
init


=== TEST 3: init_worker_by_lua ran
--- http_config
    lua_package_path "$prefix/html/?.lua;;";
    lua_shared_dict boot 64k;
    init_by_lua_block {
        greeting = "hello from init"
        counter = 0
        local d = ngx.shared.boot
        d:set("init", "set in init")
        init_phase = ngx.get_phase()
    }
    init_worker_by_lua_block {
        worker_started = true
        worker_phase = ngx.get_phase()
    }
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(tostring(worker_started), " ", worker_phase)
        }
    }
--- user_files
>>> mymod.lua
local _M = {}
function _M.hi(n) return "hi " .. n end
_M.loads = (_M.loads or 0) + 1
return _M
>>> bad_mod.lua
local x = 
return x
--- request
GET /t
--- response_body
true init_worker


=== TEST 4: a shared dict written in init
--- http_config
    lua_package_path "$prefix/html/?.lua;;";
    lua_shared_dict boot 64k;
    init_by_lua_block {
        greeting = "hello from init"
        counter = 0
        local d = ngx.shared.boot
        d:set("init", "set in init")
        init_phase = ngx.get_phase()
    }
    init_worker_by_lua_block {
        worker_started = true
        worker_phase = ngx.get_phase()
    }
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(ngx.shared.boot:get("init"))
        }
    }
--- user_files
>>> mymod.lua
local _M = {}
function _M.hi(n) return "hi " .. n end
_M.loads = (_M.loads or 0) + 1
return _M
>>> bad_mod.lua
local x = 
return x
--- request
GET /t
--- response_body
set in init


=== TEST 5: require a module on lua_package_path
--- http_config
    lua_package_path "$prefix/html/?.lua;;";
    lua_shared_dict boot 64k;
    init_by_lua_block {
        greeting = "hello from init"
        counter = 0
        local d = ngx.shared.boot
        d:set("init", "set in init")
        init_phase = ngx.get_phase()
    }
    init_worker_by_lua_block {
        worker_started = true
        worker_phase = ngx.get_phase()
    }
--- config
    location = /t {
        content_by_lua_block {
            local m = require "mymod"
            ngx.say(m.hi("there"))
        }
    }
--- user_files
>>> mymod.lua
local _M = {}
function _M.hi(n) return "hi " .. n end
_M.loads = (_M.loads or 0) + 1
return _M
>>> bad_mod.lua
local x = 
return x
--- request
GET /t
--- response_body
hi there


=== TEST 6: a module is loaded once
--- http_config
    lua_package_path "$prefix/html/?.lua;;";
    lua_shared_dict boot 64k;
    init_by_lua_block {
        greeting = "hello from init"
        counter = 0
        local d = ngx.shared.boot
        d:set("init", "set in init")
        init_phase = ngx.get_phase()
    }
    init_worker_by_lua_block {
        worker_started = true
        worker_phase = ngx.get_phase()
    }
--- config
    location = /t {
        content_by_lua_block {
            local a = require "mymod"
            local b = require "mymod"
            ngx.say(a == b, " ", a.loads)
        }
    }
--- user_files
>>> mymod.lua
local _M = {}
function _M.hi(n) return "hi " .. n end
_M.loads = (_M.loads or 0) + 1
return _M
>>> bad_mod.lua
local x = 
return x
--- request
GET /t
--- response_body
true 1


=== TEST 7: package.path includes the prefix and the default path
--- http_config
    lua_package_path "$prefix/html/?.lua;;";
    lua_shared_dict boot 64k;
    init_by_lua_block {
        greeting = "hello from init"
        counter = 0
        local d = ngx.shared.boot
        d:set("init", "set in init")
        init_phase = ngx.get_phase()
    }
    init_worker_by_lua_block {
        worker_started = true
        worker_phase = ngx.get_phase()
    }
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(package.path:find("/html/?.lua;", 1, true) ~= nil, " ", package.path:find(";;", 1, true) == nil)
        }
    }
--- user_files
>>> mymod.lua
local _M = {}
function _M.hi(n) return "hi " .. n end
_M.loads = (_M.loads or 0) + 1
return _M
>>> bad_mod.lua
local x = 
return x
--- request
GET /t
--- response_body
true false


=== TEST 8: require a missing module
--- http_config
    lua_package_path "$prefix/html/?.lua;;";
    lua_shared_dict boot 64k;
    init_by_lua_block {
        greeting = "hello from init"
        counter = 0
        local d = ngx.shared.boot
        d:set("init", "set in init")
        init_phase = ngx.get_phase()
    }
    init_worker_by_lua_block {
        worker_started = true
        worker_phase = ngx.get_phase()
    }
--- config
    location = /t {
        content_by_lua_block {
            local ok, err = pcall(require, "no_such_module_x")
            ngx.say(ok, " ", err:match("module 'no_such_module_x' not found") ~= nil)
        }
    }
--- user_files
>>> mymod.lua
local _M = {}
function _M.hi(n) return "hi " .. n end
_M.loads = (_M.loads or 0) + 1
return _M
>>> bad_mod.lua
local x = 
return x
--- request
GET /t
--- response_body
false true


=== TEST 9: require a module with a syntax error
--- http_config
    lua_package_path "$prefix/html/?.lua;;";
    lua_shared_dict boot 64k;
    init_by_lua_block {
        greeting = "hello from init"
        counter = 0
        local d = ngx.shared.boot
        d:set("init", "set in init")
        init_phase = ngx.get_phase()
    }
    init_worker_by_lua_block {
        worker_started = true
        worker_phase = ngx.get_phase()
    }
--- config
    location = /t {
        content_by_lua_block {
            local ok, err = pcall(require, "bad_mod")
            ngx.say(ok)
        }
    }
--- user_files
>>> mymod.lua
local _M = {}
function _M.hi(n) return "hi " .. n end
_M.loads = (_M.loads or 0) + 1
return _M
>>> bad_mod.lua
local x = 
return x
--- request
GET /t
--- response_body
false


=== TEST 10: globals persist across requests of the worker
--- http_config
    lua_package_path "$prefix/html/?.lua;;";
    lua_shared_dict boot 64k;
    init_by_lua_block {
        greeting = "hello from init"
        counter = 0
        local d = ngx.shared.boot
        d:set("init", "set in init")
        init_phase = ngx.get_phase()
    }
    init_worker_by_lua_block {
        worker_started = true
        worker_phase = ngx.get_phase()
    }
--- config
    location = /t {
        content_by_lua_block {
            counter = counter + 1
            ngx.say(counter >= 1)
        }
    }
--- user_files
>>> mymod.lua
local _M = {}
function _M.hi(n) return "hi " .. n end
_M.loads = (_M.loads or 0) + 1
return _M
>>> bad_mod.lua
local x = 
return x
--- request
GET /t
--- response_body
true


=== TEST 11: the ngx table is a global and a module
--- http_config
    lua_package_path "$prefix/html/?.lua;;";
    lua_shared_dict boot 64k;
    init_by_lua_block {
        greeting = "hello from init"
        counter = 0
        local d = ngx.shared.boot
        d:set("init", "set in init")
        init_phase = ngx.get_phase()
    }
    init_worker_by_lua_block {
        worker_started = true
        worker_phase = ngx.get_phase()
    }
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(require("ngx") == ngx)
        }
    }
--- user_files
>>> mymod.lua
local _M = {}
function _M.hi(n) return "hi " .. n end
_M.loads = (_M.loads or 0) + 1
return _M
>>> bad_mod.lua
local x = 
return x
--- request
GET /t
--- response_body
true


=== TEST 12: string.format and os.time are available
--- http_config
    lua_package_path "$prefix/html/?.lua;;";
    lua_shared_dict boot 64k;
    init_by_lua_block {
        greeting = "hello from init"
        counter = 0
        local d = ngx.shared.boot
        d:set("init", "set in init")
        init_phase = ngx.get_phase()
    }
    init_worker_by_lua_block {
        worker_started = true
        worker_phase = ngx.get_phase()
    }
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(type(os.time()), " ", type(string.format))
        }
    }
--- user_files
>>> mymod.lua
local _M = {}
function _M.hi(n) return "hi " .. n end
_M.loads = (_M.loads or 0) + 1
return _M
>>> bad_mod.lua
local x = 
return x
--- request
GET /t
--- response_body
number function


=== TEST 13: jit is available
--- http_config
    lua_package_path "$prefix/html/?.lua;;";
    lua_shared_dict boot 64k;
    init_by_lua_block {
        greeting = "hello from init"
        counter = 0
        local d = ngx.shared.boot
        d:set("init", "set in init")
        init_phase = ngx.get_phase()
    }
    init_worker_by_lua_block {
        worker_started = true
        worker_phase = ngx.get_phase()
    }
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(type(jit), " ", jit.version:match("^LuaJIT") ~= nil)
        }
    }
--- user_files
>>> mymod.lua
local _M = {}
function _M.hi(n) return "hi " .. n end
_M.loads = (_M.loads or 0) + 1
return _M
>>> bad_mod.lua
local x = 
return x
--- request
GET /t
--- response_body
table true


=== TEST 14: ffi is available
--- http_config
    lua_package_path "$prefix/html/?.lua;;";
    lua_shared_dict boot 64k;
    init_by_lua_block {
        greeting = "hello from init"
        counter = 0
        local d = ngx.shared.boot
        d:set("init", "set in init")
        init_phase = ngx.get_phase()
    }
    init_worker_by_lua_block {
        worker_started = true
        worker_phase = ngx.get_phase()
    }
--- config
    location = /t {
        content_by_lua_block {
            local ffi = require "ffi"
            ngx.say(type(ffi.new))
        }
    }
--- user_files
>>> mymod.lua
local _M = {}
function _M.hi(n) return "hi " .. n end
_M.loads = (_M.loads or 0) + 1
return _M
>>> bad_mod.lua
local x = 
return x
--- request
GET /t
--- response_body
function


=== TEST 15: bit operations
--- http_config
    lua_package_path "$prefix/html/?.lua;;";
    lua_shared_dict boot 64k;
    init_by_lua_block {
        greeting = "hello from init"
        counter = 0
        local d = ngx.shared.boot
        d:set("init", "set in init")
        init_phase = ngx.get_phase()
    }
    init_worker_by_lua_block {
        worker_started = true
        worker_phase = ngx.get_phase()
    }
--- config
    location = /t {
        content_by_lua_block {
            local bit = require "bit"
            ngx.say(bit.band(12, 10), " ", bit.bor(12, 10), " ", bit.lshift(1, 4))
        }
    }
--- user_files
>>> mymod.lua
local _M = {}
function _M.hi(n) return "hi " .. n end
_M.loads = (_M.loads or 0) + 1
return _M
>>> bad_mod.lua
local x = 
return x
--- request
GET /t
--- response_body
8 14 16


=== TEST 16: loadstring in a handler
--- http_config
    lua_package_path "$prefix/html/?.lua;;";
    lua_shared_dict boot 64k;
    init_by_lua_block {
        greeting = "hello from init"
        counter = 0
        local d = ngx.shared.boot
        d:set("init", "set in init")
        init_phase = ngx.get_phase()
    }
    init_worker_by_lua_block {
        worker_started = true
        worker_phase = ngx.get_phase()
    }
--- config
    location = /t {
        content_by_lua_block {
            local f = loadstring("return 1 + 41")
            ngx.say(f())
        }
    }
--- user_files
>>> mymod.lua
local _M = {}
function _M.hi(n) return "hi " .. n end
_M.loads = (_M.loads or 0) + 1
return _M
>>> bad_mod.lua
local x = 
return x
--- request
GET /t
--- response_body
42


=== TEST 17: setfenv-free closures keep state per request
--- http_config
    lua_package_path "$prefix/html/?.lua;;";
    lua_shared_dict boot 64k;
    init_by_lua_block {
        greeting = "hello from init"
        counter = 0
        local d = ngx.shared.boot
        d:set("init", "set in init")
        init_phase = ngx.get_phase()
    }
    init_worker_by_lua_block {
        worker_started = true
        worker_phase = ngx.get_phase()
    }
--- config
    location = /t {
        content_by_lua_block {
            local n = 0
            local function inc() n = n + 1 return n end
            inc()
            ngx.say(inc())
        }
    }
--- user_files
>>> mymod.lua
local _M = {}
function _M.hi(n) return "hi " .. n end
_M.loads = (_M.loads or 0) + 1
return _M
>>> bad_mod.lua
local x = 
return x
--- request
GET /t
--- response_body
2
