{{/* NetworkPolicy rule snippets. */}}
{{- define "mercato.np.dns" -}}
- to:
    {{- toYaml .Values.networkPolicy.dnsTo | nindent 4 }}
  ports:
    - {protocol: UDP, port: 53}
    - {protocol: TCP, port: 53}
{{- end -}}
{{- define "mercato.np.otel" -}}
{{- if .Values.otel.endpoint -}}
- ports:
    {{- range .Values.otel.egressPorts }}
    - {protocol: TCP, port: {{ . }}}
    {{- end }}
  {{- with .Values.otel.egressTo }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
{{- end -}}
{{- define "mercato.np.identity" -}}
- to:
    - podSelector:
        matchLabels:
          app.kubernetes.io/name: identity
          app.kubernetes.io/instance: {{ .Release.Name }}
  ports:
    - {protocol: TCP, port: {{ .Values.services.identity.grpcPort }}}
{{- end -}}
{{/* The ports notifications may send SMTP to, as a JSON list: smtp.egressPorts when set, else the port of
     smtp.url (its explicit port, else the scheme's default, as the binary picks it). */}}
{{- define "mercato.smtpEgressPorts" -}}
{{- $smtp := .Values.services.notifications.smtp -}}
{{- if $smtp.egressPorts -}}
{{- toJson $smtp.egressPorts -}}
{{- else -}}
{{- $url := $smtp.url | default "" | toString -}}
{{- $explicit := regexFind ":[0-9]+/?$" $url | trimPrefix ":" | trimSuffix "/" -}}
{{- $scheme := regexReplaceAll "^([a-z+]+)://.*$" $url "${1}" -}}
{{- $defaults := dict "smtp" 25 "smtp+starttls" 587 "smtps" 465 -}}
{{- if $explicit -}}
{{- toJson (list (atoi $explicit)) -}}
{{- else if hasKey $defaults $scheme -}}
{{- toJson (list (get $defaults $scheme)) -}}
{{- else -}}
{{- fail (printf "services.notifications.smtp.url %q: need smtp://, smtp+starttls:// or smtps://host[:port] (or set smtp.egressPorts)" $url) -}}
{{- end -}}
{{- end -}}
{{- end -}}
