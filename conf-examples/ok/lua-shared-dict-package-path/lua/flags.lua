local cjson = require "cjson.safe"
local _M = {}
function _M.dump(dict)
    local out = {}
    for _, k in ipairs(dict:get_keys(0)) do out[k] = dict:get(k) end
    return cjson.encode(out)
end
return _M
