# Virtual server selection by the Host header: exact names, wildcards, regex names with
# captures, default_server, and the request line's absolute URI.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: the test server answers for localhost
--- config
    location = /t { return 200 "main $server_name\n"; }
--- request
GET /t
--- response_body
main localhost



=== TEST 2: exact name in another server
--- http_config
    server {
        listen $TEST_NGINX_SERVER_PORT;
        server_name example.com;
        return 200 "example $host\n";
    }
--- request
GET /t
--- more_headers
Host: example.com
--- response_body
example example.com



=== TEST 3: Host is case-insensitive and the port is stripped
--- http_config
    server {
        listen $TEST_NGINX_SERVER_PORT;
        server_name example.com;
        return 200 "example $host\n";
    }
--- request
GET /t
--- more_headers
Host: EXAMPLE.com:1234
--- response_body
example example.com



=== TEST 4: leading wildcard
--- http_config
    server {
        listen $TEST_NGINX_SERVER_PORT;
        server_name *.example.org;
        return 200 "wild $host\n";
    }
--- request
GET /t
--- more_headers
Host: www.example.org
--- response_body
wild www.example.org



=== TEST 5: trailing wildcard
--- http_config
    server {
        listen $TEST_NGINX_SERVER_PORT;
        server_name mail.*;
        return 200 "mail $host\n";
    }
--- request
GET /t
--- more_headers
Host: mail.test.net
--- response_body
mail mail.test.net



=== TEST 6: exact name beats a wildcard
--- http_config
    server {
        listen $TEST_NGINX_SERVER_PORT;
        server_name *.example.org;
        return 200 "wild\n";
    }
    server {
        listen $TEST_NGINX_SERVER_PORT;
        server_name www.example.org;
        return 200 "exact\n";
    }
--- request
GET /t
--- more_headers
Host: www.example.org
--- response_body
exact



=== TEST 7: regex name with captures
--- http_config
    server {
        listen $TEST_NGINX_SERVER_PORT;
        server_name ~^(?<sub>\w+)\.regex\.test$;
        return 200 "sub=$sub\n";
    }
--- request
GET /t
--- more_headers
Host: api.regex.test
--- response_body
sub=api



=== TEST 8: wildcard beats a regex
--- http_config
    server {
        listen $TEST_NGINX_SERVER_PORT;
        server_name ~^www\..*$;
        return 200 "regex\n";
    }
    server {
        listen $TEST_NGINX_SERVER_PORT;
        server_name www.*;
        return 200 "wildcard\n";
    }
--- request
GET /t
--- more_headers
Host: www.abc.test
--- response_body
wildcard



=== TEST 9: unknown host goes to the first server of the port
--- http_config
    server {
        listen $TEST_NGINX_SERVER_PORT;
        server_name first.test;
        return 200 "first server\n";
    }
--- request
GET /t
--- more_headers
Host: unknown.test
--- response_body
first server



=== TEST 10: default_server overrides the order
--- http_config
    server {
        listen $TEST_NGINX_SERVER_PORT;
        server_name first.test;
        return 200 "first server\n";
    }
    server {
        listen $TEST_NGINX_SERVER_PORT default_server;
        server_name dflt.test;
        return 200 "default server\n";
    }
--- request
GET /t
--- more_headers
Host: unknown.test
--- response_body
default server



=== TEST 11: absolute URI in the request line selects the server
--- http_config
    server {
        listen $TEST_NGINX_SERVER_PORT;
        server_name abs.test;
        return 200 "abs $host $uri\n";
    }
--- request
GET http://abs.test/path
--- more_headers
Host: localhost
--- response_body
abs abs.test /path



=== TEST 12: HTTP/1.0 request without Host uses the default server
--- http_config
    server {
        listen $TEST_NGINX_SERVER_PORT;
        server_name first.test;
        return 200 "first host=[$host]\n";
    }
--- raw_request eval
"GET /t HTTP/1.0\r\n\r\n"
--- response_body
first host=[first.test]



=== TEST 13: server_name "" matches requests without Host
--- http_config
    server {
        listen $TEST_NGINX_SERVER_PORT;
        server_name first.test;
        return 200 "first\n";
    }
    server {
        listen $TEST_NGINX_SERVER_PORT;
        server_name "";
        return 200 "empty name\n";
    }
--- raw_request eval
"GET /t HTTP/1.0\r\n\r\n"
--- response_body
empty name



=== TEST 14: .example.com matches the bare domain too
--- http_config
    server {
        listen $TEST_NGINX_SERVER_PORT;
        server_name .dot.test;
        return 200 "dot $host\n";
    }
--- request
GET /t
--- more_headers
Host: dot.test
--- response_body
dot dot.test
