-- Rotate the token now: set the controlhub.dev/rotate annotation to the current time (UTC,
-- RFC 3339). The operator rotates once per new value and echoes the handled value in
-- status.lastRotationRequest; nothing else in the object changes.
local os = require("os")
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["controlhub.dev/rotate"] = os.date("!%Y-%m-%dT%H:%M:%SZ")
return obj
