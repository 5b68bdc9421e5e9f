-- Argo CD health for controlhub.dev/v1alpha1 resources (ApiCredential, ControlHubConnection,
-- ClusterControlHubConnection): the same script for the three kinds. The operator writes
-- kstatus-style conditions (Ready, Reconciling, Stalled) stamped with status.observedGeneration.
--   Progressing: no status yet, a generation the operator has not observed, Reconciling=True,
--                or no decisive Ready condition
--   Degraded:    Stalled=True, or Ready=False with a reason (the operator needs a change or is
--                waiting on Control Hub: quota, permissions, a missing connection, ...)
--   Healthy:     Ready=True (also with reason RotationBlocked: the current token keeps working)
local hs = {}

local function find(conditions, type_)
  if conditions == nil then
    return nil
  end
  for _, condition in ipairs(conditions) do
    if condition.type == type_ then
      return condition
    end
  end
  return nil
end

local function describe(condition, fallback)
  if condition == nil then
    return fallback
  end
  local reason = condition.reason or ""
  local message = condition.message or ""
  if reason ~= "" and message ~= "" then
    return reason .. ": " .. message
  end
  if message ~= "" then
    return message
  end
  if reason ~= "" then
    return reason
  end
  return fallback
end

if obj.status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to report a status"
  return hs
end

local generation = obj.metadata.generation
local observed = obj.status.observedGeneration
if generation ~= nil and (observed == nil or observed < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

local conditions = obj.status.conditions
local ready = find(conditions, "Ready")
local reconciling = find(conditions, "Reconciling")
local stalled = find(conditions, "Stalled")

if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  if ready ~= nil and ready.status == "False" then
    hs.message = describe(ready, "Stalled")
  else
    hs.message = describe(stalled, "Stalled")
  end
  return hs
end

if reconciling ~= nil and reconciling.status == "True" then
  hs.status = "Progressing"
  hs.message = describe(reconciling, "Reconciling")
  return hs
end

if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = describe(ready, "Ready")
  return hs
end

if ready ~= nil and ready.status == "False" and ready.reason ~= nil and ready.reason ~= "" then
  hs.status = "Degraded"
  hs.message = describe(ready, "Not ready")
  return hs
end

hs.status = "Progressing"
hs.message = describe(ready, "Waiting for the Ready condition")
return hs
