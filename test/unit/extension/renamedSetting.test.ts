import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import {
  DEPRECATED_EVERY_STEPS,
  METRICS_EVERY_STEPS,
  readRenamedSetting,
  type SettingLevels,
} from '../../../extension/renamedSetting';

const read = (current?: SettingLevels<number>, deprecated?: SettingLevels<number>) =>
  readRenamedSetting(METRICS_EVERY_STEPS, current, DEPRECATED_EVERY_STEPS, deprecated, 10);

void describe('bnnLab.metrics.everySteps, renamed from bnnLab.telemetry.everySteps', () => {
  void it('neither key set: the new key default', () => {
    assert.deepEqual(read({ defaultValue: 10 }, {}), { value: 10, key: 'metrics.everySteps' });
    assert.deepEqual(read(undefined, undefined), { value: 10, key: 'metrics.everySteps' });
  });

  void it('only the old key set: its value is still used, and says where it is', () => {
    assert.deepEqual(read({ defaultValue: 10 }, { globalValue: 25 }), {
      value: 25,
      key: 'telemetry.everySteps',
      deprecatedIn: 'user settings',
    });
    assert.equal(read({}, { workspaceFolderValue: 3 }).deprecatedIn, 'folder settings');
  });

  void it('both set at the same level: the new key wins', () => {
    assert.deepEqual(read({ workspaceValue: 7 }, { workspaceValue: 50 }), {
      value: 7,
      key: 'metrics.everySteps',
    });
  });

  void it('the more specific level wins whichever key it uses', () => {
    // An old key in the workspace still overrides a new key in the user settings.
    assert.equal(read({ globalValue: 7 }, { workspaceValue: 50 }).value, 50);
    assert.equal(read({ workspaceFolderValue: 2 }, { workspaceValue: 50 }).value, 2);
  });

  void it('package.json declares the new key and marks the old one deprecated', () => {
    const manifest = JSON.parse(
      readFileSync(path.join(__dirname, '..', '..', '..', '..', 'package.json'), 'utf8'),
    ) as {
      contributes: { configuration: { properties: Record<string, Record<string, unknown>> } };
    };
    const settings = manifest.contributes.configuration.properties;
    const now = settings[`bnnLab.${METRICS_EVERY_STEPS}`];
    const old = settings[`bnnLab.${DEPRECATED_EVERY_STEPS}`];
    assert.equal(now.default, 10);
    assert.equal(now.deprecationMessage, undefined);
    assert.match(String(old.deprecationMessage), /bnnLab\.metrics\.everySteps/);
    assert.match(String(old.markdownDeprecationMessage), /#bnnLab\.metrics\.everySteps#/);
    // No default on the old key: a default would always "set" it and hide the new one.
    assert.equal(old.default, undefined);
    for (const key of ['type', 'minimum', 'maximum', 'scope'])
      assert.equal(old[key], now[key], `${key} of the old key`);
    // Searching the settings for "telemetry" finds no live setting of BNN Lab.
    for (const [name, s] of Object.entries(settings)) {
      if (s.deprecationMessage) continue;
      assert.doesNotMatch(
        `${name} ${String(s.description ?? '')} ${String(s.markdownDescription ?? '')}`,
        /telemetry/i,
        name,
      );
    }
  });
});
