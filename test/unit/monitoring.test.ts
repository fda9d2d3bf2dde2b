// The chart's monitoring objects (issue 12): the PrometheusRule and the Grafana dashboard are
// off by default and rendered when asked; every alert expression and every dashboard query is
// valid PromQL (parsed with Prometheus' own lezer grammar), and every metric they name is one
// the agents or the operator export, read from the real AgentMetrics and OperatorMetrics
// registries: renaming a metric in the code without updating the chart fails here. Each
// alert tells the operator what to do and has its section in docs/alerts.md.
// Needs the helm that scripts/control-plane/build.sh builds, as operator/src/api/chart.test.ts.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parser } from '@prometheus-io/lezer-promql';
import { AgentMetrics } from '../../agent/src/observability/agent-metrics.js';
import { OperatorMetrics } from '../../operator/src/observability/operator-metrics.js';
import { repoRoot as root } from '../support/control-plane.js';
import { chartDir as chart, dig, helmBinary, isRecord, list, renderChart, type Json } from '../support/helm-chart.js';

let helm = '';

beforeAll(async () => {
  helm = await helmBinary();
}, 60 * 60_000);

function render(...sets: string[]): Promise<Json[]> {
  return renderChart(helm, sets);
}

const enabled = ['monitoring.prometheusRule.enabled=true', 'monitoring.dashboard.enabled=true'];

function only(objects: Json[], kind: string): Json {
  const found = objects.filter((object) => object['kind'] === kind);
  if (found.length !== 1) throw new Error(`expected one ${kind}, rendered ${found.length}`);
  return found[0] as Json;
}

interface Rule { readonly alert: string; readonly expr: string; readonly annotations: Json; readonly labels: Json }

function alertRules(objects: Json[]): Rule[] {
  const groups = list(dig(only(objects, 'PrometheusRule'), 'spec', 'groups'));
  return groups.flatMap((group) => list(dig(group, 'rules'))).map((rule) => ({
    alert: String(dig(rule, 'alert')),
    expr: String(dig(rule, 'expr')),
    annotations: isRecord(dig(rule, 'annotations')) ? dig(rule, 'annotations') as Json : {},
    labels: isRecord(dig(rule, 'labels')) ? dig(rule, 'labels') as Json : {},
  }));
}

function dashboardOf(objects: Json[]): Json {
  const configMap = only(objects, 'ConfigMap');
  const parsed: unknown = JSON.parse(String(dig(configMap, 'data', 'bunker.json')));
  if (!isRecord(parsed)) throw new Error('the dashboard is not a JSON object');
  return parsed;
}

/** Every panel, rows' nested panels included. */
function panelsOf(dashboard: Json): Json[] {
  return list(dashboard['panels']).filter(isRecord).flatMap((panel) => [panel, ...list(panel['panels']).filter(isRecord)]);
}

/** Grafana's interval variables are not PromQL; they stand for a duration. */
function asPromql(grafanaExpr: string): string {
  return grafanaExpr.replaceAll(/\$__(rate_interval|interval|range)\b/g, '5m');
}

/**
 * The metric names an expression selects, from the lezer-promql syntax tree. Throws on any
 * syntax error node, and on a selector without a metric name ({__name__=...}) that would let a
 * metric hide from this check.
 */
function metricNames(expr: string): string[] {
  const tree = parser.parse(expr);
  const names: string[] = [];
  const problems: string[] = [];
  tree.iterate({
    enter: (node) => {
      if (node.type.isError) problems.push(`syntax error at ${node.from}: ${JSON.stringify(expr.slice(Math.max(0, node.from - 10), node.to + 10))}`);
      if (node.name === 'VectorSelector') {
        const identifier = node.node.getChild('Identifier');
        if (identifier === null) problems.push(`selector without a metric name at ${node.from}`);
        else names.push(expr.slice(identifier.from, identifier.to));
      }
    },
  });
  if (problems.length > 0) throw new Error(`${problems.join('; ')} in ${expr}`);
  return names;
}

/** Sample names a registry exposes: histograms add _bucket, _sum and _count, summaries _sum and _count. */
async function exportedNames(): Promise<Set<string>> {
  const names = new Set<string>();
  for (const registry of [new AgentMetrics('node-a').registry, new OperatorMetrics('operator-0').registry]) {
    for (const metric of await registry.getMetricsAsJSON()) {
      names.add(metric.name);
      if (String(metric.type) === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${metric.name}${suffix}`);
      if (String(metric.type) === 'summary') for (const suffix of ['_sum', '_count']) names.add(`${metric.name}${suffix}`);
    }
  }
  return names;
}

describe('charts/bunker monitoring', () => {
  it('renders no PrometheusRule and no dashboard by default', async () => {
    const objects = await render();
    expect(objects.length).toBeGreaterThan(0);
    expect(objects.filter((object) => ['PrometheusRule', 'ConfigMap'].includes(String(object['kind'])))).toEqual([]);
  }, 60_000);

  it('renders the dashboard as a ConfigMap labelled for the Grafana sidecar', async () => {
    const objects = await render('monitoring.dashboard.enabled=true');
    expect(objects.some((object) => object['kind'] === 'PrometheusRule')).toBe(false);
    const configMap = only(objects, 'ConfigMap');
    expect(dig(configMap, 'metadata', 'labels', 'grafana_dashboard')).toBe('1');
    expect(dig(configMap, 'metadata', 'namespace')).toBe('bunker-system');
    const dashboard = dashboardOf(objects);
    expect(dashboard['uid']).toBe('bunker');
    // The ConfigMap carries the chart's file unchanged.
    expect(dashboard).toEqual(JSON.parse(readFileSync(join(chart, 'dashboards/bunker.json'), 'utf8')));
  }, 60_000);

  it('renders the alerts, with the secondary lag threshold taken from the values', async () => {
    const objects = await render('monitoring.prometheusRule.enabled=true', 'monitoring.prometheusRule.secondaryLagSeconds=123');
    expect(objects.some((object) => object['kind'] === 'ConfigMap')).toBe(false);
    const rules = alertRules(objects);
    expect(rules.map((rule) => rule.alert).sort()).toEqual([
      'BunkerBunkerLagGrowing', 'BunkerBunkerUnreachable', 'BunkerDataVolumeFailed', 'BunkerLogFull', 'BunkerLogNearlyFull', 'BunkerOperatorNoLeader',
      'BunkerOperatorReconcileErrors', 'BunkerResyncStuck', 'BunkerSecondaryLagging', 'BunkerTakeoverHappened',
    ]);
    const lag = rules.find((rule) => rule.alert === 'BunkerSecondaryLagging');
    expect(lag?.expr).toMatch(/\) > 123$/);
    expect(String(lag?.annotations['description'])).toContain('123s');
  }, 60_000);

  it('gives every alert a severity, a summary, a description saying what to do and a section in docs/alerts.md', async () => {
    const rules = alertRules(await render(...enabled, 'monitoring.prometheusRule.runbookBaseUrl=https://example.test/alerts'));
    const runbook = readFileSync(join(root, 'docs/alerts.md'), 'utf8');
    const headings = new Set([...runbook.matchAll(/^## (\S+)\s*$/gm)].map((match) => match[1]));
    for (const rule of rules) {
      expect([rule.alert, rule.labels['severity']]).toEqual([rule.alert, expect.stringMatching(/^(critical|warning|info)$/)]);
      expect(String(rule.annotations['summary']).length).toBeGreaterThan(10);
      const description = String(rule.annotations['description']);
      expect(description).toContain(`docs/alerts.md#${rule.alert.toLowerCase()}`);
      expect(rule.annotations['runbook_url']).toBe(`https://example.test/alerts#${rule.alert.toLowerCase()}`);
      expect([rule.alert, headings.has(rule.alert)]).toEqual([rule.alert, true]);
    }
  }, 60_000);

  it('parses every alert expression and dashboard query as PromQL, and uses only metrics the code exports', async () => {
    const objects = await render(...enabled);
    const exported = await exportedNames();
    // The registries are the real ones: a name is there because the code defines it.
    expect(exported.has('bunker_write_latency_seconds_bucket')).toBe(true);
    expect(exported.has('bunker_operator_queue_depth')).toBe(true);

    const used = new Map<string, string[]>();
    const note = (where: string, expr: string): void => {
      const names = metricNames(expr);
      expect([where, names.length > 0]).toEqual([where, true]);
      for (const name of names) used.set(name, [...(used.get(name) ?? []), where]);
    };
    for (const rule of alertRules(objects)) note(`alert ${rule.alert}`, rule.expr);

    const dashboard = dashboardOf(objects);
    const panels = panelsOf(dashboard).filter((panel) => panel['type'] !== 'row');
    expect(panels.length).toBeGreaterThan(10);
    for (const panel of panels) {
      const targets = list(panel['targets']);
      expect([panel['title'], targets.length > 0]).toEqual([panel['title'], true]);
      for (const target of targets) note(`panel ${String(panel['title'])}`, asPromql(String(dig(target, 'expr'))));
    }
    for (const variable of list(dig(dashboard, 'templating', 'list'))) {
      if (dig(variable, 'type') !== 'query') continue;
      const query = String(dig(variable, 'query', 'query'));
      const selector = /^label_values\((.+),\s*\w+\)$/.exec(query);
      expect([query, selector !== null]).toEqual([query, true]);
      note(`variable ${String(dig(variable, 'name'))}`, selector?.[1] ?? '');
    }

    const unknown = [...used].filter(([name]) => !exported.has(name)).map(([name, where]) => `${name} (${[...new Set(where)].join(', ')})`);
    expect(unknown).toEqual([]);
  }, 60_000);

  it('rejects what is not PromQL and what the code does not export (the checks above can fail)', async () => {
    expect(() => metricNames('sum(rate(bunker_errors_total[5m])')).toThrow(/syntax error/);
    expect(() => metricNames('{__name__="bunker_errors_total"}')).toThrow(/without a metric name/);
    expect(() => metricNames('rate(bunker_errors_total[$__rate_interval])')).toThrow(/syntax error/);
    expect(metricNames('bunker_log_used_bytes / (bunker_log_size_bytes > 0) > 0.9')).toEqual(['bunker_log_used_bytes', 'bunker_log_size_bytes']);
    const exported = await exportedNames();
    expect(exported.has('bunker_peer_lag_seconds')).toBe(true);
    expect(exported.has('bunker_volume_lag_seconds')).toBe(false);
    expect(exported.has('bunker_peer_lag_seconds_bucket')).toBe(false);
  });

  it('covers what an operator watches: writes, both lags, log usage, roles, NBD, errors, resync and the operator', async () => {
    const dashboard = dashboardOf(await render('monitoring.dashboard.enabled=true'));
    const used = new Set(panelsOf(dashboard).flatMap((panel) => list(panel['targets']).flatMap((target) => metricNames(asPromql(String(dig(target, 'expr')))))));
    const exprs = panelsOf(dashboard).flatMap((panel) => list(panel['targets']).map((target) => String(dig(target, 'expr'))));
    for (const name of [
      'bunker_write_latency_seconds_count', 'bunker_write_latency_seconds_bucket', 'bunker_peer_lag_entries', 'bunker_peer_lag_bytes',
      'bunker_peer_lag_seconds', 'bunker_log_used_bytes', 'bunker_log_size_bytes', 'bunker_volume_role', 'bunker_volume_epoch',
      'bunker_nbd_connections', 'bunker_errors_total', 'bunker_resync_running', 'bunker_resync_bytes_left', 'bunker_resync_copied_bytes_total',
      'bunker_resync_compared_bytes_total', 'bunker_data_volume_failed', 'bunker_operator_reconciles_total',
      'bunker_operator_reconcile_errors_total', 'bunker_operator_queue_depth',
    ]) expect([name, used.has(name)]).toEqual([name, true]);
    for (const peer of ['bunker', 'secondary']) {
      for (const unit of ['entries', 'bytes', 'seconds']) {
        expect([peer, unit, exprs.some((expr) => expr.includes(`bunker_peer_lag_${unit}{peer="${peer}"`))]).toEqual([peer, unit, true]);
      }
    }
    for (const quantile of ['0.5', '0.99']) expect(exprs.some((expr) => expr.startsWith(`histogram_quantile(${quantile}, `) && expr.includes('bunker_write_latency_seconds_bucket'))).toBe(true);
  }, 60_000);
});
