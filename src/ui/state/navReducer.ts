// Which screen is shown: a stack of routes so Esc goes back where you came from. Pure.
import type {Configured} from '../../core/app/types.js';

export type TrainLaunch =
  | {mode: 'new'; configured: Configured}
  | {mode: 'resume'; runDir: string; edits?: Record<string, unknown>}
  | {mode: 'watch'; runDir: string};

export type Route =
  | {screen: 'home'}
  | {screen: 'dataset'; root?: string}
  | {screen: 'configure'; root?: string}
  | {screen: 'train'; launch: TrainLaunch}
  | {screen: 'evaluate'; runDir: string; start: boolean; data?: string}
  | {screen: 'runs'; select?: string};

export interface NavState {
  stack: Route[];
}

export type NavAction = {type: 'push'; route: Route} | {type: 'replace'; route: Route} | {type: 'back'} | {type: 'home'};

export const initialNav: NavState = {stack: [{screen: 'home'}]};

export function navReducer(state: NavState, action: NavAction): NavState {
  switch (action.type) {
    case 'push':
      return {stack: [...state.stack, action.route]};
    case 'replace':
      return {stack: [...state.stack.slice(0, -1), action.route]};
    case 'back':
      return state.stack.length > 1 ? {stack: state.stack.slice(0, -1)} : state;
    case 'home':
      return initialNav;
    default:
      return state;
  }
}

export function currentRoute(state: NavState): Route {
  return state.stack[state.stack.length - 1];
}
