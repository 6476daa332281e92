{{/* Names: everything is <fullname>-<part>; fullname is the release name (kubefed → kubefed-watcher). */}}
{{- define "kubefed.fullname" -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{- define "kubefed.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" -}}
{{- end -}}

{{/* Selector labels of a kubefed service: (dict "ctx" $ "component" "watcher") */}}
{{- define "kubefed.selectorLabels" -}}
app.kubernetes.io/name: kubefed
app.kubernetes.io/instance: {{ include "kubefed.fullname" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "kubefed.labels" -}}
{{ include "kubefed.selectorLabels" . }}
app.kubernetes.io/part-of: kubefed
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
helm.sh/chart: {{ include "kubefed.chart" .ctx }}
{{- end -}}

{{- define "kubefed.natsSelectorLabels" -}}
app.kubernetes.io/name: nats
app.kubernetes.io/instance: {{ include "kubefed.fullname" . }}-nats
app.kubernetes.io/component: messaging
{{- end -}}

{{- define "kubefed.natsLabels" -}}
{{ include "kubefed.natsSelectorLabels" . }}
app.kubernetes.io/part-of: kubefed
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ include "kubefed.chart" . }}
{{- end -}}

{{- define "kubefed.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "kubefed.natsURL" -}}
{{- if .Values.nats.enabled -}}
{{ ternary "tls" "nats" .Values.nats.tls.enabled }}://{{ include "kubefed.fullname" . }}-nats:4222
{{- else -}}
{{ required "nats.url is required when nats.enabled=false" .Values.nats.url }}
{{- end -}}
{{- end -}}

{{/* The Downward API variables and OpenTelemetry's, in the order their references need:
     (dict "ctx" $ "deployment" "kubefed-watcher" "extraAttributes" "") */}}
{{- define "kubefed.podEnv" -}}
- name: KUBEFED_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: POD_UID
  valueFrom:
    fieldRef:
      fieldPath: metadata.uid
- name: NODE_NAME
  valueFrom:
    fieldRef:
      fieldPath: spec.nodeName
- name: OTEL_SERVICE_NAME
  value: {{ .service }}
- name: OTEL_RESOURCE_ATTRIBUTES
  value: k8s.pod.name=$(POD_NAME),k8s.namespace.name=$(POD_NAMESPACE),k8s.pod.uid=$(POD_UID),k8s.node.name=$(NODE_NAME),k8s.deployment.name={{ .deployment }},service.instance.id=$(POD_NAME){{ .extraAttributes }}
{{- end -}}

{{/* NATS credentials of one service: (dict "ctx" $ "user" "watcher") */}}
{{- define "kubefed.natsAuthEnv" -}}
{{- $auth := .ctx.Values.nats.auth -}}
{{- if eq $auth.mode "password" }}
- name: KUBEFED_NATS_USER
  value: kubefed-{{ .user }}
- name: KUBEFED_NATS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $auth.existingSecret }}
      key: KUBEFED_NATS_PASSWORD_{{ .user | upper | replace "-" "_" }}
- name: KUBEFED_NATS_INBOX_PREFIX
  value: _INBOX.kubefed-{{ .user }}
{{- else if eq $auth.mode "creds" }}
- name: KUBEFED_NATS_CREDS
  value: /etc/kubefed/nats-creds/{{ .user }}.creds
{{- else if ne $auth.mode "none" }}
{{- fail (printf "nats.auth.mode must be none, password or creds, not %q" $auth.mode) }}
{{- end }}
{{- if .ctx.Values.nats.tls.enabled }}
- name: KUBEFED_NATS_TLS_CA
  value: /etc/kubefed/nats-tls/ca.crt
{{- if .ctx.Values.nats.tls.clientCert }}
- name: KUBEFED_NATS_TLS_CERT
  value: /etc/kubefed/nats-tls/tls.crt
- name: KUBEFED_NATS_TLS_KEY
  value: /etc/kubefed/nats-tls/tls.key
{{- end }}
{{- end }}
{{- end -}}

{{- define "kubefed.natsMounts" -}}
{{- if eq .Values.nats.auth.mode "creds" }}
- name: nats-creds
  mountPath: /etc/kubefed/nats-creds
  readOnly: true
{{- end }}
{{- if .Values.nats.tls.enabled }}
- name: nats-tls
  mountPath: /etc/kubefed/nats-tls
  readOnly: true
{{- end }}
{{- end -}}

{{- define "kubefed.natsVolumes" -}}
{{- if eq .Values.nats.auth.mode "creds" }}
- name: nats-creds
  secret:
    secretName: {{ .Values.nats.auth.existingSecret }}
{{- end }}
{{- if .Values.nats.tls.enabled }}
- name: nats-tls
  secret:
    secretName: {{ .Values.nats.tls.secretName }}
{{- end }}
{{- end -}}

{{/* One kubefed Deployment: (dict "ctx" $ "component" "watcher" "name" "kubefed-watcher" "args" (list ...)
     "replicas" 2 "resources" {...} "user" "watcher" "extraLabels" {} "extraAttributes" "" "natsURL" ""
     "recreate" false "comment" "...") */}}
{{- define "kubefed.deployment" -}}
{{- $ctx := .ctx -}}
{{- $selector := merge (fromYaml (include "kubefed.selectorLabels" .)) (.extraLabels | default dict) -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .name }}
  namespace: {{ $ctx.Release.Namespace }}
  labels:
    {{- include "kubefed.labels" . | nindent 4 }}
    {{- with .extraLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  replicas: {{ .replicas }}
  {{- if .recreate }}
  strategy:
    type: Recreate
  {{- end }}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      {{- toYaml $selector | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "kubefed.labels" . | nindent 8 }}
        {{- with .extraLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      annotations:
        prometheus.io/scrape: "true"
        prometheus.io/port: {{ $ctx.Values.config.httpPort | quote }}
        prometheus.io/path: /metrics
        checksum/env: {{ include (print $ctx.Template.BasePath "/env.yaml") $ctx | sha256sum }}
    spec:
      serviceAccountName: {{ include "kubefed.fullname" $ctx }}-{{ .component }}
      automountServiceAccountToken: true
      terminationGracePeriodSeconds: {{ add $ctx.Values.config.gracePeriodSeconds 15 }}
      {{- with $ctx.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      securityContext:
        {{- toYaml $ctx.Values.podSecurityContext | nindent 8 }}
      topologySpreadConstraints:
      - maxSkew: 1
        topologyKey: kubernetes.io/hostname
        whenUnsatisfiable: ScheduleAnyway
        labelSelector:
          matchLabels:
            {{- toYaml $selector | nindent 12 }}
      {{- with $ctx.Values.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $ctx.Values.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $ctx.Values.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      containers:
      - name: {{ .component }}
        image: {{ include "kubefed.image" $ctx }}
        imagePullPolicy: {{ $ctx.Values.image.pullPolicy }}
        args: {{ toJson .args }}
        envFrom:
        - configMapRef:
            name: {{ include "kubefed.fullname" $ctx }}-env
        env:
        {{- include "kubefed.podEnv" (dict "service" (printf "kubefed-%s" .component) "deployment" .name "extraAttributes" (.extraAttributes | default "")) | nindent 8 }}
        {{- with .natsURL }}
        - name: KUBEFED_NATS_URL
          value: {{ . }}
        - name: KUBEFED_NATS_HUB_DOMAIN
          value: {{ $ctx.Values.nats.hubDomain }}
        {{- end }}
        {{- include "kubefed.natsAuthEnv" (dict "ctx" $ctx "user" .user) | nindent 8 }}
        ports:
        - name: http
          containerPort: {{ $ctx.Values.config.httpPort }}
          protocol: TCP
        livenessProbe:
          httpGet:
            path: /healthz
            port: http
          initialDelaySeconds: 15
          periodSeconds: 20
          timeoutSeconds: 3
          failureThreshold: 3
        readinessProbe:
          httpGet:
            path: /readyz
            port: http
          initialDelaySeconds: 5
          periodSeconds: 10
          timeoutSeconds: 3
          failureThreshold: 3
        resources:
          {{- toYaml .resources | nindent 10 }}
        securityContext:
          allowPrivilegeEscalation: false
          readOnlyRootFilesystem: true
          runAsNonRoot: true
          capabilities:
            drop: ["ALL"]
        volumeMounts:
        - name: tmp
          mountPath: /tmp
        {{- include "kubefed.natsMounts" $ctx | nindent 8 }}
      volumes:
      - name: tmp
        emptyDir:
          sizeLimit: 64Mi
      {{- include "kubefed.natsVolumes" $ctx | nindent 6 }}
{{- end -}}
