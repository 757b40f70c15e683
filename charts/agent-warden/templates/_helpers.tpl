{{/* Chart name, overridable. */}}
{{- define "agent-warden.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{/*
Prefix of every object name. Kept to 40 characters so that "<prefix>-validating" and the other
suffixes stay within the 63-character limit of Service and label values.
*/}}
{{- define "agent-warden.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "agent-warden.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "agent-warden.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: agent-warden
{{- end -}}

{{/* Selector labels of one component: include with (dict "ctx" $ "component" "operator"). */}}
{{- define "agent-warden.selectorLabels" -}}
app.kubernetes.io/name: {{ include "agent-warden.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Selector labels of one component as "k=v,k=v" (an operator flag). */}}
{{- define "agent-warden.selectorLabelList" -}}
{{- $labels := include "agent-warden.selectorLabels" . | fromYaml -}}
{{- include "agent-warden.labelList" $labels -}}
{{- end -}}

{{/* A label map as "k=v,k=v", keys sorted. */}}
{{- define "agent-warden.labelList" -}}
{{- $pairs := list -}}
{{- range $k, $v := . -}}
{{- $pairs = append $pairs (printf "%s=%s" $k $v) -}}
{{- end -}}
{{- join "," $pairs -}}
{{- end -}}

{{- define "agent-warden.componentLabels" -}}
{{ include "agent-warden.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* An image reference: include with (dict "ctx" $ "image" .Values.operator.image). */}}
{{- define "agent-warden.image" -}}
{{- if .image.digest -}}
{{- printf "%s@%s" .image.repository .image.digest -}}
{{- else -}}
{{- printf "%s:%s" .image.repository (default .ctx.Chart.AppVersion .image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "agent-warden.operatorServiceAccount" -}}{{ include "agent-warden.fullname" . }}-operator{{- end -}}
{{- define "agent-warden.webhookServiceAccount" -}}{{ include "agent-warden.fullname" . }}-webhook{{- end -}}
{{- define "agent-warden.enclaveClusterRole" -}}{{ include "agent-warden.fullname" . }}-enclave{{- end -}}
{{- define "agent-warden.issuerService" -}}{{ include "agent-warden.fullname" . }}-issuer{{- end -}}
{{- define "agent-warden.webhookService" -}}{{ include "agent-warden.fullname" . }}-webhook{{- end -}}
{{- define "agent-warden.validatingConfig" -}}{{ include "agent-warden.fullname" . }}-validating{{- end -}}
{{- define "agent-warden.mutatingConfig" -}}{{ include "agent-warden.fullname" . }}-mutating{{- end -}}

{{/* The Kubernetes "restricted" Pod Security Standard, for every pod of the chart. */}}
{{- define "agent-warden.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "agent-warden.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
privileged: false
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Namespaces never subject to the webhooks: the configured list plus the release namespace. */}}
{{- define "agent-warden.excludedNamespaces" -}}
{{- $ns := concat .Values.webhook.excludedNamespaces (list .Release.Namespace) | uniq -}}
{{- toJson $ns -}}
{{- end -}}

{{/*
Spread replicas over nodes when the scheduler can; "preferred" rather than "required" so that a
single-node cluster still runs every replica.
*/}}
{{- define "agent-warden.antiAffinity" -}}
podAntiAffinity:
  preferredDuringSchedulingIgnoredDuringExecution:
    - weight: 100
      podAffinityTerm:
        topologyKey: kubernetes.io/hostname
        labelSelector:
          matchLabels:
            {{- include "agent-warden.selectorLabels" . | nindent 12 }}
{{- end -}}

{{/* Egress of the chart's own pods: DNS and the API server, nothing else. */}}
{{- define "agent-warden.egressDNSAndAPI" -}}
# DNS, to the cluster DNS pods only.
- to:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: {{ .Values.networkPolicy.dns.namespace }}
      podSelector:
        matchLabels:
          {{- toYaml .Values.networkPolicy.dns.podLabels | nindent 10 }}
  ports:
    - protocol: UDP
      port: 53
    - protocol: TCP
      port: 53
# The API server: not a pod, so it can only be named by address.
- to:
    {{- range .Values.networkPolicy.apiServer.cidrs }}
    - ipBlock:
        cidr: {{ . }}
    {{- end }}
  ports:
    {{- range .Values.networkPolicy.apiServer.ports }}
    - protocol: TCP
      port: {{ . }}
    {{- end }}
{{- end -}}

{{/* Resources the validating pod webhooks cover (webhook/configurations.ts). */}}
{{- define "agent-warden.podRules" -}}
- apiGroups: [""]
  apiVersions: ["v1"]
  resources: ["pods"]
  operations: ["CREATE", "UPDATE"]
  scope: Namespaced
- apiGroups: [""]
  apiVersions: ["v1"]
  resources: ["pods/ephemeralcontainers"]
  operations: ["UPDATE"]
  scope: Namespaced
- apiGroups: ["apps"]
  apiVersions: ["v1"]
  resources: ["deployments", "statefulsets", "daemonsets", "replicasets"]
  operations: ["CREATE", "UPDATE"]
  scope: Namespaced
- apiGroups: ["batch"]
  apiVersions: ["v1"]
  resources: ["jobs", "cronjobs"]
  operations: ["CREATE", "UPDATE"]
  scope: Namespaced
{{- end -}}

{{- define "agent-warden.webhookCommon" -}}
sideEffects: None
admissionReviewVersions: ["v1"]
matchPolicy: Equivalent
timeoutSeconds: {{ .Values.webhook.timeoutSeconds }}
{{- end -}}

{{/*
The gateway sidecar the injector adds (webhook/sidecar-config.ts). The webhook injects it and the
operator's issuer re-checks every pod against the same template before it signs an SVID, so both
Deployments get these variables from here.
*/}}
{{- define "agent-warden.gatewaySidecarEnv" -}}
- name: WARDEN_GATEWAY_IMAGE
  value: {{ include "agent-warden.image" (dict "ctx" . "image" .Values.gateway.image) | quote }}
- name: WARDEN_GATEWAY_PULL_POLICY
  value: {{ .Values.gateway.image.pullPolicy | quote }}
- name: WARDEN_ISSUER_URL
  value: {{ printf "https://%s.%s.svc:%d" (include "agent-warden.issuerService" .) .Release.Namespace (int .Values.operator.issuerPort) | quote }}
- name: WARDEN_GATEWAY_CPU_REQUEST
  value: {{ .Values.gateway.resources.requests.cpu | quote }}
- name: WARDEN_GATEWAY_MEMORY_REQUEST
  value: {{ .Values.gateway.resources.requests.memory | quote }}
- name: WARDEN_GATEWAY_CPU_LIMIT
  value: {{ .Values.gateway.resources.limits.cpu | quote }}
- name: WARDEN_GATEWAY_MEMORY_LIMIT
  value: {{ .Values.gateway.resources.limits.memory | quote }}
# Mounted into the sidecar: approver tokens; audit redaction (left out at the default list).
- name: WARDEN_GATEWAY_APPROVALS_SECRET
  value: {{ .Values.gateway.approvals.secretName | quote }}
- name: WARDEN_GATEWAY_AUDIT_REDACT
  value: {{ join "," .Values.gateway.audit.redact | quote }}
{{- end -}}
