import { InferenceError } from '../inference/inference.error';

/** One LLM call of a job (or a few in a row, as a batch split after a rejection), run in a slot. */
export type SlotCall = (signal: AbortSignal) => Promise<void>;

/**
 * The LLM calls of one job, at most `maxParallel` at once, each started as soon as it is ready
 * and a slot is free. Calls are added while others run (a map answer makes a reduce group ready);
 * a free slot takes the ready call of the lowest level (map batches are level 0, reduce groups
 * their level): the lower its level, the more calls still wait behind it, so no slot idles while
 * a call could run and the levels overlap instead of waiting for each other.
 *
 * The first failure (`fail`), `stop()` or the cancel signal aborts the signal of every call in
 * flight and starts no more; `run()` returns once every call has settled.
 */
export class CallSlots {
  readonly signal: AbortSignal;
  private readonly stopped = new AbortController();
  private readonly readyByLevel: SlotCall[][] = [];
  private running = 0;
  private waitingSlots: (() => void)[] = [];
  private firstFailure: { error: unknown } | undefined;

  constructor(cancelSignal: AbortSignal | undefined) {
    this.signal = cancelSignal ? AbortSignal.any([cancelSignal, this.stopped.signal]) : this.stopped.signal;
  }

  add(level: number, call: SlotCall): void {
    (this.readyByLevel[level] ??= []).push(call);
    this.wakeSlots();
  }

  /** Stops the job with `error` as its failure, unless another came first. */
  fail(error: unknown): void {
    this.firstFailure ??= { error };
    this.stop();
  }

  /** Stops the job without a failure of its own (the caller reports why). */
  stop(): void {
    this.stopped.abort();
    this.wakeSlots();
  }

  /** Runs the calls until none is ready or running; the first failure, if any. */
  async run(maxParallel: number): Promise<{ error: unknown } | undefined> {
    const onAbort = () => this.wakeSlots();
    this.signal.addEventListener('abort', onAbort, { once: true });
    const runSlot = async (): Promise<void> => {
      try {
        for (;;) {
          if (this.signal.aborted) throw new InferenceError('cancelled', 'CANCELLED');
          const call = this.take();
          if (call) {
            this.running += 1;
            try {
              await call(this.signal);
            } finally {
              this.running -= 1;
              this.wakeSlots();
            }
            continue;
          }
          // Nothing ready and nothing running: no call can become ready any more.
          if (this.running === 0) return;
          await new Promise<void>((resolve) => this.waitingSlots.push(resolve));
        }
      } catch (error) {
        this.fail(error);
      }
    };
    try {
      await Promise.all(Array.from({ length: Math.max(1, maxParallel) }, runSlot));
    } finally {
      this.signal.removeEventListener('abort', onAbort);
    }
    return this.firstFailure;
  }

  private take(): SlotCall | undefined {
    // A sparse array: levels with no call yet are holes.
    for (const calls of this.readyByLevel as (SlotCall[] | undefined)[]) {
      const call = calls?.shift();
      if (call) return call;
    }
    return undefined;
  }

  private wakeSlots(): void {
    // Called for each call added (20,000 for a 19 MB text): no new array when no slot waits.
    if (this.waitingSlots.length === 0) return;
    const waiting = this.waitingSlots;
    this.waitingSlots = [];
    for (const wake of waiting) wake();
  }
}
