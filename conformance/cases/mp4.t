# ngx_http_mp4_module without seeking: `mp4` answers the file whole (start/end seeking is
# not implemented by oxresty yet: those requests are not compared here).
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: the whole file, ranges allowed
--- config
    location /m/ {
        mp4;
    }
--- user_files
>>> m/a.mp4
not really an mp4 file
--- request
GET /m/a.mp4
--- response_headers
Content-Length: 23
Accept-Ranges: bytes
--- response_headers_like
ETag: "[0-9a-f]+-17"
--- response_body
not really an mp4 file



=== TEST 2: a range of it
--- config
    location /m/ {
        mp4;
    }
--- user_files
>>> m/a.mp4
not really an mp4 file
--- request
GET /m/a.mp4
--- more_headers
Range: bytes=4-9
--- error_code: 206
--- response_headers
Content-Range: bytes 4-9/23
--- response_body chomp
really



=== TEST 3: arguments that are not a seek: a bad start, end 0, other names
--- config
    location /m/ {
        mp4;
    }
--- user_files
>>> m/a.mp4
not really an mp4 file
--- request eval
["GET /m/a.mp4?start=abc", "GET /m/a.mp4?end=0", "GET /m/a.mp4?start=1.2.3", "GET /m/a.mp4?x=1", "GET /m/a.mp4?start="]
--- response_body eval
["not really an mp4 file\n", "not really an mp4 file\n", "not really an mp4 file\n", "not really an mp4 file\n", "not really an mp4 file\n"]



=== TEST 4: other methods are not allowed
--- config
    location /m/ {
        mp4;
    }
--- user_files
>>> m/a.mp4
not really an mp4 file
--- request
POST /m/a.mp4
--- error_code: 405



=== TEST 5: a missing file: 404 and nginx's log line
--- config
    location /m/ {
        mp4;
    }
--- request
GET /m/none.mp4
--- error_code: 404
--- error_log eval
qr{open\(\) ".*/html/m/none.mp4" failed \(2: No such file or directory\)}



=== TEST 6: a directory is declined: the static module redirects
--- config
    location /m/ {
        mp4;
    }
--- user_files
>>> m/d/index.html
index page
--- request
GET /m/d
--- error_code: 301



=== TEST 7: HEAD
--- config
    location /m/ {
        mp4;
    }
--- user_files
>>> m/a.mp4
not really an mp4 file
--- request
HEAD /m/a.mp4
--- response_headers
Content-Length: 23
--- response_body
