# lua-nginx-module at a graceful worker shutdown (master process on, SIGQUIT): pending timers
# run at once with premature set, ngx.worker.exiting() is true in them.
use Test::Nginx::Socket 'no_plan';
master_on();
run_tests();

__DATA__

=== TEST 1: pending timers run early with premature set when the worker exits
--- config
    location = /t {
        content_by_lua_block {
            ngx.timer.at(100, function(premature)
                ngx.log(ngx.WARN, "long timer, premature: ", premature, ", exiting: ", ngx.worker.exiting())
            end)
            ngx.say("exiting: ", ngx.worker.exiting())
        }
    }
--- request
GET /t
--- response_body
exiting: false
--- shutdown_error_log
long timer, premature: true, exiting: true
