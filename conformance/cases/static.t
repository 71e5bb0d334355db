# Static files: root, alias (plain and regex), index, try_files, autoindex.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: plain file from the default root
--- user_files
>>> hello.txt 201001021530
hello world
--- request
GET /hello.txt
--- response_headers
Content-Type: text/plain
Content-Length: 12
Last-Modified: Sat, 02 Jan 2010 15:30:00 GMT
Accept-Ranges: bytes
Server: nginx/1.22.1
--- response_body
hello world
--- no_error_log
[error]



=== TEST 2: built-in types without a types block (html, gif, jpg)
--- user_files
>>> page.html
<p>hi</p>
--- request
GET /page.html
--- response_headers
Content-Type: text/html
--- response_body
<p>hi</p>



=== TEST 3: missing file is 404 with an error log line
--- request
GET /missing.txt
--- error_code: 404
--- error_log eval
qr/\[error\] .*open\(\) ".*\/html\/missing\.txt" failed \(2: No such file or directory\)/



=== TEST 4: root inside a location
--- config
    location /files/ {
        root $TEST_NGINX_HTML_DIR/data;
    }
--- user_files
>>> data/files/a.txt
from data
--- request
GET /files/a.txt
--- response_body
from data



=== TEST 5: alias replaces the location prefix
--- config
    location /static/ {
        alias $TEST_NGINX_HTML_DIR/assets/;
    }
--- user_files
>>> assets/app.js
var x = 1;
--- request
GET /static/app.js
--- response_body
var x = 1;



=== TEST 6: alias on a regex location with a capture
--- config
    location ~ ^/img/(.+)$ {
        alias $TEST_NGINX_HTML_DIR/pics/$1;
    }
--- user_files
>>> pics/cat.txt
meow
--- request
GET /img/cat.txt
--- response_body
meow



=== TEST 7: alias file not found
--- config
    location /static/ {
        alias $TEST_NGINX_HTML_DIR/assets/;
    }
--- request
GET /static/none.js
--- error_code: 404
--- error_log
/html/assets/none.js" failed



=== TEST 8: index file served for a directory
--- user_files
>>> dir/index.html
index page
--- request
GET /dir/
--- response_headers
Content-Type: text/html
--- response_body
index page



=== TEST 9: second index candidate
--- config
    location /d2/ {
        root $TEST_NGINX_HTML_DIR;
        index first.html second.txt;
    }
--- user_files
>>> d2/second.txt
second
--- request
GET /d2/
--- response_body
second



=== TEST 10: directory without a trailing slash redirects
--- user_files
>>> sub/index.html
x
--- request
GET /sub
--- error_code: 301
--- response_headers
Location: http://localhost:$ServerPort/sub/
Content-Type: text/html
--- response_body_like: 301 Moved Permanently



=== TEST 11: directory redirect keeps the query string
--- user_files
>>> sub/index.html
x
--- request
GET /sub?a=1
--- error_code: 301
--- response_headers
Location: http://localhost:$ServerPort/sub/?a=1



=== TEST 12: absolute_redirect off gives a relative Location
--- config
    absolute_redirect off;
--- user_files
>>> sub/index.html
x
--- request
GET /sub
--- error_code: 301
--- response_headers
Location: /sub/



=== TEST 13: directory without index is forbidden
--- user_files
>>> empty/keep.txt
k
--- request
GET /empty/
--- error_code: 403
--- error_log
directory index of



=== TEST 14: try_files falls through to the second candidate
--- config
    location /tf/ {
        try_files $uri /fallback.txt;
    }
--- user_files
>>> fallback.txt
fallback
--- request
GET /tf/nothing
--- response_body
fallback



=== TEST 15: try_files serves the first existing file
--- config
    location /tf/ {
        try_files $uri /fallback.txt;
    }
--- user_files
>>> tf/real.txt
real
>>> fallback.txt
fallback
--- request
GET /tf/real.txt
--- response_body
real



=== TEST 16: try_files with =code
--- config
    location /tf/ {
        try_files $uri $uri/ =418;
    }
--- request
GET /tf/none
--- error_code: 418
--- response_body chomp



=== TEST 17: try_files =404 gives the standard page
--- config
    location /tf/ {
        try_files $uri =404;
    }
--- request
GET /tf/none
--- error_code: 404
--- response_body eval
"<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n<center><h1>404 Not Found</h1></center>\r\n<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n"



=== TEST 18: try_files to a named location
--- config
    location /tf/ {
        try_files $uri @back;
    }
    location @back {
        return 200 "named: $uri\n";
    }
--- request
GET /tf/zzz
--- response_body
named: /tf/zzz



=== TEST 19: try_files with a directory candidate and index
--- config
    location /tfd/ {
        try_files $uri $uri/ =404;
    }
--- user_files
>>> tfd/x/index.html
dir index
--- request
GET /tfd/x/
--- response_body
dir index



=== TEST 20: try_files fallback URI with arguments
--- config
    location /tfa/ {
        try_files $uri /echo?from=$uri;
    }
    location = /echo {
        return 200 "args=$args\n";
    }
--- request
GET /tfa/q
--- response_body
args=from=/tfa/q



=== TEST 21: autoindex html listing
--- config
    location /list/ {
        autoindex on;
    }
--- user_files
>>> list/a.txt 200901011200
abcde
>>> list/b.html 201112312359
<b>
--- request
GET /list/
--- response_headers
Content-Type: text/html
--- response_body eval
"<html>\r\n<head><title>Index of /list/</title></head>\r\n<body>\r\n<h1>Index of /list/</h1><hr><pre><a href=\"../\">../</a>\r\n"
. "<a href=\"a.txt\">a.txt</a>" . (" " x 46) . "01-Jan-2009 12:00" . (" " x 19) . "6\r\n"
. "<a href=\"b.html\">b.html</a>" . (" " x 45) . "31-Dec-2011 23:59" . (" " x 19) . "4\r\n"
. "</pre><hr></body>\r\n</html>\r\n"



=== TEST 22: autoindex json
--- config
    location /list/ {
        autoindex on;
        autoindex_format json;
    }
--- user_files
>>> list/a.txt 200901011200
abcde
--- request
GET /list/
--- response_headers
Content-Type: application/json
--- response_body eval
"[\r\n{ \"name\":\"a.txt\", \"type\":\"file\", \"mtime\":\"Thu, 01 Jan 2009 12:00:00 GMT\", \"size\":6 }\r\n]"



=== TEST 23: autoindex off is the default
--- user_files
>>> list/a.txt
abcde
--- request
GET /list/
--- error_code: 403



=== TEST 24: autoindex xml
--- config
    location /tree/ {
        autoindex on;
        autoindex_format xml;
    }
--- user_files
>>> tree/f.txt 200901011200
f
--- request
GET /tree/
--- response_headers
Content-Type: text/xml; charset=utf-8
--- response_body eval
"<?xml version=\"1.0\"?>\r\n<list>\r\n<file mtime=\"2009-01-01T12:00:00Z\" size=\"2\">f.txt</file>\r\n</list>\r\n"



=== TEST 25: URI with an encoded character maps to the file
--- user_files
>>> abc.txt
abc
--- request
GET /%61b%63.txt
--- response_body
abc



=== TEST 26: dot segments are merged
--- user_files
>>> x/y.txt
why
--- request
GET /x/../x/./y.txt
--- response_body
why



=== TEST 27: POST to a static file is 405
--- user_files
>>> p.txt
p
--- request
POST /p.txt
abc
--- error_code: 405
--- response_body_like: 405 Not Allowed
