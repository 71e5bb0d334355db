# ngx.ssl and ngx.ssl.clienthello outside the TLS hooks (the hooks themselves need a TLS
# client: tests/lua_ssl_cert.rs): PEM/DER conversions and their errors, the connection
# functions on a plain request, the clienthello functions refused outside their phase.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__


=== TEST 1: PEM conversion errors
--- config
    location = /t {
        content_by_lua_block {
            local ssl = require "ngx.ssl"
            ngx.say(select(2, ssl.cert_pem_to_der("garbage")))
            ngx.say(select(2, ssl.priv_key_pem_to_der("garbage")))
            ngx.say(select(2, ssl.parse_pem_cert("garbage")))
            ngx.say(select(2, ssl.parse_pem_priv_key("garbage")))
        }
    }
--- request
GET /t
--- response_body
PEM_read_bio_X509_AUX() failed
PEM_read_bio_PrivateKey() failed
PEM_read_bio_X509_AUX() failed
PEM_read_bio_PrivateKey() failed


=== TEST 2: connection functions on a plain request
--- config
    location = /t {
        content_by_lua_block {
            local ssl = require "ngx.ssl"
            ngx.say(ssl.server_name())
            ngx.say(ssl.get_tls1_version())
            ngx.say(ssl.get_tls1_version_str())
            ngx.say(ssl.raw_client_addr())
            ngx.say(ssl.server_port())
            ngx.say(ssl.clear_certs())
            ngx.say(ssl.set_der_cert("x"))
        }
    }
--- request
GET /t
--- response_body
nilbad request
nilbad request
nilbad request
nilnilbad request
nilbad request
nilbad request
nilbad request


=== TEST 3: version constants
--- config
    location = /t {
        content_by_lua_block {
            local ssl = require "ngx.ssl"
            ngx.say(ssl.SSL3_VERSION, " ", ssl.TLS1_VERSION, " ", ssl.TLS1_1_VERSION, " ",
                    ssl.TLS1_2_VERSION, " ", ssl.TLS1_3_VERSION)
        }
    }
--- request
GET /t
--- response_body
768 769 770 771 772


=== TEST 4: clienthello functions outside ssl_client_hello_by_lua
--- config
    location = /t {
        content_by_lua_block {
            local ch = require "ngx.ssl.clienthello"
            for _, f in ipairs{"get_client_hello_server_name", "get_supported_versions",
                               "get_client_hello_ext", "set_protocols"} do
                local ok, err = pcall(ch[f], 0)
                ngx.say(f, " ", ok, " ", err:match("API disabled in the current context"))
            end
        }
    }
--- request
GET /t
--- response_body
get_client_hello_server_name false API disabled in the current context
get_supported_versions false API disabled in the current context
get_client_hello_ext false API disabled in the current context
set_protocols false API disabled in the current context

