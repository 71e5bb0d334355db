local _M = {}
function _M.version() return "1.0" end
return _M
