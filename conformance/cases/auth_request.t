# ngx_http_auth_request_module: the access-phase subrequest (its bytes upstream, no body),
# 2xx / 401 / 403 / other answers, auth_request_set in the subrequest's context,
# inheritance and `off`, and `satisfy` with allow/deny and auth_basic.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: a 2xx answer allows; the subrequest is a GET with the request's headers
--- config
    location /t { auth_request /auth; echo allowed; }
    location = /auth { internal; proxy_set_header Host backend; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/check$request_uri; }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_query eval
"GET /check/t?a=b HTTP/1.0\r\nHost: backend\r\nConnection: close\r\nX-Token: secret\r\n\r\n"
--- tcp_reply eval
"HTTP/1.1 204 No Content\r\n\r\n"
--- request
GET /t?a=b
--- more_headers
X-Token: secret
--- response_body
allowed
--- no_error_log
[error]



=== TEST 2: a POST's body is not sent to the auth subrequest (its length still is)
--- config
    location /t { auth_request /auth; echo allowed; }
    location = /auth { internal; proxy_set_header Host backend; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1; }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_query eval
"GET /auth HTTP/1.0\r\nHost: backend\r\nConnection: close\r\nContent-Length: 5\r\n\r\n"
--- tcp_reply eval
"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
--- request
POST /t
hello
--- response_body
allowed



=== TEST 3: the documented setup: no body and no length upstream
--- config
    location /t { auth_request /auth; echo allowed; }
    location = /auth {
        internal;
        proxy_pass_request_body off;
        proxy_set_header Content-Length "";
        proxy_set_header X-Original-URI $request_uri;
        proxy_set_header Host backend;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_query eval
"GET /auth HTTP/1.0\r\nX-Original-URI: /t?x=1\r\nHost: backend\r\nConnection: close\r\n\r\n"
--- tcp_reply eval
"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
--- request
POST /t?x=1
hello
--- response_body
allowed



=== TEST 4: 401 is answered with the auth response's WWW-Authenticate
--- config
    location /t { auth_request /auth; echo allowed; }
    location = /auth { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1; }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_reply eval
"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"api\"\r\nX-Other: no\r\nContent-Length: 4\r\n\r\nnope"
--- request
GET /t
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="api"
!X-Other
--- response_body_like: 401 Authorization Required
--- no_error_log
[error]



=== TEST 5: 403 is answered as is
--- config
    location /t { auth_request /auth; echo allowed; }
    location = /auth { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1; }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_reply eval
"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"
--- request
GET /t
--- error_code: 403
--- response_body_like: 403 Forbidden
--- no_error_log
[error]



=== TEST 6: any other status of a proxied auth is an error (500)
--- config
    location /t { auth_request /auth; echo allowed; }
    location = /auth { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1; }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_reply eval
"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
--- request
GET /t
--- error_code: 500
--- error_log
auth request unexpected status: 404 while sending to client, client: 127.0.0.1, server: localhost, request: "GET /t HTTP/1.1", host: "localhost"



=== TEST 7: a redirect of the auth location is an error too (no upstream: no action)
--- config
    location /t { auth_request /auth; echo allowed; }
    location = /auth { return 302 /login; }
--- request
GET /t
--- error_code: 500
--- response_headers
!Location
--- error_log
auth request unexpected status: 302, client: 127.0.0.1, server: localhost, request: "GET /t HTTP/1.1", host: "localhost"



=== TEST 8: an auth backend that is down: 502 in the subrequest, 500 for the request
--- config
    location /t { auth_request /auth; echo allowed; }
    location = /auth { internal; proxy_pass http://127.0.0.1:1/verify; }
--- request
GET /t
--- error_code: 500
--- error_log
connect() failed (111: Connection refused) while connecting to upstream, client: 127.0.0.1, server: localhost, request: "GET /t HTTP/1.1", subrequest: "/auth", upstream: "http://127.0.0.1:1/verify", host: "localhost"
auth request unexpected status: 502 while sending to client



=== TEST 9: auth_request_set reads the auth response's upstream headers and status
--- config
    location /t {
        auth_request /auth;
        auth_request_set $user $upstream_http_x_user;
        auth_request_set $ast "$upstream_status/$status";
        echo "user=$user ast=$ast";
    }
    location = /auth { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1; }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_reply eval
"HTTP/1.1 200 OK\r\nX-User: alice\r\nContent-Length: 0\r\n\r\n"
--- request
GET /t
--- response_body
user=alice ast=200/200



=== TEST 10: auth_request_set is applied on 401 too, and the variable survives an error page
--- config
    location /t {
        auth_request /auth;
        auth_request_set $reason $upstream_http_x_reason;
        error_page 401 = /denied;
        echo allowed;
    }
    location = /denied { internal; return 200 "denied: $reason\n"; }
    location = /auth { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1; }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_reply eval
"HTTP/1.1 401 Unauthorized\r\nX-Reason: expired\r\nContent-Length: 0\r\n\r\n"
--- request
GET /t
--- error_code: 200
--- response_body
denied: expired



=== TEST 11: a Lua auth location: ngx.exit(ngx.HTTP_FORBIDDEN) denies
--- config
    location /t { auth_request /auth; echo allowed; }
    location = /auth { content_by_lua_block { ngx.exit(ngx.HTTP_FORBIDDEN) } }
--- request
GET /t
--- error_code: 403
--- no_error_log
[error]



=== TEST 12: a Lua auth location: $sent_http_* of its response, and its own 401 header
--- config
    location /t {
        auth_request /auth;
        auth_request_set $who $sent_http_x_who;
        echo "who=$who";
    }
    location /u { auth_request /auth401; echo allowed; }
    location = /auth { content_by_lua_block { ngx.header["X-Who"] = "lua-user" ngx.say("ignored") } }
    location = /auth401 {
        content_by_lua_block {
            ngx.header["WWW-Authenticate"] = 'Basic realm="lua"'
            ngx.exit(401)
        }
    }
--- request eval
["GET /t", "GET /u"]
--- error_code eval
[200, 401]
--- response_body_like eval
["^who=lua-user\n\\z", "401 Authorization Required"]
--- response_headers eval
["", "WWW-Authenticate: Basic realm=\"lua\""]



=== TEST 13: inherited from the server level; off in a location
--- config
    auth_request /auth;
    location /t { echo protected; }
    location /pub { auth_request off; echo public; }
    location = /auth { return 403; }
--- request eval
["GET /t", "GET /pub"]
--- error_code eval
[403, 200]
--- response_body_like eval
["403 Forbidden", "^public\n\\z"]



=== TEST 14: satisfy any: an allow rule is enough, the auth subrequest does not run
--- config
    location /t { satisfy any; allow 127.0.0.1; deny all; auth_request /auth; echo allowed; }
    location = /auth { content_by_lua_block { ngx.log(ngx.ERR, "AUTH RAN") ngx.exit(403) } }
--- request
GET /t
--- response_body
allowed
--- no_error_log
AUTH RAN



=== TEST 15: satisfy any: denied by address, allowed by the auth subrequest
--- config
    location /t { satisfy any; deny all; auth_request /auth; echo allowed; }
    location = /auth { return 204; }
--- request
GET /t
--- response_body
allowed
--- no_error_log
access forbidden by rule



=== TEST 16: satisfy any: denied by both: the 401 wins, with the auth's header
--- config
    location /t { satisfy any; deny all; auth_request /auth; echo allowed; }
    location = /auth {
        content_by_lua_block {
            ngx.header["WWW-Authenticate"] = "Bearer"
            ngx.exit(401)
        }
    }
--- request
GET /t
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer
--- no_error_log
access forbidden by rule



=== TEST 17: satisfy all: a deny rule answers first; the auth subrequest does not run
--- config
    location /t { deny all; auth_request /auth; echo allowed; }
    location = /auth { content_by_lua_block { ngx.log(ngx.ERR, "AUTH RAN") ngx.exit(204) } }
--- request
GET /t
--- error_code: 403
--- error_log
access forbidden by rule
--- no_error_log
AUTH RAN



=== TEST 18: satisfy all: auth_basic runs before auth_request
--- config
    location /t {
        auth_basic "realm one";
        auth_basic_user_file $TEST_NGINX_SERVER_ROOT/html/htpasswd;
        auth_request /auth;
        echo allowed;
    }
    location = /auth { content_by_lua_block { ngx.log(ngx.ERR, "AUTH RAN") ngx.exit(204) } }
--- user_files
>>> htpasswd
user:{PLAIN}pass
--- request
GET /t
--- error_code: 401
--- response_headers
WWW-Authenticate: Basic realm="realm one"
--- no_error_log
AUTH RAN



=== TEST 19: satisfy all: auth_basic passes, then auth_request decides
--- config
    location /t {
        auth_basic "realm one";
        auth_basic_user_file $TEST_NGINX_SERVER_ROOT/html/htpasswd;
        auth_request /auth;
        auth_request_set $u $remote_user;
        echo "allowed $u";
    }
    location = /auth { content_by_lua_block { ngx.log(ngx.ERR, "AUTH RAN for ", ngx.var.remote_user) ngx.exit(200) } }
--- user_files
>>> htpasswd
user:{PLAIN}pass
--- request
GET /t
--- more_headers
Authorization: Basic dXNlcjpwYXNz
--- response_body
allowed user
--- error_log
AUTH RAN for user



=== TEST 20: the auth subrequest shares the request's variables
--- config
    location /t { set $v before; auth_request /auth; echo "v=$v"; }
    location = /auth { set $v "set-in-auth"; return 204; }
--- request
GET /t
--- response_body
v=set-in-auth



=== TEST 21: log_subrequest on logs the auth subrequest before the request
--- http_config
    log_format sub 'SUB $uri $status';
--- config
    access_log logs/error.log sub;
    log_subrequest on;
    location /t { auth_request /auth; echo allowed; }
    location = /auth { return 204; }
--- request
GET /t
--- response_body
allowed
--- grep_error_log eval
qr/SUB .*/
--- grep_error_log_out
SUB /auth 204
SUB /t 200



=== TEST 22: the auth location's access checks are skipped (subrequest)
--- config
    location /t { auth_request /auth; echo allowed; }
    location = /auth { deny all; return 204; }
--- request
GET /t
--- response_body
allowed



=== TEST 23: $request_method in the auth subrequest is the request's
--- config
    location /t { auth_request /auth; echo allowed; }
    location = /auth {
        internal;
        proxy_set_header Host backend;
        proxy_set_header X-Method $request_method;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_query eval
"GET /auth HTTP/1.0\r\nHost: backend\r\nX-Method: POST\r\nConnection: close\r\nContent-Length: 2\r\n\r\n"
--- tcp_reply eval
"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
--- request
POST /t
hi
--- response_body
allowed



=== TEST 24: auth_request_set $args changes the request's arguments
--- config
    location /t {
        auth_request /auth;
        auth_request_set $args "from=auth";
        echo "args=$args arg_from=$arg_from";
    }
    location = /auth { return 204; }
--- request
GET /t?orig=1
--- response_body
args=from=auth arg_from=auth



=== TEST 25: the access handlers' order: auth_request, then access_by_lua
--- config
    location /t { access_by_lua_block { ngx.log(ngx.ERR, "STEP lua access") } auth_request /auth; echo allowed; }
    location = /auth { content_by_lua_block { ngx.log(ngx.ERR, "STEP auth") ngx.exit(200) } }
--- request
GET /t
--- response_body
allowed
--- grep_error_log eval
qr/STEP [a-z ]+/
--- grep_error_log_out
STEP auth
STEP lua access



=== TEST 26: 401: the upstream's first WWW-Authenticate, even when the auth location hides it
--- config
    location /t { auth_request /auth; echo allowed; }
    location = /auth { internal; proxy_hide_header WWW-Authenticate; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1; }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_reply eval
"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Negotiate\r\nWWW-Authenticate: Basic realm=\"two\"\r\nContent-Length: 0\r\n\r\n"
--- request
GET /t
--- error_code: 401
--- raw_response_headers_like: (?si)\r\nWWW-Authenticate: Negotiate\r\n(?!.*WWW-Authenticate)



=== TEST 27: 401 without WWW-Authenticate
--- config
    location /t { auth_request /auth; echo allowed; }
    location = /auth { return 401; }
--- request
GET /t
--- error_code: 401
--- response_headers
!WWW-Authenticate



=== TEST 28: an auth_request URI with a question mark is all path
--- config
    location /t { auth_request /auth?x=1; echo allowed; }
    location /auth {
        internal;
        proxy_set_header Host backend;
        proxy_set_header X-Uri "$uri|$args";
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_query eval
"GET /auth%3Fx=1 HTTP/1.0\r\nHost: backend\r\nX-Uri: /auth?x=1|\r\nConnection: close\r\n\r\n"
--- tcp_reply eval
"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
--- request
GET /t?z=9
--- response_body
allowed



=== TEST 29: the usual setup: the identity found by the auth goes upstream with the request
--- config
    location /t {
        auth_request /auth;
        auth_request_set $user $sent_http_x_auth_user;
        proxy_set_header Host app;
        proxy_set_header X-User $user;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/app;
    }
    location = /auth {
        internal;
        content_by_lua_block {
            ngx.header["X-Auth-User"] = "bob:" .. (ngx.var.http_authorization or "none")
            ngx.exit(200)
        }
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_query eval
"POST /app HTTP/1.0\r\nHost: app\r\nX-User: bob:Bearer t0k\r\nConnection: close\r\nContent-Length: 4\r\nAuthorization: Bearer t0k\r\n\r\ndata"
--- tcp_reply eval
"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n"
--- request
POST /t
data
--- more_headers
Authorization: Bearer t0k
--- response_body
ok



=== TEST 30: a proxy_pass with a URI replaces the auth location's prefix
--- config
    location /t { auth_request /_auth/verify; echo allowed; }
    location /_auth/ { internal; proxy_set_header Host backend; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/api/v1/; }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_query eval
"GET /api/v1/verify HTTP/1.0\r\nHost: backend\r\nConnection: close\r\n\r\n"
--- tcp_reply eval
"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
--- request
GET /t
--- response_body
allowed
