// What every screen receives from the app.
import type {Core} from '../../core/api.js';
import type {Route} from '../state/navReducer.js';

export interface ScreenProps {
  core: Core;
  /** Open a screen on top of this one (Esc comes back). */
  go: (route: Route) => void;
  /** Replace this screen (for example Train -> Evaluate). */
  replace: (route: Route) => void;
  back: () => void;
  quit: () => void;
}
