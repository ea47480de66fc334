{{/*
ServiceMonitor, PrometheusRule and Grafana dashboard, each behind its own value (never switched
on by what the cluster happens to offer). The rules and the dashboard are the files of
observability/, reached through the chart's files/ symlinks.
*/}}

{{- define "smartby-lib.servicemonitor" -}}
{{- if .Values.metrics.serviceMonitor.enabled -}}
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: {{ include "smartby-lib.fullname" . }}
  labels:
    {{- include "smartby-lib.labels" . | nindent 4 }}
    {{- with .Values.metrics.serviceMonitor.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  selector:
    matchLabels:
      {{- include "smartby-lib.selectorLabels" . | nindent 6 }}
  endpoints:
    - port: metrics
      path: /metrics
      scheme: http
      interval: {{ .Values.metrics.serviceMonitor.interval }}
      scrapeTimeout: {{ .Values.metrics.serviceMonitor.scrapeTimeout }}
{{- end -}}
{{- end -}}

{{/* A file of the chart that must be there when its toggle is on. */}}
{{- define "smartby-lib.requiredFile" -}}
{{- $root := index . 0 -}}
{{- $path := index . 1 -}}
{{- $toggle := index . 2 -}}
{{- $text := $root.Files.Get $path -}}
{{- if not $text -}}
{{- fail (printf "chart %s: %s is on but %s is missing or empty (a symlink into observability/)" $root.Chart.Name $toggle $path) -}}
{{- end -}}
{{- $text -}}
{{- end -}}

{{- define "smartby-lib.prometheusrule" -}}
{{- if .Values.metrics.prometheusRule.enabled -}}
{{- $rules := include "smartby-lib.requiredFile" (list . "files/rules.yaml" "metrics.prometheusRule.enabled") | fromYaml -}}
{{- if not $rules.groups -}}
{{- fail (printf "chart %s: files/rules.yaml has no top-level groups: (a Prometheus rule file)" .Chart.Name) -}}
{{- end -}}
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: {{ include "smartby-lib.fullname" . }}
  labels:
    {{- include "smartby-lib.labels" . | nindent 4 }}
    {{- with .Values.metrics.prometheusRule.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  groups:
    {{- toYaml $rules.groups | nindent 4 }}
{{- end -}}
{{- end -}}

{{- define "smartby-lib.dashboard" -}}
{{- if .Values.metrics.grafanaDashboard.enabled -}}
{{- $dashboard := include "smartby-lib.requiredFile" (list . "files/dashboard.json" "metrics.grafanaDashboard.enabled") -}}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "smartby-lib.fullname" . }}-dashboard
  {{- with .Values.metrics.grafanaDashboard.namespace }}
  namespace: {{ . }}
  {{- end }}
  labels:
    {{- include "smartby-lib.labels" . | nindent 4 }}
    # The Grafana sidecar loads every ConfigMap with this label.
    grafana_dashboard: "1"
    {{- with .Values.metrics.grafanaDashboard.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with .Values.metrics.grafanaDashboard.folder }}
  annotations:
    grafana_folder: {{ . | quote }}
  {{- end }}
data:
  smartby-{{ include "smartby-lib.service" . }}.json: |-
    {{- $dashboard | nindent 4 }}
{{- end -}}
{{- end -}}
