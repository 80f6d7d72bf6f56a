-- Runs the Argo CD health checks in this directory against the objects in
-- testdata/ and checks the status and message each returns, the way Argo CD
-- runs them: the live object (decoded from JSON) in the global `obj`, only the
-- base and table libraries, and no string methods. It also checks that the
-- argocd-cm snippet embeds exactly these scripts, and runs the embedded copies
-- as well.
--
--   lua5.4 deploy/argocd/health/health_test.lua
--
-- Exit status 0 when every case passes, 1 otherwise.

local here = (arg[0]:match("^(.*)/[^/]*$") or ".")
local argocd_cm = here .. "/../argocd-cm.yaml"

-- Each case: which script, which object, what it must return.
local cases = {
  {"devicepool.lua", "ready.json", "Healthy", "3 node(s), 12/12 devices healthy"},
  {"devicepool.lua", "progressing.json", "Progressing", "1/3 agents available, 1 registered with the kubelet"},
  {"devicepool.lua", "old-generation.json", "Progressing",
   "Waiting for the devicepool-operator to observe generation 3 (status describes generation 2)"},
  {"devicepool.lua", "degraded.json", "Degraded", "2 unhealthy device(s) on node-b"},
  {"devicepool.lua", "invalid.json", "Degraded", "spec.sharing.replicas: must be at most 64"},
  {"devicepool.lua", "invalid-fixed.json", "Progressing",
   "Waiting for the devicepool-operator to observe generation 3 (status describes generation 2)"},
  {"devicepool.lua", "no-status.json", "Progressing", "Waiting for the devicepool-operator to report status"},
  {"devicepool.lua", "ready-conflict.json", "Healthy",
   "2 node(s), 8/8 devices healthy; nodes node-c are claimed by an older pool with resourceName " ..
   "hashfoundry.com/custom-device; this pool does not use them"},
  {"application.lua", "app-healthy.json", "Healthy", ""},
  {"application.lua", "app-degraded.json", "Degraded", "2 unhealthy device(s) on node-b"},
  {"application.lua", "app-no-status.json", "Progressing", "Waiting for the application to report health"},
}

-- The argocd-cm key that embeds each script.
local cm_keys = {
  ["devicepool.lua"] = "resource.customizations.health.hashfoundry.com_DevicePool",
  ["application.lua"] = "resource.customizations.health.argoproj.io_Application",
}

local function read(path)
  local f, err = io.open(path, "rb")
  if not f then
    error("cannot read " .. path .. ": " .. err, 0)
  end
  local s = f:read("a")
  f:close()
  return s
end

-- A JSON decoder for the test objects: objects, arrays, strings with
-- escapes, numbers (integral ones become Lua integers), true, false; null
-- becomes nil, as a missing field does for Argo CD.
local function decode_json(text, name)
  local pos = 1
  local function fail(what)
    error(name .. ": " .. what .. " at byte " .. pos, 0)
  end
  local function skip()
    pos = text:find("[^ \t\r\n]", pos) or #text + 1
  end
  local value
  local escapes = {['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n", r = "\r", t = "\t"}
  local function str()
    pos = pos + 1
    local out = {}
    while true do
      local c = text:sub(pos, pos)
      if c == "" then
        fail("unterminated string")
      elseif c == '"' then
        pos = pos + 1
        return table.concat(out)
      elseif c == "\\" then
        local e = text:sub(pos + 1, pos + 1)
        if e == "u" then
          local hex = text:sub(pos + 2, pos + 5)
          if not hex:match("^%x%x%x%x$") then
            fail("bad \\u escape")
          end
          out[#out + 1] = utf8.char(tonumber(hex, 16))
          pos = pos + 6
        elseif escapes[e] then
          out[#out + 1] = escapes[e]
          pos = pos + 2
        else
          fail("bad escape")
        end
      else
        local run = text:match('^[^"\\]+', pos)
        out[#out + 1] = run
        pos = pos + #run
      end
    end
  end
  value = function()
    skip()
    local c = text:sub(pos, pos)
    if c == "{" then
      local obj = {}
      pos = pos + 1
      skip()
      if text:sub(pos, pos) == "}" then
        pos = pos + 1
        return obj
      end
      while true do
        skip()
        if text:sub(pos, pos) ~= '"' then
          fail("expected a key")
        end
        local k = str()
        skip()
        if text:sub(pos, pos) ~= ":" then
          fail("expected ':'")
        end
        pos = pos + 1
        obj[k] = value()
        skip()
        local sep = text:sub(pos, pos)
        pos = pos + 1
        if sep == "}" then
          return obj
        elseif sep ~= "," then
          fail("expected ',' or '}'")
        end
      end
    elseif c == "[" then
      local arr = {}
      pos = pos + 1
      skip()
      if text:sub(pos, pos) == "]" then
        pos = pos + 1
        return arr
      end
      while true do
        arr[#arr + 1] = value()
        skip()
        local sep = text:sub(pos, pos)
        pos = pos + 1
        if sep == "]" then
          return arr
        elseif sep ~= "," then
          fail("expected ',' or ']'")
        end
      end
    elseif c == '"' then
      return str()
    end
    for literal, v in pairs({["true"] = true, ["false"] = false}) do
      if text:sub(pos, pos + #literal - 1) == literal then
        pos = pos + #literal
        return v
      end
    end
    if text:sub(pos, pos + 3) == "null" then
      pos = pos + 4
      return nil
    end
    local num = text:match("^-?%d+%.?%d*[eE]?[-+]?%d*", pos)
    if num == nil or num == "" then
      fail("unexpected character '" .. c .. "'")
    end
    pos = pos + #num
    local n = tonumber(num)
    return math.tointeger(n) or n
  end
  local v = value()
  skip()
  if pos <= #text then
    fail("trailing data")
  end
  return v
end

-- The block scalar under KEY in the argocd-cm YAML, with its indentation
-- removed: enough YAML for our own snippet (`KEY: |` then indented lines).
local function embedded(yaml, key)
  local lines, indent, inside = {}, nil, false
  for line in (yaml .. "\n"):gmatch("([^\n]*)\n") do
    if inside then
      if line == "" then
        lines[#lines + 1] = ""
      else
        local lead = line:match("^( *)")
        indent = indent or #lead
        if #lead < indent then
          break
        end
        lines[#lines + 1] = line:sub(indent + 1)
      end
    elseif line:match("^%s*" .. key:gsub("%p", "%%%0") .. ":%s*|%s*$") then
      inside = true
    end
  end
  if not inside then
    return nil
  end
  while lines[#lines] == "" do
    lines[#lines] = nil
  end
  return table.concat(lines, "\n") .. "\n"
end

-- Runs SCRIPT with OBJ as Argo CD does.
local function run(script, chunkname, obj)
  local env = {obj = obj, table = table}
  for _, f in ipairs({"assert", "error", "ipairs", "next", "pairs", "pcall", "rawequal", "rawget", "rawlen",
                      "rawset", "select", "setmetatable", "getmetatable", "tonumber", "tostring", "type",
                      "xpcall"}) do
    env[f] = _G[f]
  end
  local chunk, err = load(script, "=" .. chunkname, "t", env)
  if not chunk then
    return nil, err
  end
  -- Argo CD's Lua has no string library, so ("x"):sub() fails there too.
  local string_meta = getmetatable("")
  local string_index = string_meta.__index
  string_meta.__index = nil
  local ok, result = pcall(chunk)
  string_meta.__index = string_index
  if not ok then
    return nil, result
  end
  if type(result) ~= "table" then
    return nil, "returned " .. type(result) .. ", not a table"
  end
  return result
end

local failures, passed = 0, 0
local function check(ok, what)
  if ok then
    passed = passed + 1
  else
    failures = failures + 1
    io.stderr:write("FAIL: " .. what .. "\n")
  end
end

local cm = read(argocd_cm)
local sources = {}
for script, key in pairs(cm_keys) do
  local file = read(here .. "/" .. script)
  local copy = embedded(cm, key)
  check(copy ~= nil, "argocd-cm.yaml has no block under " .. key)
  check(copy == nil or copy == file, "argocd-cm.yaml's " .. key .. " differs from " .. script)
  sources[script] = {{script, file}, {"argocd-cm.yaml:" .. key, copy}}
end

for _, c in ipairs(cases) do
  local script, input, want_status, want_message = c[1], c[2], c[3], c[4]
  local obj = decode_json(read(here .. "/testdata/" .. input), input)
  for _, source in ipairs(sources[script]) do
    local name, text = source[1], source[2]
    if text ~= nil then
      local hs, err = run(text, name, obj)
      local what = name .. " on testdata/" .. input
      if hs == nil then
        check(false, what .. ": " .. tostring(err))
      else
        check(hs.status == want_status and hs.message == want_message,
              what .. ": got " .. tostring(hs.status) .. " \"" .. tostring(hs.message) .. "\", want " ..
              want_status .. " \"" .. want_message .. "\"")
      end
    end
  end
end

print(("health checks: %d passed, %d failed"):format(passed, failures))
os.exit(failures == 0 and 0 or 1)
