# ngx_http_userid_filter_module: the uid cookie, its variables and log lines. A new uid's
# time and sequence parts differ from run to run: their format is compared.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: userid on: a new cookie for a client without one
--- config
    location /u {
        userid on;
        return 200 "got=$uid_got\n";
    }
--- request
GET /u
--- response_headers_like
Set-Cookie: ^uid=[A-Za-z0-9+/]{22}==; path=/$
--- response_body
got=



=== TEST 2: a valid cookie: $uid_got as four words, no new cookie
--- config
    location /u {
        userid on;
        return 200 "got=$uid_got set=$uid_set\n";
    }
--- request
GET /u
--- more_headers
Cookie: a=b; uid=fwAAAWVYmXkSNFZ4AwMDAg==; c=d
--- response_headers
!Set-Cookie
--- response_body
got=uid=0100007F799958657856341202030303 set=



=== TEST 3: userid on: the new uid's first word is the local address; v1: the service
--- config
    location /on {
        userid on;
        return 200 "$uid_set\n";
    }
    location /v1 {
        userid v1;
        userid_service 5;
        return 200 "$uid_set\n";
    }
    location /svc {
        userid on;
        userid_service 5;
        return 200 "$uid_set\n";
    }
--- request eval
["GET /on", "GET /v1", "GET /svc"]
--- response_body_like eval
[qr/^uid=0100007F[0-9A-F]{24}\n$/, qr/^uid=00000005[0-9A-F]{24}\n$/, qr/^uid=05000000[0-9A-F]{24}\n$/]



=== TEST 4: userid log: the cookie is read, none is set
--- config
    location /u {
        userid log;
        return 200 "got=$uid_got set=$uid_set\n";
    }
--- request eval
["GET /u", "GET /u"]
--- more_headers eval
["", "Cookie: uid=fwAAAWVYmXkSNFZ4AwMDAg=="]
--- response_headers eval
["!Set-Cookie", "!Set-Cookie"]
--- response_body eval
["got= set=\n", "got=uid=0100007F799958657856341202030303 set=\n"]



=== TEST 5: name, domain, path, expires max, flags and P3P
--- config
    location /u {
        userid on;
        userid_name sid;
        userid_domain example.com;
        userid_path /app/;
        userid_expires max;
        userid_flags secure httponly samesite=lax;
        userid_p3p 'policyref="/w3c/p3p.xml", CP="CUR ADM OUR NOR STA NID"';
        return 200 ok;
    }
--- request
GET /u
--- response_headers_like
Set-Cookie: ^sid=[A-Za-z0-9+/]{22}==; expires=Thu, 31-Dec-37 23:55:55 GMT; domain=example.com; path=/app/; secure; httponly; samesite=lax$
P3P: ^policyref="/w3c/p3p.xml", CP="CUR ADM OUR NOR STA NID"$
--- raw_response_headers_like: \r\nP3P: policyref



=== TEST 6: userid_expires time, userid_domain none
--- config
    location /u {
        userid on;
        userid_domain none;
        userid_expires 365d;
        return 200 ok;
    }
--- request
GET /u
--- response_headers_like
Set-Cookie: ^uid=[A-Za-z0-9+/]{22}==; expires=(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d-[A-Z][a-z][a-z]-\d\d \d\d:\d\d:\d\d GMT; path=/$



=== TEST 7: userid_mark: a new cookie carries the mark, an unmarked one is sent again marked
--- config
    location /u {
        userid on;
        userid_mark x;
        return 200 "got=$uid_got set=$uid_set\n";
    }
--- request eval
["GET /u", "GET /u", "GET /u"]
--- more_headers eval
["", "Cookie: uid=fwAAAWVYmXkSNFZ4AwMDAg==", "Cookie: uid=fwAAAWVYmXkSNFZ4AwMDAgx="]
--- response_headers_like eval
["Set-Cookie: ^uid=[A-Za-z0-9+/]{22}x=; path=/\$", "Set-Cookie: ^uid=fwAAAWVYmXkSNFZ4AwMDAgx=; path=/\$", "Set-Cookie: ^\$"]
--- response_body_like eval
[qr/^got= set=uid=0100007F[0-9A-F]{24}\n$/, "got=uid=0100007F799958657856341202030303 set=uid=0100007F799958657856341202030303\n", "got=uid=0100007F799958657856341202030303 set=\n"]



=== TEST 8: too short and invalid cookies are logged and ignored
--- config
    location /u {
        userid on;
        return 200 "got=$uid_got\n";
    }
--- request eval
["GET /u", "GET /u"]
--- more_headers eval
["Cookie: x=1; uid=abc", "Cookie: uid=fwAAAWVYmXk*NFZ4AwMDAg=="]
--- response_body eval
["got=\n", "got=\n"]
--- response_headers_like eval
["Set-Cookie: uid=.*", "Set-Cookie: uid=.*"]
--- error_log
client sent too short userid cookie "x=1; uid=abc"
client sent invalid userid cookie "uid=fwAAAWVYmXk*NFZ4AwMDAg=="



=== TEST 9: $uid_reset log: a new cookie and a notice
--- config
    location /u {
        userid on;
        set $uid_reset log;
        return 200 "got=$uid_got\n";
    }
--- log_level: notice
--- request
GET /u
--- more_headers
Cookie: uid=fwAAAWVYmXkSNFZ4AwMDAg==
--- response_headers_like
Set-Cookie: ^uid=(?!fwAAAWVYmXkSNFZ4AwMDAg)[A-Za-z0-9+/]{22}==; path=/$
--- error_log
userid cookie "uid=0100007F799958657856341202030303" was reset



=== TEST 10: userid off (the default): no cookie, no $uid_got
--- config
    location /u {
        return 200 "got=$uid_got set=$uid_set reset=$uid_reset\n";
    }
--- request
GET /u
--- more_headers
Cookie: uid=fwAAAWVYmXkSNFZ4AwMDAg==
--- response_headers
!Set-Cookie
--- response_body
got= set= reset=



=== TEST 11: the cookie goes after add_header's lines, on error pages too
--- config
    location /u {
        userid on;
        userid_p3p 'CP="NOI"';
        add_header X-A 1 always;
    }
--- request
GET /u/missing
--- error_code: 404
--- raw_response_headers_like: \r\nX-A: 1\r\nSet-Cookie: uid=[A-Za-z0-9+/]{22}==; path=/\r\nP3P: CP="NOI"\r\n
