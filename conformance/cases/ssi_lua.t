# ngx_http_ssi_filter_module with Lua and echo: content_by_lua output is processed,
# ngx.location.capture gets the unprocessed body (its capture filter comes first),
# echo_location output is processed.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: content_by_lua output is processed; ngx.location.capture gets the raw body
--- config
    location = /l.html {
        ssi on;
        default_type text/html;
        content_by_lua_block {
            ngx.say('lua <!--# echo var="uri" --> <!--# include virtual="/part" -->')
        }
    }
    location = /part {
        return 200 "part";
    }
    location = /cap {
        content_by_lua_block {
            local res = ngx.location.capture("/l.html")
            ngx.say(res.status, " ", res.body)
        }
    }
--- request eval
["GET /l.html", "GET /cap"]
--- response_body eval
["lua /l.html part\n", "200 lua <!--# echo var=\"uri\" --> <!--# include virtual=\"/part\" -->\n\n"]


=== TEST 2: echo_location of an SSI location
--- config
    location = /l.html {
        ssi on;
        default_type text/html;
        return 200 'x <!--# echo var="uri" -->';
    }
    location = /e {
        echo_location /l.html;
        echo;
    }
--- request
GET /e
--- response_body
x /l.html
