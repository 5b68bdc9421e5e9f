{{/*
Names, labels and value checks shared by every template. Nothing here renders a resource.
*/}}

{{/* Chart name, overridable with nameOverride. */}}
{{- define "controlhub-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name used as the prefix of every resource: fullnameOverride, else "<release>-<chart>",
else just the release name when it already contains the chart name.
*/}}
{{- define "controlhub-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* "name-version" for the helm.sh/chart label. */}}
{{- define "controlhub-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels that select the operator pods; never change them after the first release (selectors are immutable). */}}
{{- define "controlhub-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "controlhub-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Standard labels on every resource of the chart. */}}
{{- define "controlhub-operator.labels" -}}
helm.sh/chart: {{ include "controlhub-operator.chart" . }}
{{ include "controlhub-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: controlhub-operator
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Name of the ServiceAccount the operator runs as. */}}
{{- define "controlhub-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "controlhub-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Image reference: repository@digest when a digest is set, else repository:tag (default appVersion). */}}
{{- define "controlhub-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Name of the Secret the chart creates for the default connection (credentials given in values). */}}
{{- define "controlhub-operator.defaultConnectionSecretName" -}}
{{- printf "%s-default-connection" (include "controlhub-operator.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Checks across values that the JSON schema cannot express with a clear message.
Included once from deployment.yaml, so every render runs it.
*/}}
{{- define "controlhub-operator.validate" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.operator.leaderElection.enabled) }}
{{- fail "operator.leaderElection.enabled must be true when replicaCount > 1: two active replicas would both call Control Hub" }}
{{- end }}
{{- $dc := .Values.defaultConnection }}
{{- if $dc.enabled }}
{{- if and $dc.url $dc.asterUrl }}
{{- fail "defaultConnection: set only one of url and asterUrl" }}
{{- end }}
{{- if not (or $dc.url $dc.asterUrl) }}
{{- fail "defaultConnection.enabled: set defaultConnection.url (or asterUrl)" }}
{{- end }}
{{- $fromValues := or $dc.credentials.credentialId $dc.credentials.authToken }}
{{- if and $dc.existingSecret.name $fromValues }}
{{- fail "defaultConnection: set either existingSecret.name or credentials, not both" }}
{{- end }}
{{- if not (or $dc.existingSecret.name $fromValues) }}
{{- fail "defaultConnection.enabled: set existingSecret.name (recommended) or credentials.credentialId/authToken" }}
{{- end }}
{{- if and $fromValues (not (and $dc.credentials.credentialId $dc.credentials.authToken)) }}
{{- fail "defaultConnection.credentials: set both credentialId and authToken" }}
{{- end }}
{{- end }}
{{- end }}
