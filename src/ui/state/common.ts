// State shared by every engine run (train, evaluate, predict): lifecycle, messages and the end.
import type {EngineEvent, EventOf} from '../../core/events.js';
import {statusOf} from '../../core/status.js';

export type RunStatus = 'idle' | 'running' | 'completed' | 'interrupted' | 'failed';

export interface Message {
  level: 'info' | 'warning' | 'error';
  text: string;
  file?: string | null;
  hint?: string | null;
}

export interface RunEnd {
  status: 'completed' | 'interrupted' | 'failed';
  reason: string;
  exitCode: number;
  bestDice: number | null;
  epoch: number | null;
}

export interface Stage {
  name: string;
  done: number;
  total: number;
  item: string | null;
}

export interface CommonState {
  status: RunStatus;
  command: string | null;
  runDir: string | null;
  device: string | null;
  torch: string | null;
  resumedFrom: number | null;
  stage: Stage | null;
  messages: Message[];
  error: Message | null;
  end: RunEnd | null;
}

/** Messages kept for the log view; older ones are dropped. */
export const MAX_MESSAGES = 200;

export const initialCommon: CommonState = {
  status: 'idle',
  command: null,
  runDir: null,
  device: null,
  torch: null,
  resumedFrom: null,
  stage: null,
  messages: [],
  error: null,
  end: null,
};

export function pushMessage(messages: Message[], message: Message): Message[] {
  const next = [...messages, message];
  return next.length > MAX_MESSAGES ? next.slice(next.length - MAX_MESSAGES) : next;
}

function onRunStart<S extends CommonState>(state: S, e: EventOf<'run_start'>): S {
  return {
    ...state,
    status: 'running',
    command: e.command,
    runDir: e.run_dir ?? state.runDir,
    device: e.device ?? null,
    torch: e.torch ?? null,
    resumedFrom: e.resumed_from_epoch ?? null,
    end: null,
    error: null,
  };
}

/** Apply the events every run shares; returns null for an event this part does not handle. */
export function commonReducer<S extends CommonState>(state: S, event: EngineEvent): S | null {
  switch (event.type) {
    case 'run_start':
      return onRunStart(state, event);
    case 'progress':
      return {...state, stage: {name: event.stage, done: event.done, total: event.total, item: event.item ?? null}};
    case 'warning': {
      const msg: Message = {level: 'warning', text: event.message, file: event.file, hint: event.hint};
      return {...state, messages: pushMessage(state.messages, msg)};
    }
    case 'error': {
      const msg: Message = {level: 'error', text: event.message, file: event.file, hint: event.hint};
      return {...state, error: msg, messages: pushMessage(state.messages, msg)};
    }
    case 'run_end': {
      const end: RunEnd = {
        status: event.status,
        reason: event.reason,
        exitCode: event.exit_code,
        bestDice: event.best_dice ?? null,
        epoch: event.epoch ?? null,
      };
      return {...state, status: event.status, end, stage: null};
    }
    default:
      return null;
  }
}

/** The process ended without a run_end event (refused input, crash, kill): record it with the engine's reasons
 * so the screen does not wait forever and says why. */
export function exitedWithoutEnd<S extends CommonState>(state: S, exitCode: number, problems: string[] = []): S {
  if (state.end) return state;
  const named = statusOf(exitCode);
  const status = named === 'bad_input' ? 'failed' : named; // the screens show a refusal as a failed run, with its reason
  const reason = problems.length ? problems.join('; ') : `engine exited with code ${exitCode}`;
  const end: RunEnd = {status, reason, exitCode, bestDice: null, epoch: null};
  const messages = problems.reduce((m, text) => pushMessage(m, {level: 'error', text}), state.messages);
  return {...state, status, end, stage: null, messages, error: problems.length ? {level: 'error', text: problems[0]} : state.error};
}
