{{/* The Service, its ServiceAccount and, on OpenShift, the ConfigMap the service CA fills. */}}

{{- define "smartby-lib.serviceObject" -}}
{{- $ports := include "smartby-lib.ports" . | fromYaml -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "smartby-lib.fullname" . }}
  labels:
    {{- include "smartby-lib.labels" . | nindent 4 }}
  {{- $annotations := deepCopy .Values.service.annotations -}}
  {{- if and .Values.global.openshift .Values.global.tls.enabled (not .Values.tls.secretName) -}}
  {{- /* The OpenShift service CA issues the serving certificate into this Secret. */ -}}
  {{- $_ := set $annotations "service.beta.openshift.io/serving-cert-secret-name" (include "smartby-lib.tlsSecretName" .) -}}
  {{- end }}
  {{- with $annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  type: {{ .Values.service.type }}
  selector:
    {{- include "smartby-lib.selectorLabels" . | nindent 4 }}
  ports:
    - name: grpc
      port: {{ $ports.grpc }}
      targetPort: grpc
      protocol: TCP
      appProtocol: {{ ternary "grpc" "kubernetes.io/h2c" .Values.global.tls.enabled }}
    - name: metrics
      port: {{ $ports.metrics }}
      targetPort: metrics
      protocol: TCP
      appProtocol: http
{{- end -}}

{{- define "smartby-lib.serviceaccount" -}}
{{- if .Values.serviceAccount.create -}}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "smartby-lib.serviceAccountName" . }}
  labels:
    {{- include "smartby-lib.labels" . | nindent 4 }}
  {{- with .Values.serviceAccount.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
# The services never call the Kubernetes API.
automountServiceAccountToken: false
{{- end -}}
{{- end -}}

{{- define "smartby-lib.cabundle" -}}
{{- if and .Values.global.openshift .Values.global.tls.enabled (not .Values.tls.ca.configMapName) -}}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "smartby-lib.caConfigMapName" . }}
  labels:
    {{- include "smartby-lib.labels" . | nindent 4 }}
  annotations:
    # OpenShift's service CA writes its bundle (key service-ca.crt) into this ConfigMap: the CA
    # that signed every service's serving certificate.
    service.beta.openshift.io/inject-cabundle: "true"
data: {}
{{- end -}}
{{- end -}}

{{- define "smartby-lib.hpa" -}}
{{- if .Values.autoscaling.enabled -}}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "smartby-lib.fullname" . }}
  labels:
    {{- include "smartby-lib.labels" . | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "smartby-lib.fullname" . }}
  minReplicas: {{ .Values.autoscaling.minReplicas }}
  maxReplicas: {{ .Values.autoscaling.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ .Values.autoscaling.targetCPUUtilizationPercentage }}
{{- end -}}
{{- end -}}

{{- define "smartby-lib.pdb" -}}
{{- if .Values.podDisruptionBudget.enabled -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "smartby-lib.fullname" . }}
  labels:
    {{- include "smartby-lib.labels" . | nindent 4 }}
spec:
  maxUnavailable: {{ .Values.podDisruptionBudget.maxUnavailable }}
  selector:
    matchLabels:
      {{- include "smartby-lib.selectorLabels" . | nindent 6 }}
{{- end -}}
{{- end -}}

{{/* OpenShift Route: TLS passthrough (the pod's certificate reaches the client) or reencrypt. */}}
{{- define "smartby-lib.route" -}}
{{- if .Values.route.enabled -}}
{{- if not .Values.global.tls.enabled -}}
{{- fail (printf "%s: route.enabled needs global.tls.enabled (passthrough and reencrypt carry gRPC over TLS to the pod)" (include "smartby-lib.service" .)) -}}
{{- end -}}
apiVersion: route.openshift.io/v1
kind: Route
metadata:
  name: {{ include "smartby-lib.fullname" . }}
  labels:
    {{- include "smartby-lib.labels" . | nindent 4 }}
  {{- with .Values.route.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  {{- with .Values.route.host }}
  host: {{ . }}
  {{- end }}
  to:
    kind: Service
    name: {{ include "smartby-lib.fullname" . }}
    weight: 100
  port:
    targetPort: grpc
  tls:
    termination: {{ .Values.route.termination }}
    insecureEdgeTerminationPolicy: None
    {{- if and (eq .Values.route.termination "reencrypt") .Values.route.destinationCACertificate }}
    destinationCACertificate: {{ .Values.route.destinationCACertificate | quote }}
    {{- end }}
  wildcardPolicy: None
{{- end -}}
{{- end -}}

{{/* Kubernetes Ingress for gRPC: the controller speaks TLS (GRPCS) to the pod. */}}
{{- define "smartby-lib.ingress" -}}
{{- if .Values.ingress.enabled -}}
{{- if not .Values.ingress.host -}}
{{- fail (printf "%s: ingress.enabled needs ingress.host (the DNS name clients use)" (include "smartby-lib.service" .)) -}}
{{- end -}}
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: {{ include "smartby-lib.fullname" . }}
  labels:
    {{- include "smartby-lib.labels" . | nindent 4 }}
  {{- with .Values.ingress.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  {{- with .Values.ingress.className }}
  ingressClassName: {{ . }}
  {{- end }}
  tls:
    - hosts: [{{ .Values.ingress.host | quote }}]
      secretName: {{ default (printf "%s-ingress-tls" (include "smartby-lib.fullname" .)) .Values.ingress.tlsSecretName }}
  rules:
    - host: {{ .Values.ingress.host | quote }}
      http:
        paths:
          - path: /
            pathType: Prefix
            backend:
              service:
                name: {{ include "smartby-lib.fullname" . }}
                port:
                  name: grpc
{{- end -}}
{{- end -}}
