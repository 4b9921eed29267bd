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

{{/* "true" when the chart creates its own Secret: a generated (or given) client password,
or Redis/Sentinel passwords given as values without existingSecret. */}}
{{- define "sentinel-proxy.createSecret" -}}
{{- $a := .Values.auth }}
{{- if or (eq $a.clientPasswordSource "generate") (and (not $a.existingSecret) (or $a.redisPassword $a.sentinelPassword)) }}true{{ end }}
{{- end }}

{{/* The client password stored in the chart's Secret: auth.clientPassword, else the one an
earlier release stored (lookup: stable across upgrades), else a new random one. Computed
once per render and kept in .Values, so the Secret and its checksum annotation agree. */}}
{{- define "sentinel-proxy.clientPassword" -}}
{{- if not (hasKey .Values.auth "_resolvedClientPassword") }}
{{- $password := .Values.auth.clientPassword }}
{{- if not $password }}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "sentinel-proxy.fullname" .) }}
{{- $stored := index (($existing).data | default dict) .Values.auth.clientPasswordKey }}
{{- $password = $stored | default "" | b64dec | default (randAlphaNum 32) }}
{{- end }}
{{- $_ := set .Values.auth "_resolvedClientPassword" $password }}
{{- end }}
{{- /* A render-time entry, not a value: read by name, never as a .Values path. */}}
{{- index .Values.auth "_resolvedClientPassword" }}
{{- end }}

{{/* The passwords the proxy reads, as YAML {refs: [{name, secret, key}]}: name is redis,
sentinel or client (SENTINEL_PROXY_<NAME>_PASSWORD[_FILE]). */}}
{{- define "sentinel-proxy.passwordRefs" -}}
{{- $a := .Values.auth }}
{{- $own := include "sentinel-proxy.fullname" . }}
refs:
{{- if $a.existingSecret }}
  - {name: redis, secret: {{ $a.existingSecret | quote }}, key: {{ $a.redisPasswordKey | quote }}}
  - {name: sentinel, secret: {{ $a.existingSecret | quote }}, key: {{ $a.sentinelPasswordKey | quote }}}
{{- else }}
{{- if $a.redisPassword }}
  - {name: redis, secret: {{ $own | quote }}, key: {{ $a.redisPasswordKey | quote }}}
{{- end }}
{{- if $a.sentinelPassword }}
  - {name: sentinel, secret: {{ $own | quote }}, key: {{ $a.sentinelPasswordKey | quote }}}
{{- end }}
{{- end }}
{{- if eq $a.clientPasswordSource "generate" }}
  - {name: client, secret: {{ $own | quote }}, key: {{ $a.clientPasswordKey | quote }}}
{{- else if eq $a.clientPasswordSource "existingSecret" }}
  - {name: client, secret: {{ required "auth.clientPasswordSource=existingSecret needs auth.existingSecret" $a.existingSecret | quote }}, key: {{ $a.clientPasswordKey | quote }}}
{{- end }}
{{- end }}

{{/* The client ports: name -> container port. */}}
{{- define "sentinel-proxy.clientPorts" -}}
{{- if or .Values.tls.plaintext (not .Values.tls.enabled) }}
redis: 6379
{{- end }}
{{- if .Values.tls.enabled }}
rediss: {{ .Values.tls.port | int }}
{{- end }}
{{- end }}

{{/* Labels a pod needs to pass the NetworkPolicy to the client ports. */}}
{{- define "sentinel-proxy.clientPodLabels" -}}
{{- if .Values.networkPolicy.clientPodLabels }}
{{- toYaml .Values.networkPolicy.clientPodLabels }}
{{- else }}
{{- printf "%s-client" (include "sentinel-proxy.fullname" .) | trunc 63 | trimSuffix "-" }}: "true"
{{- end }}
{{- end }}

{{/* true when any TLS setting needs the certificate Secret mounted. */}}
{{- define "sentinel-proxy.tlsMounted" -}}
{{- if or .Values.tls.enabled .Values.tls.redis.enabled .Values.tls.sentinel.enabled }}true{{ end }}
{{- end }}

{{/* Rendering fails on a configuration that is unsafe or cannot work. */}}
{{- define "sentinel-proxy.validate" -}}
{{- if and (eq .Values.auth.clientPasswordSource "none") (not .Values.networkPolicy.enabled) (not .Values.security.allowOpenAccess) }}
{{- fail "auth.clientPasswordSource=none with networkPolicy.enabled=false would let every pod in the cluster that reaches the proxy use Redis with the proxy's credentials. Keep a client password (auth.clientPasswordSource=generate or existingSecret), or enable networkPolicy (labelled client pods only), or set security.allowOpenAccess=true to run open on purpose." }}
{{- end }}
{{- if and (include "sentinel-proxy.tlsMounted" .) (not .Values.tls.secretName) }}
{{- fail "tls: tls.enabled, tls.redis.enabled or tls.sentinel.enabled needs tls.secretName (a Secret with tls.crt, tls.key and ca.crt)" }}
{{- end }}
{{- if and .Values.tls.enabled .Values.tls.plaintext (eq (.Values.tls.port | int) 6379) }}
{{- fail "tls.port 6379 is the plaintext port: choose another, or set tls.plaintext=false" }}
{{- end }}
{{- $service := include "sentinel-proxy.serviceName" . }}
{{- range .Values.sentinel.addresses }}
{{- $host := regexReplaceAll ":[0-9]+$" . "" | trimPrefix "[" | trimSuffix "]" }}
{{- $labels := splitList "." $host }}
{{- /* svc[.ns[.svc...]] or, for a headless Service's pod, pod.svc-headless[.ns...] */}}
{{- $svc := index $labels 0 }}
{{- $ns := "" }}
{{- if and (gt (len $labels) 1) (hasSuffix "-headless" (index $labels 1)) }}
{{- $svc = trimSuffix "-headless" (index $labels 1) }}
{{- if gt (len $labels) 2 }}{{ $ns = index $labels 2 }}{{ end }}
{{- else if gt (len $labels) 1 }}
{{- $ns = index $labels 1 }}
{{- end }}
{{- if and (eq $svc $service) (or (eq $ns "") (eq $ns $.Release.Namespace)) }}
{{- fail (printf "service.name %q would shadow the Sentinel deployment's own Service %q (sentinel address %q), e.g. a Bitnami release named %q: clients and the proxy itself would reach the wrong one. Set service.name to another name, or install the Sentinel deployment under another release name." $service $svc . $svc) }}
{{- end }}
{{- end }}
{{- end }}
