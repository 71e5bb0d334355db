# URI normalisation: %XX decoding, dot segments, merge_slashes (the address's default
# server decides, since nginx parses the URI before the Host header is known).
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: slashes merged by default
--- config
    location ~ ^/ { return 200 "uri=$uri\n"; }
--- request
GET /x//y///z
--- response_body
uri=/x/y/z



=== TEST 2: merge_slashes off keeps them
--- config
    merge_slashes off;
    location ~ ^/ { return 200 "uri=$uri\n"; }
--- request
GET /x//y///z
--- response_body
uri=/x//y///z



=== TEST 3: merge_slashes off: dot segments still resolved
--- config
    merge_slashes off;
    location ~ ^/ { return 200 "uri=$uri\n"; }
--- request
GET /x/.//y/
--- response_body
uri=/x//y/



=== TEST 4: merge_slashes off: .. removes an empty segment
--- config
    merge_slashes off;
    location ~ ^/ { return 200 "uri=$uri\n"; }
--- request
GET /a//..
--- response_body
uri=/a/



=== TEST 5: merge_slashes off: leading empty segment kept
--- config
    merge_slashes off;
    location ~ ^/ { return 200 "uri=$uri\n"; }
--- request
GET //a/../b
--- response_body
uri=//b



=== TEST 6: merge_slashes off: an exact location needs the slashes
--- config
    merge_slashes off;
    location = /a/b { return 200 "exact\n"; }
    location ~ ^/ { return 200 "other $uri\n"; }
--- request
GET /a//b
--- response_body
other /a//b



=== TEST 7: .. above the root is refused
--- config
    merge_slashes off;
    location ~ ^/ { return 200 "uri=$uri\n"; }
--- request
GET /a/../..
--- error_code: 400



=== TEST 8: encoded slash decoded and merged
--- config
    location ~ ^/ { return 200 "uri=$uri\n"; }
--- request
GET /x/%2F/y
--- response_body
uri=/x/y



=== TEST 9: encoded slash kept with merge_slashes off
--- config
    merge_slashes off;
    location ~ ^/ { return 200 "uri=$uri\n"; }
--- request
GET /x/%2F/y
--- response_body
uri=/x///y



=== TEST 10: $request_uri is never normalised
--- config
    location ~ ^/ { return 200 "$request_uri\n"; }
--- request
GET /x//./y/../z?a=1
--- response_body
/x//./y/../z?a=1
