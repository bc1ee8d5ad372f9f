// Colour on or off (NO_COLOR) and the terminal size, shared by every screen through context.
import React, {createContext, useContext} from 'react';

export interface Theme {
  colour: boolean;
}

/** NO_COLOR (https://no-color.org): present and not empty turns colour off. */
export function colourFromEnv(env: NodeJS.ProcessEnv = process.env): boolean {
  return !(env.NO_COLOR !== undefined && env.NO_COLOR !== '');
}

const ThemeContext = createContext<Theme>({colour: true});

export function ThemeProvider({theme, children}: {theme: Theme; children: React.ReactNode}) {
  return <ThemeContext.Provider value={theme}>{children}</ThemeContext.Provider>;
}

/** A colour name when colour is on, else undefined (Ink then prints no colour codes). */
export function useColour(): (name: string) => string | undefined {
  const {colour} = useContext(ThemeContext);
  return (name) => (colour ? name : undefined);
}

export function useTheme(): Theme {
  return useContext(ThemeContext);
}

export interface Size {
  columns: number;
  rows: number;
}

const SizeContext = createContext<Size>({columns: 80, rows: 24});

export const SizeProvider = SizeContext.Provider;

export function useSize(): Size {
  return useContext(SizeContext);
}
