# ngx_http_dav_module: PUT (201/204, Location, create_full_put_path), MKCOL, COPY and MOVE of
# files and collections (Destination, Overwrite, Depth), DELETE (min_delete_depth, Depth),
# and nginx's statuses and error-log lines for what it refuses.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__


=== TEST 1: PUT creates (201 with Location), then replaces (204); GET reads it back
--- config
    location /w/ {
        dav_methods PUT;
    }
--- user_files
>>> w/keep
--- request eval
["PUT /w/new.txt\nhello", "PUT /w/new.txt\nbye", "GET /w/new.txt"]
--- error_code eval
[201, 204, 200]
--- response_headers eval
["Location: http://localhost:$ServerPort/w/new.txt\nContent-Length: 0\n!Content-Type", "!Content-Length", ""]
--- response_body eval
["", "", "bye"]
--- no_error_log
[error]


=== TEST 2: PUT to a collection
--- config
    location /w/ {
        dav_methods PUT;
    }
--- request
PUT /w/dir/
x
--- error_code: 409
--- error_log
cannot PUT to a collection


=== TEST 3: PUT with a range
--- config
    location /w/ {
        dav_methods PUT;
    }
--- request
PUT /w/r.txt
x
--- more_headers
Content-Range: bytes 0-0/1
--- error_code: 501
--- error_log
PUT with range is unsupported


=== TEST 4: PUT into a missing directory: 500 without create_full_put_path
--- config
    location /w/ {
        dav_methods PUT;
    }
--- request
PUT /w/no/such/a.txt
x
--- error_code: 500
--- error_log eval
qr/\[crit\] .*rename\(\) ".*" to ".*\/html\/w\/no\/such\/a\.txt" failed \(2: No such file or directory\)/


=== TEST 5: create_full_put_path makes the directories
--- config
    location /w/ {
        dav_methods PUT;
        create_full_put_path on;
        dav_access group:rw all:r;
    }
--- request eval
["PUT /w/x/y/z.txt\nzz", "GET /w/x/y/z.txt"]
--- error_code eval
[201, 200]
--- response_body eval
["", "zz"]


=== TEST 6: PUT over a directory
--- config
    location /w/ {
        dav_methods PUT;
    }
--- user_files
>>> w/d/f.txt
f
--- request
PUT /w/d
x
--- error_code: 409
--- error_log eval
qr/\[error\] .*"\S+\/html\/w\/d" could not be created \(21: Is a directory\)/


=== TEST 7: MKCOL: created, exists, not a collection, missing parent
--- config
    location /w/ {
        dav_methods MKCOL;
    }
--- user_files
>>> w/keep
--- request eval
["MKCOL /w/col/", "MKCOL /w/col/", "MKCOL /w/col", "MKCOL /w/no/such/"]
--- error_code eval
[201, 405, 409, 409]
--- response_headers eval
["Location: http://localhost:$ServerPort/w/col/", "", "", ""]
--- error_log
(17: File exists)
MKCOL can create a collection only
(2: No such file or directory)


=== TEST 8: MKCOL with a body
--- config
    location /w/ {
        dav_methods MKCOL;
    }
--- request
MKCOL /w/col/
x
--- error_code: 415
--- error_log
MKCOL with body is unsupported


=== TEST 9: COPY a file (204), again with Overwrite: F (412)
--- config
    location /w/ {
        dav_methods COPY;
    }
--- user_files
>>> w/a.txt
aaa
--- request eval
["COPY /w/a.txt", "GET /w/b.txt", "COPY /w/a.txt"]
--- more_headers
Destination: /w/b.txt
--- error_code eval
[204, 200, 204]
--- response_body eval
["", "aaa\n", ""]


=== TEST 10: COPY with Overwrite: F onto an existing file
--- config
    location /w/ {
        dav_methods COPY;
    }
--- user_files
>>> w/a.txt
aaa
>>> w/b.txt
bbb
--- request eval
["COPY /w/a.txt", "GET /w/b.txt"]
--- more_headers
Destination: /w/b.txt
Overwrite: F
--- error_code eval
[412, 200]
--- response_body_like eval
["412 Precondition Failed", "^bbb\n\$"]
--- error_log eval
qr/"\S+\/html\/w\/b\.txt" could not be created \(17: File exists\)/


=== TEST 11: MOVE a file to an absolute Destination in a new directory
--- config
    location /w/ {
        dav_methods MOVE;
    }
--- user_files
>>> w/a.txt
aaa
--- request eval
["MOVE /w/a.txt", "GET /w/sub/c.txt", "GET /w/a.txt"]
--- more_headers eval
"Destination: http://localhost:$ServerPort/w/sub/c.txt"
--- error_code eval
[204, 200, 404]


=== TEST 12: COPY, then MOVE, of a collection (201, no Location)
--- config
    location /w/ {
        dav_methods COPY MOVE;
    }
--- user_files
>>> w/src/one.txt
1
>>> w/src/in/two.txt
2
--- request eval
["COPY /w/src/", "MOVE /w/copy/", "GET /w/moved/in/two.txt", "GET /w/src/one.txt", "GET /w/copy/one.txt"]
--- more_headers eval
["Destination: /w/copy/", "Destination: /w/moved/", "", "", ""]
--- error_code eval
[201, 201, 200, 200, 404]
--- response_headers eval
["!Location\nContent-Length: 0", "!Location", "", "", ""]


=== TEST 13: Destination errors
--- config
    location /w/ {
        dav_methods COPY MOVE;
    }
--- user_files
>>> w/a.txt
a
>>> w/d/x
x
--- request eval
["COPY /w/a.txt", "COPY /w/a.txt", "COPY /w/a.txt", "MOVE /w/d/", "COPY /w/a.txt", "COPY /w/a.txt"]
--- more_headers eval
["", "Destination: http://other.example/w/b.txt", "Destination: /w/d/", "Destination: /w/e/\nDepth: 0", "Destination: /w/b.txt\nOverwrite: maybe", "Destination: /w/../b.txt"]
--- error_code eval
[400, 400, 409, 400, 400, 400]
--- error_log
client sent no "Destination" header
is handled by different repository than the source URI
should be either collections or non-collections
"Depth" header must be infinity
client sent invalid "Overwrite" header: "maybe"
client sent invalid "Destination" header: "/w/../b.txt"


=== TEST 14: DELETE a file, a collection, with Depth, missing
--- config
    location /w/ {
        dav_methods DELETE;
    }
--- user_files
>>> w/f.txt
f
>>> w/dir/a/b.txt
b
--- request eval
["DELETE /w/f.txt", "DELETE /w/f.txt", "DELETE /w/dir", "DELETE /w/dir/", "DELETE /w/dir/", "GET /w/dir/a/b.txt"]
--- more_headers eval
["", "", "", "Depth: 1", "", ""]
--- error_code eval
[204, 404, 409, 400, 204, 404]
--- error_log eval
[qr/lstat\(\) "\S+\/html\/w\/f\.txt" failed \(2: No such file or directory\)/, qr/DELETE "\S+\/html\/w\/dir" failed \(21: Is a directory\)/, qr/"Depth" header must be infinity/]


=== TEST 15: DELETE with a body
--- config
    location /w/ {
        dav_methods DELETE;
    }
--- user_files
>>> w/f.txt
f
--- request
DELETE /w/f.txt
x
--- error_code: 415
--- error_log
DELETE with body is unsupported


=== TEST 16: min_delete_depth
--- config
    location /w/ {
        dav_methods DELETE;
        min_delete_depth 4;
    }
--- user_files
>>> w/a/b/c.txt
c
--- request eval
["DELETE /w/a/b", "DELETE /w/a/b/c.txt"]
--- error_code eval
[409, 204]
--- error_log
insufficient URI depth:3 to DELETE


=== TEST 17: methods not enabled are answered by the static module
--- config
    location /w/ {
        dav_methods PUT;
    }
--- user_files
>>> w/a.txt
a
--- request eval
["DELETE /w/a.txt", "PROPFIND /w/a.txt", "GET /w/a.txt"]
--- error_code eval
[405, 405, 200]


=== TEST 18: ngx.req.set_header sets the Destination a MOVE uses
--- config
    location = /w/a.txt {
        rewrite_by_lua_block {
            ngx.req.set_header("Destination", "/w/b.txt")
        }
        dav_methods MOVE;
        dav_access all:rw;
    }
--- user_files
>>> w/a.txt
hello, world!
--- request
MOVE /w/a.txt
--- error_code: 204
--- response_body
--- no_error_log
client sent no "Destination" header
[error]
