# upstream{} balancing (nginx: ngx_http_upstream_round_robin.c, least_conn, ip_hash, hash,
# backup/down/max_fails): the order peers are chosen in over consecutive requests.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: round robin in order
--- http_config
    upstream u {
        server unix:$TEST_NGINX_SERVER_ROOT/a.sock;
        server unix:$TEST_NGINX_SERVER_ROOT/b.sock;
        server unix:$TEST_NGINX_SERVER_ROOT/c.sock;
    }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/a.sock; location / { return 200 "a\n"; } }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 200 "b\n"; } }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/c.sock; location / { return 200 "c\n"; } }
--- config
    location /p { proxy_pass http://u; }
--- request eval
["GET /p", "GET /p", "GET /p", "GET /p", "GET /p", "GET /p"]
--- response_body eval
["a\n", "b\n", "c\n", "a\n", "b\n", "c\n"]



=== TEST 2: smooth weighted round robin 5:1:1
--- http_config
    upstream u {
        server unix:$TEST_NGINX_SERVER_ROOT/a.sock weight=5;
        server unix:$TEST_NGINX_SERVER_ROOT/b.sock;
        server unix:$TEST_NGINX_SERVER_ROOT/c.sock;
    }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/a.sock; location / { return 200 "a\n"; } }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 200 "b\n"; } }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/c.sock; location / { return 200 "c\n"; } }
--- config
    location /p { proxy_pass http://u; }
--- request eval
["GET /p", "GET /p", "GET /p", "GET /p", "GET /p", "GET /p", "GET /p"]
--- response_body eval
["a\n", "a\n", "b\n", "a\n", "c\n", "a\n", "a\n"]



=== TEST 3: weights 2:1
--- http_config
    upstream u {
        server unix:$TEST_NGINX_SERVER_ROOT/a.sock weight=2;
        server unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/a.sock; location / { return 200 "a\n"; } }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 200 "b\n"; } }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/c.sock; location / { return 200 "c\n"; } }
--- config
    location /p { proxy_pass http://u; }
--- request eval
["GET /p", "GET /p", "GET /p", "GET /p", "GET /p", "GET /p"]
--- response_body eval
["a\n", "b\n", "a\n", "a\n", "b\n", "a\n"]



=== TEST 4: weights 1:3
--- http_config
    upstream u {
        server unix:$TEST_NGINX_SERVER_ROOT/a.sock;
        server unix:$TEST_NGINX_SERVER_ROOT/b.sock weight=3;
    }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/a.sock; location / { return 200 "a\n"; } }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 200 "b\n"; } }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/c.sock; location / { return 200 "c\n"; } }
--- config
    location /p { proxy_pass http://u; }
--- request eval
["GET /p", "GET /p", "GET /p", "GET /p", "GET /p", "GET /p", "GET /p", "GET /p"]
--- response_body eval
["b\n", "a\n", "b\n", "b\n", "b\n", "a\n", "b\n", "b\n"]



=== TEST 5: a down server is skipped
--- http_config
    upstream u {
        server unix:$TEST_NGINX_SERVER_ROOT/a.sock;
        server unix:$TEST_NGINX_SERVER_ROOT/b.sock down;
        server unix:$TEST_NGINX_SERVER_ROOT/c.sock;
    }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/a.sock; location / { return 200 "a\n"; } }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 200 "b\n"; } }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/c.sock; location / { return 200 "c\n"; } }
--- config
    location /p { proxy_pass http://u; }
--- request eval
["GET /p", "GET /p", "GET /p", "GET /p"]
--- response_body eval
["a\n", "c\n", "a\n", "c\n"]



=== TEST 6: backup only when the primaries are down
--- http_config
    upstream u {
        server unix:$TEST_NGINX_SERVER_ROOT/a.sock down;
        server unix:$TEST_NGINX_SERVER_ROOT/b.sock backup;
        server unix:$TEST_NGINX_SERVER_ROOT/c.sock down;
    }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/a.sock; location / { return 200 "a\n"; } }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 200 "b\n"; } }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/c.sock; location / { return 200 "c\n"; } }
--- config
    location /p { proxy_pass http://u; }
--- request eval
["GET /p", "GET /p", "GET /p"]
--- response_body eval
["b\n", "b\n", "b\n"]



=== TEST 7: backup is not used while a primary lives
--- http_config
    upstream u {
        server unix:$TEST_NGINX_SERVER_ROOT/a.sock;
        server unix:$TEST_NGINX_SERVER_ROOT/b.sock backup;
    }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/a.sock; location / { return 200 "a\n"; } }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 200 "b\n"; } }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/c.sock; location / { return 200 "c\n"; } }
--- config
    location /p { proxy_pass http://u; }
--- request eval
["GET /p", "GET /p", "GET /p"]
--- response_body eval
["a\n", "a\n", "a\n"]



=== TEST 8: a dead server is skipped after its failure
--- http_config
    upstream u {
        server unix:$TEST_NGINX_SERVER_ROOT/a.sock;
        server unix:$TEST_NGINX_SERVER_ROOT/none.sock;
        server unix:$TEST_NGINX_SERVER_ROOT/c.sock;
    }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/a.sock; location / { return 200 "a\n"; } }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 200 "b\n"; } }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/c.sock; location / { return 200 "c\n"; } }
--- config
    location /p { proxy_pass http://u; }
--- request eval
["GET /p", "GET /p", "GET /p", "GET /p", "GET /p"]
--- response_body eval
["a\n", "c\n", "c\n", "a\n", "c\n"]



=== TEST 9: a dead server with max_fails=0 is tried every time
--- http_config
    upstream u {
        server unix:$TEST_NGINX_SERVER_ROOT/a.sock;
        server unix:$TEST_NGINX_SERVER_ROOT/none.sock max_fails=0;
        server unix:$TEST_NGINX_SERVER_ROOT/c.sock;
    }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/a.sock; location / { return 200 "a\n"; } }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 200 "b\n"; } }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/c.sock; location / { return 200 "c\n"; } }
--- config
    location /p { proxy_pass http://u; }
--- request eval
["GET /p", "GET /p", "GET /p", "GET /p"]
--- response_body eval
["a\n", "c\n", "c\n", "a\n"]



=== TEST 10: dead primary falls to backup
--- http_config
    upstream u {
        server unix:$TEST_NGINX_SERVER_ROOT/none.sock;
        server unix:$TEST_NGINX_SERVER_ROOT/b.sock backup;
    }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/a.sock; location / { return 200 "a\n"; } }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 200 "b\n"; } }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/c.sock; location / { return 200 "c\n"; } }
--- config
    location /p { proxy_pass http://u; }
--- request eval
["GET /p", "GET /p", "GET /p"]
--- response_body eval
["b\n", "b\n", "b\n"]



=== TEST 11: ip_hash keeps the client on one server
--- http_config
    upstream u {
        ip_hash;
        server unix:$TEST_NGINX_SERVER_ROOT/a.sock;
        server unix:$TEST_NGINX_SERVER_ROOT/b.sock;
        server unix:$TEST_NGINX_SERVER_ROOT/c.sock;
    }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/a.sock; location / { return 200 "a\n"; } }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 200 "b\n"; } }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/c.sock; location / { return 200 "c\n"; } }
--- config
    location /p { proxy_pass http://u; }
--- request eval
["GET /p", "GET /p", "GET /p", "GET /p"]
--- response_body eval
["c\n", "c\n", "c\n", "c\n"]



=== TEST 12: hash by a variable
--- http_config
    upstream u {
        hash $arg_k;
        server unix:$TEST_NGINX_SERVER_ROOT/a.sock;
        server unix:$TEST_NGINX_SERVER_ROOT/b.sock;
        server unix:$TEST_NGINX_SERVER_ROOT/c.sock;
    }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/a.sock; location / { return 200 "a\n"; } }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 200 "b\n"; } }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/c.sock; location / { return 200 "c\n"; } }
--- config
    location /p { proxy_pass http://u; }
--- request eval
["GET /p?k=1", "GET /p?k=2", "GET /p?k=3", "GET /p?k=1", "GET /p?k=2"]
--- response_body eval
["b\n", "c\n", "b\n", "b\n", "c\n"]



=== TEST 13: least_conn with sequential requests is round robin
--- http_config
    upstream u {
        least_conn;
        server unix:$TEST_NGINX_SERVER_ROOT/a.sock;
        server unix:$TEST_NGINX_SERVER_ROOT/b.sock;
        server unix:$TEST_NGINX_SERVER_ROOT/c.sock;
    }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/a.sock; location / { return 200 "a\n"; } }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 200 "b\n"; } }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/c.sock; location / { return 200 "c\n"; } }
--- config
    location /p { proxy_pass http://u; }
--- request eval
["GET /p", "GET /p", "GET /p", "GET /p", "GET /p"]
--- response_body eval
["a\n", "b\n", "c\n", "a\n", "b\n"]



=== TEST 14: least_conn with weights
--- http_config
    upstream u {
        least_conn;
        server unix:$TEST_NGINX_SERVER_ROOT/a.sock weight=2;
        server unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/a.sock; location / { return 200 "a\n"; } }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 200 "b\n"; } }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/c.sock; location / { return 200 "c\n"; } }
--- config
    location /p { proxy_pass http://u; }
--- request eval
["GET /p", "GET /p", "GET /p", "GET /p", "GET /p", "GET /p"]
--- response_body eval
["a\n", "b\n", "a\n", "a\n", "b\n", "a\n"]



=== TEST 15: the upstream state is shared by locations
--- http_config
    upstream u {
        server unix:$TEST_NGINX_SERVER_ROOT/a.sock;
        server unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/a.sock; location / { return 200 "a\n"; } }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 200 "b\n"; } }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/c.sock; location / { return 200 "c\n"; } }
--- config
    location /p { proxy_pass http://u; }
    location /q { proxy_pass http://u; }
--- request eval
["GET /p", "GET /q", "GET /p", "GET /q"]
--- response_body eval
["a\n", "b\n", "a\n", "b\n"]
