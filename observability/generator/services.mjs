// What is observed of each Smartby service: its service level objectives, the panels of its own
// dashboard and its own alerts. The generator (generate.mjs) adds what every service has in common
// (gRPC traffic, the audit outbox, the process) and writes observability/dashboards and rules.
//
// Panel: {title, description, unit, stack?, targets: [[expr, legend], ...]}; `$job` and
// `$instance` are the dashboard's variables. Alert: {alert, expr, for, severity, summary,
// description, anchor} where anchor is the section of docs/operations/monitoring.md that says
// what to do.

import { grpcServiceRegex, jobRegex } from './promql.mjs';

const byJob = 'job=~"$job", instance=~"$instance"';

// Service level objectives. Availability: the share of calls not failed by the server.
// Latency: the share of unary calls answered within `latencySeconds` (a bucket boundary of
// grpc_server_handling_seconds). Both over 30 days; burn-rate alerts per the SRE workbook.
export const DEFAULT_OBJECTIVES = { availability: 0.999, latency: 0.999 };

export const SERVICES = [
  {
    name: 'catalogue',
    title: 'Catalogue',
    latencySeconds: 0.25,
    panels: [
      {
        title: 'Changes to datasets (mutating calls/s)',
        description: 'Calls that change datasets or their resources (create, update, publish, retire, delete, add, remove), by method.',
        unit: 'reqps',
        targets: [[`sum by (grpc_method) (rate(grpc_server_handled_total{${byJob}, grpc_service=~"${grpcServiceRegex('catalogue')}", grpc_method=~"(Create|Update|Publish|Retire|Delete|Add|Remove).*"}[$__rate_interval]))`, '{{grpc_method}}']],
      },
    ],
    alerts: [],
  },
  {
    name: 'ingestion',
    title: 'Ingestion',
    latencySeconds: 0.5,
    panels: [
      {
        title: 'Readings/s by outcome',
        description: 'Readings received per second: accepted, duplicate (already stored) or rejected.',
        unit: 'ops',
        stack: true,
        targets: [[`sum by (outcome) (rate(smartby_ingestion_readings_total{${byJob}}[$__rate_interval]))`, '{{outcome}}']],
      },
      {
        title: 'Rejections/s by dataset and reason',
        description: 'Rejected readings: a reason names what the sender got wrong (unknown field, out of range, missing time, ...).',
        unit: 'ops',
        targets: [[`sum by (dataset, reason) (rate(smartby_ingestion_rejected_readings_total{${byJob}}[$__rate_interval]))`, '{{dataset}} {{reason}}']],
      },
      {
        title: 'Missing intervals (last hour) by dataset',
        description: 'Expected readings that did not arrive in the last hour: gaps in a dataset.',
        unit: 'short',
        targets: [[`max by (dataset) (smartby_ingestion_missing_intervals{${byJob}})`, '{{dataset}}']],
      },
      {
        title: 'Silent sources by dataset',
        description: 'Enabled sources not heard from for twice their expected interval.',
        unit: 'short',
        targets: [[`max by (dataset) (smartby_ingestion_silent_sources{${byJob}})`, '{{dataset}}']],
      },
      {
        title: 'Late readings/s by dataset',
        description: 'Accepted readings that arrived more than one expected interval after their time.',
        unit: 'ops',
        targets: [[`sum by (dataset) (rate(smartby_ingestion_late_readings_total{${byJob}}[$__rate_interval]))`, '{{dataset}}']],
      },
      {
        title: 'Commit latency (p50, p99)',
        description: 'Time to validate and commit one batch of readings.',
        unit: 's',
        targets: [
          [`histogram_quantile(0.5, sum by (le) (rate(smartby_ingestion_commit_seconds_bucket{${byJob}}[$__rate_interval])))`, 'p50'],
          [`histogram_quantile(0.99, sum by (le) (rate(smartby_ingestion_commit_seconds_bucket{${byJob}}[$__rate_interval])))`, 'p99'],
        ],
      },
      {
        title: 'MQTT bridge',
        description: 'Connected (1) or not (0) to the broker, and messages/s by outcome.',
        unit: 'short',
        targets: [
          [`min by (instance) (smartby_ingestion_mqtt_connected{${byJob}})`, 'connected {{instance}}'],
          [`sum by (outcome) (rate(smartby_ingestion_mqtt_messages_total{${byJob}}[$__rate_interval]))`, '{{outcome}}/s'],
          [`sum(increase(smartby_ingestion_mqtt_reconnects_total{${byJob}}[$__rate_interval]))`, 'reconnects'],
        ],
      },
    ],
    alerts: [
      {
        alert: 'SmartbyIngestionDatasetGaps',
        expr: 'max by (namespace, job, dataset) (smartby_ingestion_missing_intervals) > 0',
        for: '30m',
        severity: 'warning',
        summary: 'Dataset {{ $labels.dataset }} has gaps: {{ $value }} expected readings missing in the last hour',
        description: 'Sources of dataset {{ $labels.dataset }} have not delivered {{ $value }} readings they were expected to send in the last hour, for 30 minutes now. Sensors, their network or the MQTT broker may be down.',
        anchor: 'smartbyingestiondatasetgaps',
      },
      {
        alert: 'SmartbyIngestionSilentSources',
        expr: 'max by (namespace, job, dataset) (smartby_ingestion_silent_sources) > 0',
        for: '1h',
        severity: 'info',
        summary: '{{ $value }} sources of dataset {{ $labels.dataset }} are silent',
        description: '{{ $value }} enabled sources of dataset {{ $labels.dataset }} have sent nothing for twice their expected interval, for an hour now.',
        anchor: 'smartbyingestionsilentsources',
      },
      {
        alert: 'SmartbyIngestionHighRejectionRate',
        expr: '(sum by (namespace, job, dataset) (rate(smartby_ingestion_readings_total{outcome="rejected"}[15m])) / sum by (namespace, job, dataset) (rate(smartby_ingestion_readings_total[15m]))) > 0.05',
        for: '15m',
        severity: 'warning',
        summary: 'More than 5% of the readings of dataset {{ $labels.dataset }} are rejected',
        description: '{{ $value | humanizePercentage }} of the readings sent to dataset {{ $labels.dataset }} over the last 15 minutes were rejected.',
        anchor: 'smartbyingestionhighrejectionrate',
      },
      {
        alert: 'SmartbyIngestionMqttDisconnected',
        expr: 'max by (namespace, job, instance) (smartby_ingestion_mqtt_connected) == 0',
        for: '5m',
        severity: 'critical',
        summary: 'Ingestion {{ $labels.instance }} is not connected to the MQTT broker',
        description: 'The MQTT bridge of {{ $labels.instance }} has been disconnected from the broker for 5 minutes; sensors publishing over MQTT are not heard.',
        anchor: 'smartbyingestionmqttdisconnected',
      },
    ],
  },
  {
    name: 'feed',
    title: 'Feed',
    latencySeconds: 0.25,
    panels: [
      {
        title: 'Subscribers',
        description: 'Open Subscribe streams.',
        unit: 'short',
        targets: [[`sum by (instance) (smartby_feed_subscribers{${byJob}})`, '{{instance}}']],
      },
      {
        title: 'Delivery delay (p50, p99)',
        description: "From ingestion's accept time to the update being handed to the subscriber's stream.",
        unit: 's',
        targets: [
          [`histogram_quantile(0.5, sum by (le) (rate(smartby_feed_delivery_delay_seconds_bucket{${byJob}}[$__rate_interval])))`, 'p50'],
          [`histogram_quantile(0.99, sum by (le) (rate(smartby_feed_delivery_delay_seconds_bucket{${byJob}}[$__rate_interval])))`, 'p99'],
        ],
      },
      {
        title: 'Updates dropped and coalesced/s',
        description: 'Dropped: not sent because a subscriber was behind (it got a gap marker). Coalesced: replaced by a newer update of the same source while queued.',
        unit: 'ops',
        targets: [
          [`sum(rate(smartby_feed_dropped_updates_total{${byJob}}[$__rate_interval]))`, 'dropped'],
          [`sum(rate(smartby_feed_coalesced_updates_total{${byJob}}[$__rate_interval]))`, 'coalesced'],
        ],
      },
      {
        title: 'Queued updates',
        description: "Updates waiting in subscribers' queues (all subscribers).",
        unit: 'short',
        targets: [[`sum by (instance) (smartby_feed_queued_updates{${byJob}})`, '{{instance}}']],
      },
      {
        title: 'Readings taken from ingestion/s',
        description: 'The hand-over from ingestion, and how often its stream had to be reopened.',
        unit: 'ops',
        targets: [
          [`sum(rate(smartby_feed_readings_total{${byJob}}[$__rate_interval]))`, 'readings'],
          [`sum(increase(smartby_feed_handover_reconnects_total{${byJob}}[$__rate_interval]))`, 'reconnects'],
        ],
      },
      {
        title: 'Hand-over position',
        description: 'The last ingestion position the feed processed; it should climb with the readings. A flat line while ingestion accepts readings means the hand-over is stuck.',
        unit: 'short',
        targets: [[`max by (instance) (smartby_feed_handover_position{${byJob}})`, '{{instance}}']],
      },
      {
        title: 'Notifications/s by channel and outcome',
        description: 'Alarm notifications (webhook, e-mail): delivered, retry (will be tried again), failed (given up); and failed attempts.',
        unit: 'ops',
        targets: [
          [`sum by (channel, outcome) (rate(smartby_feed_notifications_total{${byJob}}[$__rate_interval]))`, '{{channel}} {{outcome}}'],
          [`sum by (channel) (rate(smartby_feed_notification_failures_total{${byJob}}[$__rate_interval]))`, '{{channel}} failed attempts'],
        ],
      },
      {
        title: 'Alarm evaluator',
        description: 'Which replica holds the alarm lease and evaluates the rules (exactly one should), and how often the lease changed hands.',
        unit: 'short',
        targets: [
          [`max by (instance) (smartby_feed_alarm_leader{${byJob}})`, '{{instance}} holds the lease'],
          [`sum(increase(smartby_feed_alarm_lease_changes_total{${byJob}}[$__rate_interval]))`, 'lease changes'],
        ],
      },
    ],
    alerts: [
      {
        alert: 'SmartbyFeedDroppingUpdates',
        expr: 'sum by (namespace, job, instance) (rate(smartby_feed_dropped_updates_total[10m])) > 1',
        for: '15m',
        severity: 'warning',
        summary: 'Feed {{ $labels.instance }} drops {{ $value | humanize }} updates/s',
        description: 'Subscribers of {{ $labels.instance }} have fallen behind for 15 minutes: more than one update per second is dropped (they receive gap markers instead).',
        anchor: 'smartbyfeeddroppingupdates',
      },
      {
        alert: 'SmartbyFeedNotificationsFailed',
        expr: 'sum by (namespace, job, channel) (increase(smartby_feed_notifications_total{outcome="failed"}[15m])) > 0',
        for: '0m',
        severity: 'warning',
        summary: 'Alarm notifications over {{ $labels.channel }} were given up',
        description: 'Alarm notifications over {{ $labels.channel }} failed on every retry in the last 15 minutes; their recipients were not told.',
        anchor: 'smartbyfeednotificationsfailed',
      },
      {
        alert: 'SmartbyFeedNoAlarmEvaluator',
        expr: 'sum by (namespace, job) (smartby_feed_alarm_leader) != 1',
        for: '2m',
        severity: 'critical',
        summary: '{{ $value }} feed replicas evaluate alarm rules instead of one',
        description: 'For 2 minutes no feed replica of {{ $labels.job }} (or more than one) has held the alarm lease: alarm rules are not evaluated, so thresholds crossed now raise no alarm and send no notification.',
        anchor: 'smartbyfeednoalarmevaluator',
      },
    ],
  },
  {
    name: 'auth',
    title: 'Auth',
    latencySeconds: 1,
    panels: [
      {
        title: 'Sign-ins/s by outcome',
        description: 'Password sign-ins: success, failure (wrong user or password), throttled (locked out for a while after repeated failures), second factor required, disabled, password change required.',
        unit: 'ops',
        targets: [[`sum by (outcome) (rate(smartby_auth_logins_total{${byJob}}[$__rate_interval]))`, '{{outcome}}']],
      },
      {
        title: 'Failed and locked-out sign-ins/s',
        description: 'Failures and lockouts (throttled attempts): a rise means guessing, or a broken client.',
        unit: 'ops',
        targets: [
          [`sum(rate(smartby_auth_logins_total{${byJob}, outcome="failure"}[$__rate_interval]))`, 'failures'],
          [`sum(rate(smartby_auth_logins_total{${byJob}, outcome="throttled"}[$__rate_interval]))`, 'lockouts (throttled)'],
        ],
      },
      {
        title: 'Tokens issued/s by kind',
        description: 'Access tokens issued: login, refresh, service (client credentials), exchange.',
        unit: 'ops',
        targets: [[`sum by (kind) (rate(smartby_auth_tokens_issued_total{${byJob}}[$__rate_interval]))`, '{{kind}}']],
      },
      {
        title: 'Refresh tokens reused',
        description: 'A rotated refresh token presented again: its family was revoked. Each one may be a stolen token.',
        unit: 'short',
        targets: [[`sum(increase(smartby_auth_refresh_token_reuse_total{${byJob}}[$__rate_interval]))`, 'reused']],
      },
    ],
    alerts: [
      {
        alert: 'SmartbyAuthRefreshTokenReuse',
        expr: 'sum by (namespace, job) (increase(smartby_auth_refresh_token_reuse_total[10m])) > 0',
        for: '0m',
        severity: 'warning',
        summary: 'A rotated refresh token was presented again',
        description: 'Refresh tokens were reused in the last 10 minutes and their token families revoked. This is how a stolen refresh token shows.',
        anchor: 'smartbyauthrefreshtokenreuse',
      },
      {
        alert: 'SmartbyAuthManyFailedSignIns',
        expr: 'sum by (namespace, job) (rate(smartby_auth_logins_total{outcome=~"failure|throttled"}[10m])) > 1',
        for: '10m',
        severity: 'warning',
        summary: 'More than one failed or locked-out sign-in per second',
        description: '{{ $value | humanize }} sign-ins/s have failed or been throttled for 10 minutes: password guessing, or a client with a stale password.',
        anchor: 'smartbyauthmanyfailedsignins',
      },
    ],
  },
  {
    name: 'audit',
    title: 'Audit',
    latencySeconds: 0.25,
    panels: [
      {
        title: 'Appends/s',
        description: 'Entries appended to the log; deduplicated: re-sent events answered with their existing index.',
        unit: 'ops',
        targets: [
          [`sum(rate(smartby_audit_appends_total{${byJob}}[$__rate_interval]))`, 'appended'],
          [`sum(rate(smartby_audit_deduplicated_total{${byJob}}[$__rate_interval]))`, 'deduplicated'],
        ],
      },
      {
        title: 'Checkpoint age',
        description: 'Age of the latest signed checkpoint. It only matters while entries wait unsigned (next panel).',
        unit: 's',
        targets: [[`max by (instance) (smartby_audit_checkpoint_age_seconds{${byJob}})`, '{{instance}}']],
      },
      {
        title: 'Entries not yet covered by a checkpoint',
        description: 'Committed entries minus the tree size of the latest signed checkpoint.',
        unit: 'short',
        targets: [[`max by (instance) (smartby_audit_tree_size{${byJob}} - smartby_audit_checkpoint_tree_size{${byJob}})`, '{{instance}}']],
      },
      {
        title: 'Log size (entries)',
        description: 'Committed entries, and the tree size of the latest signed checkpoint.',
        unit: 'short',
        targets: [
          [`max(smartby_audit_tree_size{${byJob}})`, 'committed'],
          [`max(smartby_audit_checkpoint_tree_size{${byJob}})`, 'checkpointed'],
        ],
      },
      {
        title: 'Group commits: latency p99 and entries per commit',
        description: 'Time to build and commit one group commit, and its average size; entries waiting for the sequencer.',
        unit: 'short',
        targets: [
          [`histogram_quantile(0.99, sum by (le) (rate(smartby_audit_commit_seconds_bucket{${byJob}}[$__rate_interval])))`, 'commit p99 (s)'],
          [`sum(rate(smartby_audit_batch_entries_sum{${byJob}}[$__rate_interval])) / sum(rate(smartby_audit_batch_entries_count{${byJob}}[$__rate_interval]))`, 'entries per commit'],
          [`sum(smartby_audit_queued_entries{${byJob}})`, 'queued'],
        ],
      },
      {
        title: 'Failed group commits and refused checkpoints',
        description: 'Any refused checkpoint means the stored tree disagrees with the previous checkpoint: possible tampering.',
        unit: 'short',
        targets: [
          [`sum(increase(smartby_audit_failed_batches_total{${byJob}}[$__rate_interval]))`, 'failed commits'],
          [`sum(increase(smartby_audit_checkpoint_refusals_total{${byJob}}[$__rate_interval]))`, 'refused checkpoints'],
        ],
      },
    ],
    alerts: [
      {
        alert: 'SmartbyAuditCheckpointStale',
        expr: 'max by (namespace, job, instance) (smartby_audit_checkpoint_age_seconds) > 300 and max by (namespace, job, instance) (smartby_audit_tree_size - smartby_audit_checkpoint_tree_size) > 0',
        for: '5m',
        severity: 'critical',
        summary: 'Audit entries have waited more than 5 minutes for a signed checkpoint',
        description: 'The latest checkpoint of {{ $labels.instance }} is {{ $value | humanizeDuration }} old while newer entries are committed: they are not covered by a signature, and verifiers cannot prove them.',
        anchor: 'smartbyauditcheckpointstale',
      },
      {
        alert: 'SmartbyAuditCheckpointRefused',
        expr: 'sum by (namespace, job, instance) (increase(smartby_audit_checkpoint_refusals_total[10m])) > 0',
        for: '0m',
        severity: 'critical',
        summary: 'The audit log refused to sign a checkpoint: its stored tree is inconsistent',
        description: '{{ $labels.instance }} found that the stored tree does not extend the previous signed checkpoint and refused to sign. The database may have been changed behind the service.',
        anchor: 'smartbyauditcheckpointrefused',
      },
      {
        alert: 'SmartbyAuditEventsMissing',
        expr: 'sum by (namespace, job, instance) (increase(smartby_audit_missing_events_total[1h])) > 0',
        for: '0m',
        severity: 'critical',
        summary: 'Audit events were lost before they reached the audit log',
        description: 'A producer skipped sequence numbers in the last hour: those events never reached the audit log of {{ $labels.instance }}. Its log names the producer and the missing numbers.',
        anchor: 'smartbyauditeventsmissing',
      },
    ],
  },
  {
    name: 'archive',
    title: 'Archive',
    latencySeconds: 1,
    panels: [
      {
        title: 'Export jobs finished/s by outcome',
        description: 'Noark 5 extraction jobs: succeeded, failed, cancelled.',
        unit: 'ops',
        targets: [[`sum by (outcome) (rate(smartby_archive_jobs_total{${byJob}}[$__rate_interval]))`, '{{outcome}}']],
      },
      {
        title: 'Export jobs running and queued',
        description: 'Jobs a worker runs now, and jobs waiting for one (StartExport is refused once --max_queued_exports wait).',
        unit: 'short',
        targets: [
          [`sum by (instance) (smartby_archive_jobs_running{${byJob}})`, 'running {{instance}}'],
          [`sum by (instance) (smartby_archive_jobs_queued{${byJob}})`, 'queued {{instance}}'],
        ],
      },
      {
        title: 'Package bytes written/s',
        description: 'Bytes of packages that passed their checks: what the packages volume fills with.',
        unit: 'Bps',
        targets: [[`sum(rate(smartby_archive_package_bytes_total{${byJob}}[$__rate_interval]))`, 'bytes/s']],
      },
      {
        title: 'Export job duration (p50, p99)',
        description: 'Wall time of finished jobs.',
        unit: 's',
        targets: [
          [`histogram_quantile(0.5, sum by (le) (rate(smartby_archive_job_duration_seconds_bucket{${byJob}}[$__rate_interval])))`, 'p50'],
          [`histogram_quantile(0.99, sum by (le) (rate(smartby_archive_job_duration_seconds_bucket{${byJob}}[$__rate_interval])))`, 'p99'],
        ],
      },
    ],
    alerts: [
      {
        alert: 'SmartbyArchiveJobsFailed',
        // The outcome series appear with their first job: a series that is new within the hour
        // holds failures increase() cannot see (it starts at 1, not 0).
        expr: 'sum by (namespace, job) ((increase(smartby_archive_jobs_total{outcome="failed"}[1h]) > 0) ' +
          'or (smartby_archive_jobs_total{outcome="failed"} unless smartby_archive_jobs_total{outcome="failed"} offset 1h)) > 0',
        for: '0m',
        severity: 'warning',
        summary: 'Archive export jobs failed in the last hour',
        description: 'Noark 5 extraction jobs failed; the packages they should have produced do not exist. The job records say why.',
        anchor: 'smartbyarchivejobsfailed',
      },
    ],
  },
];

// Which certificate an expiry alert is about: a service's own (label certificate, from the
// service) or a cert-manager Certificate (labels name and namespace).
const CERTIFICATE_NAME = '{{ if $labels.name }}cert-manager Certificate {{ $labels.namespace }}/{{ $labels.name }}' +
  '{{ else }}Certificate "{{ $labels.certificate }}" of {{ $labels.instance }}{{ end }}';

// Alerts about the platform as a whole: every service has an audit outbox, TLS certificates and
// a scrape target.
export const PLATFORM_ALERTS = [
  {
    alert: 'SmartbyTargetDown',
    expr: `up{job=~"${jobRegex(...SERVICES.map((s) => s.name))}"} == 0`,
    for: '5m',
    severity: 'critical',
    summary: 'Prometheus cannot scrape {{ $labels.job }} at {{ $labels.instance }}',
    description: 'The metrics endpoint of {{ $labels.instance }} ({{ $labels.job }}) has not answered for 5 minutes: the pod is down, restarting, or unreachable.',
    anchor: 'smartbytargetdown',
  },
  {
    alert: 'SmartbyAuditOutboxGrowing',
    expr: 'max by (namespace, job, instance) (smartby_audit_outbox_oldest_age_seconds) > 600 and max by (namespace, job, instance) (deriv(smartby_audit_outbox_depth[15m])) > 0',
    for: '15m',
    severity: 'warning',
    summary: 'Audit events of {{ $labels.instance }} wait in its outbox and the backlog grows',
    description: 'The oldest audit event in the outbox of {{ $labels.instance }} is {{ $value | humanizeDuration }} old and the outbox keeps growing: the audit service does not accept its events. Nothing is lost (the outbox is durable) until its volume fills.',
    anchor: 'smartbyauditoutboxgrowing',
  },
  {
    alert: 'SmartbyAuditEventsNotRecorded',
    expr: 'sum by (namespace, job, instance) (increase(smartby_audit_record_failures_total[10m])) > 0',
    for: '0m',
    severity: 'critical',
    summary: '{{ $labels.instance }} could not store audit events in its outbox',
    description: 'Calls on {{ $labels.instance }} in the last 10 minutes had an audit event that could not be written to the local outbox (disk full or unwritable?). Mutations were refused or went unrecorded.',
    anchor: 'smartbyauditeventsnotrecorded',
  },
  {
    alert: 'SmartbyCertificateExpiresSoon',
    expr: '(min by (namespace, job, instance, certificate) (smartby_tls_certificate_expiry_timestamp_seconds) - time()) < 14 * 86400 or (min by (namespace, name) (certmanager_certificate_expiration_timestamp_seconds{name=~".*smartby.*"}) - time()) < 14 * 86400',
    for: '1h',
    severity: 'warning',
    summary: 'A Smartby TLS certificate expires in less than 14 days',
    description: `${CERTIFICATE_NAME} expires in {{ $value | humanizeDuration }}.`,
    anchor: 'smartbycertificateexpiressoon',
  },
  {
    alert: 'SmartbyCertificateExpiresVerySoon',
    expr: '(min by (namespace, job, instance, certificate) (smartby_tls_certificate_expiry_timestamp_seconds) - time()) < 3 * 86400 or (min by (namespace, name) (certmanager_certificate_expiration_timestamp_seconds{name=~".*smartby.*"}) - time()) < 3 * 86400',
    for: '10m',
    severity: 'critical',
    summary: 'A Smartby TLS certificate expires in less than 3 days',
    description: `${CERTIFICATE_NAME} expires in {{ $value | humanizeDuration }}; connections will fail when it does.`,
    anchor: 'smartbycertificateexpiressoon',
  },
];
