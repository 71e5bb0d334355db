# proxy_pass https:// and proxy_ssl_* (nginx: ngx_http_upstream_ssl_init_connection,
# ngx_http_upstream_ssl_handshake, ngx_http_upstream_ssl_name): a TLS server block of the
# same configuration is the upstream and prints what it saw (SNI, protocol, session reuse,
# client certificate). The certificates (P-256, ten years) are the test's own.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: proxy_pass https://: no SNI and TLSv1.2 by default, no client certificate
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1 ssl;
        ssl_certificate $TEST_NGINX_HTML_DIR/a.crt;
        ssl_certificate_key $TEST_NGINX_HTML_DIR/a.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:UP:1m;
        ssl_verify_client optional;
        ssl_client_certificate $TEST_NGINX_HTML_DIR/ca.crt;
        location / { return 200 "sni=[$ssl_server_name] $ssl_protocol reused=$ssl_session_reused dn=[$ssl_client_s_dn] $ssl_client_verify\n"; }
    }
--- config
    location /p { proxy_pass https://127.0.0.1:$TEST_NGINX_RAND_PORT_1/; }
--- user_files
>>> a.crt
-----BEGIN CERTIFICATE-----
MIIBbzCCARSgAwIBAgIBGjAKBggqhkjOPQQDAjAZMRcwFQYDVQQDDA5Db25mb3Jt
YW5jZSBDQTAeFw0yNjExMjgyMjEwNTZaFw0zNjExMjUyMjEwNTZaMBExDzANBgNV
BAMMBmEudGVzdDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABFjTCr09Zbr1FwDH
B7Vl5nKS/EdwAo20puw3jJAeF9VIiAMEUlAi+ohXX2qWz5PYHE958dy9id+BBe4C
P5eW+JGjVTBTMBEGA1UdEQQKMAiCBmEudGVzdDAdBgNVHQ4EFgQUlZjJHnG5C+Jq
eLQ7eFIFpebozQ0wHwYDVR0jBBgwFoAUdjpu4F7qs2lvuG3064d+rldrNacwCgYI
KoZIzj0EAwIDSQAwRgIhAL7Q9hxznNotYwxNQkke+pMONefXWRFiNcahzGBiyHDi
AiEAzqb7iyLixXvex7/ddxrThC2DnLAbFC/iEHOd3hFJa6M=
-----END CERTIFICATE-----
>>> a.key
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgQl8+n3VPVgC2F+D8
xmgjX6heka+BRA0AD+fcLSMwgmahRANCAARY0wq9PWW69RcAxwe1ZeZykvxHcAKN
tKbsN4yQHhfVSIgDBFJQIvqIV19qls+T2BxPefHcvYnfgQXuAj+XlviR
-----END PRIVATE KEY-----
>>> ca.crt
-----BEGIN CERTIFICATE-----
MIIBhzCCAS2gAwIBAgIUdGFOwG7in8chM4fJ82UZA7xQCK4wCgYIKoZIzj0EAwIw
GTEXMBUGA1UEAwwOQ29uZm9ybWFuY2UgQ0EwHhcNMjYxMTI4MjIxMDU2WhcNMzYx
MTI1MjIxMDU2WjAZMRcwFQYDVQQDDA5Db25mb3JtYW5jZSBDQTBZMBMGByqGSM49
AgEGCCqGSM49AwEHA0IABC5ARWMTVBN3jMG82zl8ZDlOy9MT2vZLtvCM5EcTRliq
Gp+Fh2je9zJFR1ViAXGnuEY5CTpTzGxcaSXLyUY05j2jUzBRMB0GA1UdDgQWBBR2
Om7gXuqzaW+4bfTrh36uV2s1pzAfBgNVHSMEGDAWgBR2Om7gXuqzaW+4bfTrh36u
V2s1pzAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0gAMEUCIQC0EJIjNtF7
ElT99xtDFEqEo6OvJb2yQMWSxpOEhQgw3gIgekhQ9IeYH1Optbiu9cb07A7LRwlB
/K+6WIb4rl/UOiw=
-----END CERTIFICATE-----
--- request
GET /p
--- response_body
sni=[] TLSv1.2 reused=. dn=[] NONE



=== TEST 2: proxy_ssl_server_name on: proxy_ssl_name without its port goes out as SNI
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1 ssl;
        ssl_certificate $TEST_NGINX_HTML_DIR/a.crt;
        ssl_certificate_key $TEST_NGINX_HTML_DIR/a.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:UP:1m;
        ssl_verify_client optional;
        ssl_client_certificate $TEST_NGINX_HTML_DIR/ca.crt;
        location / { return 200 "sni=[$ssl_server_name] $ssl_protocol reused=$ssl_session_reused dn=[$ssl_client_s_dn] $ssl_client_verify\n"; }
    }
--- config
    location /p { proxy_ssl_server_name on; proxy_ssl_name a.test:8443; proxy_pass https://127.0.0.1:$TEST_NGINX_RAND_PORT_1/; }
--- user_files
>>> a.crt
-----BEGIN CERTIFICATE-----
MIIBbzCCARSgAwIBAgIBGjAKBggqhkjOPQQDAjAZMRcwFQYDVQQDDA5Db25mb3Jt
YW5jZSBDQTAeFw0yNjExMjgyMjEwNTZaFw0zNjExMjUyMjEwNTZaMBExDzANBgNV
BAMMBmEudGVzdDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABFjTCr09Zbr1FwDH
B7Vl5nKS/EdwAo20puw3jJAeF9VIiAMEUlAi+ohXX2qWz5PYHE958dy9id+BBe4C
P5eW+JGjVTBTMBEGA1UdEQQKMAiCBmEudGVzdDAdBgNVHQ4EFgQUlZjJHnG5C+Jq
eLQ7eFIFpebozQ0wHwYDVR0jBBgwFoAUdjpu4F7qs2lvuG3064d+rldrNacwCgYI
KoZIzj0EAwIDSQAwRgIhAL7Q9hxznNotYwxNQkke+pMONefXWRFiNcahzGBiyHDi
AiEAzqb7iyLixXvex7/ddxrThC2DnLAbFC/iEHOd3hFJa6M=
-----END CERTIFICATE-----
>>> a.key
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgQl8+n3VPVgC2F+D8
xmgjX6heka+BRA0AD+fcLSMwgmahRANCAARY0wq9PWW69RcAxwe1ZeZykvxHcAKN
tKbsN4yQHhfVSIgDBFJQIvqIV19qls+T2BxPefHcvYnfgQXuAj+XlviR
-----END PRIVATE KEY-----
>>> ca.crt
-----BEGIN CERTIFICATE-----
MIIBhzCCAS2gAwIBAgIUdGFOwG7in8chM4fJ82UZA7xQCK4wCgYIKoZIzj0EAwIw
GTEXMBUGA1UEAwwOQ29uZm9ybWFuY2UgQ0EwHhcNMjYxMTI4MjIxMDU2WhcNMzYx
MTI1MjIxMDU2WjAZMRcwFQYDVQQDDA5Db25mb3JtYW5jZSBDQTBZMBMGByqGSM49
AgEGCCqGSM49AwEHA0IABC5ARWMTVBN3jMG82zl8ZDlOy9MT2vZLtvCM5EcTRliq
Gp+Fh2je9zJFR1ViAXGnuEY5CTpTzGxcaSXLyUY05j2jUzBRMB0GA1UdDgQWBBR2
Om7gXuqzaW+4bfTrh36uV2s1pzAfBgNVHSMEGDAWgBR2Om7gXuqzaW+4bfTrh36u
V2s1pzAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0gAMEUCIQC0EJIjNtF7
ElT99xtDFEqEo6OvJb2yQMWSxpOEhQgw3gIgekhQ9IeYH1Optbiu9cb07A7LRwlB
/K+6WIb4rl/UOiw=
-----END CERTIFICATE-----
--- request
GET /p
--- response_body
sni=[a.test] TLSv1.2 reused=. dn=[] NONE



=== TEST 3: proxy_ssl_server_name on: no SNI for an IPv4 address
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1 ssl;
        ssl_certificate $TEST_NGINX_HTML_DIR/a.crt;
        ssl_certificate_key $TEST_NGINX_HTML_DIR/a.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:UP:1m;
        ssl_verify_client optional;
        ssl_client_certificate $TEST_NGINX_HTML_DIR/ca.crt;
        location / { return 200 "sni=[$ssl_server_name] $ssl_protocol reused=$ssl_session_reused dn=[$ssl_client_s_dn] $ssl_client_verify\n"; }
    }
--- config
    location /p { proxy_ssl_server_name on; proxy_pass https://127.0.0.1:$TEST_NGINX_RAND_PORT_1/; }
--- user_files
>>> a.crt
-----BEGIN CERTIFICATE-----
MIIBbzCCARSgAwIBAgIBGjAKBggqhkjOPQQDAjAZMRcwFQYDVQQDDA5Db25mb3Jt
YW5jZSBDQTAeFw0yNjExMjgyMjEwNTZaFw0zNjExMjUyMjEwNTZaMBExDzANBgNV
BAMMBmEudGVzdDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABFjTCr09Zbr1FwDH
B7Vl5nKS/EdwAo20puw3jJAeF9VIiAMEUlAi+ohXX2qWz5PYHE958dy9id+BBe4C
P5eW+JGjVTBTMBEGA1UdEQQKMAiCBmEudGVzdDAdBgNVHQ4EFgQUlZjJHnG5C+Jq
eLQ7eFIFpebozQ0wHwYDVR0jBBgwFoAUdjpu4F7qs2lvuG3064d+rldrNacwCgYI
KoZIzj0EAwIDSQAwRgIhAL7Q9hxznNotYwxNQkke+pMONefXWRFiNcahzGBiyHDi
AiEAzqb7iyLixXvex7/ddxrThC2DnLAbFC/iEHOd3hFJa6M=
-----END CERTIFICATE-----
>>> a.key
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgQl8+n3VPVgC2F+D8
xmgjX6heka+BRA0AD+fcLSMwgmahRANCAARY0wq9PWW69RcAxwe1ZeZykvxHcAKN
tKbsN4yQHhfVSIgDBFJQIvqIV19qls+T2BxPefHcvYnfgQXuAj+XlviR
-----END PRIVATE KEY-----
>>> ca.crt
-----BEGIN CERTIFICATE-----
MIIBhzCCAS2gAwIBAgIUdGFOwG7in8chM4fJ82UZA7xQCK4wCgYIKoZIzj0EAwIw
GTEXMBUGA1UEAwwOQ29uZm9ybWFuY2UgQ0EwHhcNMjYxMTI4MjIxMDU2WhcNMzYx
MTI1MjIxMDU2WjAZMRcwFQYDVQQDDA5Db25mb3JtYW5jZSBDQTBZMBMGByqGSM49
AgEGCCqGSM49AwEHA0IABC5ARWMTVBN3jMG82zl8ZDlOy9MT2vZLtvCM5EcTRliq
Gp+Fh2je9zJFR1ViAXGnuEY5CTpTzGxcaSXLyUY05j2jUzBRMB0GA1UdDgQWBBR2
Om7gXuqzaW+4bfTrh36uV2s1pzAfBgNVHSMEGDAWgBR2Om7gXuqzaW+4bfTrh36u
V2s1pzAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0gAMEUCIQC0EJIjNtF7
ElT99xtDFEqEo6OvJb2yQMWSxpOEhQgw3gIgekhQ9IeYH1Optbiu9cb07A7LRwlB
/K+6WIb4rl/UOiw=
-----END CERTIFICATE-----
--- request
GET /p
--- response_body
sni=[] TLSv1.2 reused=. dn=[] NONE



=== TEST 4: proxy_ssl_verify with the issuing CA trusted and the right name
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1 ssl;
        ssl_certificate $TEST_NGINX_HTML_DIR/a.crt;
        ssl_certificate_key $TEST_NGINX_HTML_DIR/a.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:UP:1m;
        ssl_verify_client optional;
        ssl_client_certificate $TEST_NGINX_HTML_DIR/ca.crt;
        location / { return 200 "sni=[$ssl_server_name] $ssl_protocol reused=$ssl_session_reused dn=[$ssl_client_s_dn] $ssl_client_verify\n"; }
    }
--- config
    location /p { proxy_ssl_verify on; proxy_ssl_trusted_certificate $TEST_NGINX_HTML_DIR/ca.crt; proxy_ssl_name a.test; proxy_pass https://127.0.0.1:$TEST_NGINX_RAND_PORT_1/; }
--- user_files
>>> a.crt
-----BEGIN CERTIFICATE-----
MIIBbzCCARSgAwIBAgIBGjAKBggqhkjOPQQDAjAZMRcwFQYDVQQDDA5Db25mb3Jt
YW5jZSBDQTAeFw0yNjExMjgyMjEwNTZaFw0zNjExMjUyMjEwNTZaMBExDzANBgNV
BAMMBmEudGVzdDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABFjTCr09Zbr1FwDH
B7Vl5nKS/EdwAo20puw3jJAeF9VIiAMEUlAi+ohXX2qWz5PYHE958dy9id+BBe4C
P5eW+JGjVTBTMBEGA1UdEQQKMAiCBmEudGVzdDAdBgNVHQ4EFgQUlZjJHnG5C+Jq
eLQ7eFIFpebozQ0wHwYDVR0jBBgwFoAUdjpu4F7qs2lvuG3064d+rldrNacwCgYI
KoZIzj0EAwIDSQAwRgIhAL7Q9hxznNotYwxNQkke+pMONefXWRFiNcahzGBiyHDi
AiEAzqb7iyLixXvex7/ddxrThC2DnLAbFC/iEHOd3hFJa6M=
-----END CERTIFICATE-----
>>> a.key
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgQl8+n3VPVgC2F+D8
xmgjX6heka+BRA0AD+fcLSMwgmahRANCAARY0wq9PWW69RcAxwe1ZeZykvxHcAKN
tKbsN4yQHhfVSIgDBFJQIvqIV19qls+T2BxPefHcvYnfgQXuAj+XlviR
-----END PRIVATE KEY-----
>>> ca.crt
-----BEGIN CERTIFICATE-----
MIIBhzCCAS2gAwIBAgIUdGFOwG7in8chM4fJ82UZA7xQCK4wCgYIKoZIzj0EAwIw
GTEXMBUGA1UEAwwOQ29uZm9ybWFuY2UgQ0EwHhcNMjYxMTI4MjIxMDU2WhcNMzYx
MTI1MjIxMDU2WjAZMRcwFQYDVQQDDA5Db25mb3JtYW5jZSBDQTBZMBMGByqGSM49
AgEGCCqGSM49AwEHA0IABC5ARWMTVBN3jMG82zl8ZDlOy9MT2vZLtvCM5EcTRliq
Gp+Fh2je9zJFR1ViAXGnuEY5CTpTzGxcaSXLyUY05j2jUzBRMB0GA1UdDgQWBBR2
Om7gXuqzaW+4bfTrh36uV2s1pzAfBgNVHSMEGDAWgBR2Om7gXuqzaW+4bfTrh36u
V2s1pzAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0gAMEUCIQC0EJIjNtF7
ElT99xtDFEqEo6OvJb2yQMWSxpOEhQgw3gIgekhQ9IeYH1Optbiu9cb07A7LRwlB
/K+6WIb4rl/UOiw=
-----END CERTIFICATE-----
--- request
GET /p
--- response_body
sni=[] TLSv1.2 reused=. dn=[] NONE



=== TEST 5: proxy_ssl_verify: a name the certificate does not have is a 502
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1 ssl;
        ssl_certificate $TEST_NGINX_HTML_DIR/a.crt;
        ssl_certificate_key $TEST_NGINX_HTML_DIR/a.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:UP:1m;
        ssl_verify_client optional;
        ssl_client_certificate $TEST_NGINX_HTML_DIR/ca.crt;
        location / { return 200 "sni=[$ssl_server_name] $ssl_protocol reused=$ssl_session_reused dn=[$ssl_client_s_dn] $ssl_client_verify\n"; }
    }
--- config
    location /p { proxy_ssl_verify on; proxy_ssl_trusted_certificate $TEST_NGINX_HTML_DIR/ca.crt; proxy_ssl_name b.test; proxy_pass https://127.0.0.1:$TEST_NGINX_RAND_PORT_1/; }
--- user_files
>>> a.crt
-----BEGIN CERTIFICATE-----
MIIBbzCCARSgAwIBAgIBGjAKBggqhkjOPQQDAjAZMRcwFQYDVQQDDA5Db25mb3Jt
YW5jZSBDQTAeFw0yNjExMjgyMjEwNTZaFw0zNjExMjUyMjEwNTZaMBExDzANBgNV
BAMMBmEudGVzdDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABFjTCr09Zbr1FwDH
B7Vl5nKS/EdwAo20puw3jJAeF9VIiAMEUlAi+ohXX2qWz5PYHE958dy9id+BBe4C
P5eW+JGjVTBTMBEGA1UdEQQKMAiCBmEudGVzdDAdBgNVHQ4EFgQUlZjJHnG5C+Jq
eLQ7eFIFpebozQ0wHwYDVR0jBBgwFoAUdjpu4F7qs2lvuG3064d+rldrNacwCgYI
KoZIzj0EAwIDSQAwRgIhAL7Q9hxznNotYwxNQkke+pMONefXWRFiNcahzGBiyHDi
AiEAzqb7iyLixXvex7/ddxrThC2DnLAbFC/iEHOd3hFJa6M=
-----END CERTIFICATE-----
>>> a.key
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgQl8+n3VPVgC2F+D8
xmgjX6heka+BRA0AD+fcLSMwgmahRANCAARY0wq9PWW69RcAxwe1ZeZykvxHcAKN
tKbsN4yQHhfVSIgDBFJQIvqIV19qls+T2BxPefHcvYnfgQXuAj+XlviR
-----END PRIVATE KEY-----
>>> ca.crt
-----BEGIN CERTIFICATE-----
MIIBhzCCAS2gAwIBAgIUdGFOwG7in8chM4fJ82UZA7xQCK4wCgYIKoZIzj0EAwIw
GTEXMBUGA1UEAwwOQ29uZm9ybWFuY2UgQ0EwHhcNMjYxMTI4MjIxMDU2WhcNMzYx
MTI1MjIxMDU2WjAZMRcwFQYDVQQDDA5Db25mb3JtYW5jZSBDQTBZMBMGByqGSM49
AgEGCCqGSM49AwEHA0IABC5ARWMTVBN3jMG82zl8ZDlOy9MT2vZLtvCM5EcTRliq
Gp+Fh2je9zJFR1ViAXGnuEY5CTpTzGxcaSXLyUY05j2jUzBRMB0GA1UdDgQWBBR2
Om7gXuqzaW+4bfTrh36uV2s1pzAfBgNVHSMEGDAWgBR2Om7gXuqzaW+4bfTrh36u
V2s1pzAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0gAMEUCIQC0EJIjNtF7
ElT99xtDFEqEo6OvJb2yQMWSxpOEhQgw3gIgekhQ9IeYH1Optbiu9cb07A7LRwlB
/K+6WIb4rl/UOiw=
-----END CERTIFICATE-----
--- request
GET /p
--- error_code: 502
--- error_log
upstream SSL certificate does not match "b.test" while SSL handshaking to upstream



=== TEST 6: proxy_ssl_verify: a self-signed upstream certificate is a 502
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1 ssl;
        ssl_certificate $TEST_NGINX_HTML_DIR/self.crt;
        ssl_certificate_key $TEST_NGINX_HTML_DIR/self.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:UP:1m;
        ssl_verify_client optional;
        ssl_client_certificate $TEST_NGINX_HTML_DIR/ca.crt;
        location / { return 200 "sni=[$ssl_server_name] $ssl_protocol reused=$ssl_session_reused dn=[$ssl_client_s_dn] $ssl_client_verify\n"; }
    }
--- config
    location /p { proxy_ssl_verify on; proxy_ssl_trusted_certificate $TEST_NGINX_HTML_DIR/ca.crt; proxy_ssl_name a.test; proxy_pass https://127.0.0.1:$TEST_NGINX_RAND_PORT_1/; }
--- user_files
>>> self.crt
-----BEGIN CERTIFICATE-----
MIIBeDCCAR2gAwIBAgIUHpUomUHXs5o7KanO/1jJ4jhpEcYwCgYIKoZIzj0EAwIw
ETEPMA0GA1UEAwwGYS50ZXN0MB4XDTI2MTEyODIyMTA1NloXDTM2MTEyNTIyMTA1
NlowETEPMA0GA1UEAwwGYS50ZXN0MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE
m1SJMKXm4NZilVkxKl+9i0XAPYwgRvafvRdFReu6OIZ4hTyGIJkaj8HQZcUkgpfg
XJ6vc2N3Ee4BuT/4T7ImRaNTMFEwHQYDVR0OBBYEFJWguO3XYeiet7W8Wb9Vqvl/
6J2pMB8GA1UdIwQYMBaAFJWguO3XYeiet7W8Wb9Vqvl/6J2pMA8GA1UdEwEB/wQF
MAMBAf8wCgYIKoZIzj0EAwIDSQAwRgIhAOy0P8JnwhSBw7fkbeyFprLJWEptDVod
U7+VSxRNT7bdAiEA0XP9IyQVXZ/9Sttnx1Ei0hWYyTGLsnP0JaZ+piXTfeA=
-----END CERTIFICATE-----
>>> self.key
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgN8B08AqDNjjQQzqo
w6o1c7JgDNUDEdy89W5d/7FcaWahRANCAASbVIkwpebg1mKVWTEqX72LRcA9jCBG
9p+9F0VF67o4hniFPIYgmRqPwdBlxSSCl+Bcnq9zY3cR7gG5P/hPsiZF
-----END PRIVATE KEY-----
>>> ca.crt
-----BEGIN CERTIFICATE-----
MIIBhzCCAS2gAwIBAgIUdGFOwG7in8chM4fJ82UZA7xQCK4wCgYIKoZIzj0EAwIw
GTEXMBUGA1UEAwwOQ29uZm9ybWFuY2UgQ0EwHhcNMjYxMTI4MjIxMDU2WhcNMzYx
MTI1MjIxMDU2WjAZMRcwFQYDVQQDDA5Db25mb3JtYW5jZSBDQTBZMBMGByqGSM49
AgEGCCqGSM49AwEHA0IABC5ARWMTVBN3jMG82zl8ZDlOy9MT2vZLtvCM5EcTRliq
Gp+Fh2je9zJFR1ViAXGnuEY5CTpTzGxcaSXLyUY05j2jUzBRMB0GA1UdDgQWBBR2
Om7gXuqzaW+4bfTrh36uV2s1pzAfBgNVHSMEGDAWgBR2Om7gXuqzaW+4bfTrh36u
V2s1pzAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0gAMEUCIQC0EJIjNtF7
ElT99xtDFEqEo6OvJb2yQMWSxpOEhQgw3gIgekhQ9IeYH1Optbiu9cb07A7LRwlB
/K+6WIb4rl/UOiw=
-----END CERTIFICATE-----
--- request
GET /p
--- error_code: 502
--- error_log
upstream SSL certificate verify error: (18:self-signed certificate) while SSL handshaking to upstream



=== TEST 7: proxy_ssl_certificate: the upstream sees the client certificate
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1 ssl;
        ssl_certificate $TEST_NGINX_HTML_DIR/a.crt;
        ssl_certificate_key $TEST_NGINX_HTML_DIR/a.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:UP:1m;
        ssl_verify_client optional;
        ssl_client_certificate $TEST_NGINX_HTML_DIR/ca.crt;
        location / { return 200 "sni=[$ssl_server_name] $ssl_protocol reused=$ssl_session_reused dn=[$ssl_client_s_dn] $ssl_client_verify\n"; }
    }
--- config
    location /p { proxy_ssl_certificate $TEST_NGINX_HTML_DIR/client.crt; proxy_ssl_certificate_key $TEST_NGINX_HTML_DIR/client.key; proxy_pass https://127.0.0.1:$TEST_NGINX_RAND_PORT_1/; }
--- user_files
>>> a.crt
-----BEGIN CERTIFICATE-----
MIIBbzCCARSgAwIBAgIBGjAKBggqhkjOPQQDAjAZMRcwFQYDVQQDDA5Db25mb3Jt
YW5jZSBDQTAeFw0yNjExMjgyMjEwNTZaFw0zNjExMjUyMjEwNTZaMBExDzANBgNV
BAMMBmEudGVzdDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABFjTCr09Zbr1FwDH
B7Vl5nKS/EdwAo20puw3jJAeF9VIiAMEUlAi+ohXX2qWz5PYHE958dy9id+BBe4C
P5eW+JGjVTBTMBEGA1UdEQQKMAiCBmEudGVzdDAdBgNVHQ4EFgQUlZjJHnG5C+Jq
eLQ7eFIFpebozQ0wHwYDVR0jBBgwFoAUdjpu4F7qs2lvuG3064d+rldrNacwCgYI
KoZIzj0EAwIDSQAwRgIhAL7Q9hxznNotYwxNQkke+pMONefXWRFiNcahzGBiyHDi
AiEAzqb7iyLixXvex7/ddxrThC2DnLAbFC/iEHOd3hFJa6M=
-----END CERTIFICATE-----
>>> a.key
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgQl8+n3VPVgC2F+D8
xmgjX6heka+BRA0AD+fcLSMwgmahRANCAARY0wq9PWW69RcAxwe1ZeZykvxHcAKN
tKbsN4yQHhfVSIgDBFJQIvqIV19qls+T2BxPefHcvYnfgQXuAj+XlviR
-----END PRIVATE KEY-----
>>> ca.crt
-----BEGIN CERTIFICATE-----
MIIBhzCCAS2gAwIBAgIUdGFOwG7in8chM4fJ82UZA7xQCK4wCgYIKoZIzj0EAwIw
GTEXMBUGA1UEAwwOQ29uZm9ybWFuY2UgQ0EwHhcNMjYxMTI4MjIxMDU2WhcNMzYx
MTI1MjIxMDU2WjAZMRcwFQYDVQQDDA5Db25mb3JtYW5jZSBDQTBZMBMGByqGSM49
AgEGCCqGSM49AwEHA0IABC5ARWMTVBN3jMG82zl8ZDlOy9MT2vZLtvCM5EcTRliq
Gp+Fh2je9zJFR1ViAXGnuEY5CTpTzGxcaSXLyUY05j2jUzBRMB0GA1UdDgQWBBR2
Om7gXuqzaW+4bfTrh36uV2s1pzAfBgNVHSMEGDAWgBR2Om7gXuqzaW+4bfTrh36u
V2s1pzAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0gAMEUCIQC0EJIjNtF7
ElT99xtDFEqEo6OvJb2yQMWSxpOEhQgw3gIgekhQ9IeYH1Optbiu9cb07A7LRwlB
/K+6WIb4rl/UOiw=
-----END CERTIFICATE-----
>>> client.crt
-----BEGIN CERTIFICATE-----
MIIBhzCCAS2gAwIBAgIBKzAKBggqhkjOPQQDAjAZMRcwFQYDVQQDDA5Db25mb3Jt
YW5jZSBDQTAeFw0yNjExMjgyMjEwNTZaFw0zNjExMjUyMjEwNTZaMB0xGzAZBgNV
BAMMEmNvbmZvcm1hbmNlIGNsaWVudDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IA
BHIrm1T1aj3Iu2GlYuPDIJ7tAnxuAk0mDBy1ofGZx4eauCoZW5bz1nok2UO65ee4
AXPs8ctq6/zAgKgEJqeFexyjYjBgMAkGA1UdEwQCMAAwEwYDVR0lBAwwCgYIKwYB
BQUHAwIwHQYDVR0OBBYEFNYVgLZlB3lJEst9e/AZwiziV4ImMB8GA1UdIwQYMBaA
FHY6buBe6rNpb7ht9OuHfq5XazWnMAoGCCqGSM49BAMCA0gAMEUCIQDmzm2iwhX8
53QqbAI5NaknO5rHQnZt5ZoZNRLFSMVD3AIgYuTCzan2+bWlijNrJwzJWvQTmrDj
8Rr4ia4mIF6crz4=
-----END CERTIFICATE-----
>>> client.key
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgBTvC52RaHcTfn9GD
hF0Hi939yYaYivtzO+z03yqbMgihRANCAARyK5tU9Wo9yLthpWLjwyCe7QJ8bgJN
JgwctaHxmceHmrgqGVuW89Z6JNlDuuXnuAFz7PHLauv8wICoBCanhXsc
-----END PRIVATE KEY-----
--- request
GET /p
--- response_body
sni=[] TLSv1.2 reused=. dn=[CN=conformance client] SUCCESS



=== TEST 8: proxy_ssl_session_reuse (on by default): the second connection resumes the session
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1 ssl;
        ssl_certificate $TEST_NGINX_HTML_DIR/a.crt;
        ssl_certificate_key $TEST_NGINX_HTML_DIR/a.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:UP:1m;
        ssl_verify_client optional;
        ssl_client_certificate $TEST_NGINX_HTML_DIR/ca.crt;
        location / { return 200 "sni=[$ssl_server_name] $ssl_protocol reused=$ssl_session_reused dn=[$ssl_client_s_dn] $ssl_client_verify\n"; }
    }
--- config
    location /p { proxy_pass https://127.0.0.1:$TEST_NGINX_RAND_PORT_1/; }
--- user_files
>>> a.crt
-----BEGIN CERTIFICATE-----
MIIBbzCCARSgAwIBAgIBGjAKBggqhkjOPQQDAjAZMRcwFQYDVQQDDA5Db25mb3Jt
YW5jZSBDQTAeFw0yNjExMjgyMjEwNTZaFw0zNjExMjUyMjEwNTZaMBExDzANBgNV
BAMMBmEudGVzdDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABFjTCr09Zbr1FwDH
B7Vl5nKS/EdwAo20puw3jJAeF9VIiAMEUlAi+ohXX2qWz5PYHE958dy9id+BBe4C
P5eW+JGjVTBTMBEGA1UdEQQKMAiCBmEudGVzdDAdBgNVHQ4EFgQUlZjJHnG5C+Jq
eLQ7eFIFpebozQ0wHwYDVR0jBBgwFoAUdjpu4F7qs2lvuG3064d+rldrNacwCgYI
KoZIzj0EAwIDSQAwRgIhAL7Q9hxznNotYwxNQkke+pMONefXWRFiNcahzGBiyHDi
AiEAzqb7iyLixXvex7/ddxrThC2DnLAbFC/iEHOd3hFJa6M=
-----END CERTIFICATE-----
>>> a.key
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgQl8+n3VPVgC2F+D8
xmgjX6heka+BRA0AD+fcLSMwgmahRANCAARY0wq9PWW69RcAxwe1ZeZykvxHcAKN
tKbsN4yQHhfVSIgDBFJQIvqIV19qls+T2BxPefHcvYnfgQXuAj+XlviR
-----END PRIVATE KEY-----
>>> ca.crt
-----BEGIN CERTIFICATE-----
MIIBhzCCAS2gAwIBAgIUdGFOwG7in8chM4fJ82UZA7xQCK4wCgYIKoZIzj0EAwIw
GTEXMBUGA1UEAwwOQ29uZm9ybWFuY2UgQ0EwHhcNMjYxMTI4MjIxMDU2WhcNMzYx
MTI1MjIxMDU2WjAZMRcwFQYDVQQDDA5Db25mb3JtYW5jZSBDQTBZMBMGByqGSM49
AgEGCCqGSM49AwEHA0IABC5ARWMTVBN3jMG82zl8ZDlOy9MT2vZLtvCM5EcTRliq
Gp+Fh2je9zJFR1ViAXGnuEY5CTpTzGxcaSXLyUY05j2jUzBRMB0GA1UdDgQWBBR2
Om7gXuqzaW+4bfTrh36uV2s1pzAfBgNVHSMEGDAWgBR2Om7gXuqzaW+4bfTrh36u
V2s1pzAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0gAMEUCIQC0EJIjNtF7
ElT99xtDFEqEo6OvJb2yQMWSxpOEhQgw3gIgekhQ9IeYH1Optbiu9cb07A7LRwlB
/K+6WIb4rl/UOiw=
-----END CERTIFICATE-----
--- request eval
["GET /p", "GET /p"]
--- response_body eval
["sni=[] TLSv1.2 reused=. dn=[] NONE\n", "sni=[] TLSv1.2 reused=r dn=[] NONE\n"]



=== TEST 9: proxy_ssl_session_reuse off: every connection has a full handshake
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1 ssl;
        ssl_certificate $TEST_NGINX_HTML_DIR/a.crt;
        ssl_certificate_key $TEST_NGINX_HTML_DIR/a.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:UP:1m;
        ssl_verify_client optional;
        ssl_client_certificate $TEST_NGINX_HTML_DIR/ca.crt;
        location / { return 200 "sni=[$ssl_server_name] $ssl_protocol reused=$ssl_session_reused dn=[$ssl_client_s_dn] $ssl_client_verify\n"; }
    }
--- config
    location /p { proxy_ssl_session_reuse off; proxy_pass https://127.0.0.1:$TEST_NGINX_RAND_PORT_1/; }
--- user_files
>>> a.crt
-----BEGIN CERTIFICATE-----
MIIBbzCCARSgAwIBAgIBGjAKBggqhkjOPQQDAjAZMRcwFQYDVQQDDA5Db25mb3Jt
YW5jZSBDQTAeFw0yNjExMjgyMjEwNTZaFw0zNjExMjUyMjEwNTZaMBExDzANBgNV
BAMMBmEudGVzdDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABFjTCr09Zbr1FwDH
B7Vl5nKS/EdwAo20puw3jJAeF9VIiAMEUlAi+ohXX2qWz5PYHE958dy9id+BBe4C
P5eW+JGjVTBTMBEGA1UdEQQKMAiCBmEudGVzdDAdBgNVHQ4EFgQUlZjJHnG5C+Jq
eLQ7eFIFpebozQ0wHwYDVR0jBBgwFoAUdjpu4F7qs2lvuG3064d+rldrNacwCgYI
KoZIzj0EAwIDSQAwRgIhAL7Q9hxznNotYwxNQkke+pMONefXWRFiNcahzGBiyHDi
AiEAzqb7iyLixXvex7/ddxrThC2DnLAbFC/iEHOd3hFJa6M=
-----END CERTIFICATE-----
>>> a.key
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgQl8+n3VPVgC2F+D8
xmgjX6heka+BRA0AD+fcLSMwgmahRANCAARY0wq9PWW69RcAxwe1ZeZykvxHcAKN
tKbsN4yQHhfVSIgDBFJQIvqIV19qls+T2BxPefHcvYnfgQXuAj+XlviR
-----END PRIVATE KEY-----
>>> ca.crt
-----BEGIN CERTIFICATE-----
MIIBhzCCAS2gAwIBAgIUdGFOwG7in8chM4fJ82UZA7xQCK4wCgYIKoZIzj0EAwIw
GTEXMBUGA1UEAwwOQ29uZm9ybWFuY2UgQ0EwHhcNMjYxMTI4MjIxMDU2WhcNMzYx
MTI1MjIxMDU2WjAZMRcwFQYDVQQDDA5Db25mb3JtYW5jZSBDQTBZMBMGByqGSM49
AgEGCCqGSM49AwEHA0IABC5ARWMTVBN3jMG82zl8ZDlOy9MT2vZLtvCM5EcTRliq
Gp+Fh2je9zJFR1ViAXGnuEY5CTpTzGxcaSXLyUY05j2jUzBRMB0GA1UdDgQWBBR2
Om7gXuqzaW+4bfTrh36uV2s1pzAfBgNVHSMEGDAWgBR2Om7gXuqzaW+4bfTrh36u
V2s1pzAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0gAMEUCIQC0EJIjNtF7
ElT99xtDFEqEo6OvJb2yQMWSxpOEhQgw3gIgekhQ9IeYH1Optbiu9cb07A7LRwlB
/K+6WIb4rl/UOiw=
-----END CERTIFICATE-----
--- request eval
["GET /p", "GET /p"]
--- response_body eval
["sni=[] TLSv1.2 reused=. dn=[] NONE\n", "sni=[] TLSv1.2 reused=. dn=[] NONE\n"]



=== TEST 10: proxy_ssl_protocols TLSv1.3
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1 ssl;
        ssl_certificate $TEST_NGINX_HTML_DIR/a.crt;
        ssl_certificate_key $TEST_NGINX_HTML_DIR/a.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:UP:1m;
        ssl_verify_client optional;
        ssl_client_certificate $TEST_NGINX_HTML_DIR/ca.crt;
        location / { return 200 "sni=[$ssl_server_name] $ssl_protocol reused=$ssl_session_reused dn=[$ssl_client_s_dn] $ssl_client_verify\n"; }
    }
--- config
    location /p { proxy_ssl_protocols TLSv1.3; proxy_pass https://127.0.0.1:$TEST_NGINX_RAND_PORT_1/; }
--- user_files
>>> a.crt
-----BEGIN CERTIFICATE-----
MIIBbzCCARSgAwIBAgIBGjAKBggqhkjOPQQDAjAZMRcwFQYDVQQDDA5Db25mb3Jt
YW5jZSBDQTAeFw0yNjExMjgyMjEwNTZaFw0zNjExMjUyMjEwNTZaMBExDzANBgNV
BAMMBmEudGVzdDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABFjTCr09Zbr1FwDH
B7Vl5nKS/EdwAo20puw3jJAeF9VIiAMEUlAi+ohXX2qWz5PYHE958dy9id+BBe4C
P5eW+JGjVTBTMBEGA1UdEQQKMAiCBmEudGVzdDAdBgNVHQ4EFgQUlZjJHnG5C+Jq
eLQ7eFIFpebozQ0wHwYDVR0jBBgwFoAUdjpu4F7qs2lvuG3064d+rldrNacwCgYI
KoZIzj0EAwIDSQAwRgIhAL7Q9hxznNotYwxNQkke+pMONefXWRFiNcahzGBiyHDi
AiEAzqb7iyLixXvex7/ddxrThC2DnLAbFC/iEHOd3hFJa6M=
-----END CERTIFICATE-----
>>> a.key
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgQl8+n3VPVgC2F+D8
xmgjX6heka+BRA0AD+fcLSMwgmahRANCAARY0wq9PWW69RcAxwe1ZeZykvxHcAKN
tKbsN4yQHhfVSIgDBFJQIvqIV19qls+T2BxPefHcvYnfgQXuAj+XlviR
-----END PRIVATE KEY-----
>>> ca.crt
-----BEGIN CERTIFICATE-----
MIIBhzCCAS2gAwIBAgIUdGFOwG7in8chM4fJ82UZA7xQCK4wCgYIKoZIzj0EAwIw
GTEXMBUGA1UEAwwOQ29uZm9ybWFuY2UgQ0EwHhcNMjYxMTI4MjIxMDU2WhcNMzYx
MTI1MjIxMDU2WjAZMRcwFQYDVQQDDA5Db25mb3JtYW5jZSBDQTBZMBMGByqGSM49
AgEGCCqGSM49AwEHA0IABC5ARWMTVBN3jMG82zl8ZDlOy9MT2vZLtvCM5EcTRliq
Gp+Fh2je9zJFR1ViAXGnuEY5CTpTzGxcaSXLyUY05j2jUzBRMB0GA1UdDgQWBBR2
Om7gXuqzaW+4bfTrh36uV2s1pzAfBgNVHSMEGDAWgBR2Om7gXuqzaW+4bfTrh36u
V2s1pzAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0gAMEUCIQC0EJIjNtF7
ElT99xtDFEqEo6OvJb2yQMWSxpOEhQgw3gIgekhQ9IeYH1Optbiu9cb07A7LRwlB
/K+6WIb4rl/UOiw=
-----END CERTIFICATE-----
--- request
GET /p
--- response_body
sni=[] TLSv1.3 reused=. dn=[] NONE
