/**
 * schemas/bnn-run.schema.json and the settings in package.json restate what core/training/config.ts
 * enforces; these checks keep the three from drifting apart.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { PRESET_NAMES } from '../../../core/bnn/presets';
import { BACKEND_NAMES } from '../../../core/protocol';
import { GLOBAL_DEFAULTS, resolveConfig } from '../../../core/training/config';

const ROOT = path.resolve(__dirname, '../../../..');
interface Property {
  type?: string;
  enum?: unknown[];
  default?: unknown;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
}
const schema = JSON.parse(readFileSync(path.join(ROOT, 'schemas/bnn-run.schema.json'), 'utf8')) as {
  additionalProperties: boolean;
  properties: Record<string, Property>;
};
const manifest = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  contributes: { configuration: { properties: Record<string, Property> } };
};

const accepts = (field: string, value: unknown) => {
  try {
    resolveConfig({ [field]: value }, 'schema.test');
    return true;
  } catch {
    return false;
  }
};

const numeric = Object.entries(schema.properties).filter(
  ([, p]) => p.type === 'integer' || p.type === 'number',
);

void describe('bnn-run.schema.json', () => {
  void it('offers exactly the presets core knows', () => {
    assert.deepEqual(schema.properties.preset.enum, [...PRESET_NAMES]);
  });

  void it('allows only keys resolveConfig accepts, and rejects others like it', () => {
    assert.equal(schema.additionalProperties, false);
    assert.equal(accepts('epochz', 1), false);
    for (const [field, p] of Object.entries(schema.properties)) {
      if (field === '$schema') continue;
      const sample = p.default ?? p.minimum ?? p.maximum ?? (p.exclusiveMinimum ?? 0) + 0.001;
      assert.ok(accepts(field, sample), `${field} = ${JSON.stringify(sample)}`);
    }
  });

  for (const [field, p] of numeric) {
    void it(`states the same range for ${field} as resolveConfig`, () => {
      const tick = p.type === 'integer' ? 1 : 1e-9;
      if (p.minimum !== undefined) {
        assert.ok(accepts(field, p.minimum), `${field} minimum`);
        assert.ok(!accepts(field, p.minimum - tick), `${field} below minimum`);
      }
      if (p.maximum !== undefined) {
        assert.ok(accepts(field, p.maximum), `${field} maximum`);
        assert.ok(!accepts(field, p.maximum + tick), `${field} above maximum`);
      }
      if (p.exclusiveMinimum !== undefined) {
        assert.ok(!accepts(field, p.exclusiveMinimum), `${field} exclusive minimum`);
        assert.ok(accepts(field, p.exclusiveMinimum + 1e-6), `${field} just above`);
      }
      if (p.exclusiveMaximum !== undefined) {
        assert.ok(!accepts(field, p.exclusiveMaximum), `${field} exclusive maximum`);
        assert.ok(accepts(field, p.exclusiveMaximum - 1e-6), `${field} just below`);
      }
      if (p.type === 'integer')
        assert.ok(!accepts(field, (p.minimum ?? 0) + 0.5), `${field} fraction`);
    });
  }
});

void describe('package.json settings', () => {
  const settings = manifest.contributes.configuration.properties;
  const pairs = [
    ['bnnLab.metrics.everySteps', 'telemetryEverySteps'],
    ['bnnLab.metrics.histogramBins', 'histogramBins'],
    ['bnnLab.metrics.deadTau', 'deadTau'],
  ] as const;
  for (const [setting, field] of pairs) {
    void it(`${setting} has the range and default of ${field}`, () => {
      const s = settings[setting];
      const p = schema.properties[field];
      assert.equal(s.default, GLOBAL_DEFAULTS[field]);
      for (const key of [
        'type',
        'minimum',
        'maximum',
        'exclusiveMinimum',
        'exclusiveMaximum',
      ] as const) {
        assert.equal(s[key], p[key], `${setting}.${key}`);
      }
    });
  }

  void it('offers every backend core knows, plus auto', () => {
    assert.deepEqual(settings['bnnLab.engine.backend'].enum, ['auto', ...BACKEND_NAMES]);
  });
});
