import React from 'react';
import {it} from 'vitest';
import {render} from 'ink-testing-library';
import {App} from '../src/ui/root.js';
import {FakeCore, t0} from './ui-fake-core.js';
import {KEY, press, until, tick} from './ui-keys.js';
it('show', async () => {
  const core = new FakeCore();
  const app = render(<App core={core} size={{columns: 80, rows: 24}} colour={false} initialRoute={{screen: 'evaluate', runDir: '/r', start: true}} />);
  await until(() => core.started.length, (n) => n === 1);
  for (let i = 0; i < 5; i++) core.lastRun.push({v: 1, type: 'case_metrics', time: t0, case: `la2018_01${i}`, label: 'left atrium', index: i + 1, total: 5, metrics: {dice: 0.8 + i / 50, iou: 0.7, precision: 0.9, recall: 0.85, hd95: i === 2 ? 'inf' : 3.21, assd: 0.93, abs_vol_diff_ml: 12.5, rel_vol_diff: 0.04}});
  await tick(200);
  console.log(app.lastFrame());
  await press(app.stdin, KEY.tab, KEY.tab); await tick(200);
  console.log(app.lastFrame());
});
