# allow/deny, auth_basic with htpasswd files ({PLAIN}, {SHA}, crypt), satisfy.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: deny all
--- config
    location /p/ {
        deny all;
    }
--- user_files
>>> p/f.txt
secret file
--- request
GET /p/f.txt
--- error_code: 403
--- error_log
access forbidden by rule



=== TEST 2: allow loopback then deny all
--- config
    location /p/ {
        allow 127.0.0.1;
        deny all;
    }
--- user_files
>>> p/f.txt
secret file
--- request
GET /p/f.txt
--- response_body
secret file



=== TEST 3: first matching rule wins
--- config
    location /p/ {
        deny 127.0.0.0/8;
        allow all;
    }
--- user_files
>>> p/f.txt
secret file
--- request
GET /p/f.txt
--- error_code: 403



=== TEST 4: non-matching rules allow
--- config
    location /p/ {
        deny 10.0.0.0/8;
    }
--- user_files
>>> p/f.txt
secret file
--- request
GET /p/f.txt
--- response_body
secret file



=== TEST 5: auth_basic without credentials is 401
--- config
    location /p/ {
        auth_basic "Secret Area";
        auth_basic_user_file $TEST_NGINX_HTML_DIR/htpasswd;
    }
--- user_files
>>> p/f.txt
secret file
>>> htpasswd
alice:{PLAIN}wonderland
--- request
GET /p/f.txt
--- error_code: 401
--- response_headers
WWW-Authenticate: Basic realm="Secret Area"
--- response_body_like: 401 Authorization Required



=== TEST 6: auth_basic with a {PLAIN} password
--- config
    location /p/ {
        auth_basic "Secret";
        auth_basic_user_file $TEST_NGINX_HTML_DIR/htpasswd;
        add_header X-User $remote_user;
    }
--- user_files
>>> p/f.txt
secret file
>>> htpasswd
alice:{PLAIN}wonderland
--- request
GET /p/f.txt
--- more_headers
Authorization: Basic YWxpY2U6d29uZGVybGFuZA==
--- response_headers
X-User: alice
--- response_body
secret file



=== TEST 7: auth_basic with a wrong password
--- config
    location /p/ {
        auth_basic "Secret";
        auth_basic_user_file $TEST_NGINX_HTML_DIR/htpasswd;
    }
--- user_files
>>> p/f.txt
secret file
>>> htpasswd
alice:{PLAIN}wonderland
--- request
GET /p/f.txt
--- more_headers
Authorization: Basic YWxpY2U6d3Jvbmc=
--- error_code: 401
--- error_log
user "alice": password mismatch



=== TEST 8: auth_basic with an unknown user
--- config
    location /p/ {
        auth_basic "Secret";
        auth_basic_user_file $TEST_NGINX_HTML_DIR/htpasswd;
    }
--- user_files
>>> p/f.txt
secret file
>>> htpasswd
alice:{PLAIN}wonderland
--- request
GET /p/f.txt
--- more_headers
Authorization: Basic Ym9iOnB3
--- error_code: 401
--- error_log
user "bob" was not found in



=== TEST 9: auth_basic with a {SHA} password
--- config
    location /p/ {
        auth_basic "Secret";
        auth_basic_user_file $TEST_NGINX_HTML_DIR/htpasswd;
        add_header X-User $remote_user;
    }
--- user_files
>>> p/f.txt
secret file
>>> htpasswd
# a comment line
bob:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=
--- request
GET /p/f.txt
--- more_headers
Authorization: Basic Ym9iOnBhc3N3b3Jk
--- response_headers
X-User: bob
--- response_body
secret file



=== TEST 10: auth_basic with a crypt() password
--- config
    location /p/ {
        auth_basic "Secret";
        auth_basic_user_file $TEST_NGINX_HTML_DIR/htpasswd;
        add_header X-User $remote_user;
    }
--- user_files
>>> p/f.txt
secret file
>>> htpasswd
carol:$1$salt1234$GexpiwjB8qThXlxv/yIG6.
--- request
GET /p/f.txt
--- more_headers
Authorization: Basic Y2Fyb2w6c2VjcmV0
--- response_headers
X-User: carol
--- response_body
secret file



=== TEST 11: auth_basic off in a nested location
--- config
    auth_basic "Secret";
    auth_basic_user_file $TEST_NGINX_HTML_DIR/htpasswd;
    location /pub/ {
        auth_basic off;
    }
--- user_files
>>> pub/f.txt
secret file
>>> htpasswd
alice:{PLAIN}wonderland
--- request
GET /pub/f.txt
--- response_body
secret file



=== TEST 12: satisfy any lets allowed addresses through without credentials
--- config
    location /p/ {
        satisfy any;
        allow 127.0.0.1;
        deny all;
        auth_basic "Secret";
        auth_basic_user_file $TEST_NGINX_HTML_DIR/htpasswd;
    }
--- user_files
>>> p/f.txt
secret file
>>> htpasswd
alice:{PLAIN}wonderland
--- request
GET /p/f.txt
--- response_body
secret file



=== TEST 13: satisfy all needs both
--- config
    location /p/ {
        satisfy all;
        deny all;
        auth_basic "Secret";
        auth_basic_user_file $TEST_NGINX_HTML_DIR/htpasswd;
    }
--- user_files
>>> p/f.txt
secret file
>>> htpasswd
alice:{PLAIN}wonderland
--- request
GET /p/f.txt
--- more_headers
Authorization: Basic YWxpY2U6d29uZGVybGFuZA==
--- error_code: 403



=== TEST 14: return runs before access checks (rewrite phase)
--- config
    location = /t {
        deny all;
        return 200 "return wins\n";
    }
--- request
GET /t
--- response_body
return wins


