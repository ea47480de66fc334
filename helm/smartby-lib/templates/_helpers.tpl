{{/*
Names, labels and the facts every template needs: which service this chart deploys (the chart's
name), its ports and flows (files/flows.yaml), its TLS files and its peers' addresses.
Every template here takes the service chart's root context (.) unless it says otherwise.
*/}}

{{/* The service this chart deploys: catalogue, ingestion, feed, auth, audit or archive. */}}
{{- define "smartby-lib.service" -}}
{{- .Chart.Name -}}
{{- end -}}

{{/* The platform's name prefix: every object and peer address is <prefix>-<service>. */}}
{{- define "smartby-lib.prefix" -}}
{{- .Values.global.namePrefix -}}
{{- end -}}

{{/*
The name of this service's objects. Fixed as <prefix>-<service> (not the release name), so that
services installed by different teams in different releases still find each other.
*/}}
{{- define "smartby-lib.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" (include "smartby-lib.prefix" .) (include "smartby-lib.service" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* The address of another service of the platform: <prefix>-<peer>.<namespace>.svc. */}}
{{- define "smartby-lib.peerHost" -}}
{{- $root := index . 0 -}}
{{- $peer := index . 1 -}}
{{- printf "%s-%s.%s.svc" (include "smartby-lib.prefix" $root) $peer $root.Release.Namespace -}}
{{- end -}}

{{- define "smartby-lib.selectorLabels" -}}
app.kubernetes.io/name: {{ include "smartby-lib.service" . }}
app.kubernetes.io/part-of: {{ include "smartby-lib.prefix" . }}
{{- end -}}

{{- define "smartby-lib.labels" -}}
{{ include "smartby-lib.selectorLabels" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: grpc-service
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end -}}

{{- define "smartby-lib.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "smartby-lib.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The flow table (helm/flows.yaml), as a dict. */}}
{{- define "smartby-lib.flowTable" -}}
{{- $text := .Files.Get "files/flows.yaml" -}}
{{- if not $text -}}
{{- fail (printf "chart %s: files/flows.yaml is missing; it must be a symlink to helm/flows.yaml (the platform's flow table)" .Chart.Name) -}}
{{- end -}}
{{- $text -}}
{{- end -}}

{{/* This service's ports from the flow table: {"grpc": N, "metrics": N}. As YAML. */}}
{{- define "smartby-lib.ports" -}}
{{- $flows := include "smartby-lib.flowTable" . | fromYaml -}}
{{- $service := include "smartby-lib.service" . -}}
{{- $ports := index $flows.services $service -}}
{{- if not $ports -}}
{{- fail (printf "chart %s: service %q is not in files/flows.yaml's services" .Chart.Name $service) -}}
{{- end -}}
{{- toYaml $ports -}}
{{- end -}}

{{/*
The plaintext port that serves only grpc.health.v1 when the gRPC port uses TLS: the kubelet's
gRPC probes cannot speak TLS. Above 1024, like every port here.
*/}}
{{- define "smartby-lib.healthPort" -}}8086{{- end -}}

{{/* The services this one calls (egress flows to other services of the platform), as a list. */}}
{{- define "smartby-lib.servicePeers" -}}
{{- $flows := include "smartby-lib.flowTable" . | fromYaml -}}
{{- $service := include "smartby-lib.service" . -}}
{{- $peers := list -}}
{{- range $flows.flows -}}
{{- if has $service .from -}}
{{- range .to -}}
{{- if and (hasKey $flows.services .) (ne . $service) -}}
{{- $peers = append $peers . -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- toJson (uniq $peers) -}}
{{- end -}}

{{/* Where TLS files are mounted, and which CA bundle verifies the peers. */}}
{{- define "smartby-lib.tlsDir" -}}/etc/smartby/tls{{- end -}}
{{- define "smartby-lib.caDir" -}}/etc/smartby/ca{{- end -}}
{{- define "smartby-lib.secretsDir" -}}/etc/smartby/secrets{{- end -}}
{{- define "smartby-lib.dataDir" -}}/var/lib/smartby{{- end -}}
{{- define "smartby-lib.packagesDir" -}}/var/lib/smartby-packages{{- end -}}

{{- define "smartby-lib.tlsSecretName" -}}
{{- default (printf "%s-tls" (include "smartby-lib.fullname" .)) .Values.tls.secretName -}}
{{- end -}}

{{/*
The CA bundle file peers' certificates are verified with: a ConfigMap named in tls.ca, else on
OpenShift the service CA bundle injected into this chart's own ConfigMap, else ca.crt of the
service's certificate Secret (as cert-manager writes it).
*/}}
{{- define "smartby-lib.caConfigMapName" -}}
{{- if .Values.tls.ca.configMapName -}}
{{- .Values.tls.ca.configMapName -}}
{{- else if .Values.global.openshift -}}
{{- printf "%s-ca" (include "smartby-lib.fullname" .) -}}
{{- end -}}
{{- end -}}

{{- define "smartby-lib.caFile" -}}
{{- if .Values.tls.ca.configMapName -}}
{{- printf "%s/%s" (include "smartby-lib.caDir" .) .Values.tls.ca.key -}}
{{- else if .Values.global.openshift -}}
{{- printf "%s/service-ca.crt" (include "smartby-lib.caDir" .) -}}
{{- else -}}
{{- printf "%s/ca.crt" (include "smartby-lib.tlsDir" .) -}}
{{- end -}}
{{- end -}}

{{/* SQLite keeps its file on a volume that only one pod may write: refuse anything else. */}}
{{- define "smartby-lib.checkDatabase" -}}
{{- if eq .Values.database.type "sqlite" -}}
{{- if gt (int .Values.replicaCount) 1 -}}
{{- fail (printf "%s: replicaCount is %d but database.type is sqlite; SQLite on a volume serves one replica only (trials). Use database.type=postgres for more replicas." (include "smartby-lib.service" .) (int .Values.replicaCount)) -}}
{{- end -}}
{{- if .Values.autoscaling.enabled -}}
{{- fail (printf "%s: autoscaling.enabled needs database.type=postgres; SQLite on a volume serves one replica only (trials)." (include "smartby-lib.service" .)) -}}
{{- end -}}
{{- else if not .Values.existingSecret -}}
{{- fail (printf "%s: database.type is postgres, so existingSecret must name the Secret whose key %q holds the postgres:// URL" (include "smartby-lib.service" .) .Values.database.urlKey) -}}
{{- end -}}
{{- end -}}

{{/* Everything this chart renders. The one template a service chart includes. */}}
{{- define "smartby-lib.all" -}}
{{- include "smartby-lib.checkDatabase" . -}}
{{- $parts := list "serviceaccount" "cabundle" "pvc" "packagesPvc" "deployment" "serviceObject" "hpa" "pdb" "networkpolicy" "servicemonitor" "prometheusrule" "dashboard" "route" "ingress" -}}
{{- range $parts }}
{{- $rendered := include (printf "smartby-lib.%s" .) $ | trim -}}
{{- if $rendered }}
---
{{ $rendered }}
{{- end }}
{{- end }}
{{- end -}}
