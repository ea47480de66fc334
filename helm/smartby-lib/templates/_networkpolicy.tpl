{{/*
This service's NetworkPolicy: it selects the service's pods for Ingress and Egress, so anything
not listed is denied, and lists exactly the flows of files/flows.yaml whose "to" (ingress) or
"from" (egress) names this service. Nothing here names a flow of its own; a flow with "when" is left out
while the value it names is unset.
*/}}

{{/* A NetworkPolicy peer for a flow endpoint, as a YAML list item (or nothing: anywhere). */}}
{{- define "smartby-lib.networkPolicyPeers" -}}
{{- $root := index . 0 -}}
{{- $flows := index . 1 -}}
{{- $endpoint := index . 2 -}}
{{- if hasKey $flows.services $endpoint -}}
- podSelector:
    matchLabels:
      app.kubernetes.io/name: {{ $endpoint }}
      app.kubernetes.io/part-of: {{ include "smartby-lib.prefix" $root }}
{{- else -}}
{{- $known := index $flows.endpoints $endpoint -}}
{{- if not $known -}}
{{- fail (printf "files/flows.yaml: %q is neither a service nor an endpoint" $endpoint) -}}
{{- end -}}
{{- $override := index $root.Values.networkPolicy.peers $endpoint -}}
{{- if $override -}}
{{ toYaml $override }}
{{- else if $known.selector -}}
{{ toYaml (list (index $known.selector (ternary "openshift" "kubernetes" $root.Values.global.openshift))) }}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* NetworkPolicy ports for a flow towards "destination" (a service's named port or numbers). */}}
{{- define "smartby-lib.networkPolicyPorts" -}}
{{- $flows := index . 0 -}}
{{- $flow := index . 1 -}}
{{- $destination := index . 2 -}}
{{- $numbers := list -}}
{{- if kindIs "string" $flow.port -}}
{{- $numbers = list (index (index $flows.services $destination) $flow.port) -}}
{{- else -}}
{{- $numbers = $flow.port -}}
{{- end -}}
{{- range $transport := ($flow.transport | default (list "TCP")) }}
{{- range $numbers }}
- port: {{ . }}
  protocol: {{ $transport }}
{{- end }}
{{- end }}
{{- end -}}

{{/* "true" (or nothing) when a flow applies: it has no "when", or the value "when" names is set. */}}
{{- define "smartby-lib.flowApplies" -}}
{{- $root := index . 0 -}}
{{- $flow := index . 1 -}}
{{- if not $flow.when -}}
true
{{- else -}}
{{- $value := $root.Values -}}
{{- range $key := splitList "." $flow.when -}}
{{- $value = and (kindIs "map" $value) (index $value $key) -}}
{{- end -}}
{{- if $value -}}true{{- end -}}
{{- end -}}
{{- end -}}

{{- define "smartby-lib.networkpolicy" -}}
{{- if .Values.networkPolicy.enabled -}}
{{- $root := . -}}
{{- $flows := include "smartby-lib.flowTable" . | fromYaml -}}
{{- $service := include "smartby-lib.service" . -}}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ include "smartby-lib.fullname" . }}
  labels:
    {{- include "smartby-lib.labels" . | nindent 4 }}
spec:
  podSelector:
    matchLabels:
      {{- include "smartby-lib.selectorLabels" . | nindent 6 }}
  policyTypes: [Ingress, Egress]
  ingress:
  {{- range $flow := $flows.flows }}
  {{- if and (has $service $flow.to) (include "smartby-lib.flowApplies" (list $root $flow)) }}
  {{- range $source := $flow.from }}
    - from:
        {{- include "smartby-lib.networkPolicyPeers" (list $root $flows $source) | trim | nindent 8 }}
      ports:
        {{- include "smartby-lib.networkPolicyPorts" (list $flows $flow $service) | trim | nindent 8 }}
  {{- end }}
  {{- end }}
  {{- end }}
  egress:
  {{- range $flow := $flows.flows }}
  {{- if and (has $service $flow.from) (include "smartby-lib.flowApplies" (list $root $flow)) }}
  {{- range $destination := $flow.to }}
  {{- if ne $destination $service }}
    - ports:
        {{- include "smartby-lib.networkPolicyPorts" (list $flows $flow $destination) | trim | nindent 8 }}
      {{- with include "smartby-lib.networkPolicyPeers" (list $root $flows $destination) | trim }}
      to:
        {{- . | nindent 8 }}
      {{- end }}
  {{- end }}
  {{- end }}
  {{- end }}
  {{- end }}
{{- end -}}
{{- end -}}
