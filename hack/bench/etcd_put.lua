-- wrk script: etcd v3 puts of ~1 KiB values under distinct keys through the JSON gateway
-- (hack/bench/api.sh etcd), to compare the store's creates with etcd's own ceiling.
local counter = 0
local value = string.rep("x", 1024)
local function b64(s)
  local chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
  return ((s:gsub(".", function(x)
    local r, b = "", x:byte()
    for i = 8, 1, -1 do r = r .. (b % 2 ^ i - b % 2 ^ (i - 1) > 0 and "1" or "0") end
    return r
  end) .. "0000"):gsub("%d%d%d?%d?%d?%d?", function(x)
    if #x < 6 then return "" end
    local c = 0
    for i = 1, 6 do c = c + (x:sub(i, i) == "1" and 2 ^ (6 - i) or 0) end
    return chars:sub(c + 1, c + 1)
  end) .. ({ "", "==", "=" })[#s % 3 + 1])
end
local encoded = b64(value)
request = function()
  counter = counter + 1
  local key = b64(string.format("/bench/%d/%d", math.random(1, 1000000000), counter))
  return wrk.format("POST", nil, { ["Content-Type"] = "application/json" },
    '{"key":"' .. key .. '","value":"' .. encoded .. '"}')
end
