# Core variables seen through `return 200 "..."`.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: uri, request_uri, args, is_args, query_string
--- config
    location /v/ { return 200 "$uri|$request_uri|$args|$is_args|$query_string\n"; }
--- request
GET /v/a%20b?x=1&y=%32
--- response_body
/v/a b|/v/a%20b?x=1&y=%32|x=1&y=%32|?|x=1&y=%32



=== TEST 2: is_args is empty without arguments
--- config
    location /v/ { return 200 "[$is_args][$args]\n"; }
--- request
GET /v/x
--- response_body
[][]



=== TEST 3: arg_* variables (first occurrence, raw, case-insensitive name)
--- config
    location /v/ { return 200 "$arg_a|$arg_b|$arg_missing|$arg_CASE\n"; }
--- request
GET /v/?a=1&b=x%20y&a=2&case=lower
--- response_body
1|x%20y||lower



=== TEST 4: http_* variables
--- config
    location /v/ { return 200 "$http_user_agent|$http_x_custom_header|$http_host\n"; }
--- request
GET /v/
--- more_headers
User-Agent: test-agent/1.0
X-Custom-Header: custom
--- response_body
test-agent/1.0|custom|localhost



=== TEST 5: repeated request headers (cookie joined with "; ", others first only)
--- config
    location /v/ { return 200 "$http_cookie|$http_x_rep\n"; }
--- request
GET /v/
--- more_headers
Cookie: a=1
Cookie: b=2
X-Rep: one
X-Rep: two
--- response_body
a=1; b=2|one



=== TEST 6: cookie_* variables
--- config
    location /v/ { return 200 "$cookie_session|$cookie_theme|$cookie_none\n"; }
--- request
GET /v/
--- more_headers
Cookie: theme=dark; session=abc123
--- response_body
abc123|dark|



=== TEST 7: host variants
--- config
    location /v/ { return 200 "$host|$http_host\n"; }
--- request
GET /v/
--- more_headers
Host: LocalHost:8080
--- response_body
localhost|LocalHost:8080



=== TEST 8: host falls back to server_name without a Host header
--- config
    location /v/ { return 200 "[$host]\n"; }
--- raw_request eval
"GET /v/ HTTP/1.0\r\n\r\n"
--- response_body
[localhost]



=== TEST 9: request_method, scheme, server_protocol
--- config
    location /v/ { return 200 "$request_method $scheme $server_protocol\n"; }
--- request
DELETE /v/
--- response_body
DELETE http HTTP/1.1



=== TEST 10: server_name, server_port, server_addr
--- config
    location /v/ { return 200 "$server_name $server_port $server_addr\n"; }
--- request
GET /v/
--- response_body
localhost $TEST_NGINX_SERVER_PORT 127.0.0.1



=== TEST 11: remote_addr and remote_port format
--- config
    location /v/ { return 200 "$remote_addr $remote_port\n"; }
--- request
GET /v/
--- response_body_like: ^127\.0\.0\.1 \d+$



=== TEST 12: document_root and request_filename
--- config
    location /v/ {
        root /srv/www;
        return 200 "$document_root $request_filename\n";
    }
--- request
GET /v/page.html
--- response_body
/srv/www /srv/www/v/page.html



=== TEST 13: request_filename with alias
--- config
    location /al/ {
        alias /data/files/;
        return 200 "$document_root|$request_filename\n";
    }
--- request
GET /al/x.txt
--- response_body
/data/files/|/data/files/x.txt



=== TEST 14: content_length and content_type
--- config
    location /v/ { return 200 "$content_length|$content_type\n"; }
--- request
POST /v/
abcdef
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- response_body
6|application/x-www-form-urlencoded



=== TEST 15: request line
--- config
    location /v/ { return 200 "$request\n"; }
--- request
GET /v/?q=1
--- response_body
GET /v/?q=1 HTTP/1.1



=== TEST 16: uri after a rewrite versus request_uri
--- config
    location /old/ { rewrite ^ /new/ last; }
    location /new/ { return 200 "$uri $request_uri\n"; }
--- request
GET /old/x?y=1
--- response_body
/new/ /old/x?y=1



=== TEST 17: set variables from args
--- config
    location /v/ {
        set $args "replaced=1";
        return 200 "$args $arg_replaced\n";
    }
--- request
GET /v/?orig=1
--- response_body
replaced=1 1



=== TEST 18: https is empty on plain HTTP
--- config
    location /v/ { return 200 "[$https]\n"; }
--- request
GET /v/
--- response_body
[]



=== TEST 19: nginx_version
--- config
    location /v/ { return 200 "$nginx_version\n"; }
--- request
GET /v/
--- response_body
1.22.1



=== TEST 20: status variable in return text
--- config
    location /v/ { return 200 "[$status]\n"; }
--- request
GET /v/
--- response_body
[200]



=== TEST 21: msec, time_iso8601 and time_local formats
--- config
    location /v/ { return 200 "$msec|$time_iso8601|$time_local\n"; }
--- request
GET /v/
--- response_body_like: ^\d+\.\d{3}\|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d\|\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}$



=== TEST 22: connection_requests counts pipelined requests
--- config
    location /v/ { return 200 "$connection_requests\n"; }
--- pipelined_requests eval
["GET /v/", "GET /v/", "GET /v/"]
--- response_body eval
["1\n", "2\n", "3\n"]



=== TEST 23: request_length counts the request head
--- config
    location /v/ { return 200 "$request_length\n"; }
--- raw_request eval
"GET /v/ HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
--- response_body
56



=== TEST 24: unset sent_http_ and http_ variables are empty
--- config
    location /v/ { return 200 "$sent_http_content_type|$http_x_missing\n"; }
--- request
GET /v/
--- response_body
|



=== TEST 25: variables with braces next to text
--- config
    location /v/ {
        set $name "world";
        return 200 "hello_${name}_suffix\n";
    }
--- request
GET /v/
--- response_body
hello_world_suffix



=== TEST 26: args with an encoded ampersand stay encoded
--- config
    location /v/ { return 200 "$arg_q\n"; }
--- request
GET /v/?q=a%26b
--- response_body
a%26b



=== TEST 27: limit_rate variable defaults to 0
--- config
    location /v/ { return 200 "$limit_rate\n"; }
--- request
GET /v/
--- response_body
0
