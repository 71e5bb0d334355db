# TLS verification as OpenSSL does it, which libraries (lua-resty-http, proxying) meet with
# self-signed certificates: a server certificate that is itself trusted verifies (webpki
# alone refuses a self-signed leaf), and the host check falls back to the CN when the
# certificate has no subjectAltName. The certificate (P-256, CN=self.test, no
# subjectAltName, ten years) is the test's own.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: proxy_ssl_verify with the self-signed certificate trusted
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1 ssl;
        ssl_certificate $TEST_NGINX_HTML_DIR/self.crt;
        ssl_certificate_key $TEST_NGINX_HTML_DIR/self.key;
        location / { return 200 "backend\n"; }
    }
--- config
    location /p {
        proxy_ssl_verify on;
        proxy_ssl_trusted_certificate $TEST_NGINX_HTML_DIR/self.crt;
        proxy_ssl_name self.test;
        proxy_pass https://127.0.0.1:$TEST_NGINX_RAND_PORT_1/;
    }
--- user_files
>>> self.crt
-----BEGIN CERTIFICATE-----
MIIBfjCCASOgAwIBAgIUQP8EBgJ5Mi7jl1e8CxdyqxK4u+8wCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJc2VsZi50ZXN0MB4XDTI2MTEyOTAxMjQyN1oXDTM2MTEyNjAx
MjQyN1owFDESMBAGA1UEAwwJc2VsZi50ZXN0MFkwEwYHKoZIzj0CAQYIKoZIzj0D
AQcDQgAEb+ii5wSWTRdy1nyS0fmMh4nuq4SqnloB7wLypD8vEJSZpScpaLV3xRzo
g5HHlp3G5uQgcn7BAXXC0g6mWp9OM6NTMFEwHQYDVR0OBBYEFJdc3jdHR4GCp2Gw
XiIAMuwTvqplMB8GA1UdIwQYMBaAFJdc3jdHR4GCp2GwXiIAMuwTvqplMA8GA1Ud
EwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSQAwRgIhALYRRf4L4VyHWW+llP3eyJAR
TwjZxE5/buRSvwWat6q3AiEAjwN8XNt9guD8qoT2uN2Z77bt6jUeIxdFdz4TiJzS
dCc=
-----END CERTIFICATE-----
>>> self.key
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg4MGi5IprGm8qgWsd
YhoJLy3IPaLg5SoVxptmWC85oD6hRANCAARv6KLnBJZNF3LWfJLR+YyHie6rhKqe
WgHvAvKkPy8QlJmlJylotXfFHOiDkceWncbm5CByfsEBdcLSDqZan04z
-----END PRIVATE KEY-----
--- request
GET /p
--- response_body
backend



=== TEST 2: proxy_ssl_verify with the self-signed certificate trusted, another name
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1 ssl;
        ssl_certificate $TEST_NGINX_HTML_DIR/self.crt;
        ssl_certificate_key $TEST_NGINX_HTML_DIR/self.key;
        location / { return 200 "backend\n"; }
    }
--- config
    location /p {
        proxy_ssl_verify on;
        proxy_ssl_trusted_certificate $TEST_NGINX_HTML_DIR/self.crt;
        proxy_ssl_name other.test;
        proxy_pass https://127.0.0.1:$TEST_NGINX_RAND_PORT_1/;
    }
--- user_files
>>> self.crt
-----BEGIN CERTIFICATE-----
MIIBfjCCASOgAwIBAgIUQP8EBgJ5Mi7jl1e8CxdyqxK4u+8wCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJc2VsZi50ZXN0MB4XDTI2MTEyOTAxMjQyN1oXDTM2MTEyNjAx
MjQyN1owFDESMBAGA1UEAwwJc2VsZi50ZXN0MFkwEwYHKoZIzj0CAQYIKoZIzj0D
AQcDQgAEb+ii5wSWTRdy1nyS0fmMh4nuq4SqnloB7wLypD8vEJSZpScpaLV3xRzo
g5HHlp3G5uQgcn7BAXXC0g6mWp9OM6NTMFEwHQYDVR0OBBYEFJdc3jdHR4GCp2Gw
XiIAMuwTvqplMB8GA1UdIwQYMBaAFJdc3jdHR4GCp2GwXiIAMuwTvqplMA8GA1Ud
EwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSQAwRgIhALYRRf4L4VyHWW+llP3eyJAR
TwjZxE5/buRSvwWat6q3AiEAjwN8XNt9guD8qoT2uN2Z77bt6jUeIxdFdz4TiJzS
dCc=
-----END CERTIFICATE-----
>>> self.key
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg4MGi5IprGm8qgWsd
YhoJLy3IPaLg5SoVxptmWC85oD6hRANCAARv6KLnBJZNF3LWfJLR+YyHie6rhKqe
WgHvAvKkPy8QlJmlJylotXfFHOiDkceWncbm5CByfsEBdcLSDqZan04z
-----END PRIVATE KEY-----
--- request
GET /p
--- error_code: 502
--- error_log
upstream SSL certificate does not match "other.test" while SSL handshaking to upstream



=== TEST 3: sslhandshake with the self-signed certificate trusted, or not
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1 ssl;
        ssl_certificate $TEST_NGINX_HTML_DIR/self.crt;
        ssl_certificate_key $TEST_NGINX_HTML_DIR/self.key;
        location / { return 200 "backend\n"; }
    }
--- config
    location /t {
        lua_ssl_trusted_certificate $TEST_NGINX_HTML_DIR/self.crt;
        content_by_lua_block {
            for _, name in ipairs({"self.test", "SELF.test", "other.test", "a.self.test"}) do
                local s = ngx.socket.tcp()
                s:settimeout(2000)
                s:connect("127.0.0.1", $TEST_NGINX_RAND_PORT_1)
                local sess, err = s:sslhandshake(nil, name, true)
                ngx.say(name, ": ", sess ~= nil, " ", err)
                s:close()
            end
        }
    }
    location /untrusted {
        content_by_lua_block {
            local s = ngx.socket.tcp()
            s:settimeout(2000)
            s:connect("127.0.0.1", $TEST_NGINX_RAND_PORT_1)
            ngx.say(s:sslhandshake(nil, "self.test", true))
        }
    }
--- user_files
>>> self.crt
-----BEGIN CERTIFICATE-----
MIIBfjCCASOgAwIBAgIUQP8EBgJ5Mi7jl1e8CxdyqxK4u+8wCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJc2VsZi50ZXN0MB4XDTI2MTEyOTAxMjQyN1oXDTM2MTEyNjAx
MjQyN1owFDESMBAGA1UEAwwJc2VsZi50ZXN0MFkwEwYHKoZIzj0CAQYIKoZIzj0D
AQcDQgAEb+ii5wSWTRdy1nyS0fmMh4nuq4SqnloB7wLypD8vEJSZpScpaLV3xRzo
g5HHlp3G5uQgcn7BAXXC0g6mWp9OM6NTMFEwHQYDVR0OBBYEFJdc3jdHR4GCp2Gw
XiIAMuwTvqplMB8GA1UdIwQYMBaAFJdc3jdHR4GCp2GwXiIAMuwTvqplMA8GA1Ud
EwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSQAwRgIhALYRRf4L4VyHWW+llP3eyJAR
TwjZxE5/buRSvwWat6q3AiEAjwN8XNt9guD8qoT2uN2Z77bt6jUeIxdFdz4TiJzS
dCc=
-----END CERTIFICATE-----
>>> self.key
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg4MGi5IprGm8qgWsd
YhoJLy3IPaLg5SoVxptmWC85oD6hRANCAARv6KLnBJZNF3LWfJLR+YyHie6rhKqe
WgHvAvKkPy8QlJmlJylotXfFHOiDkceWncbm5CByfsEBdcLSDqZan04z
-----END PRIVATE KEY-----
--- pipelined_requests eval
["GET /t", "GET /untrusted"]
--- response_body eval
["self.test: true nil
SELF.test: true nil
other.test: false certificate host mismatch
a.self.test: false certificate host mismatch
", "nil18: self-signed certificate
"]
