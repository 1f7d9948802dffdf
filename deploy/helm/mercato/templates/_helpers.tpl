{{/* Names, labels and the environment shared by the mercato templates. */}}

{{- define "mercato.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "mercato.fullname" -}}
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

{{/* The six back-end services in a fixed order; gateway comes separately. */}}
{{- define "mercato.backends" -}}identity catalog orders payments shipping notifications{{- end -}}
{{- define "mercato.all" -}}identity catalog orders payments shipping notifications gateway{{- end -}}
{{- define "mercato.dbServices" -}}identity catalog orders payments shipping notifications{{- end -}}
{{- define "mercato.clients" -}}catalog orders payments shipping notifications gateway{{- end -}}

{{- define "mercato.chartLabel" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Common labels: (dict "ctx" $ "name" "catalog" "component" "backend") */}}
{{- define "mercato.labels" -}}
helm.sh/chart: {{ include "mercato.chartLabel" .ctx }}
{{ include "mercato.selectorLabels" . }}
app.kubernetes.io/component: {{ .component }}
app.kubernetes.io/part-of: mercato
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
{{- end -}}

{{- define "mercato.selectorLabels" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- end -}}

{{- define "mercato.component" -}}
{{- if eq . "gateway" -}}gateway{{- else -}}backend{{- end -}}
{{- end -}}

{{- define "mercato.secretName" -}}{{ include "mercato.fullname" . }}-secrets{{- end -}}
{{- define "mercato.natsName" -}}{{ include "mercato.fullname" . }}-nats{{- end -}}
{{- define "mercato.postgresName" -}}{{ include "mercato.fullname" . }}-postgresql{{- end -}}

{{- define "mercato.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion | toString) -}}
{{- end -}}

{{- define "mercato.natsUrl" -}}
{{- if .Values.nats.enabled -}}
{{- printf "nats://%s:4222" (include "mercato.natsName" .) -}}
{{- else -}}
{{- required "nats.external.url is required when nats.enabled is false" .Values.nats.external.url -}}
{{- end -}}
{{- end -}}

{{/* http://<fullname>-<svc>:<port> ; (dict "ctx" $ "name" "catalog") */}}
{{- define "mercato.url" -}}
{{- $svc := index .ctx.Values.services .name -}}
{{- printf "http://%s-%s:%v" (include "mercato.fullname" .ctx) .name $svc.grpcPort -}}
{{- end -}}

{{/* The non-secret environment of a service, as a name -> value dict in YAML. (dict "ctx" $ "name" "catalog") */}}
{{- define "mercato.configEnv" -}}
{{- $ctx := .ctx -}}
{{- $name := .name -}}
{{- $v := $ctx.Values -}}
{{- $svc := index $v.services $name -}}
{{- $env := dict -}}
{{- $_ := set $env "GRPC_ADDR" (printf "0.0.0.0:%v" $svc.grpcPort) -}}
{{- $_ := set $env "ADMIN_ADDR" (printf "0.0.0.0:%v" $svc.adminPort) -}}
{{- $_ := set $env "LOG_FORMAT" $v.common.logFormat -}}
{{- $_ := set $env "LOG_LEVEL" $v.common.logLevel -}}
{{- $_ := set $env "SHUTDOWN_DELAY" $v.common.shutdownDelay -}}
{{- $_ := set $env "SHUTDOWN_TIMEOUT" $v.common.shutdownTimeout -}}
{{- $_ := set $env "DATA_DIR" "/data" -}}
{{- if gt (int $v.common.workerThreads) 0 -}}{{- $_ := set $env "WORKER_THREADS" (toString $v.common.workerThreads) -}}{{- end -}}
{{- with $v.common.jwtIssuer -}}{{- $_ := set $env "JWT_ISSUER" . -}}{{- end -}}
{{- with $v.common.jwtAudience -}}{{- $_ := set $env "JWT_AUDIENCE" . -}}{{- end -}}
{{- if ne $name "gateway" -}}
{{- $_ := set $env "NATS_URL" (include "mercato.natsUrl" $ctx) -}}
{{- end -}}
{{- if ne $name "identity" -}}
{{- $_ := set $env "IDENTITY_URL" (include "mercato.url" (dict "ctx" $ctx "name" "identity")) -}}
{{- end -}}
{{- if $v.otel.endpoint -}}
{{- $_ := set $env "OTEL_EXPORTER_OTLP_ENDPOINT" $v.otel.endpoint -}}
{{- $_ := set $env "OTEL_EXPORTER_OTLP_PROTOCOL" $v.otel.protocol -}}
{{- $_ := set $env "OTEL_SERVICE_NAME" $name -}}
{{- $_ := set $env "OTEL_TRACES_SAMPLER" $v.otel.sampler -}}
{{- with $v.otel.samplerArg -}}{{- $_ := set $env "OTEL_TRACES_SAMPLER_ARG" (toString .) -}}{{- end -}}
{{- with $v.otel.resourceAttributes -}}{{- $_ := set $env "OTEL_RESOURCE_ATTRIBUTES" . -}}{{- end -}}
{{- end -}}
{{- if eq $name "identity" -}}
{{- $files := list -}}
{{- if $v.signingKeys.existingSecret -}}
{{- range $v.signingKeys.keyNames -}}{{- $files = append $files (printf "/etc/mercato/signing-keys/%s" .) -}}{{- end -}}
{{- else -}}
{{- range $k, $_ := $v.signingKeys.keys -}}{{- $files = append $files (printf "/etc/mercato/signing-keys/%s" $k) -}}{{- end -}}
{{- end -}}
{{- if $files -}}{{- $_ := set $env "SIGNING_KEY_FILES" (join "," $files) -}}{{- end -}}
{{- end -}}
{{- if eq $name "catalog" -}}
{{- $_ := set $env "SEED_ON_START" (toString $svc.seedOnStart) -}}
{{- end -}}
{{- if eq $name "orders" -}}
{{- $_ := set $env "CATALOG_URL" (include "mercato.url" (dict "ctx" $ctx "name" "catalog")) -}}
{{- end -}}
{{- if eq $name "payments" -}}
{{- $_ := set $env "PAYMENT_PROVIDER" $svc.provider -}}
{{- end -}}
{{- if eq $name "notifications" -}}
{{- $_ := set $env "NOTIFICATION_SINK" $svc.sink -}}
{{- with $svc.smtp.url -}}{{- $_ := set $env "SMTP_URL" . -}}{{- end -}}
{{- with $svc.smtp.username -}}{{- $_ := set $env "SMTP_USERNAME" . -}}{{- end -}}
{{- with $svc.mailFrom -}}{{- $_ := set $env "MAIL_FROM" . -}}{{- end -}}
{{- end -}}
{{- if eq $name "gateway" -}}
{{- range $b := list "catalog" "orders" "payments" "shipping" "notifications" -}}
{{- $_ := set $env (printf "%s_URL" (upper $b)) (include "mercato.url" (dict "ctx" $ctx "name" $b)) -}}
{{- end -}}
{{- if gt (int $svc.rateLimitPerMinute) 0 -}}{{- $_ := set $env "RATE_LIMIT_PER_MINUTE" (toString $svc.rateLimitPerMinute) -}}{{- end -}}
{{- with $svc.corsOrigins -}}{{- $_ := set $env "CORS_ORIGINS" . -}}{{- end -}}
{{- $_ := set $env "TRUST_FORWARDED_FOR" (toString $svc.trustForwardedFor) -}}
{{- end -}}
{{- range $k, $val := $svc.extraEnv -}}{{- $_ := set $env $k (toString $val) -}}{{- end -}}
{{- toYaml $env -}}
{{- end -}}

{{/* The secret environment (env list entries). (dict "ctx" $ "name" "catalog") */}}
{{- define "mercato.secretEnv" -}}
{{- $ctx := .ctx -}}
{{- $name := .name -}}
{{- $v := $ctx.Values -}}
{{- $svc := index $v.services $name -}}
{{- $secret := include "mercato.secretName" $ctx -}}
{{- if ne $name "gateway" }}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
{{- if and (not $v.postgresql.enabled) $svc.database.existingSecret }}
      name: {{ $svc.database.existingSecret }}
      key: {{ $svc.database.existingSecretKey }}
{{- else }}
      name: {{ $secret }}
      key: {{ $name }}-database-url
{{- end }}
{{- end }}
{{- $clientSecret := $v.serviceClients.existingSecret | default $secret -}}
{{- $clientPrefix := ternary "" "client-" (not (empty $v.serviceClients.existingSecret)) -}}
{{- if eq $name "identity" }}
{{- range $c := splitList " " (include "mercato.clients" $ctx) }}
- name: CLIENT_SECRET_{{ upper $c }}
  valueFrom:
    secretKeyRef:
      name: {{ $clientSecret }}
      key: {{ $clientPrefix }}{{ $c }}
{{- end }}
- name: SERVICE_CLIENTS
  value: {{ $parts := list }}{{ range $c := splitList " " (include "mercato.clients" $ctx) }}{{ $parts = append $parts (printf "%s=$(CLIENT_SECRET_%s)" $c (upper $c)) }}{{ end }}{{ join "," $parts | quote }}
{{- else }}
- name: SERVICE_CLIENT_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ $clientSecret }}
      key: {{ $clientPrefix }}{{ $name }}
{{- end }}
{{- if and (eq $name "notifications") (or $svc.smtp.password $svc.smtp.existingSecret) }}
- name: SMTP_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $svc.smtp.existingSecret | default $secret }}
      key: {{ ternary $svc.smtp.existingSecretKey "smtp-password" (not (empty $svc.smtp.existingSecret)) }}
{{- end }}
{{- end -}}

{{- define "mercato.signingKeysMounted" -}}
{{- if or .Values.signingKeys.existingSecret .Values.signingKeys.keys -}}true{{- end -}}
{{- end -}}

{{/* Restricted container security context. */}}
{{- define "mercato.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: {{ .uid }}
runAsGroup: {{ .uid }}
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "mercato.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .uid }}
runAsGroup: {{ .uid }}
fsGroup: {{ .uid }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* The mercato pod spec shared by a Deployment and its migrate Job: volumes. */}}
{{- define "mercato.volumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: 256Mi
- name: data
  emptyDir:
    sizeLimit: 1Gi
{{- if and (eq .name "identity") (include "mercato.signingKeysMounted" .ctx) }}
- name: signing-keys
  secret:
    secretName: {{ .ctx.Values.signingKeys.existingSecret | default (include "mercato.secretName" .ctx) }}
    defaultMode: 0440
    items:
{{- if .ctx.Values.signingKeys.existingSecret }}
{{- range .ctx.Values.signingKeys.keyNames }}
      - key: {{ . }}
        path: {{ . }}
{{- end }}
{{- else }}
{{- range $k, $_ := .ctx.Values.signingKeys.keys }}
      - key: signing-key-{{ $k }}
        path: {{ $k }}
{{- end }}
{{- end }}
{{- end }}
{{- end -}}

{{- define "mercato.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
- name: data
  mountPath: /data
{{- if and (eq .name "identity") (include "mercato.signingKeysMounted" .ctx) }}
- name: signing-keys
  mountPath: /etc/mercato/signing-keys
  readOnly: true
{{- end }}
{{- end -}}

{{/* checkov skips shared by every workload; reasons documented in deploy/check/README.md too. */}}
{{- define "mercato.checkovSkips" -}}
checkov.io/skip1: CKV_K8S_43=images are pinned to release tags set in values; digests are the operator's choice (image.tag accepts tag@sha256:...)
checkov.io/skip2: CKV_K8S_15=pullPolicy IfNotPresent is correct for immutable pinned tags; Always is available via image.pullPolicy
checkov.io/skip5: CKV_K8S_35=the binaries (and the postgres image) take their configuration only from environment variables; the values come from Secrets by secretKeyRef and are never in the pod spec
{{- end -}}
