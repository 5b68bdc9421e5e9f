#!/usr/bin/env bash
# Checks the Helm chart and the kustomize base with the real tools (helm, kubectl from scripts/k8s-tools.sh).
#
#   scripts/check-chart.sh
#
# Always: `helm lint --strict` and `helm template` with the default values and with every
# charts/controlhub-operator/ci/*.yaml; assertions on what is (not) rendered; values the chart must refuse;
# `kubectl kustomize deploy/kustomize/base`, whose RBAC must equal the chart's.
# When KUBECONFIG is set: applies the chart's CRDs for real, creates the namespace $CHECK_NAMESPACE
# (default controlhub-chart-check, with the restricted Pod Security level) and sends every rendering, the
# kustomize base and deploy/examples/*.yaml through `kubectl apply --dry-run=server`, failing on errors and on
# Pod Security warnings. It changes the cluster (CRDs, one namespace): point it at a test cluster.
#
# Environment: HELM, KUBECTL (default: the binaries in `scripts/k8s-tools.sh --dir`), KUBECONFIG, CHECK_NAMESPACE.
# Exits non-zero if any check fails; the last line is "check-chart: N passed, N failed".
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
chart="$root/charts/controlhub-operator"
kbase="$root/deploy/kustomize/base"
release=controlhub-check
ns=${CHECK_NAMESPACE:-controlhub-chart-check}

die() { printf 'check-chart: ERROR: %s\n' "$*" >&2; exit 2; }

bindir=$("$root/scripts/k8s-tools.sh" --dir) || die "scripts/k8s-tools.sh --dir failed"
HELM=${HELM:-$bindir/helm}
KUBECTL=${KUBECTL:-$bindir/kubectl}
[ -x "$HELM" ] || die "helm not found at $HELM: build it with scripts/k8s-tools.sh (or set HELM)"
[ -x "$KUBECTL" ] || die "kubectl not found at $KUBECTL: build it with scripts/k8s-tools.sh (or set KUBECTL)"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

passed=0
failed=0
pass() { passed=$((passed + 1)); printf 'ok    %s\n' "$1"; }
# fail NAME LOGFILE: count a failure and show what the tool said.
fail() {
  failed=$((failed + 1))
  printf 'FAIL  %s\n' "$1"
  if [ -n "${2:-}" ] && [ -s "$2" ]; then sed 's/^/      | /' "$2" | tail -n 40; fi
}
# run NAME CMD...: the command must succeed.
run() {
  local name=$1; shift
  if "$@" >"$tmp/out" 2>&1; then pass "$name"; else fail "$name" "$tmp/out"; fi
}
# refuse NAME EXPECTED CMD...: the command must fail, saying EXPECTED (a fixed substring).
refuse() {
  local name=$1 expected=$2; shift 2
  if "$@" >"$tmp/out" 2>&1; then
    echo "expected a failure mentioning: $expected" >>"$tmp/out"; fail "$name" "$tmp/out"
  elif grep -qF -- "$expected" "$tmp/out"; then
    pass "$name"
  else
    echo "failed, but without: $expected" >>"$tmp/out"; fail "$name" "$tmp/out"
  fi
}
# has_kind FILE KIND / lacks_kind FILE KIND: whether a rendering contains an object of that kind.
has_kind() { grep -qx "kind: $2" "$1"; }
lacks_kind() { ! has_kind "$1" "$2"; }
# contains FILE TEXT: a fixed line fragment appears in the rendering.
contains() { grep -qF -- "$2" "$1"; }

# rules_of FILE KIND NAME: the `rules:` block of the object of that kind and name in kustomize-formatted YAML
# (keys sorted, so metadata comes before rules).
rules_of() {
  awk -v want="$2" -v want_name="$3" '
    /^---$/ { kind = ""; name = ""; inrules = 0; inmeta = 0; next }
    /^kind: / { kind = $2 }
    /^[a-zA-Z]/ { inrules = ($0 == "rules:"); inmeta = ($0 == "metadata:") }
    inmeta && /^  name: / { name = $2 }
    inrules && kind == want && name == want_name { print }
  ' "$1"
}

render() { "$HELM" template "$release" "$chart" --namespace "$ns" "$@"; }

echo "check-chart: helm $("$HELM" version --short 2>/dev/null), kubectl $("$KUBECTL" version --client 2>/dev/null | head -n1)"

# --- Lint and render ----------------------------------------------------------------------------------
run "helm lint --strict (default values)" "$HELM" lint --strict "$chart"
valuesets=(default)
for f in "$chart"/ci/*.yaml; do
  [ -e "$f" ] || continue
  name=$(basename "$f" .yaml)
  valuesets+=("$name")
  run "helm lint --strict (ci/$name.yaml)" "$HELM" lint --strict "$chart" --values "$f"
done

for set in "${valuesets[@]}"; do
  args=()
  [ "$set" = default ] || args=(--values "$chart/ci/$set.yaml")
  if render "${args[@]}" >"$tmp/$set.yaml" 2>"$tmp/out"; then
    pass "helm template ($set)"
  else
    fail "helm template ($set)" "$tmp/out"
  fi
done

# --- What the renderings must contain -----------------------------------------------------------------
d="$tmp/default.yaml"
for kind in Deployment ServiceAccount ClusterRole ClusterRoleBinding Role RoleBinding Service PodDisruptionBudget; do
  run "default values render a $kind" has_kind "$d" "$kind"
done
for kind in ServiceMonitor NetworkPolicy ClusterControlHubConnection Secret; do
  run "default values render no $kind (optional part)" lacks_kind "$d" "$kind"
done
# Namespace users get the operator's resources through the built-in roles, and never Secrets through them.
for label in aggregate-to-admin aggregate-to-edit aggregate-to-view; do
  run "default values aggregate into the built-in role ($label)" contains "$d" "rbac.authorization.k8s.io/$label: \"true\""
done
if render --show-only templates/aggregate-clusterroles.yaml >"$tmp/aggregate.yaml" 2>"$tmp/out"; then
  run "the aggregated ClusterRoles grant nothing on Secrets" bash -c "! grep -q secrets '$tmp/aggregate.yaml'"
  run "the aggregated ClusterRoles grant nothing on ClusterControlHubConnections" \
    bash -c "! grep -q clustercontrolhubconnections '$tmp/aggregate.yaml'"
else
  fail "render templates/aggregate-clusterroles.yaml" "$tmp/out"
fi
refuse "rbac.aggregateToDefaultRoles=false renders no aggregated ClusterRole" "could not find template" \
  render --set rbac.aggregateToDefaultRoles=false --show-only templates/aggregate-clusterroles.yaml
for field in "runAsNonRoot: true" "runAsUser: 65532" "readOnlyRootFilesystem: true" \
  "allowPrivilegeEscalation: false" "- ALL" "type: RuntimeDefault" "replicas: 2" \
  "path: /healthz" "path: /readyz" "fieldPath: metadata.name" "fieldPath: metadata.namespace" \
  "cpu: 50m" "memory: 64Mi" "memory: 256Mi" "minAvailable: 1" "topologyKey: kubernetes.io/hostname"; do
  run "default Deployment sets '$field'" contains "$d" "$field"
done

if [ -s "$tmp/all-features-values.yaml" ]; then
  a="$tmp/all-features-values.yaml"
  for kind in ServiceMonitor NetworkPolicy ClusterControlHubConnection Secret PodDisruptionBudget; do
    run "ci/all-features-values.yaml renders a $kind" has_kind "$a" "$kind"
  done
  run "ci/all-features-values.yaml passes extraArgs" contains "$a" "- \"--some-future-flag=1\""
  run "ci/all-features-values.yaml uses the image digest" contains "$a" "registry.local/controlhub-operator@sha256:"
  run "ci/all-features-values.yaml watches one namespace" contains "$a" "- --watch-namespace=team-a"
fi
if [ -s "$tmp/existing-secret-values.yaml" ]; then
  e="$tmp/existing-secret-values.yaml"
  run "one replica renders no PodDisruptionBudget" lacks_kind "$e" PodDisruptionBudget
  run "existingSecret renders no Secret" lacks_kind "$e" Secret
  run "existingSecret is referenced by the default connection" contains "$e" "name: controlhub-admin"
fi
# The default connection hands out its own identity only when asked to.
if [ -s "$tmp/existing-secret-values.yaml" ]; then
  run "by default the default connection does not share its identity" \
    bash -c "! grep -q shareConnectionIdentity '$tmp/existing-secret-values.yaml'"
fi
if [ -s "$tmp/all-features-values.yaml" ]; then
  run "defaultConnection.shareConnectionIdentity=true reaches the connection" \
    contains "$tmp/all-features-values.yaml" "shareConnectionIdentity: true"
fi

# --- Alerts and dashboard (monitoring.*): off by default; when on, every alert links to its runbook -----------
run "default values render no PrometheusRule" lacks_kind "$d" PrometheusRule
run "default values render no dashboard ConfigMap" bash -c "! grep -q 'grafana_dashboard:' '$d'"
if render --set monitoring.prometheusRule.enabled=true --set monitoring.dashboard.enabled=true \
  --set monitoring.runbookBaseUrl=https://docs.example/troubleshooting.md >"$tmp/monitoring.yaml" 2>"$tmp/out"; then
  pass "helm template (monitoring enabled)"
  m="$tmp/monitoring.yaml"
  run "monitoring renders a PrometheusRule" has_kind "$m" PrometheusRule
  run "monitoring renders a ConfigMap labelled for the Grafana sidecar" contains "$m" 'grafana_dashboard: "1"'
  for alert in ControlHubCredentialNotReady ControlHubCredentialRotationOverdue ControlHubRequestErrors \
    ControlHubOwnerQuotaNearlyFull ControlHubOperatorAbsent; do
    lower=$(printf '%s' "$alert" | tr '[:upper:]' '[:lower:]')
    run "alert $alert exists" contains "$m" "- alert: $alert"
    run "alert $alert links its runbook" contains "$m" "runbook_url: \"https://docs.example/troubleshooting.md#$lower\""
    run "docs/troubleshooting.md has the runbook section of $alert" grep -qx "### $alert" "$root/docs/troubleshooting.md"
  done
  run "the dashboard JSON is embedded" contains "$m" '"uid": "controlhub-operator"'
else
  fail "helm template (monitoring enabled)" "$tmp/out"
fi
refuse "refuses a quota warning ratio above 1" "quotaWarningRatio" \
  render --set monitoring.prometheusRule.quotaWarningRatio=2
refuse "refuses an unknown monitoring key" "unknownKey" \
  render --set monitoring.unknownKey=1

# --- Values the chart must refuse ---------------------------------------------------------------------
refuse "refuses an unknown top-level key" "unknownKey" \
  render --set unknownKey=1
refuse "refuses an unknown log format" "logFormat" \
  render --set operator.logFormat=xml
refuse "refuses several replicas without leader election" "leaderElection.enabled must be true" \
  render --set replicaCount=2 --set operator.leaderElection.enabled=false
refuse "refuses a default connection without URL" "set defaultConnection.url" \
  render --set defaultConnection.enabled=true --set defaultConnection.existingSecret.name=s
refuse "refuses a default connection with both url and asterUrl" "only one of url and asterUrl" \
  render --set defaultConnection.enabled=true --set defaultConnection.existingSecret.name=s \
  --set defaultConnection.url=https://a.example --set defaultConnection.asterUrl=https://b.example
refuse "refuses a default connection without credentials" "set existingSecret.name" \
  render --set defaultConnection.enabled=true --set defaultConnection.url=https://a.example
refuse "refuses both existingSecret and credentials" "not both" \
  render --set defaultConnection.enabled=true --set defaultConnection.url=https://a.example \
  --set defaultConnection.existingSecret.name=s --set defaultConnection.credentials.credentialId=i \
  --set defaultConnection.credentials.authToken=t

# --- Kustomize base -----------------------------------------------------------------------------------
if "$KUBECTL" kustomize "$kbase" >"$tmp/kustomize.yaml" 2>"$tmp/out"; then
  pass "kubectl kustomize deploy/kustomize/base"
  for kind in Namespace CustomResourceDefinition ServiceAccount ClusterRole ClusterRoleBinding Role RoleBinding Deployment; do
    run "kustomize base renders a $kind" has_kind "$tmp/kustomize.yaml" "$kind"
  done
  # The base repeats the chart's RBAC by hand: both must grant exactly the same. Kustomize normalises the
  # chart's rendering so the two can be compared as text.
  mkdir -p "$tmp/rbac"
  render --set fullnameOverride=controlhub-operator --show-only templates/clusterrole.yaml \
    --show-only templates/role.yaml --show-only templates/aggregate-clusterroles.yaml \
    >"$tmp/rbac/chart.yaml" 2>"$tmp/out"
  printf 'resources: [chart.yaml]\n' >"$tmp/rbac/kustomization.yaml"
  if "$KUBECTL" kustomize "$tmp/rbac" >"$tmp/rbac-chart.yaml" 2>>"$tmp/out"; then
    for role in ClusterRole/controlhub-operator ClusterRole/controlhub-operator-edit \
      ClusterRole/controlhub-operator-view Role/controlhub-operator-leader-election; do
      rules_of "$tmp/rbac-chart.yaml" "${role%%/*}" "${role#*/}" >"$tmp/rules-chart"
      rules_of "$tmp/kustomize.yaml" "${role%%/*}" "${role#*/}" >"$tmp/rules-base"
      if [ -s "$tmp/rules-chart" ] && diff -u "$tmp/rules-chart" "$tmp/rules-base" >"$tmp/out" 2>&1; then
        pass "kustomize base grants the same rules as the chart ($role)"
      else
        fail "kustomize base grants the same rules as the chart ($role; - chart, + base)" "$tmp/out"
      fi
    done
  else
    fail "render the chart's RBAC for comparison" "$tmp/out"
  fi
else
  fail "kubectl kustomize deploy/kustomize/base (are the CRDs generated in crds/?)" "$tmp/out"
fi

# --- Server-side validation against a real API server -------------------------------------------------
if [ -n "${KUBECONFIG:-}" ]; then
  k() { "$KUBECTL" "$@"; }
  crds=()
  if k apply -f "$chart/crds/" -o name >"$tmp/crds" 2>"$tmp/out" && mapfile -t crds <"$tmp/crds" &&
    [ "${#crds[@]}" -gt 0 ] && k wait --for=condition=Established --timeout=60s "${crds[@]}" >>"$tmp/out" 2>&1; then
    pass "CRDs applied and established"
  else
    fail "CRDs applied and established (charts/controlhub-operator/crds/)" "$tmp/out"
  fi
  if k create namespace "$ns" --dry-run=client -o yaml 2>"$tmp/out" | k apply -f - >>"$tmp/out" 2>&1 &&
    k label namespace "$ns" --overwrite pod-security.kubernetes.io/enforce=restricted \
      pod-security.kubernetes.io/warn=restricted >>"$tmp/out" 2>&1; then
    pass "namespace $ns ready (restricted Pod Security)"
  else
    fail "namespace $ns ready" "$tmp/out"
  fi
  servicemonitors=yes
  k get crd servicemonitors.monitoring.coreos.com >/dev/null 2>&1 || servicemonitors=no

  # dry_run NAME FILE [KUBECTL ARGS...]: server-side validation; Pod Security warnings count as failures.
  dry_run() {
    local name=$1 file=$2; shift 2
    if k apply --dry-run=server -f "$file" "$@" >"$tmp/out" 2>&1 && ! grep -q "would violate PodSecurity" "$tmp/out"; then
      pass "$name"
    else
      fail "$name" "$tmp/out"
    fi
  }
  for set in "${valuesets[@]}"; do
    args=()
    [ "$set" = default ] || args=(--values "$chart/ci/$set.yaml")
    note=""
    if [ "$servicemonitors" = no ]; then
      args+=(--set metrics.serviceMonitor.enabled=false)
      note=" (no ServiceMonitor CRD on the server: ServiceMonitor left out)"
    fi
    if render "${args[@]}" >"$tmp/server-$set.yaml" 2>"$tmp/out"; then
      dry_run "kubectl apply --dry-run=server ($set)$note" "$tmp/server-$set.yaml"
    else
      fail "helm template for the server ($set)" "$tmp/out"
    fi
  done
  # The PrometheusRule against the server: when the cluster has no Prometheus Operator, a minimal
  # PrometheusRule CRD (the shape of spec.groups[].rules[]) is installed first.
  if ! k get crd prometheusrules.monitoring.coreos.com >/dev/null 2>&1; then
    if k apply -f - >"$tmp/out" 2>&1 <<'CRD' && k wait --for=condition=Established --timeout=60s crd/prometheusrules.monitoring.coreos.com >>"$tmp/out" 2>&1; then
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: prometheusrules.monitoring.coreos.com
spec:
  group: monitoring.coreos.com
  scope: Namespaced
  names: {kind: PrometheusRule, listKind: PrometheusRuleList, plural: prometheusrules, singular: prometheusrule}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          required: [spec]
          properties:
            spec:
              type: object
              properties:
                groups:
                  type: array
                  items:
                    type: object
                    required: [name, rules]
                    properties:
                      name: {type: string, minLength: 1}
                      interval: {type: string}
                      rules:
                        type: array
                        items:
                          type: object
                          required: [expr]
                          properties:
                            alert: {type: string}
                            record: {type: string}
                            expr: {x-kubernetes-int-or-string: true}
                            for: {type: string, pattern: '^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$'}
                            labels: {type: object, additionalProperties: {type: string}}
                            annotations: {type: object, additionalProperties: {type: string}}
CRD
      pass "minimal PrometheusRule CRD installed"
    else
      fail "minimal PrometheusRule CRD installed" "$tmp/out"
    fi
  fi
  margs=(--set monitoring.prometheusRule.enabled=true --set monitoring.dashboard.enabled=true)
  [ "$servicemonitors" = yes ] || margs+=(--set metrics.serviceMonitor.enabled=false)
  if render "${margs[@]}" >"$tmp/server-monitoring.yaml" 2>"$tmp/out"; then
    dry_run "kubectl apply --dry-run=server (PrometheusRule and dashboard enabled)" "$tmp/server-monitoring.yaml"
  else
    fail "helm template for the server (monitoring enabled)" "$tmp/out"
  fi
  # The check must be able to fail: a container that may escalate privileges breaks the restricted level.
  if render --set securityContext.allowPrivilegeEscalation=true >"$tmp/privileged.yaml" 2>"$tmp/out" &&
    k apply --dry-run=server -f "$tmp/privileged.yaml" >"$tmp/out" 2>&1 &&
    grep -q "would violate PodSecurity" "$tmp/out"; then
    pass "Pod Security check catches allowPrivilegeEscalation=true"
  else
    echo "expected a 'would violate PodSecurity' warning" >>"$tmp/out"
    fail "Pod Security check catches allowPrivilegeEscalation=true" "$tmp/out"
  fi
  # The example manifests against the real CRD schemas, placeholders filled in as the demo does.
  for f in "$root"/deploy/examples/*.yaml; do
    sed -e 's|REPLACE_WITH_CONTROLHUB_URL|https://controlhub.example.com|' \
      -e 's|REPLACE_WITH_SERVICE_ACCOUNT_USER_ID|00000000-0000-0000-0000-000000000001@example-org|' \
      "$f" >"$tmp/example.yaml"
    dry_run "kubectl apply --dry-run=server deploy/examples/$(basename "$f")" "$tmp/example.yaml" -n "$ns"
  done
  # The base's own namespace does not exist on the server (a dry run creates nothing), so validate it through
  # an overlay that moves it into $ns, which also checks that the base can be moved.
  mkdir -p "$tmp/overlay"
  cat >"$tmp/overlay/kustomization.yaml" <<EOF
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: $ns
resources:
  - $(realpath --relative-to="$tmp/overlay" "$kbase")
EOF
  if k kustomize "$tmp/overlay" >"$tmp/server-kustomize.yaml" 2>"$tmp/out"; then
    dry_run "kubectl apply --dry-run=server (kustomize base, namespace $ns)" "$tmp/server-kustomize.yaml"
  else
    fail "kubectl kustomize (overlay into $ns)" "$tmp/out"
  fi
else
  echo "check-chart: KUBECONFIG not set: skipping server-side validation"
fi

echo "check-chart: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
