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

{{/*
The report CronJobs, one per entry of dailyReport.reports and period, as JSON {"cronJobs": [...], "many": bool}.
Each item holds what differs between them (name, schedule, zone, chat key, agents, state dir, args, targets);
everything else is the shared dailyReport. Every entry is checked here, so each template that includes this
fails the same way, naming the entry.
- name: <fullname>-<report>-report, plus -<period> for week and month: the entry "daily" with period day is
  <fullname>-daily-report, as before. The full name is cut so that the name fits the 52 characters of a
  CronJob (at most 39 of it, as before).
- REPORT_STATE_DIR: dailyReport.stateDir for the entry "daily" (its delivery records stay where they were);
  <stateDir>/<name> on the same volume for any other, so two reports to one chat never share records.
*/}}
{{- define "trading-system.reportCronJobs" -}}
{{- $dr := .Values.dailyReport }}
{{- $entries := $dr.reports | default (list (dict "name" "daily")) }}
{{- $fullname := include "trading-system.fullname" . }}
{{- /* the report's own folders in stateDir: deliveries, deliveries-<period>, store, cache */}}
{{- $reserved := "^(deliveries(-.*)?|store|cache)$" }}
{{- $seen := dict }}
{{- $cronJobNames := dict }}
{{- $jobs := list }}
{{- range $i, $r := $entries }}
{{- $where := printf "dailyReport.reports[%d]" $i }}
{{- if not (kindIs "map" $r) }}
{{- fail (printf "%s must be a map with at least a name, e.g. {name: daily}" $where) }}
{{- end }}
{{- $name := $r.name }}
{{- if not (and (kindIs "string" $name) (regexMatch "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$" (toString $name))) }}
{{- fail (printf "%s: name %s is not a lowercase DNS label (a-z, 0-9 and -, beginning and ending with a letter or digit)" $where (toJson $name)) }}
{{- end }}
{{- $where = printf "%s (name %q)" $where $name }}
{{- if gt (len $name) 30 }}
{{- fail (printf "%s: the name is %d characters, at most 30 fit: its CronJob names (<release>-%s-report-month) must stay within Kubernetes' 52 with the release's name in front" $where (len $name) $name) }}
{{- end }}
{{- if regexMatch $reserved $name }}
{{- fail (printf "%s: the name is reserved: the report keeps its own folders deliveries, deliveries-<period>, store and cache in dailyReport.stateDir, next to the folder of each other report" $where) }}
{{- end }}
{{- if hasKey $seen $name }}
{{- fail (printf "%s: the name is already used by dailyReport.reports[%d]: each report needs its own name (its CronJobs and its REPORT_STATE_DIR are named after it)" $where (index $seen $name)) }}
{{- end }}
{{- $_ := set $seen $name $i }}
{{- $periods := $r.periods | default (list "day") }}
{{- if not (kindIs "slice" $periods) }}
{{- fail (printf "%s: periods must be a list of day, week and month, e.g. [day, week]" $where) }}
{{- end }}
{{- $periodsSeen := list }}
{{- range $periods }}
{{- if not (has . (list "day" "week" "month")) }}
{{- fail (printf "%s: period %s is not one of day, week, month" $where (toJson .)) }}
{{- end }}
{{- if has . $periodsSeen }}
{{- fail (printf "%s: period %s is listed twice" $where .) }}
{{- end }}
{{- $periodsSeen = append $periodsSeen . }}
{{- end }}
{{- $schedule := $r.schedule | default $dr.schedule }}
{{- $minute := 0 }}
{{- $hour := 0 }}
{{- if or (has "week" $periods) (has "month" $periods) }}
{{- $daily := $schedule }}
{{- if has $schedule (list "@daily" "@midnight") }}
{{- $daily = "0 0 * * *" }}
{{- end }}
{{- $fields := regexSplit " +" (trim $daily) -1 }}
{{- $fixed := and (eq (len $fields) 5) (regexMatch "^[0-9]{1,2}$" (index $fields 0)) (regexMatch "^[0-9]{1,2}$" (index $fields 1)) }}
{{- if $fixed }}
{{- $minute = atoi (index $fields 0) }}
{{- $hour = atoi (index $fields 1) }}
{{- end }}
{{- if or (not $fixed) (gt $minute 59) (gt $hour 23) }}
{{- fail (printf "%s: the week's and the month's CronJobs run at the minute and hour of the daily schedule %q (on Mondays, on the 1st), so it must name one minute and one hour, e.g. \"5 0 * * *\"" $where $schedule) }}
{{- end }}
{{- end }}
{{- $timeZone := $r.timeZone | default $dr.timeZone }}
{{- $chatIdKey := $r.chatIdKey | default $dr.secretKeys.telegramChatId }}
{{- $agents := $r.agents | default list }}
{{- range $agents }}
{{- if not (and (kindIs "string" .) (regexMatch "^[^,\\s]+$" (toString .))) }}
{{- fail (printf "%s: agent %s must be an agent id without commas or spaces" $where (toJson .)) }}
{{- end }}
{{- end }}
{{- $suspend := $dr.suspend | default false }}
{{- if not (kindIs "invalid" $r.suspend) }}
{{- $suspend = $r.suspend }}
{{- end }}
{{- $capital := $r.agentCapital | default $dr.agentCapital }}
{{- $stateDir := $dr.stateDir }}
{{- if ne $name "daily" }}
{{- $stateDir = printf "%s/%s" (trimSuffix "/" $dr.stateDir) $name }}
{{- end }}
{{- range $period := $periods }}
{{- $suffix := printf "%s-report" $name }}
{{- $cron := $schedule }}
{{- $args := $dr.args | default list }}
{{- if ne $period "day" }}
{{- $suffix = printf "%s-%s" $suffix $period }}
{{- $cron = printf "%d %d %s" $minute $hour (ternary "* * 1" "1 * *" (eq $period "week")) }}
{{- $args = concat (list "--period" $period) $args }}
{{- end }}
{{- $room := min 39 (sub 51 (len $suffix)) }}
{{- $cronJobName := printf "%s-%s" ($fullname | trunc (int $room) | trimSuffix "-") $suffix }}
{{- if or (gt (len $cronJobName) 52) (hasKey $cronJobNames $cronJobName) }}
{{- fail (printf "%s: CronJob name %q is longer than 52 characters or taken by another report: choose another name" $where $cronJobName) }}
{{- end }}
{{- $_ := set $cronJobNames $cronJobName true }}
{{- $job := dict "index" $i "name" $name "period" $period "cronJobName" $cronJobName "schedule" $cron "timeZone" $timeZone "suspend" $suspend "chatIdKey" $chatIdKey "agents" (join "," $agents) "agentCapital" $capital "stateDir" $stateDir "args" $args }}
{{- range $key := list "dailyPnlTarget" "targetWinRate" }}
{{- $value := index $r $key }}
{{- if or (kindIs "invalid" $value) (eq (toString $value) "") }}
{{- if hasKey $dr $key }}
{{- $_ := set $job $key (toString (index $dr $key)) }}
{{- end }}
{{- else }}
{{- $_ := set $job $key (toString $value) }}
{{- end }}
{{- end }}
{{- $jobs = append $jobs $job }}
{{- end }}
{{- end }}
{{- toJson (dict "cronJobs" $jobs "many" (gt (len $jobs) 1)) }}
{{- end }}
