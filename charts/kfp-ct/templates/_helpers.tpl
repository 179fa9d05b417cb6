{{/* Chart name, truncated to 63 characters (DNS label). */}}
{{- define "kfp-ct.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Release-scoped name for the chart's own hook objects (setup Job, test Pod). If the release name
already contains the chart name it is used as is.
*/}}
{{- define "kfp-ct.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* chart label value: name-version */}}
{{- define "kfp-ct.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "kfp-ct.labels" -}}
helm.sh/chart: {{ include "kfp-ct.chart" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: kfp-ct
{{- end }}

{{/* Selector labels of the MLflow pods (stable across upgrades). */}}
{{- define "kfp-ct.mlflow.selectorLabels" -}}
app.kubernetes.io/name: {{ .Values.mlflow.name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: tracking
{{- end }}

{{/* Project image; the tag defaults to the chart appVersion (the package version). */}}
{{- define "kfp-ct.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag | toString) }}
{{- end }}

{{/* In-cluster DNS name of the MLflow Service. */}}
{{- define "kfp-ct.mlflow.host" -}}
{{- printf "%s.%s.svc.cluster.local" .Values.mlflow.name .Release.Namespace }}
{{- end }}

{{/* Tracking URI given to pipelines and the test pod: in-cluster server or the external one. */}}
{{- define "kfp-ct.mlflow.trackingUri" -}}
{{- if .Values.mlflow.enabled }}
{{- printf "http://%s:%v" (include "kfp-ct.mlflow.host" .) .Values.mlflow.service.port }}
{{- else }}
{{- required "mlflow.external.trackingUri is required when mlflow.enabled=false" .Values.mlflow.external.trackingUri }}
{{- end }}
{{- end }}

{{/* --artifacts-destination of the server, also handed to pipelines. */}}
{{- define "kfp-ct.mlflow.artifactsDestination" -}}
{{- if .Values.mlflow.enabled }}
{{- .Values.mlflow.artifactsDestination }}
{{- else }}
{{- required "mlflow.external.artifactsDestination is required when mlflow.enabled=false" .Values.mlflow.external.artifactsDestination }}
{{- end }}
{{- end }}

{{/*
--allowed-hosts: every name the Service answers to, with and without a port, plus localhost
(port-forward) and mlflow.extraAllowedHosts. mlflow 3.17 replies 403 to any other Host header.
*/}}
{{- define "kfp-ct.mlflow.allowedHosts" -}}
{{- $n := .Values.mlflow.name }}
{{- $ns := .Release.Namespace }}
{{- $hosts := list }}
{{- range (list $n (printf "%s.%s" $n $ns) (printf "%s.%s.svc" $n $ns) (include "kfp-ct.mlflow.host" .) "localhost" "127.0.0.1") }}
{{- $hosts = append $hosts . }}
{{- $hosts = append $hosts (printf "%s:*" .) }}
{{- end }}
{{- concat $hosts .Values.mlflow.extraAllowedHosts | join "," }}
{{- end }}

{{/* host:port of the S3 endpoint, for KServe's serving.kserve.io/s3-endpoint annotation. */}}
{{- define "kfp-ct.s3.endpointHost" -}}
{{- (urlParse .Values.s3.endpointUrl).host }}
{{- end }}

{{/* "1" when the S3 endpoint is https, else "0". */}}
{{- define "kfp-ct.s3.useHttps" -}}
{{- if eq (urlParse .Values.s3.endpointUrl).scheme "https" }}1{{ else }}0{{ end }}
{{- end }}

{{/* Name of the Secret holding MLFLOW_BACKEND_STORE_URI (postgresql backend). */}}
{{- define "kfp-ct.mlflow.backendSecretName" -}}
{{- default (printf "%s-backend" .Values.mlflow.name) .Values.mlflow.backendStore.postgresql.existingSecret }}
{{- end }}

{{/* Mounts of the writable scratch emptyDirs (the root filesystem is read-only). */}}
{{- define "kfp-ct.scratchMounts" -}}
- name: scratch-tmp
  mountPath: /tmp
- name: scratch-home
  mountPath: /home/kfpct
{{- end }}

{{/* The scratch emptyDirs every pod declares, for kfp-ct.scratchMounts. */}}
{{- define "kfp-ct.scratchVolumes" -}}
- name: scratch-tmp
  emptyDir:
    sizeLimit: {{ .Values.scratch.tmpSizeLimit }}
- name: scratch-home
  emptyDir:
    sizeLimit: {{ .Values.scratch.homeSizeLimit }}
{{- end }}
