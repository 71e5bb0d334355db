# valid_referers and $invalid_referer (ngx_http_referer_module).
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: an exact host is valid, another host invalid, none invalid without `none`
--- config
    location /t {
        valid_referers www.foo.com;
        return 200 "[$invalid_referer]\n";
    }
--- request eval
["GET /t", "GET /t", "GET /t"]
--- more_headers eval
["Referer: http://www.foo.com/x\n", "Referer: https://www.bar.com/\n", ""]
--- response_body eval
["[]\n", "[1]\n", "[1]\n"]



=== TEST 2: none and blocked
--- config
    location /t {
        valid_referers none blocked www.foo.com;
        return 200 "[$invalid_referer]\n";
    }
--- request eval
["GET /t", "GET /t", "GET /t"]
--- more_headers eval
["", "Referer: somewhere.else\n", "Referer: ftp://www.foo.com/\n"]
--- response_body eval
["[]\n", "[]\n", "[]\n"]



=== TEST 3: wildcards, case, ports and URI prefixes
--- config
    location /t {
        valid_referers *.example.com .example.org www.shop.* a.com/only;
        return 200 "[$invalid_referer]\n";
    }
--- request eval
["GET /t", "GET /t", "GET /t", "GET /t", "GET /t", "GET /t", "GET /t", "GET /t", "GET /t"]
--- more_headers eval
["Referer: http://a.b.Example.COM/x\n", "Referer: http://example.com/\n", "Referer: http://example.org/\n", "Referer: http://x.example.org:8080/p\n", "Referer: http://www.shop.net\n", "Referer: http://a.com/only/here\n", "Referer: http://a.com/other\n", "Referer: http://a.com:81/only\n", "Referer: http://a.co\n"]
--- response_body eval
["[]\n", "[1]\n", "[]\n", "[]\n", "[]\n", "[]\n", "[1]\n", "[]\n", "[1]\n"]



=== TEST 4: regexes and server_names
--- config
    server_name www.mysite.com ~^img\d+\.mysite\.com$;
    location /t {
        valid_referers server_names ~\.google\.;
        return 200 "[$invalid_referer]\n";
    }
--- request eval
["GET /t", "GET /t", "GET /t", "GET /t"]
--- more_headers eval
["Referer: http://www.google.de/search\n", "Referer: http://www.mysite.com/\n", "Referer: http://img12.mysite.com/a\n", "Referer: http://img.mysite.com/a\n"]
--- response_body eval
["[]\n", "[]\n", "[]\n", "[1]\n"]



=== TEST 5: inherited from the server level, used in if
--- config
    valid_referers none *.ok.com;
    location /t {
        if ($invalid_referer) {
            return 403;
        }
        return 200 "in\n";
    }
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
["Referer: http://x.ok.com/\n", "Referer: http://x.bad.com/\n"]
--- error_code eval
[200, 403]



=== TEST 6: no valid_referers: always valid
--- config
    location /t {
        return 200 "[$invalid_referer]\n";
    }
--- request
GET /t
--- more_headers
Referer: http://anything/
--- response_body
[]
