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

{{/* The Secret holding the TLS files: the user's, or the one the chart makes. */}}
{{- define "bunker.tlsSecret" -}}
{{- .Values.tls.existingSecret | default (printf "%s-tls" (include "bunker.fullname" .)) -}}
{{- end }}

{{/* Environment pointing a component at its mounted TLS files (argument: dict "root" . "component" "agent"|"operator"). */}}
{{- define "bunker.tlsEnv" -}}
{{- if .root.Values.tls.enabled }}
- name: BUNKER_TLS_CERT
  value: /etc/bunker/tls/tls.crt
- name: BUNKER_TLS_KEY
  value: /etc/bunker/tls/tls.key
- name: BUNKER_TLS_CA
  value: /etc/bunker/tls/ca.crt
{{- if eq .component "agent" }}
- name: BUNKER_TLS_REFRESH_SECONDS
  value: {{ .root.Values.tls.refreshSeconds | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/* The TLS volume: the component's own certificate and key as tls.crt/tls.key, and ca.crt. */}}
{{- define "bunker.tlsVolume" -}}
{{- if .root.Values.tls.enabled }}
- name: tls
  secret:
    secretName: {{ include "bunker.tlsSecret" .root }}
    {{- if not .root.Values.tls.existingSecret }}
    items:
      - key: ca.crt
        path: ca.crt
      - key: {{ .component }}.crt
        path: tls.crt
      - key: {{ .component }}.key
        path: tls.key
    {{- end }}
{{- end }}
{{- end }}
