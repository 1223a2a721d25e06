{{/*
Chart name, trimmed to 63 characters: the limit of a label value.
*/}}
{{- define "trading-system.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name <release>-<chart> (just <release> when it already holds the chart name), trimmed to 63
characters: the limit of a DNS label. Every resource name starts with it.
*/}}
{{- define "trading-system.fullname" -}}
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

{{/*
Chart name and version, for the helm.sh/chart label.
*/}}
{{- define "trading-system.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels of every resource.
*/}}
{{- define "trading-system.labels" -}}
helm.sh/chart: {{ include "trading-system.chart" . }}
{{ include "trading-system.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: trading-system
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Selector labels: only name and instance, because a Deployment's selector cannot change after install.
Components add app.kubernetes.io/component.
*/}}
{{- define "trading-system.selectorLabels" -}}
app.kubernetes.io/name: {{ include "trading-system.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
The ServiceAccount the pods run as: the one this chart creates, or the existing one named in values.
*/}}
{{- define "trading-system.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "trading-system.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name must name an existing ServiceAccount when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Name of the cloud-trader Deployment and Service: <fullname>-cloud-trader, within the 63 characters of a
Service name (a DNS label).
*/}}
{{- define "trading-system.cloudTraderName" -}}
{{- printf "%s-cloud-trader" (include "trading-system.fullname" . | trunc 50 | trimSuffix "-") }}
{{- end }}

{{/*
Name of the CronJob: <fullname>-daily-report, within the 52 characters Kubernetes allows a CronJob
(the Jobs it makes append 11 characters and must fit in 63).
*/}}
{{- define "trading-system.dailyReportName" -}}
{{- printf "%s-daily-report" (include "trading-system.fullname" . | trunc 39 | trimSuffix "-") }}
{{- end }}

{{/*
Base URL of the trading service for TRADING_SERVICE_URL: the value, else this release's Service.
*/}}
{{- define "trading-system.tradingServiceUrl" -}}
{{- if .Values.dailyReport.tradingServiceUrl }}
{{- .Values.dailyReport.tradingServiceUrl }}
{{- else if .Values.cloudTrader.enabled }}
{{- printf "http://%s.%s.svc.cluster.local:%v" (include "trading-system.cloudTraderName" .) .Release.Namespace .Values.cloudTrader.port }}
{{- else }}
{{- fail "dailyReport.tradingServiceUrl must be set when cloudTrader.enabled is false" }}
{{- end }}
{{- end }}

{{/*
Image reference of the report: the tag defaults to the chart's appVersion.
*/}}
{{- define "trading-system.dailyReportImage" -}}
{{- $image := .Values.dailyReport.image }}
{{- printf "%s:%s" $image.repository (default .Chart.AppVersion $image.tag) }}
{{- end }}

{{/*
Name of the claim that holds REPORT_STATE_DIR.
*/}}
{{- define "trading-system.stateClaimName" -}}
{{- $p := .Values.dailyReport.persistence | default dict }}
{{- default (printf "%s-state" (include "trading-system.dailyReportName" .)) $p.existingClaim }}
{{- end }}
