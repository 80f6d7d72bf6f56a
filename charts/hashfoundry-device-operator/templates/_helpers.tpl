{{/* The chart name, unless overridden. */}}
{{- define "hashfoundry-device-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The prefix of every object name. 52 characters, not 63, so that suffixes such
as "-agent" still leave a valid name.
*/}}
{{- define "hashfoundry-device-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "hashfoundry-device-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "hashfoundry-device-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Labels of the operator's own objects: the common ones and its component. */}}
{{- define "hashfoundry-device-operator.operatorLabels" -}}
{{ include "hashfoundry-device-operator.labels" . }}
app.kubernetes.io/component: operator
{{- end }}

{{/* Selects the operator's pods; immutable in a Deployment, so never add to it. */}}
{{- define "hashfoundry-device-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "hashfoundry-device-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{/* The operator runs it and, unless a pool names another, so do the agents. */}}
{{- define "hashfoundry-device-operator.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/* The ClusterRole the operator binds each pool's agent ServiceAccount to. */}}
{{- define "hashfoundry-device-operator.agentClusterRole" -}}
{{- printf "%s-agent" (include "hashfoundry-device-operator.fullname" .) }}
{{- end }}

{{/*
Agents' usernames: the operator names a pool's ServiceAccount devicepool-<pool>
(operator/desired.cc ChildName) in its own namespace, the release namespace.
*/}}
{{- define "hashfoundry-device-operator.agentUsernamePrefix" -}}
{{- printf "system:serviceaccount:%s:devicepool-" .Release.Namespace }}
{{- end }}
