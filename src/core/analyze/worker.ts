// Worker thread: analyses one case per message and posts the result back, slices as transferred buffers.
import {parentPort} from 'node:worker_threads';
import {analyzeCase} from './case.js';
import type {CaseTask} from './types.js';

parentPort?.on('message', async (msg: {id: number; task: CaseTask}) => {
  try {
    const result = await analyzeCase(msg.task);
    const transfer = (result.slices ?? []).flatMap((s) => [s.data.buffer as ArrayBuffer, s.label.buffer as ArrayBuffer]);
    parentPort!.postMessage({id: msg.id, ok: true, result}, transfer);
  } catch (e) {
    parentPort!.postMessage({id: msg.id, ok: false, message: (e as Error)?.message ?? String(e)});
  }
});
