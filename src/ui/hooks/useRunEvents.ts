// Feed a job's events through a pure reducer; its end is recorded even without run_end (with the engine's reasons).
import {useEffect, useReducer} from 'react';
import type {Job, JobResult} from '../../core/api.js';
import type {EngineEvent} from '../../core/events.js';
import {exitedWithoutEnd, pushMessage, type CommonState} from '../state/common.js';
import {errorText} from './useAsync.js';

type Action = {kind: 'event'; event: EngineEvent} | {kind: 'exit'; result: JobResult} | {kind: 'fail'; message: string};

export function useRunEvents<S extends CommonState>(
  run: Job | null,
  reducer: (state: S, event: EngineEvent) => S,
  initial: S,
): S {
  const [state, dispatch] = useReducer((s: S, a: Action): S => {
    if (a.kind === 'event') return reducer(s, a.event);
    if (a.kind === 'exit') return exitedWithoutEnd(s, a.result.exitCode, a.result.problems);
    const msg = {level: 'error' as const, text: a.message};
    return exitedWithoutEnd({...s, error: msg, messages: pushMessage(s.messages, msg)}, 1);
  }, initial);
  useEffect(() => {
    if (!run) return;
    let live = true;
    (async () => {
      try {
        for await (const event of run.events) {
          if (!live) return;
          dispatch({kind: 'event', event});
        }
        const result = await run.done;
        if (live) dispatch({kind: 'exit', result});
      } catch (e) {
        if (live) dispatch({kind: 'fail', message: errorText(e)});
      }
    })();
    return () => {
      live = false;
    };
  }, [run]);
  return state;
}
