# ngx_http_ssi_filter_module: the command parser (quotes, escapes, errors), echo, set,
# if/elif/else/endif, config, block, and the header changes.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__


=== TEST 1: echo of a variable, entity encoding by default, (none) and default
--- config
    location ~ \.html$ {
        ssi on;
    }
--- user_files
>>> e.html
[<!--# echo var="uri" -->][<!--#echo var="arg_a"-->][<!--# echo var="arg_none" -->][<!--# echo var="arg_none" default="dflt" -->][<!--# echo var="arg_none" default="" -->]
--- request
GET /e.html?a=%3Cb%3E&x=1
--- response_body
[/e.html][%3Cb%3E][(none)][dflt][]
--- no_error_log
[error]


=== TEST 2: echo encodings: none, url, entity; the last one stays
--- config
    location ~ \.html$ {
        ssi on;
        set $v '<a href="x">&amp; é/?</a>';
    }
--- user_files
>>> e.html
1:<!--# echo var="v" -->
2:<!--# echo var="v" encoding="none" -->
3:<!--# echo var="v" -->
4:<!--# echo var="v" encoding="url" -->
5:<!--# echo var="v" encoding="entity" -->
6:<!--# echo var="v" encoding="bogus" -->
--- request
GET /e.html
--- response_body
1:&lt;a href=&quot;x&quot;&gt;&amp;amp; é/?&lt;/a&gt;
2:<a href="x">&amp; é/?</a>
3:<a href="x">&amp; é/?</a>
4:%3Ca%20href=%22x%22%3E&amp;%20%C3%A9/?%3C/a%3E
5:&lt;a href=&quot;x&quot;&gt;&amp;amp; é/?&lt;/a&gt;
6:&lt;a href=&quot;x&quot;&gt;&amp;amp; é/?&lt;/a&gt;
--- error_log
unknown encoding "bogus" in the "echo" command


=== TEST 3: set with variables, braces and escapes; SSI variables win over nginx ones
--- config
    location ~ \.html$ {
        ssi on;
    }
--- user_files
>>> s.html
<!--# set var="a" value="A" --><!--# set var="B" value="[$a][${a}x][\$a][\\][\x][$uri]" --><!--# echo var="b" encoding="none" -->
<!--# set var="uri" value="mine" --><!--# echo var="uri" -->
<!--# set var="a" value='single "q" \'s\'' --><!--# echo var="a" encoding="none" -->
--- request
GET /s.html
--- response_body
[A][Ax][$a][\][\x][/s.html]
mine
single "q" 's'
--- no_error_log
[error]


=== TEST 4: if, elif, else, endif with = and !=
--- config
    location ~ \.html$ {
        ssi on;
    }
--- user_files
>>> if.html
<!--# if expr="$arg_x = one" -->ONE<!--# elif expr="$arg_x != two" -->NOT-TWO<!--# else -->TWO<!--# endif -->
<!--# if expr="$arg_x" -->SET<!--# else -->UNSET<!--# endif -->|<!--# if expr="$arg_nope" -->SET<!--# else -->UNSET<!--# endif -->
--- request eval
["GET /if.html?x=one", "GET /if.html?x=two", "GET /if.html?x=three"]
--- response_body eval
["ONE\nSET|UNSET\n", "TWO\nSET|UNSET\n", "NOT-TWO\nSET|UNSET\n"]
--- no_error_log
[error]


=== TEST 5: if with a regex: captures $1 and named captures stay for later commands
--- config
    location ~ \.html$ {
        ssi on;
    }
--- user_files
>>> re.html
<!--# if expr="$arg_p = /^(\w+)-(?<num>\d+)\$/" -->match <!--# echo var="1" --> <!--# echo var="num" --><!--# else -->no<!--# endif -->
after: <!--# echo var="1" default="-" --> <!--# echo var="0" -->
<!--# if expr="$arg_p != /zzz/" -->not zzz<!--# endif -->
--- request eval
["GET /re.html?p=abc-42", "GET /re.html?p=xyz"]
--- response_body eval
["match abc 42\nafter: abc abc-42\nnot zzz\n", "no\nafter: - (none)\nnot zzz\n"]


=== TEST 6: config errmsg and an invalid command
--- config
    location ~ \.html$ {
        ssi on;
    }
--- user_files
>>> c.html
a<!--# bogus -->b<!--# config errmsg="[oops]" -->c<!--# bogus2 x="1" -->d
--- request
GET /c.html
--- response_body
a[an error occurred while processing the directive]bc[oops]d
--- error_log
invalid SSI command: "bogus"
invalid SSI command: "bogus2"


=== TEST 7: ssi_silent_errors hides the message but still logs
--- config
    location ~ \.html$ {
        ssi on;
        ssi_silent_errors on;
    }
--- user_files
>>> c.html
a<!--# bogus -->b<!--# echo -->c
--- request
GET /c.html
--- response_body
abc
--- error_log
invalid SSI command: "bogus"
mandatory "var" parameter is absent in "echo" SSI command


=== TEST 8: parameter errors: duplicate, invalid name, unexpected symbols
--- config
    location ~ \.html$ {
        ssi on;
        ssi_silent_errors on;
    }
--- user_files
>>> p.html
1<!--# echo var="a" var="b" -->2<!--# echo foo="x" -->3<!--# echo var=x -->4<!--# echo var="x"y -->5<!--# echo var -x -->6
--- request
GET /p.html
--- response_body
123456
--- error_log
duplicate "var" parameter in "echo" SSI command
invalid parameter name: "foo" in "echo" SSI command
unexpected "x" symbol before value of "var" parameter in "echo" SSI command
unexpected "y" symbol after "x" value of "var" parameter in "echo" SSI command
unexpected "-" symbol after "var" parameter in "echo" SSI command


=== TEST 9: ssi_value_length limits a parameter's value; too long names and commands
--- config
    location ~ \.html$ {
        ssi on;
        ssi_value_length 4;
    }
--- user_files
>>> v.html
<!--# set var="a" value="1234" --><!--# echo var="a" -->|<!--# set var="a" value="12345" -->|<!--# abcdefghijabcdefghijabcdefghijabcdef -->|<!--# echo abcdefghijabcdefghijabcdefghijabcdef="1" -->
--- request
GET /v.html
--- response_body
1234|[an error occurred while processing the directive]|[an error occurred while processing the directive]|[an error occurred while processing the directive]
--- error_log
too long "12345..." value of "value" parameter in "set" SSI command
the "abcdefghijabcdefghijabcdefghijabc..." SSI command is too long
too long "abcdefghijabcdefghijabcdefghijabc..." parameter in "echo" SSI command


=== TEST 10: conditionals out of context and nested if
--- config
    location ~ \.html$ {
        ssi on;
    }
--- user_files
>>> n.html
a<!--# else -->b<!--# endif -->c<!--# if expr="1" -->d<!--# if expr="1" -->e<!--# endif -->f
--- request
GET /n.html
--- response_body
a[an error occurred while processing the directive]b[an error occurred while processing the directive]cd[an error occurred while processing the directive]ef
--- error_log
invalid context of SSI command: "else"
invalid context of SSI command: "endif"
the "if" command inside the "if" command


=== TEST 11: what is not a command is kept; an unfinished command at the end is dropped
--- config
    location ~ \.html$ {
        ssi on;
    }
--- user_files
>>> t.html
<!-- comment --><<!--# echo var="uri" --><!-x<!--x
--- request
GET /t.html
--- response_body
<!-- comment --></t.html<!-x<!--x
--- no_error_log
[error]


=== TEST 12: a body ending inside a command
--- config
    location = /x {
        ssi on;
        return 200 'abc<!--# echo var="uri"';
        default_type text/html;
    }
--- request
GET /x
--- response_body chomp
abc


=== TEST 13: invalid variable names and a missing bracket
--- config
    location ~ \.html$ {
        ssi on;
    }
--- user_files
>>> b.html
1<!--# set var="a" value="x$" -->2<!--# set var="a" value="${uri" -->3<!--# set var="a" value="$-" -->4
--- request
GET /b.html
--- response_body
1[an error occurred while processing the directive]2[an error occurred while processing the directive]3[an error occurred while processing the directive]4
--- error_log
invalid variable name in "x$"
the closing bracket in "uri" variable is missing
invalid variable name in "$-"


=== TEST 14: Content-Length, Last-Modified, ETag and Accept-Ranges go
--- config
    location ~ \.html$ {
        ssi on;
    }
--- user_files
>>> h.html
<!--# echo var="uri" -->
--- request
GET /h.html
--- response_headers
Content-Length:
Last-Modified:
ETag:
Accept-Ranges:
Content-Type: text/html
Transfer-Encoding: chunked
--- response_body
/h.html


=== TEST 15: ssi_last_modified keeps Last-Modified and makes the ETag weak
--- config
    location ~ \.html$ {
        ssi on;
        ssi_last_modified on;
    }
--- user_files
>>> h.html 201001021530
x
--- request
GET /h.html
--- response_headers
Content-Length:
Last-Modified: Sat, 02 Jan 2010 15:30:00 GMT
--- response_headers_like
ETag: W/"[0-9a-f]+-2"
--- response_body
x


=== TEST 16: ssi_types: text/html only by default, other types when listed
--- config
    location /a/ {
        ssi on;
    }
    location /b/ {
        ssi on;
        ssi_types text/plain;
    }
--- user_files
>>> a/t.txt
<!--# echo var="uri" -->
>>> b/t.txt
<!--# echo var="uri" -->
--- request eval
["GET /a/t.txt", "GET /b/t.txt"]
--- response_body eval
["<!--# echo var=\"uri\" -->\n", "/b/t.txt\n"]
--- response_headers eval
["Content-Length: 25", "!Content-Length"]


=== TEST 17: ssi off in a location, an error page of an ssi location is chunked
--- config
    location ~ \.html$ {
        ssi on;
    }
    location ^~ /off/ {
    }
--- user_files
>>> off/t.html
<!--# echo var="uri" -->
--- request eval
["GET /off/t.html", "GET /nothere.html"]
--- error_code eval
[200, 404]
--- response_headers eval
["Content-Length: 25", "!Content-Length"]


=== TEST 18: block and endblock: a block's text and commands are not output
--- config
    location ~ \.html$ {
        ssi on;
    }
--- user_files
>>> k.html
a<!--# block name="one" -->in block <!--# echo var="uri" --><!--# endblock -->b
--- request
GET /k.html
--- response_body
ab
--- no_error_log
[error]


=== TEST 19: config timefmt and $date_gmt, $date_local; %s alone is the epoch
--- config
    location ~ \.html$ {
        ssi on;
    }
--- user_files
>>> d.html
<!--# config timefmt="%Y/%j" --><!--# echo var="date_gmt" -->|<!--# config timefmt="%s" --><!--# echo var="date_local" -->|<!--# config timefmt="[%H]" --><!--# set var="d" value="$date_gmt" --><!--# echo var="d" -->
--- request
GET /d.html
--- response_body_like chomp
^20\d\d/\d\d\d\|\d{10}\|\[\d\d\]$


=== TEST 20: the default timefmt
--- config
    location ~ \.html$ {
        ssi on;
    }
--- user_files
>>> d.html
<!--# echo var="date_gmt" -->
--- request
GET /d.html
--- response_body_like chomp
^(Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day, \d\d-[A-Z][a-z][a-z]-20\d\d \d\d:\d\d:\d\d GMT$


=== TEST 21: unknown variables echo (none), not logged at run time
--- config
    location ~ \.html$ {
        ssi on;
    }
--- user_files
>>> u.html
[<!--# echo var="no_such_var" -->]
--- request
GET /u.html
--- response_body
[(none)]
--- no_error_log
[error]
