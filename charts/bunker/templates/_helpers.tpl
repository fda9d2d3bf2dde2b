{{/* Name of the chart, for labels. */}}
{{- define "bunker.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Prefix of every object name: the release name, plus "-bunker" unless it already says bunker. */}}
{{- define "bunker.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels on every object. */}}
{{- define "bunker.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "bunker.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: bunker
{{- end -}}

{{/* Selector labels of one component: call with (dict "root" $ "component" "operator"). */}}
{{- define "bunker.selectorLabels" -}}
app.kubernetes.io/name: {{ include "bunker.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "bunker.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "bunker.operatorName" -}}
{{- printf "%s-operator" (include "bunker.fullname" .) -}}
{{- end -}}

{{- define "bunker.agentName" -}}
{{- printf "%s-agent" (include "bunker.fullname" .) -}}
{{- end -}}

{{/* runbook_url annotation of an alert, when monitoring.prometheusRule.runbookBaseUrl is set:
call with (dict "alert" "BunkerDataVolumeFailed" "base" $url). */}}
{{- define "bunker.runbookUrl" -}}
{{- if .base -}}
runbook_url: {{ printf "%s#%s" (trimSuffix "/" .base) (lower .alert) | quote }}
{{- end -}}
{{- end -}}
