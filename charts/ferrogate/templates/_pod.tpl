{{/*
The pod template of the DaemonSet and of the Deployment (the same gateway; only the node id
differs: the node's name for one gateway per node, the pod's name for replicas). It runs the
value checks first, so a bad combination fails whichever workload renders.
*/}}
{{- define "ferrogate.podTemplate" -}}
{{- include "ferrogate.checks" . -}}
{{- $annotations := dict -}}
{{- if not .Values.existingConfigMap -}}
{{- $_ := set $annotations "checksum/config" (.Values.config | sha256sum) -}}
{{- end -}}
{{- if and .Values.secretEnv (not .Values.existingSecret) -}}
{{- $_ := set $annotations "checksum/secret" (toJson .Values.secretEnv | sha256sum) -}}
{{- end -}}
{{- range $key, $value := .Values.podAnnotations -}}
{{- if not (kindIs "invalid" $value) }}{{ $_ := set $annotations $key (toString $value) }}{{ end -}}
{{- end -}}
metadata:
  labels:
    {{- include "ferrogate.selectorLabels" . | nindent 4 }}
    {{- range $key, $value := .Values.podLabels }}
    {{- if not (kindIs "invalid" $value) }}
    {{ $key }}: {{ $value | toString | quote }}
    {{- end }}
    {{- end }}
  {{- with $annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  terminationGracePeriodSeconds: {{ int .Values.terminationGracePeriodSeconds }}
  {{- if .Values.hostNetwork }}
  hostNetwork: true
  dnsPolicy: ClusterFirstWithHostNet
  {{- end }}
  {{- with .Values.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    runAsNonRoot: true
    runAsUser: 10001
    runAsGroup: 10001
    fsGroup: 10001
    seccompProfile:
      type: RuntimeDefault
  containers:
    - name: ferrogate
      image: {{ include "ferrogate.image" . | quote }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      args: ["run", "--config", "/etc/ferrogate/ferrogate.toml"]
      env:
        - name: FERROGATE_CONFIG
          value: /etc/ferrogate/ferrogate.toml
        - name: FERROGATE_NODE_ID
          valueFrom:
            fieldRef:
              fieldPath: {{ eq .Values.kind "DaemonSet" | ternary "spec.nodeName" "metadata.name" }}
        {{- with .Values.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      envFrom:
        - secretRef:
            name: {{ include "ferrogate.secretName" . }}
      ports:
        - name: http
          containerPort: {{ int .Values.containerPort }}
          {{- if and (eq .Values.kind "DaemonSet") .Values.hostPort.enabled (not .Values.hostNetwork) }}
          hostPort: {{ int .Values.hostPort.port }}
          {{- end }}
          protocol: TCP
      livenessProbe:
        httpGet:
          path: /healthz
          port: http
        periodSeconds: 10
        failureThreshold: 3
      readinessProbe:
        httpGet:
          path: /readyz
          port: http
        periodSeconds: 2
        failureThreshold: 1
      lifecycle:
        preStop:
          exec:
            command: ["ferrogate", "drain", "--wait", {{ .Values.drainWaitSeconds | toString | quote }}]
      {{- with .Values.resources }}
      resources:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      securityContext:
        allowPrivilegeEscalation: false
        readOnlyRootFilesystem: true
        capabilities:
          drop: ["ALL"]
      volumeMounts:
        - name: config
          mountPath: /etc/ferrogate
          readOnly: true
        - name: state
          mountPath: /var/lib/ferrogate
        - name: tmp
          mountPath: /tmp
  volumes:
    - name: config
      configMap:
        name: {{ include "ferrogate.configMapName" . }}
    - name: state
      emptyDir: {}
    - name: tmp
      emptyDir: {}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}
