# ngx_http_empty_gif_module: the 1x1 transparent GIF, its headers, HEAD, other methods, and
# conditional requests against its fixed Last-Modified.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__


=== TEST 1: the image and its headers
--- config
    location = /pixel.gif {
        empty_gif;
    }
--- request
GET /pixel.gif
--- response_headers
Content-Type: image/gif
Content-Length: 43
Last-Modified: Mon, 28 Sep 1970 06:00:00 GMT
!ETag
!Accept-Ranges
--- response_body eval
"GIF89a\x01\x00\x01\x00\x80\x01\x00\x00\x00\x00\xff\xff\xff\x21\xf9\x04\x01\x00\x00\x01\x00\x2c\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02\x4c\x01\x00\x3b"


=== TEST 2: HEAD, POST, and a conditional GET
--- config
    location = /pixel.gif {
        empty_gif;
    }
--- request eval
["HEAD /pixel.gif", "POST /pixel.gif\nx", "GET /pixel.gif"]
--- more_headers eval
["", "", "If-Modified-Since: Mon, 28 Sep 1970 06:00:00 GMT"]
--- error_code eval
[200, 405, 304]
--- response_body eval
["", qr/405 Not Allowed/, ""]


=== TEST 3: the handler is not inherited by a nested location (add_header and expires are)
--- config
    location /img/ {
        empty_gif;
        expires 1h;
        add_header X-Pixel 1;
        location /img/real/ {
        }
    }
--- user_files
>>> img/real/a.txt
real
--- request eval
["GET /img/anything", "GET /img/real/a.txt"]
--- response_headers eval
["X-Pixel: 1\nCache-Control: max-age=3600\nContent-Length: 43", "X-Pixel: 1\nContent-Length: 5"]
--- response_body eval
[qr/^GIF89a/, "real\n"]
