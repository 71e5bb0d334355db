# ngx_http_ssi_filter_module among the other filters and subrequests: sub_filter first,
# stubs through the subrequest's filters, the subrequest depth limit, error-line context.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__


=== TEST 1: sub_filter runs on the document before SSI, not on what SSI inserts
--- config
    location ~ \.html$ {
        ssi on;
        sub_filter 'foo' 'bar';
        sub_filter 'XX' '<!--# echo var="uri" -->';
        sub_filter_once off;
    }
    location = /val {
        return 200 "foo-val";
    }
--- user_files
>>> s.html
foo XX <!--# set var="v" value="foo" --><!--# echo var="v" --> <!--# include virtual="/val" --> <!--# set var="w" value="f" --><!--# echo var="w" -->oo
--- request
GET /s.html
--- response_body
bar /s.html bar foo-val foo


=== TEST 2: an included location's own sub_filter applies to its part
--- config
    location ~ \.html$ {
        ssi on;
    }
    location /inc/ {
        sub_filter 'one' 'ONE';
        sub_filter_types text/plain;
    }
--- user_files
>>> s.html
one <!--# include virtual="/inc/a.txt" -->
>>> inc/a.txt
one more
--- request
GET /s.html
--- response_body eval
"one ONE more\n\n"


=== TEST 3: a stub goes through the subrequest's SSI; with ssi off there, as rebuilt
--- config
    location ~ \.html$ {
        ssi on;
    }
    location ^~ /plain/ {
    }
--- user_files
>>> st.html
<!--# block name="b" --><!--# if expr="1" -->in<!--# else -->out<!--# endif --><!--# endblock -->1:<!--# include virtual="/nothing.html" stub="b" -->|2:<!--# include virtual="/plain/nothing" stub="b" -->
--- request
GET /st.html
--- response_body
1:in|2:<!--#if expr="1" -->in<!--#else -->out<!--#endif -->


=== TEST 4: a stub answers for an error, even one with an error_page
--- config
    location ~ \.html$ {
        ssi on;
    }
    location = /ep {
        error_page 404 /page.txt;
        return 404;
    }
    location = /r500 {
        return 500;
    }
--- user_files
>>> st.html
<!--# block name="b" -->STUB<!--# endblock -->1:<!--# include virtual="/ep" stub="b" -->|2:<!--# include virtual="/ep" -->|3:<!--# include virtual="/r500" stub="b" -->
>>> page.txt
page
--- request
GET /st.html
--- response_body
1:STUB|2:page
|3:STUB


=== TEST 5: a document including itself stops at nginx's subrequest depth
--- config
    location ~ \.html$ {
        ssi on;
    }
--- user_files
>>> self.html
[<!--# include virtual="/self.html" -->]
--- request
GET /self.html
--- response_body eval
"[" x 52 . "[an error occurred while processing the directive]" . "]\n" x 52
--- error_log eval
qr/subrequests cycle while processing "\/self.html" while sending response to client, client: 127.0.0.1, server: localhost, request: "GET \/self.html HTTP\/1.1", subrequest: "\/self.html", host: "localhost"/


=== TEST 6: the error line's context is the body filter's
--- config
    location ~ \.html$ {
        ssi on;
    }
--- user_files
>>> e.html
<!--# nope -->
--- request
GET /e.html
--- error_log eval
qr/\[error\] .*invalid SSI command: "nope" while sending response to client, client: 127.0.0.1, server: localhost, request: "GET \/e.html HTTP\/1.1", host: "localhost"$/m


=== TEST 7: HTTP/1.0: the processed body is closed-delimited
--- config
    location ~ \.html$ {
        ssi on;
    }
--- user_files
>>> h.html
<!--# echo var="server_protocol" -->
--- raw_request eval
"GET /h.html HTTP/1.0\r\n\r\n"
--- response_headers
Content-Length:
Transfer-Encoding:
--- response_body
HTTP/1.0


=== TEST 8: a proxied response loses the upstream's ETag and Last-Modified
--- config
    location = /up.html {
        ssi on;
        proxy_pass http://127.0.0.1:$server_port/file.html;
    }
--- user_files
>>> file.html 201001021530
<!--# echo var="uri" -->
--- request
GET /up.html
--- response_headers
ETag:
Last-Modified:
Content-Length:
--- response_body
/up.html


=== TEST 9: $date_gmt outside SSI uses the default timefmt
--- config
    location = /d {
        return 200 "$date_gmt";
    }
--- request
GET /d
--- response_body_like chomp
^(Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day, \d\d-[A-Z][a-z][a-z]-20\d\d \d\d:\d\d:\d\d GMT$


=== TEST 10: the subrequest shares the request's variables
--- config
    location ~ \.html$ {
        set $who main;
        ssi on;
    }
    location = /v {
        return 200 "who=$who";
    }
--- user_files
>>> v.html
<!--# include virtual="/v" -->
--- request
GET /v.html
--- response_body
who=main


=== TEST 11: includes not waited for run when the parser stops: at a waited one or the end
--- config
    location ~ \.html$ {
        ssi on;
    }
    location = /sw {
        ssi on;
        default_type text/html;
        return 200 '<!--# echo var="v" -->;';
    }
--- user_files
>>> o.html
<!--# set var="v" value="1" --><!--# include virtual="/sw" --><!--# set var="v" value="2" --><!--# include virtual="/sw" wait="yes" --><!--# set var="v" value="3" --><!--# include virtual="/sw" --><!--# set var="v" value="4" -->
--- request
GET /o.html
--- response_body
2;2;4;


=== TEST 12: $status, $args (not found when empty) and an error page processed by SSI
--- config
    location ~ \.html$ {
        ssi on;
        error_page 404 /err.html;
    }
--- user_files
>>> err.html
status <!--# echo var="status" --> args [<!--# echo var="args" -->]
--- request eval
["GET /nope.html?a=1", "GET /err.html", "GET /err.html?"]
--- error_code eval
[404, 200, 200]
--- response_body eval
["status 404 args [(none)]\n", "status 200 args [(none)]\n", "status 200 args [(none)]\n"]


=== TEST 13: no ranges of a processed document
--- config
    location ~ \.html$ {
        ssi on;
    }
--- user_files
>>> r.html
0123456789
--- request
GET /r.html
--- more_headers
Range: bytes=0-3
--- error_code: 200
--- response_headers
Accept-Ranges:
Content-Range:
--- response_body
0123456789
