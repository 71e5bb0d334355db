# ngx.req.set_uri / set_uri_args change what proxy_pass without a URI part sends upstream
# (nginx: they clear r->valid_unparsed_uri).
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: set_uri and set_uri_args in rewrite_by_lua, then proxy_pass without a URI
--- config
    location /back {
        return 200 "$request_uri\n";
    }
    location /front {
        rewrite_by_lua_block {
            ngx.req.set_uri_args("x=1")
            ngx.req.set_uri("/back")
        }
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT;
    }
--- request
GET /front?orig=1
--- response_body
/back?x=1



=== TEST 2: set_uri_args alone changes the upstream request line
--- config
    location /front {
        rewrite_by_lua_block {
            ngx.req.set_uri_args({b = 2})
        }
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/back;
    }
    location /back {
        return 200 "$request_uri\n";
    }
--- request
GET /front?a=1
--- response_body
/back?b=2



=== TEST 3: set_uri alone, proxy_pass without a URI: the changed path goes upstream
--- config
    location /front {
        access_by_lua_block {
            ngx.req.set_uri("/back/x y")
        }
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT;
    }
    location /back {
        return 200 "$request_uri\n";
    }
--- request
GET /front/%41?q=1
--- response_body
/back/x%20y?q=1
