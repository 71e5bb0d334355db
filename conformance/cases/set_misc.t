# set-misc-nginx-module 0.33 at run time: every set_xxx directive computes its value in the
# rewrite phase, in configuration order with set / if / break / set_by_lua, with the module's
# handling of empty values, invalid input (logged, 500) and its per-level settings.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__


=== TEST 1: set_md5 / set_sha1: copy, in place, empty value
--- config
    location = /t {
        set $a hello;
        set_md5 $m $a;
        set_sha1 $s $a;
        set_md5 $a;
        set_md5 $e "";
        set_sha1 $es "";
        echo "$m $s $a";
        echo "$e $es";
    }
--- request
GET /t
--- response_body
5d41402abc4b2a76b9719d911017c592 aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d 5d41402abc4b2a76b9719d911017c592
d41d8cd98f00b204e9800998ecf8427e da39a3ee5e6b4b0d3255bfef95601890afd80709
--- no_error_log
[warn]
[error]


=== TEST 2: set_encode_base64 / set_decode_base64: padding, text after "=", invalid input
--- config
    location = /enc {
        set_encode_base64 $x $arg_v;
        return 200 "[$x]\n";
    }
    location = /dec {
        set $x "old";
        set_decode_base64 $x $arg_v;
        return 200 "[$x]\n";
    }
--- request eval
["GET /enc?v=a", "GET /enc?v=ab", "GET /enc?v=abc", "GET /enc", "GET /dec?v=YWI=",
 "GET /dec?v=YWI", "GET /dec?v=YWJj=!!junk", "GET /dec", "GET /dec?v=YW!=", "GET /dec?v=YWJjZ"]
--- error_code eval
[200, 200, 200, 200, 200, 200, 200, 200, 500, 500]
--- response_body eval
["[YQ==]\n", "[YWI=]\n", "[YWJj]\n", "[]\n", "[ab]\n", "[ab]\n", "[abc]\n", "[]\n",
 qr/500 Internal Server Error/, qr/500 Internal Server Error/]
--- error_log
set_decode_base64: invalid value, client: 127.0.0.1


=== TEST 3: set_encode_base64url / set_decode_base64url: "-" and "_", no padding
--- config
    location = /t {
        set_unescape_uri $raw $arg_v;
        set_encode_base64url $x $raw;
        set_decode_base64url $y $x;
        set_encode_hex $y;
        return 200 "$x $y\n";
    }
    location = /dec {
        set_decode_base64url $x $arg_v;
        return 200 "[$x]\n";
    }
--- request eval
["GET /t?v=%FB%FF", "GET /t?v=abcd", "GET /dec?v=YWI", "GET /dec?v=YWI=", "GET /dec?v=+/8"]
--- error_code eval
[200, 200, 200, 200, 500]
--- response_body eval
["-_8 fbff\n", "YWJjZA 61626364\n", "[ab]\n", "[ab]\n", qr/500 Internal Server Error/]
--- error_log
set_decode_base64url: invalid value


=== TEST 4: set_encode_hex / set_decode_hex: both cases, odd length and bad digits fail
--- config
    location = /enc {
        set_unescape_uri $raw $arg_v;
        set_encode_hex $x $raw;
        return 200 "[$x]\n";
    }
    location = /dec {
        set_decode_hex $x $arg_v;
        return 200 "[$x]\n";
    }
--- request eval
["GET /enc?v=hello", "GET /enc?v=%E4%B8%AD%00", "GET /enc", "GET /dec?v=68656C6c6f",
 "GET /dec", "GET /dec?v=686", "GET /dec?v=zz"]
--- error_code eval
[200, 200, 200, 200, 200, 500, 500]
--- response_body eval
["[68656c6c6f]\n", "[e4b8ad00]\n", "[]\n", "[hello]\n", "[]\n",
 qr/500 Internal Server Error/, qr/500 Internal Server Error/]
--- error_log
set_decode_hex: invalid value


=== TEST 5: set_encode_base32 / set_decode_base32 with the defaults (padding on)
--- config
    location = /t {
        set_encode_base32 $x $arg_v;
        set_decode_base32 $y $x;
        return 200 "$x $y\n";
    }
    location = /dec {
        set $y "old";
        set_decode_base32 $y $arg_v;
        return 200 "[$y]\n";
    }
--- request eval
["GET /t?v=a", "GET /t?v=ab", "GET /t?v=abc", "GET /t?v=abcd", "GET /t?v=abcde",
 "GET /t?v=abcdefghijk", "GET /t", "GET /dec?v=c5h66p35", "GET /dec?v=c5h66p3",
 "GET /dec?v=c5h", "GET /dec?v=c5h66p35c", "GET /dec?v=c4======xyz"]
--- response_body eval
["c4====== a\n", "c5h0==== ab\n", "c5h66=== abc\n", "c5h66p0= abcd\n", "c5h66p35 abcde\n",
 "c5h66p35cpjmgqbadc====== abcdefghijk\n", " \n", "[abcde]\n", "[abcd]\n", "[]\n", "[]\n",
 "[a]\n"]
--- no_error_log
[error]


=== TEST 6: set_base32_padding / set_base32_alphabet per level, and in an if block
--- config
    set_base32_padding off;
    location = /a {
        set_encode_base32 $x "a";
        return 200 "$x\n";
    }
    location = /b {
        set_base32_padding on;
        set_encode_base32 $x "a";
        return 200 "$x\n";
    }
    location = /c {
        set_encode_base32 $x "abcdefg";
        set_decode_base32 $y $x;
        return 200 "$x $y\n";
        set_base32_alphabet "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    }
    location = /d {
        if ($arg_p) {
            set_base32_padding on;
        }
        set_encode_base32 $x "ab";
        return 200 "$x\n";
    }
    location = /e {
        set_misc_base32_padding on;
        set_encode_base32 $x "ab";
        return 200 "$x\n";
    }
--- request eval
["GET /a", "GET /b", "GET /c", "GET /d", "GET /d?p=1", "GET /e"]
--- response_body eval
["c4\n", "c4======\n", "MFRGGZDFMZTQ abcdefg\n", "c5h0\n", "c5h0====\n",
 "c5h0====\n"]


=== TEST 7: set_escape_uri: the module's set of escaped bytes, upper-case hex
--- config
    location = /t {
        set_unescape_uri $raw $arg_v;
        set_escape_uri $x $raw;
        return 200 "[$x]\n";
    }
--- request eval
["GET /t?v=%20%22%23%25%26%2B%2F%3A%3B%3C%3D%3E%3F%5B%5C%5D%5E%7B%7D%7C%60%7E%21%24%27%28%29%2A%2C%40-._%7F%01%E4%B8%ADaZ9",
 "GET /t"]
--- response_body eval
["[%20%22%23%25%26%2B%2F%3A%3B%3C%3D%3E%3F%5B%5C%5D%5E%7B%7D|`~!\$'()*,\@-._%7F%01%E4%B8%ADaZ9]\n",
 "[]\n"]


=== TEST 8: set_unescape_uri: "+", bad and truncated escapes
--- config
    location = /t {
        set_unescape_uri $x $arg_v;
        return 200 "[$x]\n";
    }
--- request eval
["GET /t?v=a+b%41%4", "GET /t?v=%zz", "GET /t?v=%4zq", "GET /t?v=%", "GET /t?v=%e4%B8%ad",
 "GET /t"]
--- response_body eval
["[a bA]\n", "[zz]\n", "[q]\n", "[]\n", "[\xe4\xb8\xad]\n", "[]\n"]


=== TEST 9: set_quote_sql_str / set_quote_pgsql_str / set_quote_json_str
--- config
    location = /t {
        set_unescape_uri $raw $arg_v;
        set_quote_sql_str $s $raw;
        set_quote_pgsql_str $p $raw;
        set_quote_json_str $j $raw;
        echo "$s";
        echo "$p";
        echo "$j";
    }
--- request eval
["GET /t?v=a%27b%22c%5Cd%24e%0A%0D%09%00%08%1A%0C%01z", "GET /t", "GET /t?v=%E4%B8%AD",
 "GET /t?v=x%FFy", "GET /t?v=%E4A%AD"]
--- response_body eval
["'a\\'b\\\"c\\\\d\\\$e\\n\\r\\t\\0\\b\\Z\x0c\x01z'\nE'a\\'b\\\"c\\\\d\\\$e\\n\\r\\t\\0\\b\\Z\x0c\x01z'\n\"a'b\\\"c\\\\d\$e\\n\\r\\t\\u0000\\b\\u001a\\f\\u0001z\"\n",
 "''\n''\nnull\n",
 "'\xe4\xb8\xad'\nE'\xe4\xb8\xad'\n\"\xe4\xb8\xad\"\n",
 "'x\xffy'\nE'x\\\\377y'\n\"x\xffy\"\n",
 "'\xe4A\xad'\nE'\xe4A\xad'\n\"\xe4A\xad\"\n"]


=== TEST 10: set_hmac_sha1 / set_hmac_sha256 (raw digests, shown in hex)
--- config
    location = /t {
        set $secret "key";
        set_hmac_sha1 $a $secret "The quick brown fox jumps over the lazy dog";
        set_encode_hex $a;
        set_hmac_sha256 $b $secret "The quick brown fox jumps over the lazy dog";
        set_encode_hex $b;
        set_hmac_sha1 $c "" "";
        set_encode_base64 $c;
        set_hmac_sha256 $d "" "";
        set_encode_base64 $d;
        echo $a;
        echo $b;
        echo $c;
        echo $d;
    }
--- request
GET /t
--- response_body
de7c9b85b8b78aa6bc8a7a36f70a90701c9db4d9
f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8
+9sdGxiqbAgyS31ktx+3Y3BpDh0=
thNnmggU2ex3L5XXeMNfxf8Wl8STcVZTxscSFEKSxa0=


=== TEST 11: set_if_empty: empty values and arguments get the default
--- config
    location = /t {
        set $a "";
        set $b "val";
        set_if_empty $a "def";
        set_if_empty $b "def";
        set_if_empty $arg_foo "none";
        set_if_empty $c $arg_foo;
        return 200 "$a $b $arg_foo $c\n";
    }
--- request eval
["GET /t", "GET /t?foo=", "GET /t?foo=bar"]
--- response_body eval
["def val none none\n", "def val none none\n", "def val bar bar\n"]


=== TEST 12: set_hashed_upstream: static and variable list names, weights, unknown list
--- config
    upstream_list lst a b 2:c;
    upstream_list one solo;
    location = /t {
        set_hashed_upstream $u lst $arg_k;
        set_hashed_upstream $o one $arg_k;
        return 200 "$u $o\n";
    }
    location = /v {
        set_hashed_upstream $u $arg_l $arg_k;
        return 200 "[$u]\n";
    }
--- request eval
["GET /t?k=foo", "GET /t?k=FOO", "GET /t?k=bar", "GET /t?k=y", "GET /t?k=x", "GET /t",
 "GET /v?l=LST&k=foo", "GET /v?l=one&k=zz", "GET /v?l=nope&k=foo"]
--- error_code eval
[200, 200, 200, 200, 200, 200, 200, 200, 500]
--- response_body eval
["c solo\n", "c solo\n", "c solo\n", "b solo\n", "a solo\n", "a solo\n", "[c]\n", "[solo]\n",
 qr/500 Internal Server Error/]
--- error_log
set_hashed_upstream: upstream list "nope" not defined yet


=== TEST 13: set_random: the range either way round, bad arguments fail
--- config
    location = /t {
        set_random $r $arg_from $arg_to;
        return 200 "$r\n";
    }
--- request eval
["GET /t?from=5&to=3", "GET /t?from=7&to=7", "GET /t?from=0&to=1", "GET /t?from=-1&to=3",
 "GET /t?from=1&to=x"]
--- error_code eval
[200, 200, 200, 500, 500]
--- response_body_like eval
[qr/^[345]\n\z/, qr/^7\n\z/, qr/^[01]\n\z/, qr/500 Internal Server Error/,
 qr/500 Internal Server Error/]
--- grep_error_log eval: qr/set_random: bad "\w+" argument: [^,\s]+/
--- grep_error_log_out
set_random: bad "from" argument: -1
set_random: bad "to" argument: x


=== TEST 14: set_secure_random_alphanum / _lcalpha: length 1 to 64
--- config
    location = /a {
        set_secure_random_alphanum $r $arg_n;
        return 200 "$r\n";
    }
    location = /l {
        set_secure_random_lcalpha $r $arg_n;
        return 200 "$r\n";
    }
--- request eval
["GET /a?n=32", "GET /a?n=1", "GET /l?n=64", "GET /a?n=0", "GET /l?n=65", "GET /a?n=x"]
--- error_code eval
[200, 200, 200, 500, 500, 500]
--- response_body_like eval
[qr/^[a-zA-Z0-9]{32}\n\z/, qr/^[a-zA-Z0-9]\n\z/, qr/^[a-z]{64}\n\z/,
 qr/500 Internal/, qr/500 Internal/, qr/500 Internal/]
--- grep_error_log eval: qr/set_random: bad "length" argument: [^,\s]+/
--- grep_error_log_out
set_random: bad "length" argument: 0
set_random: bad "length" argument: 65
set_random: bad "length" argument: x


=== TEST 15: set_rotate: the level's counter, a given current value, bad values
--- config
    location = /t {
        set_rotate $r 1 3;
        return 200 "$r\n";
    }
    location = /two {
        set_rotate $a 1 5;
        set_rotate $b 1 5;
        return 200 "$a $b\n";
    }
    location = /cur {
        set $r $arg_c;
        set_rotate $r 2 0;
        return 200 "$r\n";
    }
--- request eval
["GET /t", "GET /t", "GET /t", "GET /t", "GET /two", "GET /two", "GET /two",
 "GET /cur?c=1", "GET /cur?c=2", "GET /cur?c=9", "GET /cur?c=x", "GET /cur"]
--- response_body eval
["1\n", "2\n", "3\n", "1\n", "1 2\n", "3 4\n", "5 1\n", "2\n", "0\n", "0\n", "1\n", "2\n"]
--- error_log
set_rotate: bad current value: "x"


=== TEST 16: set_rotate: bad range arguments fail
--- config
    location = /t {
        set_rotate $r $arg_f $arg_t;
        return 200 "$r\n";
    }
--- request eval
["GET /t?f=a&t=1", "GET /t?f=1&t="]
--- error_code eval
[500, 500]
--- grep_error_log eval: qr/set_rotate: bad "\w+" argument value: "[^"]*"/
--- grep_error_log_out
set_rotate: bad "from" argument value: "a"
set_rotate: bad "to" argument value: ""


=== TEST 17: set_local_today, set_formatted_gmt_time, set_formatted_local_time
--- config
    location = /t {
        set_local_today $today;
        set_formatted_local_time $d "%Y-%m-%d";
        set_formatted_gmt_time $g "%a, %d %b %Y %H:%M:%S GMT %%";
        set_formatted_local_time $e "";
        set $same "no";
        if ($d = $today) {
            set $same "yes";
        }
        return 200 "$today|$g|[$e]|$same\n";
    }
    location = /long {
        set_formatted_gmt_time $g "%Y----------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------";
        return 200 "$g\n";
    }
--- request eval
["GET /t", "GET /long"]
--- error_code eval
[200, 500]
--- response_body_like eval
[qr/^\d{4}-\d\d-\d\d\|(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT %\|\[\]\|yes\n\z/,
 qr/500 Internal Server Error/]


=== TEST 18: configuration order with set, if, set_by_lua and break
--- config
    location = /t {
        set $a "x";
        set_md5 $h $a;
        set $a "y";
        if ($h = "9dd4e461268c8034f5c8564e155c67a6") {
            set_sha1 $a $a;
        }
        set_by_lua_block $l { return ngx.var.a .. "!" }
        set_encode_hex $l;
        return 200 "$h $a $l\n";
    }
    location = /b {
        set $v "one";
        break;
        set_md5 $v "two";
        echo $v;
    }
    location = /s {
        set_md5 $v "two";
        set $v "three";
        echo $v;
    }
--- request eval
["GET /t", "GET /b", "GET /s"]
--- response_body eval
["9dd4e461268c8034f5c8564e155c67a6 95cb0bfd2977c761298d9624e4b4d4c72a39974a 3935636230626664323937376337363132393864393632346534623464346337326133393937346121\n",
 "one\n", "three\n"]


=== TEST 19: a failing directive ends the script with 500, later codes do not run
--- config
    location = /t {
        set $a "1";
        set_decode_hex $a "zz";
        set $a "2";
        return 200 "$a\n";
    }
--- request
GET /t
--- error_code: 500
--- response_body_like: 500 Internal Server Error
--- error_log
set_decode_hex: invalid value


=== TEST 20: server-level directives run in the server rewrite phase, before the location's
--- config
    set_encode_hex $srv "ab";
    location = /t {
        set_decode_hex $loc $srv;
        return 200 "$srv $loc\n";
    }
--- request
GET /t
--- response_body
6162 ab


=== TEST 21: $args as the target variable
--- config
    location = /t {
        set_unescape_uri $args $arg_q;
        echo "$args|$arg_x|$arg_y";
    }
--- request
GET /t?q=x%3D1%26y%3D2
--- response_body
x=1&y=2|1|2


=== TEST 22: http-level directives never run (their variable is declared, uninitialized)
--- http_config
    set_md5 $hv "a";
--- config
    location = /t {
        return 200 "[$hv]\n";
    }
--- request
GET /t
--- response_body
[]
--- error_log
using uninitialized "hv" variable


=== TEST 23: the target variable reads as uninitialized until set (in place and in an if)
--- config
    location = /t {
        if ($u) {
            return 200 "yes\n";
        }
        set_md5 $u;
        return 200 "[$u]\n";
    }
    location = /off {
        uninitialized_variable_warn off;
        set_sha1 $w;
        return 200 "[$w]\n";
    }
--- request eval
["GET /t", "GET /off"]
--- response_body eval
["[d41d8cd98f00b204e9800998ecf8427e]\n", "[da39a3ee5e6b4b0d3255bfef95601890afd80709]\n"]
--- error_log
using uninitialized "u" variable
--- no_error_log
using uninitialized "w" variable


=== TEST 24: error_page after a failing directive: the variable kept its old value
--- config
    error_page 500 /e;
    location = /t {
        set $a "1";
        set_decode_hex $a "zz";
        return 200 "$a\n";
    }
    location = /e {
        return 200 "e a=$a\n";
    }
--- request
GET /t
--- error_code: 500
--- response_body
e a=1


=== TEST 25: a server-level if block
--- config
    if ($arg_x) {
        set_encode_hex $h $arg_x;
    }
    location = /t {
        return 200 "[$h]\n";
    }
--- request eval
["GET /t?x=ab", "GET /t"]
--- response_body eval
["[6162]\n", "[]\n"]


=== TEST 26: set_rotate after a matched if uses the if block's counter
--- config
    location = /t {
        if ($arg_x) {
            set_rotate $r 1 9;
        }
        set_rotate $s 1 9;
        return 200 "$r $s\n";
    }
--- request eval
["GET /t", "GET /t?x=1", "GET /t?x=1", "GET /t"]
--- response_body eval
[" 1\n", "1 2\n", "3 4\n", " 2\n"]


=== TEST 27: regex captures are escaped when the URI was (the rewrite engine's operands)
--- config
    location ~ ^/t/(.*)$ {
        set_escape_uri $e $1;
        set_md5 $arg_q;
        return 200 "$e $arg_q\n";
    }
--- request eval
["GET /t/a%20b?q=x", "GET /t/a_b?q=x"]
--- response_body eval
["a%2520b 9dd4e461268c8034f5c8564e155c67a6\n", "a_b 9dd4e461268c8034f5c8564e155c67a6\n"]


=== TEST 28: ndk.set_var.DIRECTIVE from Lua runs the same filters
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(type(ndk), " ", tostring(ndk == require("ndk")))
            ngx.say(ndk.set_var.set_escape_uri(" +/"), " ", ndk.set_var.set_quote_sql_str("a$"),
                    " ", ndk.set_var.set_md5(12))
            ngx.say(ndk.set_var.set_encode_base32("a"), " ", ndk.set_var.set_decode_hex("6162"))
            ngx.say(ndk.set_var.set_formatted_gmt_time("%%"), " ",
                    ndk.set_var.set_quote_json_str(nil))
            ngx.say(pcall(ndk.set_var.set_decode_hex, "zz"))
            ngx.say(pcall(function() return ndk.set_var.set_hmac_sha1 end))
            ngx.say(pcall(function() return ndk.set_var.set_nope end))
            ngx.say(pcall(function() ndk.set_var.x = 1 end))
            ngx.say(pcall(ndk.set_var.set_secure_random_lcalpha, "0"))
        }
    }
--- request
GET /t
--- response_body
table true
%20%2B%2F 'a\$' c20ad4d76fe97759aa27a0c99bff6710
c4====== ab
% "nil"
falsecalling directive set_decode_hex failed with code -1
falsecontent_by_lua(nginx.conf:40):9: ndk.set_var: directive "set_hmac_sha1" not found or does not use ndk_set_var_value
falsecontent_by_lua(nginx.conf:40):10: ndk.set_var: directive "set_nope" not found or does not use ndk_set_var_value
falsecontent_by_lua(nginx.conf:40):11: not allowed
falsecalling directive set_secure_random_lcalpha failed with code -1
--- error_log
set_decode_hex: invalid value


=== TEST 29: a variable only set_misc sets is declared for Lua too (changeable, empty)
--- config
    location = /a {
        set_md5 $x "a";
        return 200 "$x\n";
    }
    location = /b {
        content_by_lua_block {
            ngx.say("[", ngx.var.x, "]")
            ngx.var.x = "z"
            ngx.say(ngx.var.x)
        }
    }
--- request eval
["GET /a", "GET /b"]
--- response_body eval
["0cc175b9c0f1b6a831c399e269772661\n", "[]\nz\n"]
