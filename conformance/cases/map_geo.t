# map, geo and split_clients seen through return.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: map with exact values and a default
--- http_config
    map $arg_c $color {
        default unknown;
        r red;
        g green;
    }
--- config
    location = /t { return 200 "$color\n"; }
--- request eval
["GET /t?c=r", "GET /t?c=g", "GET /t?c=x"]
--- response_body eval
["red\n", "green\n", "unknown\n"]



=== TEST 2: map without default gives an empty value
--- http_config
    map $arg_c $m {
        a 1;
    }
--- config
    location = /t { return 200 "[$m]\n"; }
--- request
GET /t?c=b
--- response_body
[]



=== TEST 3: map with regexes and captures
--- http_config
    map $uri $section {
        default none;
        "~^/m/blog/(?<year>\d{4})/" "blog-$year";
        ~*^/M/SHOP/ shop;
    }
--- config
    location /m/ { return 200 "$section\n"; }
--- request eval
["GET /m/blog/2021/post", "GET /m/shop/item", "GET /m/other"]
--- response_body eval
["blog-2021\n", "shop\n", "none\n"]



=== TEST 4: map exact beats regex
--- http_config
    map $arg_k $v {
        ~^a regex;
        abc exact;
    }
--- config
    location = /t { return 200 "$v\n"; }
--- request
GET /t?k=abc
--- response_body
exact



=== TEST 5: map with hostnames
--- http_config
    map $http_host $site {
        hostnames;
        default other;
        *.example.com wildcard;
        example.com bare;
    }
--- config
    location = /t { return 200 "$site\n"; }
--- request eval
["GET /t", "GET /t", "GET /t"]
--- more_headers eval
["Host: example.com", "Host: www.example.com", "Host: foo.test"]
--- response_body eval
["bare\n", "wildcard\n", "other\n"]



=== TEST 6: map value referencing another variable
--- http_config
    map $arg_p $target {
        default "/d/$arg_p";
    }
--- config
    location = /t { return 200 "$target\n"; }
--- request
GET /t?p=zz
--- response_body
/d/zz



=== TEST 7: geo by remote address
--- http_config
    geo $zone {
        default far;
        127.0.0.0/8 loopback;
        10.0.0.0/8 private;
    }
--- config
    location = /t { return 200 "$zone\n"; }
--- request
GET /t
--- response_body
loopback



=== TEST 8: geo with a custom source variable
--- http_config
    geo $arg_ip $net {
        default none;
        192.168.1.0/24 lan;
        192.168.1.7 host7;
    }
--- config
    location = /t { return 200 "$net\n"; }
--- request eval
["GET /t?ip=192.168.1.5", "GET /t?ip=192.168.1.7", "GET /t?ip=8.8.8.8"]
--- response_body eval
["lan\n", "host7\n", "none\n"]



=== TEST 9: geo ranges
--- http_config
    geo $arg_ip $r {
        ranges;
        default out;
        10.0.0.1-10.0.0.10 low;
        10.0.0.11-10.0.0.20 high;
    }
--- config
    location = /t { return 200 "$r\n"; }
--- request eval
["GET /t?ip=10.0.0.5", "GET /t?ip=10.0.0.15", "GET /t?ip=10.0.0.30"]
--- response_body eval
["low\n", "high\n", "out\n"]



=== TEST 10: split_clients is deterministic for a key
--- http_config
    split_clients "${arg_id}salt" $bucket {
        50% A;
        *   B;
    }
--- config
    location = /t { return 200 "$bucket\n"; }
--- request eval
["GET /t?id=1", "GET /t?id=1"]
--- response_body_like eval
["^[AB]\$", "^[AB]\$"]



=== TEST 11: split_clients with 100% goes to one bucket
--- http_config
    split_clients "$arg_id" $only {
        100% all;
    }
--- config
    location = /t { return 200 "$only\n"; }
--- request
GET /t?id=anything
--- response_body
all



=== TEST 12: map volatile-free chaining of two maps
--- http_config
    map $arg_a $first { x one; default zero; }
    map $first $second { one uno; default nada; }
--- config
    location = /t { return 200 "$first $second\n"; }
--- request
GET /t?a=x
--- response_body
one uno
