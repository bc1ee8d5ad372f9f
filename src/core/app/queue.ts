// The one async queue: producers push (engine events, followed lines, test fixtures), one consumer iterates.
export class AsyncQueue<T> implements AsyncIterable<T> {
  private items: T[] = [];
  private wake: (() => void) | null = null;
  private ended = false;
  private failure: unknown = undefined;
  private taken = false;

  push(...items: T[]): void {
    if (this.ended) return;
    this.items.push(...items);
    this.wake?.();
  }

  /** No more items: the consumer's loop ends once it has read what is queued. */
  end(): void {
    this.ended = true;
    this.wake?.();
  }

  /** End with an error: the consumer's loop throws it after the queued items. */
  fail(error: unknown): void {
    this.failure = error ?? new Error('failed');
    this.end();
  }

  get closed(): boolean {
    return this.ended;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    // Items are handed out once; a second reader would silently split the stream.
    if (this.taken) throw new Error('this queue already has a reader');
    this.taken = true;
    for (;;) {
      while (this.items.length) yield this.items.shift()!;
      if (this.ended) {
        if (this.failure !== undefined) throw this.failure;
        return;
      }
      await new Promise<void>((r) => (this.wake = r));
      this.wake = null;
    }
  }
}
