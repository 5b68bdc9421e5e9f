-- Argo CD actions for ApiCredential: "rotate" asks the operator to rotate the token now.
local actions = {}
actions["rotate"] = {}
return actions
