{{/* Chart name, truncated to the 63 characters of a DNS label. */}}
{{- define "sentinel-proxy.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: release name, plus the chart name unless the release already contains it. */}}
{{- define "sentinel-proxy.fullname" -}}
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

{{- define "sentinel-proxy.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels that select the proxy pods. */}}
{{- define "sentinel-proxy.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sentinel-proxy.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: proxy
{{- end }}

{{/* Labels on every object. */}}
{{- define "sentinel-proxy.labels" -}}
helm.sh/chart: {{ include "sentinel-proxy.chart" . }}
app.kubernetes.io/name: {{ include "sentinel-proxy.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The Service clients use as REDIS_HOST. */}}
{{- define "sentinel-proxy.serviceName" -}}
{{- default (include "sentinel-proxy.fullname" .) .Values.service.name }}
{{- end }}

{{- define "sentinel-proxy.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* "true" when the chart creates a Secret from auth.*Password values. */}}
{{- define "sentinel-proxy.createSecret" -}}
{{- if and (not .Values.auth.existingSecret) (or .Values.auth.redisPassword .Values.auth.sentinelPassword .Values.auth.clientPassword) }}true{{ end }}
{{- end }}

{{/* Secret holding the passwords: auth.existingSecret, or the one the chart creates; empty if none. */}}
{{- define "sentinel-proxy.secretName" -}}
{{- if .Values.auth.existingSecret }}
{{- .Values.auth.existingSecret }}
{{- else if include "sentinel-proxy.createSecret" . }}
{{- include "sentinel-proxy.fullname" . }}
{{- end }}
{{- end }}
