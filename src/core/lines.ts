// Split a byte stream into text lines; chunks may end mid-line or in the middle of a UTF-8 character.
import {StringDecoder} from 'node:string_decoder';

/** Longest line kept whole; longer ones are cut so a runaway writer cannot exhaust memory. */
const MAX_LINE = 16 * 1024 * 1024;

export class LineSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private rest = '';

  constructor(private readonly onLine: (line: string) => void) {}

  push(chunk: Buffer | string): void {
    const text = this.rest + (typeof chunk === 'string' ? chunk : this.decoder.write(chunk));
    const parts = text.split('\n');
    this.rest = parts.pop() ?? '';
    for (const part of parts) this.emit(part);
    if (this.rest.length > MAX_LINE) {
      this.emit(this.rest);
      this.rest = '';
    }
  }

  /** Flush what is left (a last line without a newline). */
  end(): void {
    const tail = this.rest + this.decoder.end();
    this.rest = '';
    if (tail.length) this.emit(tail);
  }

  private emit(line: string): void {
    this.onLine(line.endsWith('\r') ? line.slice(0, -1) : line);
  }
}
