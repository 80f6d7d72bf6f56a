-- Argo CD health check for hashfoundry.com/DevicePool.
--
-- Argo CD runs it with the live object in the global `obj` and only Lua's
-- base and table libraries (no string library), so it uses neither
-- string.* nor string methods.
--
--   Progressing  no status yet, or the status describes an older generation
--                (the operator has not looked at the latest spec)
--   Degraded     Degraded=True (reconcile errors, unhealthy devices, agents
--                not registering) or Invalid=True (the spec cannot be acted on)
--   Healthy      Ready=True
--   Progressing  anything else, e.g. agents still rolling out
--
-- Stale conditions are never trusted: a pool that was Invalid and has just
-- been fixed in git is Progressing until the operator has seen the fix.
local hs = {}

local function condition(conditions, kind)
  if conditions == nil then
    return nil
  end
  for _, c in ipairs(conditions) do
    if c.type == kind then
      return c
    end
  end
  return nil
end

local function is_true(c)
  return c ~= nil and c.status == "True"
end

local function message_of(c, fallback)
  if c ~= nil and c.message ~= nil and c.message ~= "" then
    return c.message
  end
  return fallback
end

local status = obj.status
if status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the devicepool-operator to report status"
  return hs
end

local generation = obj.metadata.generation
if generation ~= nil and status.observedGeneration ~= generation then
  hs.status = "Progressing"
  if status.observedGeneration == nil then
    hs.message = "Waiting for the devicepool-operator to observe generation " .. tostring(generation)
  else
    hs.message = "Waiting for the devicepool-operator to observe generation " .. tostring(generation) ..
        " (status describes generation " .. tostring(status.observedGeneration) .. ")"
  end
  return hs
end

local conditions = status.conditions
local invalid = condition(conditions, "Invalid")
if is_true(invalid) then
  hs.status = "Degraded"
  hs.message = message_of(invalid, "The spec is invalid")
  return hs
end
local degraded = condition(conditions, "Degraded")
if is_true(degraded) then
  hs.status = "Degraded"
  hs.message = message_of(degraded, "The pool is degraded")
  return hs
end

local ready = condition(conditions, "Ready")
if is_true(ready) then
  hs.status = "Healthy"
  hs.message = message_of(ready, "Ready")
  local conflict = condition(conditions, "Conflict")
  if is_true(conflict) then
    hs.message = hs.message .. "; " .. message_of(conflict, "some nodes are claimed by another pool")
  end
  return hs
end

hs.status = "Progressing"
hs.message = message_of(ready, message_of(condition(conditions, "Progressing"),
    "Waiting for the Ready condition"))
return hs
