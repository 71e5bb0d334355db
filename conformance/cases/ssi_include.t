# ngx_http_ssi_filter_module's include: virtual and file subrequests, set=, stub=, wait=,
# nested SSI, proxied responses, and the include errors.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__


=== TEST 1: include virtual: a static file, a location, a missing one (its error page)
--- config
    location ~ \.html$ {
        ssi on;
    }
    location = /loc {
        return 200 "from-loc:$arg_a";
    }
--- user_files
>>> i.html
A<!--# include virtual="/inc/a.txt" -->B<!--# include virtual="/loc?a=1" -->C<!--# include virtual="/missing.txt" -->D
>>> inc/a.txt
sub-a
--- request
GET /i.html
--- response_body eval
"Asub-a\nBfrom-loc:1C<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n<center><h1>404 Not Found</h1></center>\r\n<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\nD\n"
--- error_log
subrequest: "/missing.txt"


=== TEST 2: a relative include is relative to the document; variables in the URI
--- config
    location ~ \.html$ {
        ssi on;
    }
--- user_files
>>> dir/i.html
[<!--# include virtual="a.txt" -->][<!--# set var="n" value="b" --><!--# include virtual="${n}.txt" -->][<!--# include file="a.txt" -->]
>>> dir/a.txt
a
>>> dir/b.txt
b
--- request
GET /dir/i.html
--- response_body
[a
][b
][a
]


=== TEST 3: include set= keeps the body in a variable; an error leaves it empty
--- config
    location ~ \.html$ {
        ssi on;
    }
    location = /val {
        return 200 "value<&>";
    }
    location = /err {
        return 500;
    }
--- user_files
>>> s.html
<!--# include virtual="/val" set="v" -->[<!--# echo var="v" -->][<!--# echo var="v" encoding="none" -->]<!--# include virtual="/err" set="e" -->[<!--# echo var="e" default="dflt" -->]
--- request
GET /s.html
--- response_body
[value&lt;&amp;&gt;][value<&>][]


=== TEST 4: include stub= outputs a block when the subrequest gives nothing
--- config
    location ~ \.html$ {
        ssi on;
    }
    location = /empty {
        return 204;
    }
    location = /full {
        return 200 "full";
    }
--- user_files
>>> st.html
<!--# block name="one" -->[stub <!--# echo var="uri" -->]<!--# endblock -->1:<!--# include virtual="/empty" stub="one" -->|2:<!--# include virtual="/full" stub="one" -->|3:<!--# include virtual="/full" stub="two" -->
--- request
GET /st.html
--- response_body
1:[stub <!--#echo var="uri" -->]|2:full|3:[an error occurred while processing the directive]
--- error_log
"stub"="two" for "include" not found


=== TEST 5: nested SSI: an included location with ssi on is processed too, sharing variables
--- config
    location ~ \.html$ {
        ssi on;
    }
    location ~ \.shtml$ {
        ssi on;
        ssi_types text/plain;
    }
--- user_files
>>> outer.html
<!--# set var="who" value="outer" -->(<!--# include virtual="/inner.shtml" -->)
>>> inner.shtml
inner sees <!--# echo var="who" --> at <!--# echo var="document_uri" -->, <!--# echo var="uri" -->
--- request
GET /outer.html
--- response_body
(inner sees outer at /inner.shtml, /inner.shtml
)


=== TEST 6: include errors
--- config
    location ~ \.html$ {
        ssi on;
    }
--- user_files
>>> e.html
1<!--# include -->2<!--# include virtual="/a" file="/b" -->3<!--# include virtual="/a" set="x" stub="y" -->4<!--# include file="/a" wait="yes" -->5<!--# include virtual="/a" wait="maybe" -->6<!--# include virtual="/a/../../etc" -->7
--- request
GET /e.html
--- response_body
1[an error occurred while processing the directive]2[an error occurred while processing the directive]3[an error occurred while processing the directive]4[an error occurred while processing the directive]5[an error occurred while processing the directive]6[an error occurred while processing the directive]7
--- error_log
no parameter in "include" SSI command
inclusion may be either virtual="/a" or file="/b"
"set" and "stub" cannot be used together in "include" SSI command
"wait" cannot be used with file="/a"
invalid value "maybe" in the "wait" parameter
unsafe URI "/a/../../etc" was detected


=== TEST 7: include wait=yes and wait=no
--- config
    location ~ \.html$ {
        ssi on;
    }
    location = /w {
        return 200 "w:$arg_n;";
    }
--- user_files
>>> w.html
<!--# include virtual="/w?n=1" wait="yes" --><!--# include virtual="/w?n=2" wait="no" --><!--# include virtual="/w?n=3" wait="YES" -->
--- request
GET /w.html
--- response_body
w:1;w:2;w:3;
--- no_error_log
[error]


=== TEST 8: SSI on a proxied response; the upstream's Content-Length goes
--- config
    location = /up.html {
        ssi on;
        proxy_pass http://127.0.0.1:$server_port/raw;
    }
    location = /raw {
        default_type text/html;
        return 200 'up:<!--# echo var="uri" -->:<!--# include virtual="/part" -->';
    }
    location = /part {
        return 200 "part";
    }
--- request
GET /up.html
--- response_headers
Content-Length:
Transfer-Encoding: chunked
--- response_body chomp
up:/up.html:part


=== TEST 9: an if around includes: only the chosen branch's subrequest runs
--- config
    location ~ \.html$ {
        ssi on;
    }
    location = /a {
        return 200 "A";
    }
    location = /b {
        return 200 "B";
    }
--- user_files
>>> c.html
<!--# if expr="$arg_x = b" --><!--# include virtual="/b" --><!--# else --><!--# include virtual="/a" --><!--# endif -->
--- request eval
["GET /c.html", "GET /c.html?x=b"]
--- response_body eval
["A\n", "B\n"]


=== TEST 10: SSI with gzip: the processed body is compressed
--- config
    location ~ \.html$ {
        ssi on;
        gzip on;
        gzip_min_length 1;
    }
--- user_files
>>> g.html
<!--# echo var="uri" -->
--- request
GET /g.html
--- more_headers
Accept-Encoding: gzip
--- response_headers
Content-Encoding: gzip
Content-Length:


=== TEST 11: a HEAD request gets the SSI headers without running anything
--- config
    location ~ \.html$ {
        ssi on;
    }
--- user_files
>>> h.html
<!--# include virtual="/nothere" -->
--- request
HEAD /h.html
--- response_headers
Content-Length:
Last-Modified:
--- no_error_log
[error]


=== TEST 12: If-Modified-Since is answered before SSI (304 keeps Last-Modified)
--- config
    location ~ \.html$ {
        ssi on;
    }
--- user_files
>>> m.html 201001021530
<!--# echo var="uri" -->
--- request
GET /m.html
--- more_headers
If-Modified-Since: Sat, 02 Jan 2010 15:30:00 GMT
--- error_code: 304
--- response_headers
Last-Modified: Sat, 02 Jan 2010 15:30:00 GMT
