import React from 'react';
import {it} from 'vitest';
import {render} from 'ink-testing-library';
import {App} from '../src/ui/root.js';
import {FakeCore} from './ui-fake-core.js';
import {until, tick} from './ui-keys.js';
it('chunk', async () => {
  const app = render(<App core={new FakeCore()} size={{columns: 80, rows: 24}} colour={false} initialRoute={{screen: 'configure', root: '/d'}} />);
  await until(app.lastFrame, (f) => f.includes('parameters'));
  app.stdin.write('/epochs');
  await tick(2000);
  console.log(app.lastFrame()!.split('\n').filter(l => l.includes('find')));
  app.stdin.write('\r\r\x7f\x7f\x7f1\r');
  await tick(2000);
  console.log(app.lastFrame()!.split('\n').filter(l => l.includes('epochs')));
});
