# ngx_http_secure_link_module: $secure_link and $secure_link_expires with secure_link and
# secure_link_md5 (valid, expired, wrong, malformed), and the old secure_link_secret form.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__


=== TEST 1: a valid link with an expiry, an expired one, a wrong hash, a bad expiry
--- config
    location /s/ {
        secure_link $arg_md5,$arg_e;
        secure_link_md5 "$secure_link_expires$uri secret";
        if ($secure_link = "") { return 403; }
        if ($secure_link = "0") { return 410; }
        return 200 "ok $secure_link $secure_link_expires\n";
    }
--- request eval
["GET /s/file.txt?md5=W7XdRk_TY_c3frTUCGJecA&e=2147483647", "GET /s/file.txt?md5=pGyvo1EHdiiq_1N8Mcgunw&e=1000", "GET /s/file.txt?md5=W7XdRk_TY_c3frTUCGJecA&e=2147483646", "GET /s/file.txt?md5=W7XdRk_TY_c3frTUCGJecA&e=x", "GET /s/file.txt?md5=@@@&e=2147483647"]
--- error_code eval
[200, 410, 403, 403, 403]
--- response_body_like eval
["^ok 1 2147483647\n\$", "410 Gone", "403 Forbidden", "403 Forbidden", "403 Forbidden"]


=== TEST 2: without an expiry; inherited by a nested location
--- config
    location /n/ {
        secure_link $arg_md5;
        secure_link_md5 "$uri secret";
        location /n/ {
            return 200 "[$secure_link] [$secure_link_expires]\n";
        }
    }
--- request eval
["GET /n/file.txt?md5=PzSCsmTvJ5I2rdrpbaF52w", "GET /n/file.txt?md5=PzSCsmTvJ5I2rdrpbaF52wx", "GET /n/file.txt"]
--- response_body eval
["[1] []\n", "[] []\n", "[] []\n"]


=== TEST 3: secure_link_secret: the link after the hash
--- config
    location /p/ {
        secure_link_secret sekret;
        if ($secure_link = "") { return 403; }
        return 200 "link=$secure_link\n";
    }
--- request eval
["GET /p/449badefa07ed48b1824d9d8281d09e2/file.txt", "GET /p/449BADEFA07ED48B1824D9D8281D09E2/file.txt", "GET /p/00000000000000000000000000000000/file.txt", "GET /p/449badefa07ed48b1824d9d8281d09e2/", "GET /p/file.txt"]
--- error_code eval
[200, 200, 403, 403, 403]
--- response_body_like eval
["^link=file.txt\n\$", "^link=file.txt\n\$", "403", "403", "403"]


=== TEST 4: no secure_link at all: the variables are empty
--- config
    location = /t {
        return 200 "[$secure_link][$secure_link_expires]\n";
    }
--- request
GET /t
--- response_body
[][]
