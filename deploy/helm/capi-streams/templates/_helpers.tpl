{{/* Names and labels. */}}
{{- define "capi-streams.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "capi-streams.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "capi-streams.selectorLabels" -}}
app.kubernetes.io/name: {{ include "capi-streams.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "capi-streams.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "capi-streams.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "capi-streams.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "capi-streams.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Static membership needs stable pod names: a StatefulSet. */}}
{{- define "capi-streams.static" -}}
{{- if and .Values.staticMembership (eq .Values.workloadKind "StatefulSet") -}}true{{- end -}}
{{- end -}}

{{/* The worker's config: values.config plus what the chart decides (metrics, TLS files). */}}
{{- define "capi-streams.config" -}}
{{- $config := deepCopy .Values.config -}}
{{- $kafka := get $config "kafka" | default dict -}}
{{- if .Values.kafkaTls.caSecret.name -}}
{{- $_ := set $kafka "ssl_ca_file" "/etc/capi-streams/kafka/ca/ca.crt" -}}
{{- end -}}
{{- if .Values.kafkaTls.clientCertSecret.name -}}
{{- $_ := set $kafka "ssl_cert_file" "/etc/capi-streams/kafka/client/tls.crt" -}}
{{- $_ := set $kafka "ssl_key_file" "/etc/capi-streams/kafka/client/tls.key" -}}
{{- end -}}
{{- $_ := set $config "kafka" $kafka -}}
{{- $_ := set $config "metrics" (dict "host" "0.0.0.0" "port" .Values.metrics.port) -}}
{{- mustToToml $config -}}
{{- end -}}

{{- define "capi-streams.shutdownTimeout" -}}
{{- $worker := get .Values.config "worker" | default dict -}}
{{- get $worker "shutdown_timeout_seconds" | default 30 | int -}}
{{- end -}}
