-- Argo CD health check for argoproj.io/Application, for the app-of-apps in
-- deploy/argocd: Argo CD stopped assessing Application health itself in 1.8,
-- and without a health check a parent app does not wait for a child app of
-- an earlier sync wave to become healthy before it syncs the next wave.
-- A child app reports its own health in status.health.
local hs = {}
local health = nil
if obj.status ~= nil then
  health = obj.status.health
end
if health == nil or health.status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the application to report health"
  return hs
end
hs.status = health.status
if health.message ~= nil then
  hs.message = health.message
else
  hs.message = ""
end
return hs
