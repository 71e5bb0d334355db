# error_page applies to requests refused before their phases (bad request line, bad head,
# too large a header); the connection closes after the page.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: a bad request line gets the 400 page
--- config
    error_page 400 /bad.html;
--- user_files
>>> bad.html
bad request page
--- raw_request eval
"GET x HTTP/1.1\r\nHost: localhost\r\n\r\n"
--- error_code: 400
--- response_headers
Connection: close
--- response_body
bad request page



=== TEST 2: `=` and a Lua page for a bad method
--- config
    error_page 400 = /err;
    location = /err {
        content_by_lua_block { ngx.say("err page ", ngx.status) }
    }
--- raw_request eval
"GeT / HTTP/1.1\r\nHost: localhost\r\n\r\n"
--- error_code: 200
--- response_body
err page 0



=== TEST 3: a missing Host on HTTP/1.1
--- config
    error_page 400 /bad.html;
--- user_files
>>> bad.html
no host page
--- raw_request eval
"GET /t HTTP/1.1\r\nConnection: close\r\n\r\n"
--- error_code: 400
--- response_body
no host page



=== TEST 4: a header too large gets the 494 page, sent as 400
--- config
    large_client_header_buffers 2 1k;
    error_page 494 /big.html;
--- user_files
>>> big.html
too big page
--- raw_request eval
"GET /t HTTP/1.1\r\nHost: localhost\r\nX-Big: " . ("a" x 1500) . "\r\n\r\n"
--- error_code: 400
--- response_body
too big page
