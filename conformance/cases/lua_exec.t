# Lua: ngx.exec (URI, args, named locations), ngx.redirect, ngx.exit per phase and status.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__


=== TEST 1: exec to a location
--- config
    location = /t_target {
        content_by_lua_block { ngx.say("target ", ngx.var.uri, " ", ngx.var.args) }
    }
    location = /t {
        content_by_lua_block {
            ngx.exec("/t_target")
        }
    }
--- request
GET /t
--- response_body
target /t_target nil


=== TEST 2: exec with args
--- config
    location = /t_target {
        content_by_lua_block { ngx.say("target ", ngx.var.uri, " ", ngx.var.args) }
    }
    location = /t {
        content_by_lua_block {
            ngx.exec("/t_target", "a=1")
        }
    }
--- request
GET /t
--- response_body
target /t_target a=1


=== TEST 3: exec with an args table
--- config
    location = /t_target {
        content_by_lua_block { ngx.say("target ", ngx.var.uri, " ", ngx.var.args) }
    }
    location = /t {
        content_by_lua_block {
            ngx.exec("/t_target", {b = 2})
        }
    }
--- request
GET /t
--- response_body
target /t_target b=2


=== TEST 4: exec with args in the uri
--- config
    location = /t_target {
        content_by_lua_block { ngx.say("target ", ngx.var.uri, " ", ngx.var.args) }
    }
    location = /t {
        content_by_lua_block {
            ngx.exec("/t_target?c=3")
        }
    }
--- request
GET /t
--- response_body
target /t_target c=3


=== TEST 5: exec from rewrite_by_lua
--- config
    location = /t_target {
        content_by_lua_block { ngx.say("target ", ngx.var.uri, " ", ngx.var.args) }
    }
    location = /t {
        rewrite_by_lua_block {
            ngx.exec("/t_target")
        }
    }
--- request
GET /t
--- response_body
target /t_target nil


=== TEST 6: exec from access_by_lua
--- config
    location = /t_target {
        content_by_lua_block { ngx.say("target ", ngx.var.uri, " ", ngx.var.args) }
    }
    location = /t {
        access_by_lua_block {
            ngx.exec("/t_target")
        }
    }
--- request
GET /t
--- response_body
target /t_target nil


=== TEST 7: exec to a named location
--- config
    location @named {
        content_by_lua_block { ngx.say("named ", ngx.var.uri) }
    }
    location = /t {
        content_by_lua_block { ngx.exec("@named") }
    }
--- request
GET /t
--- response_body
named /t


=== TEST 8: exec to a missing location
--- config
    location = /t_target {
        content_by_lua_block { ngx.say("target ", ngx.var.uri, " ", ngx.var.args) }
    }
    location = /t {
        content_by_lua_block {
            ngx.exec("/t_none")
        }
    }
--- request
GET /t
--- error_code: 404
--- response_body_like chomp
404\ Not\ Found


=== TEST 9: exec keeps the method
--- config
    location = /t_target {
        content_by_lua_block { ngx.say("target ", ngx.var.uri, " ", ngx.var.args) }
    }
    location = /t {
        content_by_lua_block {
            ngx.exec("/t_target")
        }
    }
--- request
POST /t
x
--- response_body
target /t_target nil


=== TEST 10: exec with an empty uri
--- config
    location = /t_target {
        content_by_lua_block { ngx.say("target ", ngx.var.uri, " ", ngx.var.args) }
    }
    location = /t {
        content_by_lua_block {
            local ok, err = pcall(ngx.exec, "")
            ngx.say(ok, " ", err)
        }
    }
--- request
GET /t
--- response_body
false The uri argument is empty


=== TEST 12: redirect 302
--- config
    location = /t_target {
        content_by_lua_block { ngx.say("target ", ngx.var.uri, " ", ngx.var.args) }
    }
    location = /t {
        content_by_lua_block {
            ngx.redirect("/somewhere")
        }
    }
--- request
GET /t
--- error_code: 302
--- response_headers
Location: /somewhere
--- response_body_like chomp
302\ Found


=== TEST 13: redirect 301
--- config
    location = /t_target {
        content_by_lua_block { ngx.say("target ", ngx.var.uri, " ", ngx.var.args) }
    }
    location = /t {
        content_by_lua_block {
            ngx.redirect("http://example.com/", 301)
        }
    }
--- request
GET /t
--- error_code: 301
--- response_headers
Location: http://example.com/
--- response_body_like chomp
301\ Moved\ Permanently


=== TEST 14: redirect 307
--- config
    location = /t_target {
        content_by_lua_block { ngx.say("target ", ngx.var.uri, " ", ngx.var.args) }
    }
    location = /t {
        content_by_lua_block {
            ngx.redirect("/t7", 307)
        }
    }
--- request
GET /t
--- error_code: 307
--- response_headers
Location: /t7
--- response_body_like chomp
307\ Temporary\ Redirect


=== TEST 15: redirect with a bad status
--- config
    location = /t_target {
        content_by_lua_block { ngx.say("target ", ngx.var.uri, " ", ngx.var.args) }
    }
    location = /t {
        content_by_lua_block {
            local ok, err = pcall(ngx.redirect, "/x", 200)
            ngx.say(ok, " ", err)
        }
    }
--- request
GET /t
--- response_body
false only ngx.HTTP_MOVED_TEMPORARILY, ngx.HTTP_MOVED_PERMANENTLY, ngx.HTTP_PERMANENT_REDIRECT, ngx.HTTP_SEE_OTHER, and ngx.HTTP_TEMPORARY_REDIRECT are allowed


=== TEST 16: redirect from rewrite_by_lua
--- config
    location = /t_target {
        content_by_lua_block { ngx.say("target ", ngx.var.uri, " ", ngx.var.args) }
    }
    location = /t {
        rewrite_by_lua_block {
            ngx.redirect("/r")
        }
    }
--- request
GET /t
--- error_code: 302
--- response_headers
Location: /r
--- response_body_like chomp
302\ Found


=== TEST 17: exit 200 after output
--- config
    location = /t_target {
        content_by_lua_block { ngx.say("target ", ngx.var.uri, " ", ngx.var.args) }
    }
    location = /t {
        content_by_lua_block {
            ngx.say("out")
            ngx.exit(200)
            ngx.say("not here")
        }
    }
--- request
GET /t
--- response_body
out


=== TEST 18: exit 404
--- config
    location = /t_target {
        content_by_lua_block { ngx.say("target ", ngx.var.uri, " ", ngx.var.args) }
    }
    location = /t {
        content_by_lua_block {
            ngx.exit(404)
        }
    }
--- request
GET /t
--- error_code: 404
--- response_body_like chomp
404\ Not\ Found


=== TEST 19: exit 500
--- config
    location = /t_target {
        content_by_lua_block { ngx.say("target ", ngx.var.uri, " ", ngx.var.args) }
    }
    location = /t {
        content_by_lua_block {
            ngx.exit(500)
        }
    }
--- request
GET /t
--- error_code: 500
--- response_body_like chomp
500\ Internal\ Server\ Error


=== TEST 20: exit 204
--- config
    location = /t_target {
        content_by_lua_block { ngx.say("target ", ngx.var.uri, " ", ngx.var.args) }
    }
    location = /t {
        content_by_lua_block {
            ngx.exit(204)
        }
    }
--- request
GET /t
--- error_code: 204


=== TEST 21: exit with a custom status and body
--- config
    location = /t_target {
        content_by_lua_block { ngx.say("target ", ngx.var.uri, " ", ngx.var.args) }
    }
    location = /t {
        content_by_lua_block {
            ngx.status = 418
            ngx.say("teapot")
            ngx.exit(ngx.HTTP_OK)
        }
    }
--- request
GET /t
--- error_code: 418
--- response_body
teapot


=== TEST 22: exit ngx.OK in rewrite continues
--- config
    location = /t_target {
        content_by_lua_block { ngx.say("target ", ngx.var.uri, " ", ngx.var.args) }
    }
    location = /t {
        content_by_lua_block { ngx.say("content ran") }
        rewrite_by_lua_block {
            ngx.exit(ngx.OK)
        }
    }
--- request
GET /t
--- response_body
content ran


=== TEST 23: exit 403 in access
--- config
    location = /t_target {
        content_by_lua_block { ngx.say("target ", ngx.var.uri, " ", ngx.var.args) }
    }
    location = /t {
        access_by_lua_block {
            ngx.exit(403)
        }
    }
--- request
GET /t
--- error_code: 403
--- response_body_like chomp
403\ Forbidden


=== TEST 24: exit ngx.HTTP_OK in access ends the request
--- config
    location = /t_target {
        content_by_lua_block { ngx.say("target ", ngx.var.uri, " ", ngx.var.args) }
    }
    location = /t {
        content_by_lua_block { ngx.say("content") }
        access_by_lua_block {
            ngx.say("from access")
            ngx.exit(ngx.HTTP_OK)
        }
    }
--- request
GET /t
--- response_body
from access


=== TEST 25: exit 401 with a header
--- config
    location = /t_target {
        content_by_lua_block { ngx.say("target ", ngx.var.uri, " ", ngx.var.args) }
    }
    location = /t {
        content_by_lua_block {
            ngx.header["WWW-Authenticate"] = "Basic"
            ngx.exit(401)
        }
    }
--- request
GET /t
--- error_code: 401
--- response_headers
WWW-Authenticate: Basic
--- response_body_like chomp
401\ Authorization\ Required


=== TEST 26: exit 301 with a location header
--- config
    location = /t_target {
        content_by_lua_block { ngx.say("target ", ngx.var.uri, " ", ngx.var.args) }
    }
    location = /t {
        content_by_lua_block {
            ngx.header.location = "/moved"
            ngx.exit(301)
        }
    }
--- request
GET /t
--- error_code: 301
--- response_headers
Location: /moved
--- response_body_like chomp
301\ Moved\ Permanently


=== TEST 27: error_page catches a Lua exit
--- config
    location = /t_page {
        content_by_lua_block { ngx.say("page for ", ngx.status) }
    }
    location = /t {
        error_page 404 = /t_page;
        content_by_lua_block { ngx.exit(404) }
    }
--- request
GET /t
--- error_code: 404
--- response_body
page for 404


=== TEST 29: return status code from content handler
--- config
    location = /t_target {
        content_by_lua_block { ngx.say("target ", ngx.var.uri, " ", ngx.var.args) }
    }
    location = /t {
        content_by_lua_block {
            ngx.say("a")
            return ngx.exit(202)
        }
    }
--- request
GET /t
--- response_body
a
