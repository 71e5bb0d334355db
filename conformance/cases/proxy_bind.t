# proxy_bind: the local address of upstream connections, as the backend sees it
# (nginx: ngx_http_upstream_set_local, ngx_event_connect_peer's bind()).
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: a fixed address
--- http_config
    server { listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1; location / { return 200 "from $remote_addr\n"; } }
--- config
    location /p { proxy_bind 127.0.0.2; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/; }
--- request
GET /p
--- response_body
from 127.0.0.2



=== TEST 2: inherited from http, turned off in a location
--- http_config
    proxy_bind 127.0.0.3;
    server { listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1; location / { return 200 "from $remote_addr\n"; } }
--- config
    location /p { proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/; }
    location /off { proxy_bind off; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/; }
--- pipelined_requests eval
["GET /p", "GET /off"]
--- response_body eval
["from 127.0.0.3\n", "from 127.0.0.1\n"]



=== TEST 3: from a variable, with a port; empty binds nothing
--- http_config
    server { listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1; location / { return 200 "from $remote_addr\n"; } }
--- config
    location /p { proxy_bind $arg_src; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/; }
    location /port { proxy_bind 127.0.0.6:$TEST_NGINX_RAND_PORT_2; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/; }
--- pipelined_requests eval
["GET /p?src=127.0.0.5", "GET /port", "GET /p"]
--- response_body eval
["from 127.0.0.5\n", "from 127.0.0.6\n", "from 127.0.0.1\n"]



=== TEST 4: an invalid address is logged and not bound
--- http_config
    server { listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1; location / { return 200 "from $remote_addr\n"; } }
--- config
    location /p { proxy_bind $arg_src; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/; }
--- request
GET /p?src=junk
--- response_body
from 127.0.0.1
--- error_log
invalid local address "junk"



=== TEST 5: an address the host does not have: 500, not the next upstream
--- http_config
    upstream two {
        server 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        server 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
    }
    server { listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1; location / { return 200 "from $remote_addr\n"; } }
--- config
    location /p { proxy_bind 192.0.2.7; proxy_pass http://two/; }
--- request
GET /p
--- error_code: 500
--- error_log
bind(192.0.2.7) failed (99: Cannot assign requested address) while connecting to upstream
--- grep_error_log eval: qr/\[crit\]/
--- grep_error_log_out
[crit]
