# The rewrite module: return (codes, text, URLs), rewrite with last/break/redirect/permanent,
# if with every operator, set, break.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: return a code only
--- config
    location = /t { return 204; }
--- request
GET /t
--- error_code: 204
--- response_body chomp
--- response_headers
!Content-Length
!Content-Type



=== TEST 2: return text with variables
--- config
    location = /t { return 200 "method=$request_method uri=$uri"; }
--- request
GET /t
--- response_body chomp
method=GET uri=/t
--- response_headers
Content-Length: 17
Content-Type: text/plain



=== TEST 3: return a custom code with text
--- config
    location = /t { return 418 "teapot\n"; }
--- request
GET /t
--- error_code: 418
--- response_body
teapot



=== TEST 4: return 302 with a URL
--- config
    location = /t { return 302 http://example.com/x; }
--- request
GET /t
--- error_code: 302
--- response_headers
Location: http://example.com/x
--- response_body eval
"<html>\r\n<head><title>302 Found</title></head>\r\n<body>\r\n<center><h1>302 Found</h1></center>\r\n<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n"



=== TEST 5: return with only a URL is 302
--- config
    location = /t { return http://example.com/only; }
--- request
GET /t
--- error_code: 302
--- response_headers
Location: http://example.com/only



=== TEST 6: return 301 with a relative URI becomes absolute
--- config
    location = /t { return 301 /new; }
--- request
GET /t
--- error_code: 301
--- response_headers
Location: http://localhost:$ServerPort/new



=== TEST 7: return 307 and 308
--- config
    location = /a { return 307 /x; }
    location = /b { return 308 /y; }
--- request eval
["GET /a", "GET /b"]
--- error_code eval
[307, 308]
--- response_headers eval
["Location: http://localhost:$ServerPort/x", "Location: http://localhost:$ServerPort/y"]



=== TEST 8: return 404 gives the standard page
--- config
    location = /t { return 404; }
--- request
GET /t
--- error_code: 404
--- response_body eval
"<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n<center><h1>404 Not Found</h1></center>\r\n<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n"



=== TEST 9: return 444 closes the connection without a response
--- config
    location = /t { return 444; }
--- request
GET /t
--- ignore_response



=== TEST 10: rewrite ... last restarts location search
--- config
    location /old/ {
        rewrite ^/old/(.*)$ /new/$1 last;
        return 200 "not reached\n";
    }
    location /new/ { return 200 "new: $uri\n"; }
--- request
GET /old/page
--- response_body
new: /new/page



=== TEST 11: rewrite ... break also skips a later return (static file lookup instead)
--- config
    location /old/ {
        rewrite ^/old/(.*)$ /new/$1 break;
        return 200 "after break: $uri\n";
    }
--- request
GET /old/page
--- error_code: 404
--- error_log
/html/new/page" failed (2: No such file or directory)



=== TEST 12: rewrite ... break then serves a static file
--- config
    location /old/ {
        rewrite ^/old/(.*)$ /real/$1 break;
    }
--- user_files
>>> real/f.txt
real file
--- request
GET /old/f.txt
--- response_body
real file



=== TEST 13: rewrite ... redirect
--- config
    location /r/ {
        rewrite ^/r/(.*)$ /target/$1 redirect;
    }
--- request
GET /r/abc
--- error_code: 302
--- response_headers
Location: http://localhost:$ServerPort/target/abc



=== TEST 14: rewrite ... permanent
--- config
    location /r/ {
        rewrite ^/r/(.*)$ /target/$1 permanent;
    }
--- request
GET /r/abc
--- error_code: 301
--- response_headers
Location: http://localhost:$ServerPort/target/abc



=== TEST 15: rewrite to an absolute URL redirects
--- config
    location /r/ {
        rewrite ^ http://other.test/dest;
    }
--- request
GET /r/abc
--- error_code: 302
--- response_headers
Location: http://other.test/dest



=== TEST 16: rewrite appends the original arguments
--- config
    location /r/ {
        rewrite ^/r/(.*)$ /s/$1?new=1 last;
    }
    location /s/ { return 200 "$uri $args\n"; }
--- request
GET /r/abc?old=2
--- response_body
/s/abc new=1&old=2



=== TEST 17: a trailing ? drops the original arguments
--- config
    location /r/ {
        rewrite ^/r/(.*)$ /s/$1? last;
    }
    location /s/ { return 200 "$uri [$args]\n"; }
--- request
GET /r/abc?old=2
--- response_body
/s/abc []



=== TEST 18: rewrite in server context
--- config
    rewrite ^/srv/(.*)$ /dst/$1 last;
    location /dst/ { return 200 "dst $uri\n"; }
--- request
GET /srv/zz
--- response_body
dst /dst/zz



=== TEST 19: non-matching rewrite does nothing
--- config
    location /n/ {
        rewrite ^/nomatch /x last;
        return 200 "unchanged $uri\n";
    }
--- request
GET /n/a
--- response_body
unchanged /n/a



=== TEST 20: rewrite loop gives 500
--- config
    location /loop/ {
        rewrite ^/loop/(.*)$ /loop/$1 last;
    }
--- request
GET /loop/x
--- error_code: 500
--- error_log
rewrite or internal redirection cycle while processing "/loop/x"



=== TEST 21: set and use a variable
--- config
    location = /t {
        set $a "hello";
        set $b "$a world";
        return 200 "$b\n";
    }
--- request
GET /t
--- response_body
hello world



=== TEST 22: if with a plain variable (empty and "0" are false)
--- config
    location = /t {
        set $e "";
        set $z "0";
        set $one "1";
        set $r "";
        if ($e) { set $r "${r}e"; }
        if ($z) { set $r "${r}z"; }
        if ($one) { set $r "${r}one"; }
        return 200 "[$r]\n";
    }
--- request
GET /t
--- response_body
[one]



=== TEST 23: if with = and !=
--- config
    location = /t {
        set $r "";
        if ($arg_a = "x") { set $r "${r}eq"; }
        if ($arg_a != "y") { set $r "${r}ne"; }
        return 200 "$r\n";
    }
--- request
GET /t?a=x
--- response_body
eqne



=== TEST 24: if with ~ and captures
--- config
    location = /t {
        if ($arg_v ~ ^(\d+)-(\d+)$) {
            return 200 "from $1 to $2\n";
        }
        return 200 "no match\n";
    }
--- request
GET /t?v=10-20
--- response_body
from 10 to 20



=== TEST 25: if with ~* and !~ and !~*
--- config
    location = /t {
        set $r "";
        if ($http_x_a ~* ^abc$) { set $r "${r}ci"; }
        if ($http_x_a !~ ^abc$) { set $r "${r}nomatch"; }
        if ($http_x_a !~* ^zzz$) { set $r "${r}notzzz"; }
        return 200 "$r\n";
    }
--- request
GET /t
--- more_headers
X-A: ABC
--- response_body
cinomatchnotzzz



=== TEST 26: if with -f and !-f
--- config
    location /chk/ {
        root $TEST_NGINX_HTML_DIR;
        set $r "";
        if (-f $request_filename) { set $r "file"; }
        if (!-f $request_filename) { set $r "nofile"; }
        return 200 "$r\n";
    }
--- user_files
>>> chk/yes.txt
y
--- request eval
["GET /chk/yes.txt", "GET /chk/no.txt"]
--- response_body eval
["file\n", "nofile\n"]



=== TEST 27: if with -d, -e and -x
--- config
    location /chk/ {
        root $TEST_NGINX_HTML_DIR;
        set $r "";
        if (-d $request_filename) { set $r "${r}d"; }
        if (-e $request_filename) { set $r "${r}e"; }
        if (!-x $request_filename) { set $r "${r}!x"; }
        return 200 "[$r]\n";
    }
--- user_files
>>> chk/sub/f.txt
y
--- request eval
["GET /chk/sub", "GET /chk/sub/f.txt", "GET /chk/none"]
--- response_body eval
["[de]\n", "[e!x]\n", "[!x]\n"]



=== TEST 28: return inside if
--- config
    location = /t {
        if ($request_method = POST) { return 405; }
        return 200 "ok\n";
    }
--- request
POST /t
abc
--- error_code: 405



=== TEST 29: break stops the rewrite directives
--- config
    location = /t {
        set $v "before";
        break;
        set $v "after";
        return 200 "$v\n";
    }
--- request
GET /t
--- response_body_like: 404 Not Found
--- error_code: 404



=== TEST 30: rewrite with a regex flag order and $1 in replacement arguments
--- config
    location /img/ {
        rewrite ^/img/(\w+)\.(png|jpg)$ /show?name=$1&ext=$2 last;
    }
    location = /show { return 200 "$arg_name.$arg_ext\n"; }
--- request
GET /img/logo.png
--- response_body
logo.png



=== TEST 31: uninitialized variable warning
--- config
    location = /t {
        if ($arg_x) { set $foo "x"; }
        return 200 "[$foo]\n";
    }
--- request
GET /t
--- response_body
[]
--- error_log
using uninitialized "foo" variable



=== TEST 32: rewrite_log writes notices
--- config
    rewrite_log on;
    location /rl/ {
        rewrite ^/rl/(.*)$ /x/$1 last;
    }
    location /x/ {
        return 200 "$uri\n";
    }
--- request
GET /rl/q
--- response_body
/x/q
--- error_log
"^/rl/(.*)$" matches "/rl/q"
rewritten data: "/x/q", args: ""



=== TEST 33: if inside server context
--- config
    if ($http_x_block) { return 403; }
    location = /t { return 200 "pass\n"; }
--- request
GET /t
--- more_headers
X-Block: 1
--- error_code: 403



=== TEST 34: return with a text containing quotes and braces
--- config
    location = /t { return 200 '{"a": "$arg_a"}'; }
--- request
GET /t?a=b
--- response_body chomp
{"a": "b"}



=== TEST 35: set with a regex capture from location
--- config
    location ~ ^/cap/(.*)$ {
        set $c $1;
        rewrite ^ /other;
        return 200 "captured $c uri $uri\n";
    }
--- request
GET /cap/zz
--- response_body
captured zz uri /other


=== TEST 36: set escapes regex captures of a quoted URI, as the rewrite engine does
--- config
    location ~ ^/q/(.*)$ {
        set $s $1;
        set $t "[$1]";
        return 200 "$s $t\n";
    }
--- request eval
["GET /q/a%20b", "GET /q/plain"]
--- response_body eval
["a%20b [a%20b]\n", "plain [plain]\n"]
