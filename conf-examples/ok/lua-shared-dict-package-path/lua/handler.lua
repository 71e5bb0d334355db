ngx.say("handled by a file")
