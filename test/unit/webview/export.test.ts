import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ToWebview } from '../../../core/protocol';
import {
  csvField,
  escapeXml,
  exportFileName,
  lineChartSvg,
  runCsv,
  type ExportStyle,
} from '../../../webview/dashboard/export';
import { initialModel, reduce } from '../../../webview/dashboard/state';
import { syntheticRun } from './syntheticRun';

// node:test schedules suites and tests itself; their returned promises are voided on purpose.

const style: ExportStyle = {
  background: '#ffffff',
  foreground: '#333333',
  muted: '#777777',
  grid: '#dddddd',
  fontFamily: 'Segoe UI, "Ubuntu", sans-serif',
};

/** Minimal RFC 4180 reader for the round trip. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      row.push(field);
      field = '';
    } else if (ch === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += ch;
  }
  return rows;
}

void describe('CSV export', () => {
  void it('quotes only what needs quoting', () => {
    assert.equal(csvField('conv2d_1'), 'conv2d_1');
    assert.equal(csvField('a,b'), '"a,b"');
    assert.equal(csvField('say "hi"'), '"say ""hi"""');
    assert.equal(csvField(0.25), '0.25');
    assert.equal(csvField(Number.NaN), '');
    assert.equal(csvField(null), '');
  });

  void it('one row per report, training and per-layer columns, epochs on their rows', () => {
    const run = syntheticRun();
    const snapshot: ToWebview = {
      kind: 'snapshot',
      trusted: true,
      run: { runId: run.runId, dir: '/r', status: 'completed', records: run.records },
    };
    const model = reduce(initialModel(), snapshot);
    assert.ok(model.run);
    const rows = parseCsv(runCsv(model.run));
    const [header, ...data] = rows;
    assert.deepEqual(header.slice(0, 8), [
      'step',
      'reports',
      'loss',
      'accuracy',
      'learningRate',
      'epoch',
      'testLoss',
      'testAccuracy',
    ]);
    assert.equal(header.length, 8 + 4 * run.binaryLayers.length);
    assert.ok(header.includes('dense_1/quantizationError'));
    assert.equal(data.length, 30);
    const steps = run.records.filter((r) => r.event === 'step');
    const col = (name: string) => header.indexOf(name);
    data.forEach((row, i) => {
      const step = steps[i];
      assert.ok(step.event === 'step');
      assert.equal(Number(row[0]), step.step);
      assert.equal(row[1], '1');
      assert.equal(Number(row[col('loss')]), step.loss);
      assert.equal(
        Number(row[col('dense_1/flipRate')]),
        step.layers.find((l) => l.name === 'dense_1')?.flipRate,
      );
    });
    const epochRows = data.filter((r) => r[col('epoch')] !== '');
    assert.deepEqual(
      epochRows.map((r) => [r[0], r[col('testAccuracy')]]),
      [
        ['300', '0.9412'],
        ['600', '0.9637'],
      ],
    );
  });

  void it('adds method scalars when the stream has them', () => {
    const run = syntheticRun({ steps: 4, epochs: 1, testAccuracies: [0.5] });
    const records = run.records.map((r, i) =>
      r.event === 'step' ? { ...r, tau: 0.9 + i / 100, methodLosses: { 'aux,1': 0.1 * i } } : r,
    );
    const model = reduce(initialModel(), {
      kind: 'snapshot',
      trusted: true,
      run: { runId: 'm', dir: '/m', status: 'completed', records },
    });
    assert.ok(model.run);
    const [header, first] = parseCsv(runCsv(model.run));
    assert.deepEqual(header.slice(4, 7), ['learningRate', 'tau', 'loss:aux,1']);
    assert.equal(Number(first[5]), 0.91);
  });
});

void describe('SVG export', () => {
  void it('draws one path per series with gaps, escaped labels and a title', () => {
    const svg = lineChartSvg({
      title: 'Loss <run & co>',
      width: 400,
      height: 200,
      style,
      x: [0, 10, 20, 30],
      series: [
        { label: 'train', color: '#1a85ff', values: [2, 1, null, 0.5] },
        { label: 'test "a"', color: '#d18616', dash: [5, 4], values: [null, 1.5, null, 0.7] },
      ],
      formatY: (v) => v.toFixed(1),
    });
    assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg" width="400" height="200"/);
    assert.ok(svg.includes('Loss &lt;run &amp; co&gt;'));
    assert.ok(svg.includes('test &quot;a&quot;'));
    const paths = svg.match(/<path d="([^"]+)"/g) ?? [];
    assert.equal(paths.length, 2);
    // The gap at x=20 restarts the train line: two M commands.
    assert.equal((paths[0].match(/M/g) ?? []).length, 2);
    assert.ok(svg.includes('stroke-dasharray="5 4"'));
    assert.ok(svg.trimEnd().endsWith('</svg>'));
  });

  void it('log scale leaves out non-positive values and ticks at powers of ten', () => {
    const svg = lineChartSvg({
      title: 'Flip rate',
      width: 300,
      height: 200,
      style,
      x: [1, 2, 3],
      series: [{ label: 'l', color: '#000', values: [0.1, 0, 0.001] }],
      log: true,
      formatY: (v) => String(v),
    });
    const d = /<path d="([^"]+)"/.exec(svg)?.[1] ?? '';
    assert.equal((d.match(/M/g) ?? []).length, 2, 'zero is a gap');
    for (const tick of ['>0.001<', '>0.01<', '>0.1<']) assert.ok(svg.includes(tick), tick);
  });

  void it('escapes XML and builds safe file names', () => {
    assert.equal(escapeXml(`a<b>&"c"`), 'a&lt;b&gt;&amp;&quot;c&quot;');
    assert.equal(exportFileName('20261122-mnist', 'Loss', 'png'), '20261122-mnist-Loss.png');
    assert.equal(exportFileName('r', 'conv/1 heatmap', 'svg'), 'r-conv-1-heatmap.svg');
    assert.equal(exportFileName('', '', 'csv'), 'bnn-lab.csv');
  });
});

void describe('runCsv columns', () => {
  void it('has the fine-tune channels only for fine-tunes', () => {
    const run = syntheticRun();
    const plain = reduce(initialModel(), {
      kind: 'snapshot',
      trusted: true,
      run: { runId: run.runId, dir: '/r', status: 'completed', records: run.records },
    }).run!;
    const header = runCsv(plain).split('\n')[0];
    assert.match(header, /\/frozenRatio/);
    assert.doesNotMatch(header, /flipFromStart|disagreement|auxLoss/);
    const records = run.records.map((r) =>
      r.event === 'step'
        ? { ...r, layers: r.layers.map((l) => ({ ...l, flipFromStart: 0.25, auxLoss: 3 })) }
        : r,
    );
    const tuned = reduce(initialModel(), {
      kind: 'snapshot',
      trusted: true,
      run: { runId: run.runId, dir: '/r', status: 'completed', records },
    }).run!;
    const [head, first] = runCsv(tuned).split('\n');
    const columns = head.split(',');
    const i = columns.findIndex((c) => c.endsWith('/flipFromStart'));
    assert.ok(i > 0, head);
    assert.equal(first.split(',')[i], '0.25');
    assert.ok(columns.some((c) => c.endsWith('/auxLoss')));
  });
});
