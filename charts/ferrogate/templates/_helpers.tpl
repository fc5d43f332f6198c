{{/* The chart's name, or nameOverride. */}}
{{- define "ferrogate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The objects' name: fullnameOverride, else the release name when it already holds the chart's
name (release "ferrogate" gives "ferrogate", as in deploy/kubernetes/), else release-name.
*/}}
{{- define "ferrogate.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "ferrogate.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "ferrogate.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The labels every pod of the release has, and the selectors match on. */}}
{{- define "ferrogate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ferrogate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The labels of every object. */}}
{{- define "ferrogate.labels" -}}
helm.sh/chart: {{ include "ferrogate.chart" . }}
{{ include "ferrogate.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "ferrogate.configMapName" -}}
{{- .Values.existingConfigMap | default (printf "%s-config" (include "ferrogate.fullname" .)) -}}
{{- end -}}

{{/* The Secret the pods read their environment from: existingSecret or the chart's name. */}}
{{- define "ferrogate.secretName" -}}
{{- .Values.existingSecret | default (printf "%s-secrets" (include "ferrogate.fullname" .)) -}}
{{- end -}}

{{- define "ferrogate.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{/* Whether the Service and the PodDisruptionBudget are made: "true" or "". */}}
{{- define "ferrogate.service" -}}
{{- if or (eq .Values.kind "Deployment") .Values.service.enabled }}true{{ end -}}
{{- end -}}
{{- define "ferrogate.pdb" -}}
{{- if or (eq .Values.kind "Deployment") .Values.podDisruptionBudget.enabled }}true{{ end -}}
{{- end -}}

{{/*
Checks of values that the schema cannot express; each fails the render with what to change.
The config's own checks (when it is given in `config`): valid TOML, listening on
containerPort, and a grace period that covers the drain wait plus the gateway's own.
*/}}
{{- define "ferrogate.checks" -}}
{{- $v := .Values -}}
{{- if and $v.existingSecret $v.secretEnv -}}
{{- fail "secretEnv and existingSecret are both set: give the secrets one way (secretEnv makes a Secret, existingSecret names yours)" -}}
{{- end -}}
{{- $grace := float64 $v.terminationGracePeriodSeconds -}}
{{- $wait := float64 $v.drainWaitSeconds -}}
{{- if le $grace $wait -}}
{{- fail (printf "terminationGracePeriodSeconds (%v) must be above drainWaitSeconds (%v): the pod would be killed while preStop still drains it" $v.terminationGracePeriodSeconds $v.drainWaitSeconds) -}}
{{- end -}}
{{- if not $v.existingConfigMap -}}
{{- $config := fromToml $v.config -}}
{{- if hasKey $config "Error" -}}
{{- fail (printf "config is not valid TOML: %s" $config.Error) -}}
{{- end -}}
{{- $gatewayGrace := float64 (dig "reliability" "graceful_shutdown_grace_period_secs" 30 $config) -}}
{{- if le $grace (addf $wait $gatewayGrace) -}}
{{- fail (printf "terminationGracePeriodSeconds (%v) must be above drainWaitSeconds (%v) plus the config's reliability.graceful_shutdown_grace_period_secs (%v)" $v.terminationGracePeriodSeconds $v.drainWaitSeconds $gatewayGrace) -}}
{{- end -}}
{{- $listen := get $config "listen" | default (list "0.0.0.0:8080") -}}
{{- if kindIs "string" $listen }}{{ $listen = list $listen }}{{ end -}}
{{- $port := printf ":%d" (int $v.containerPort) -}}
{{- $found := false -}}
{{- range $listen }}{{ if hasSuffix $port (toString .) }}{{ $found = true }}{{ end }}{{ end -}}
{{- if not $found -}}
{{- fail (printf "the config listens on %v, not on containerPort %d: set containerPort to the port of `listen`" $listen (int $v.containerPort)) -}}
{{- end -}}
{{- end -}}
{{- if and $v.serviceMonitor.enabled (not (include "ferrogate.service" .)) -}}
{{- fail "serviceMonitor.enabled needs the Service: kind Deployment, or service.enabled for a DaemonSet" -}}
{{- end -}}
{{- end -}}
