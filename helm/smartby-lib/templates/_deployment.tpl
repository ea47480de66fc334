{{/*
The service's command-line flags. Every flag has an env twin, but flags show up in
`kubectl describe`, so the chart passes flags; only the database URL (from a Secret, never in the
pod spec) and the audit instance (the pod's name, known only once the pod exists) come through
the environment.
*/}}
{{- define "smartby-lib.args" -}}
{{- $service := include "smartby-lib.service" . -}}
{{- $ports := include "smartby-lib.ports" . | fromYaml -}}
{{- $tls := .Values.global.tls.enabled -}}
{{- $dataDir := include "smartby-lib.dataDir" . -}}
- --listen=0.0.0.0:{{ $ports.grpc }}
- --metrics_listen=0.0.0.0:{{ $ports.metrics }}
- --data_dir={{ $dataDir }}
- --log_level={{ .Values.logLevel }}
{{- if eq .Values.database.type "sqlite" }}
- --database=sqlite://{{ $dataDir }}/{{ $service }}.db
{{- end }}
{{- if .Values.packages }}
- --package_dir={{ include "smartby-lib.packagesDir" . }}
{{- end }}
{{- if $tls }}
- --tls_cert={{ include "smartby-lib.tlsDir" . }}/tls.crt
- --tls_key={{ include "smartby-lib.tlsDir" . }}/tls.key
- --health_listen=0.0.0.0:{{ include "smartby-lib.healthPort" . }}
- --auth_ca={{ include "smartby-lib.caFile" . }}
{{- else }}
- --allow_insecure_listen
{{- end }}
{{- $flows := include "smartby-lib.flowTable" . | fromYaml -}}
{{- range (include "smartby-lib.servicePeers" . | fromJsonArray) }}
{{- $peerPorts := index $flows.services . }}
- --{{ . }}_service={{ ternary "grpcs" "grpc" $tls }}://{{ include "smartby-lib.peerHost" (list $ . ) }}:{{ $peerPorts.grpc }}
{{- /* auth and audit are verified with --auth_ca (above); the others have their own flag. */}}
{{- if and $tls (not (has . (list "auth" "audit"))) }}
- --{{ . }}_ca={{ include "smartby-lib.caFile" $ }}
{{- end }}
{{- end }}
{{- if and .Values.existingSecret (hasKey .Values.secretFiles "service_client_secret_file") (index .Values.secretFiles "service_client_secret_file") }}
- --service_client_id={{ default $service .Values.serviceClientId }}
{{- end }}
{{- if .Values.existingSecret }}
{{- range $flag, $key := .Values.secretFiles }}
{{- if $key }}
- --{{ $flag }}={{ include "smartby-lib.secretsDir" $ }}/{{ $key }}
{{- end }}
{{- end }}
{{- end }}
{{- range $flag, $secret := .Values.secretDirectories }}
{{- if $secret }}
- --{{ $flag }}=/etc/smartby/{{ $flag | replace "_" "-" }}
{{- end }}
{{- end }}
{{- include "smartby-lib.noark5CoreArgs" . }}
{{- range $flag, $value := .Values.config }}
{{- if not (kindIs "invalid" $value) }}
{{- if ne (toString $value) "" }}
- --{{ $flag }}={{ $value }}
{{- end }}
{{- end }}
{{- end }}
{{- range .Values.extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end -}}

{{- define "smartby-lib.volumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpSizeLimit }}
- name: data
{{- if eq .Values.database.type "sqlite" }}
  persistentVolumeClaim:
    claimName: {{ default (printf "%s-data" (include "smartby-lib.fullname" .)) .Values.persistence.existingClaim }}
{{- else }}
  # PostgreSQL holds the data; this holds the audit outbox, which is flushed on SIGTERM.
  emptyDir:
    sizeLimit: {{ .Values.dataSizeLimit }}
{{- end }}
{{- if .Values.packages }}
- name: packages
  persistentVolumeClaim:
    claimName: {{ default (printf "%s-packages" (include "smartby-lib.fullname" .)) .Values.packages.existingClaim }}
{{- end }}
{{- if .Values.global.tls.enabled }}
- name: tls
  secret:
    secretName: {{ include "smartby-lib.tlsSecretName" . }}
    defaultMode: 0440
{{- with include "smartby-lib.caConfigMapName" . }}
- name: ca
  configMap:
    name: {{ . }}
{{- end }}
{{- end }}
{{- if .Values.existingSecret }}
- name: secrets
  secret:
    secretName: {{ .Values.existingSecret }}
    defaultMode: 0440
{{- end }}
{{- range $flag, $secret := .Values.secretDirectories }}
{{- if $secret }}
- name: {{ $flag | replace "_" "-" }}
  secret:
    secretName: {{ $secret }}
    defaultMode: 0440
{{- end }}
{{- end }}
{{- with include "smartby-lib.noark5CaSecret" . }}
- name: noark5-ca
  secret:
    secretName: {{ . }}
    defaultMode: 0440
{{- end }}
{{- with .Values.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "smartby-lib.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
- name: data
  mountPath: {{ include "smartby-lib.dataDir" . }}
{{- if .Values.packages }}
- name: packages
  mountPath: {{ include "smartby-lib.packagesDir" . }}
{{- end }}
{{- if .Values.global.tls.enabled }}
- name: tls
  mountPath: {{ include "smartby-lib.tlsDir" . }}
  readOnly: true
{{- if include "smartby-lib.caConfigMapName" . }}
- name: ca
  mountPath: {{ include "smartby-lib.caDir" . }}
  readOnly: true
{{- end }}
{{- end }}
{{- if .Values.existingSecret }}
- name: secrets
  mountPath: {{ include "smartby-lib.secretsDir" . }}
  readOnly: true
{{- end }}
{{- range $flag, $secret := .Values.secretDirectories }}
{{- if $secret }}
- name: {{ $flag | replace "_" "-" }}
  mountPath: /etc/smartby/{{ $flag | replace "_" "-" }}
  readOnly: true
{{- end }}
{{- end }}
{{- if include "smartby-lib.noark5CaSecret" . }}
- name: noark5-ca
  mountPath: {{ include "smartby-lib.noark5CaDir" . }}
  readOnly: true
{{- end }}
{{- with .Values.extraVolumeMounts }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* grpc.health.v1 probes: on the plaintext health port when TLS is on, else the gRPC port. */}}
{{- define "smartby-lib.probes" -}}
{{- $ports := include "smartby-lib.ports" . | fromYaml -}}
{{- $port := ternary (include "smartby-lib.healthPort" . | int) (int $ports.grpc) .Values.global.tls.enabled -}}
{{- range $probe := list "startup" "liveness" "readiness" }}
{{ $probe }}Probe:
  grpc:
    port: {{ $port }}
  {{- toYaml (index $.Values.probes $probe) | nindent 2 }}
{{- end }}
{{- end -}}

{{- define "smartby-lib.deployment" -}}
{{- $ports := include "smartby-lib.ports" . | fromYaml -}}
{{- $image := .Values.image -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "smartby-lib.fullname" . }}
  labels:
    {{- include "smartby-lib.labels" . | nindent 4 }}
spec:
  {{- if not .Values.autoscaling.enabled }}
  replicas: {{ .Values.replicaCount }}
  {{- end }}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      {{- include "smartby-lib.selectorLabels" . | nindent 6 }}
  strategy:
    {{- if or (eq .Values.database.type "sqlite") .Values.packages }}
    # One writer on a ReadWriteOnce volume (the SQLite file, the archive's packages): the old
    # pod goes before the new one starts.
    type: Recreate
    {{- else }}
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 1
      maxUnavailable: 0
    {{- end }}
  template:
    metadata:
      labels:
        {{- include "smartby-lib.labels" . | nindent 8 }}
        {{- with .Values.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- with .Values.podAnnotations }}
      annotations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    spec:
      serviceAccountName: {{ include "smartby-lib.serviceAccountName" . }}
      automountServiceAccountToken: false
      enableServiceLinks: false
      terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}
      {{- with .Values.priorityClassName }}
      priorityClassName: {{ . }}
      {{- end }}
      {{- with .Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      # OpenShift restricted-v2 and Pod Security "restricted": no fixed UID or fsGroup (OpenShift
      # assigns them from the namespace's range; the image's numeric USER serves elsewhere).
      securityContext:
        runAsNonRoot: true
        seccompProfile:
          type: RuntimeDefault
        {{- with .Values.podSecurityContext }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      containers:
        - name: {{ include "smartby-lib.service" . }}
          image: "{{ $image.repository }}{{ if $image.digest }}@{{ $image.digest }}{{ else }}:{{ default .Chart.AppVersion $image.tag }}{{ end }}"
          imagePullPolicy: {{ $image.pullPolicy }}
          args:
            {{- include "smartby-lib.args" . | nindent 12 }}
          env:
            # Every service records audit events through the runtime's outbox, one outbox per
            # pod with its own sequence: the pod name makes each replica a producer of its own
            # ("<account>/<pod>"), so the audit log neither merges nor refuses two replicas'
            # events (services/audit/README.md, "Producers").
            - name: SMARTBY_AUDIT_INSTANCE
              valueFrom:
                fieldRef:
                  fieldPath: metadata.name
            {{- if eq .Values.database.type "postgres" }}
            - name: SMARTBY_DATABASE
              valueFrom:
                secretKeyRef:
                  name: {{ .Values.existingSecret }}
                  key: {{ .Values.database.urlKey }}
            {{- end }}
            {{- with .Values.extraEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          ports:
            - name: grpc
              containerPort: {{ $ports.grpc }}
              protocol: TCP
            - name: metrics
              containerPort: {{ $ports.metrics }}
              protocol: TCP
            {{- if .Values.global.tls.enabled }}
            - name: health
              containerPort: {{ include "smartby-lib.healthPort" . }}
              protocol: TCP
            {{- end }}
          {{- include "smartby-lib.probes" . | trim | nindent 10 }}
          resources:
            {{- toYaml .Values.resources | nindent 12 }}
          securityContext:
            runAsNonRoot: true
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities:
              drop: ["ALL"]
            seccompProfile:
              type: RuntimeDefault
          volumeMounts:
            {{- include "smartby-lib.volumeMounts" . | nindent 12 }}
      volumes:
        {{- include "smartby-lib.volumes" . | nindent 8 }}
      {{- with .Values.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.topologySpreadConstraints }}
      topologySpreadConstraints:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end -}}

{{- define "smartby-lib.pvc" -}}
{{- if and (eq .Values.database.type "sqlite") (not .Values.persistence.existingClaim) -}}
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: {{ include "smartby-lib.fullname" . }}-data
  labels:
    {{- include "smartby-lib.labels" . | nindent 4 }}
  annotations:
    # Deleting the release must not delete the trial's data.
    helm.sh/resource-policy: keep
spec:
  accessModes:
    {{- toYaml .Values.persistence.accessModes | nindent 4 }}
  {{- with .Values.persistence.storageClass }}
  storageClassName: {{ . }}
  {{- end }}
  resources:
    requests:
      storage: {{ .Values.persistence.size }}
{{- end -}}
{{- end -}}


{{/*
The archive's packages volume (values `packages`, only in the archive chart): a claim of its own,
whatever database.type is, because the packages are the archive's product, not a trial's data.
*/}}
{{- define "smartby-lib.packagesPvc" -}}
{{- if and .Values.packages (not .Values.packages.existingClaim) -}}
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: {{ include "smartby-lib.fullname" . }}-packages
  labels:
    {{- include "smartby-lib.labels" . | nindent 4 }}
  annotations:
    # Deleting the release must not delete the packages.
    helm.sh/resource-policy: keep
spec:
  accessModes:
    {{- toYaml .Values.packages.accessModes | nindent 4 }}
  {{- with .Values.packages.storageClass }}
  storageClassName: {{ . }}
  {{- end }}
  resources:
    requests:
      storage: {{ .Values.packages.size }}
{{- end -}}
{{- end -}}

{{/*
The archive's push to the municipality's Noark 5 core (values `noark5Core`, only in the archive
chart): its flags when url is set. The client secret is a key of existingSecret (mounted
read-only with the other secrets); the CA, if any, a Secret of its own.
*/}}
{{- define "smartby-lib.noark5CaDir" -}}/etc/smartby/noark5-ca{{- end -}}

{{/* The Secret of the core's CA certificate, when the push is on and one is named. */}}
{{- define "smartby-lib.noark5CaSecret" -}}
{{- with .Values.noark5Core -}}
{{- if and .url .caSecret -}}{{ .caSecret }}{{- end -}}
{{- end -}}
{{- end -}}

{{- define "smartby-lib.noark5CoreArgs" -}}
{{- with .Values.noark5Core }}
{{- if .url }}
- {{ printf "--noark5_core_url=%s" .url | quote }}
- {{ printf "--noark5_token_url=%s" .tokenUrl | quote }}
- {{ printf "--noark5_client_id=%s" .clientId | quote }}
- --noark5_client_secret_file={{ include "smartby-lib.secretsDir" $ }}/{{ .clientSecretKey }}
{{- with .arkivdel }}
- {{ printf "--noark5_arkivdel=%s" . | quote }}
{{- end }}
{{- with .scope }}
- {{ printf "--noark5_scope=%s" . | quote }}
{{- end }}
{{- with .timeout }}
- --noark5_timeout={{ . }}
{{- end }}
{{- with include "smartby-lib.noark5CaSecret" $ }}
- --noark5_ca={{ include "smartby-lib.noark5CaDir" $ }}/{{ $.Values.noark5Core.caKey }}
{{- end }}
{{- end }}
{{- end }}
{{- end -}}
