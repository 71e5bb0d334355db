# ngx_http_random_index_module: a random regular file of the directory (hidden files,
# directories skipped), declined for an empty directory or other methods, 404 for a missing one.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__


=== TEST 1: the only candidate is chosen; arguments are kept
--- config
    location /r/ {
        random_index on;
    }
    location = /r/only.txt {
        return 200 "only $args\n";
    }
--- user_files
>>> r/only.txt
x
>>> r/.hidden
h
>>> r/sub/inner.txt
i
--- request
GET /r/?a=1
--- response_body
only a=1


=== TEST 2: each pick is one of the files
--- config
    location /r/ {
        random_index on;
    }
--- user_files
>>> r/a.txt
A
>>> r/b.txt
B
--- request eval
["GET /r/", "GET /r/", "GET /r/", "GET /r/"]
--- response_body_like eval
["^[AB]\n\$", "^[AB]\n\$", "^[AB]\n\$", "^[AB]\n\$"]


=== TEST 3: an empty directory falls through to index; off and nested off
--- config
    location /e/ {
        random_index on;
    }
    location /o/ {
        random_index on;
        location /o/n/ {
            random_index off;
        }
    }
--- user_files
>>> e/.keep
>>> o/n/index.html
index
>>> o/n/z.txt
z
--- request eval
["GET /e/", "GET /o/n/"]
--- error_code eval
[403, 200]
--- response_body_like eval
["403 Forbidden", "^index\n\$"]


=== TEST 4: a missing directory
--- config
    location /m/ {
        random_index on;
    }
--- request
GET /m/
--- error_code: 404
--- error_log eval
qr/\[error\] .*opendir\(\) "\S+\/html\/m" failed \(2: No such file or directory\)/
