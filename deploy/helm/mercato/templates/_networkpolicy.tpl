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
